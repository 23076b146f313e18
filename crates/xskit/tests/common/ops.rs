//! Set-up shared by the operator commands' tests (`load`, `unload`,
//! `status`, `filter`, `confirm`): a quiet link in a fresh namespace,
//! one test at a time, routes, another tool's program, traffic checks.

use super::{cmd, read_to_question};
use super::{quiet_pair, send_udp_quick, Cleanup};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Child, ChildStdin, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xskit::net::{netns, packet::PacketSocket};
use xskit::testing::{have_root, in_netns, Pair};

/// One test at a time within a test binary (its own lock): for tests that
/// read notes every xskit command may print about others' state.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the test binary's lock until dropped.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` as root in a fresh network namespace on a quiet link
/// ([`quiet_pair`]), removing xskit's state of that namespace afterwards
/// even when `f` fails; without root, says why `test` is skipped.
pub fn in_quiet_netns(test: &str, f: impl FnOnce(&Pair) + Send) {
    if !have_root(test) {
        return;
    }
    in_netns(|| {
        let p = quiet_pair();
        let _cleanup = Cleanup;
        f(&p);
    });
}

/// Makes the quiet link's inner end carry the default route (via the
/// peer's address), as the operator's own interface does.
pub fn default_route_via(p: &Pair) {
    netns::ip(&[
        "route",
        "add",
        "default",
        "via",
        "198.18.0.2",
        "dev",
        &p.inner,
    ])
    .unwrap();
}

/// Attaches `xdp_pass` to `iface` as another tool does (`ip link set
/// xdpgeneric obj`, over netlink), from an object file removed after.
pub fn attach_with_ip(iface: &str) {
    let obj = std::env::temp_dir().join(format!("xskit-foreign-{}-{iface}.o", std::process::id()));
    std::fs::write(&obj, xskit::xdp::Program::Pass.object()).unwrap();
    let done = netns::ip(&[
        "link",
        "set",
        "dev",
        iface,
        "xdpgeneric",
        "obj",
        obj.to_str().unwrap(),
        "sec",
        "xdp",
    ]);
    let _ = std::fs::remove_file(&obj);
    done.unwrap();
}

/// True if a datagram from the peer reaches the inner end's stack.
pub fn flows(p: &Pair, tap: &PacketSocket) -> bool {
    while tap.recv_incoming(Duration::ZERO).unwrap().is_some() {}
    send_udp_quick(p, Ipv4Addr::new(198, 18, 0, 2), 9, 1);
    tap.recv_incoming(Duration::from_millis(50))
        .unwrap()
        .is_some()
}

/// An xskit command (`load`, a `filter` change) waiting for confirmation:
/// the process, its stdin, what it said up to its question, and a thread
/// collecting the rest of its stdout. Killed when dropped unless it ended.
pub struct Waiting {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Its output up to and with the question (`type `yes` ...`).
    pub asked: String,
    rest: Option<JoinHandle<String>>,
}

impl Waiting {
    /// `xskit load drop IFACE --confirm-within WITHIN`, once it asks.
    pub fn drop_on(iface: &str, within: &str) -> Waiting {
        Waiting::start(&["load", "drop", iface, "--confirm-within", within])
    }

    /// Starts `xskit ARGS` and returns once it asks for confirmation.
    pub fn start(args: &[&str]) -> Waiting {
        let mut child = cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take();
        let (seen, lines) = read_to_question(&mut child);
        let rest = std::thread::spawn(move || {
            let mut s = String::new();
            for l in lines.map_while(Result::ok) {
                s += &l;
                s.push('\n');
            }
            s
        });
        Waiting {
            child,
            stdin,
            asked: seen,
            rest: Some(rest),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Types `line` (and a newline) on its stdin.
    pub fn type_line(&mut self, line: &str) {
        let s = self.stdin.as_mut().unwrap();
        s.write_all(format!("{line}\n").as_bytes()).unwrap();
        s.flush().unwrap();
    }

    /// Waits up to `limit` for the process to end: its exit code and the
    /// rest of its output.
    pub fn end(mut self, limit: Duration) -> (Option<i32>, String) {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                let rest = self.rest.take().unwrap().join().unwrap();
                return (st.code(), rest);
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let rest = self.rest.take().unwrap().join().unwrap();
                let _ =
                    std::fs::remove_file(format!("/run/xskit/pending/{}.json", self.child.id()));
                panic!("xskit still ran after {limit:?}; it said: {rest}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills it with SIGKILL, as a lost session or the OOM killer would,
    /// and reaps it; its record of the wait stays (until dropped).
    pub fn sigkill(&mut self) {
        let pid = self.child.id() as i32;
        // SAFETY: kill(2) on a child we spawned and have not reaped.
        let rc = unsafe { libc::kill(pid, libc::SIGKILL) };
        assert_eq!(rc, 0);
        self.child.wait().unwrap();
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if self.rest.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            // Its record of the wait, which a killed load leaves.
            let _ = std::fs::remove_file(format!("/run/xskit/pending/{}.json", self.child.id()));
        }
    }
}
