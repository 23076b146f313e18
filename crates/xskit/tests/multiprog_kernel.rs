//! xskit beside libxdp (Debian 12's xdp-tools 1.3.1, `apt-get install
//! xdp-tools`): `xdp-loader` loads two of libxdp's own programs on a veth
//! in a fresh namespace, and xskit must describe and refuse what it finds.
//!
//! Which of two things happens is decided by the kernel, found by a real
//! load of an extension program (`xskit_xdp::ext_probe`):
//! - it loads them (Debian's kernels in `scripts/vm-test`): libxdp builds
//!   a dispatcher with both programs; `xskit status` (JSON and text) lists
//!   both with the names and priorities `xdp-loader status` gives, and
//!   `xskit load` and `xskit echo` refuse the interface naming the
//!   dispatcher and its programs, `xskit unload --any` leaves it; `doctor`
//!   says extensions load. (Before 5.14 the operator commands refuse for
//!   want of namespace cookies: there only `doctor` and `echo` are checked.)
//! - it refuses them (this development machine's 6.18, EPERM): libxdp
//!   attaches the first program alone and refuses the second, so xskit must
//!   see no dispatcher and refuse as beside any other tool's program, and
//!   `doctor` says no, with the kernel's EPERM.
//!
//! Either way the probe, doctor and what libxdp managed must agree. Without
//! xdp-loader the test fails saying so (it never skips as root).

mod common;

use common::{ok, row, xskit};
use std::process::{Command, Output};
use xskit::testing::{have_root, in_netns, veth_pair};
use xskit::xdp::ext_probe::{probe, ExtSupport};

const LOADER: &str = "/usr/sbin/xdp-loader";
/// libxdp's objects, as Debian 12's libxdp1 installs them.
const OBJECTS: &str = "/usr/lib/x86_64-linux-gnu/bpf";
/// Two programs of xdp-tools: xdp-filter's allow-all, libxdp's AF_XDP one.
const FIRST: &str = "xdpfilt_alw_all.o";
const SECOND: &str = "xsk_def_xdp_prog.o";

fn loader(args: &[&str]) -> Output {
    // Spawned from this thread: in its network namespace, with the
    // machine's mounts (bpffs; `ip netns exec` would remount /sys).
    Command::new(LOADER)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {LOADER}: {e}"))
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// libxdp's pins outlive the namespace: unload what xdp-loader put there.
struct Unload(String);

impl Drop for Unload {
    fn drop(&mut self) {
        let _ = loader(&["unload", &self.0, "--all"]);
        // libxdp's folders, if it made them and nothing else is in them
        // (not where `xdp` is iproute2's link to its own `tc`).
        let dir = xskit::xdp::dispatcher::libxdp_dir();
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::remove_dir(dir.join("globals"));
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// (name, priority) of each program `xdp-loader status` lists under a
/// dispatcher on `iface` (its `=>` lines: priority, name, id, tag, chain
/// actions).
fn loader_components(iface: &str) -> Vec<(String, u32)> {
    let o = loader(&["status", iface]);
    let t = text(&o);
    let list: Vec<(String, u32)> = t
        .lines()
        .filter_map(|l| l.split_once("=>"))
        .filter_map(|(_, rest)| {
            let w: Vec<&str> = rest.split_whitespace().collect();
            Some((w.get(1)?.to_string(), w.first()?.parse().ok()?))
        })
        .collect();
    assert_eq!(
        list.len(),
        2,
        "xdp-loader status {iface} lists no two programs:\n{t}"
    );
    list
}

/// `xskit status --json`'s row of `iface`, or `None` where the kernel has
/// no namespace cookies (before 5.14: the operator commands refuse, in one
/// line naming SO_NETNS_COOKIE).
fn status_row(iface: &str) -> Option<serde_json::Value> {
    let o = xskit(&["status", "--json"]);
    if !o.status.success() {
        assert!(
            text(&o).contains("SO_NETNS_COOKIE"),
            "xskit status: {}",
            text(&o)
        );
        return None;
    }
    Some(row(&serde_json::from_slice(&o.stdout).unwrap(), iface))
}

/// The kernel loads extensions: libxdp made a dispatcher of both programs.
fn check_dispatcher(i: &str, doctor: &serde_json::Value, second: &Output) {
    assert!(
        second.status.success(),
        "xdp-loader load {SECOND}: {}",
        text(second)
    );
    assert_eq!(doctor["bpf"]["extensions"]["value"], "yes", "{doctor}");
    let owner = doctor["interfaces"][0]["attached"]["owner"]
        .as_str()
        .unwrap_or("");
    assert!(
        owner.starts_with("a libxdp dispatcher (v2, program id"),
        "{doctor}"
    );
    let want = loader_components(i);
    let echo = xskit(&["echo", "-i", i, "-d", "1s"]);
    let mut refusals = vec![("echo", echo)];
    if let Some(status) = status_row(i) {
        assert_eq!(status["program"], "xdp_dispatcher", "{status}");
        let d = &status["dispatcher"];
        assert_eq!(d["version"], 2, "{status}");
        let mut got: Vec<(String, u32)> = d["programs"]
            .as_array()
            .unwrap_or_else(|| panic!("no dispatcher in xskit status: {status}"))
            .iter()
            .map(|c| {
                assert!(c["id"].as_u64().is_some(), "{status}");
                let name = c["name"].as_str().unwrap().to_string();
                (name, c["priority"].as_u64().unwrap() as u32)
            })
            .collect();
        let mut w = want.clone();
        got.sort();
        w.sort();
        assert_eq!(
            got, w,
            "xskit status {status} against xdp-loader's {want:?}"
        );
        // unload --any leaves a dispatcher to libxdp.
        let un = xskit(&["unload", i, "--any"]);
        assert_eq!(un.status.code(), Some(1), "unload --any: {}", text(&un));
        assert!(
            text(&un).contains("leaving it, also with --any"),
            "{}",
            text(&un)
        );
        let still = status_row(i).unwrap();
        assert_eq!(
            still["id"], status["id"],
            "unload --any took the dispatcher: {still}"
        );
        let t = ok(&["status"]);
        println!("xskit status:\n{t}");
        assert!(
            t.contains("dispatcher by libxdp, version 2: 2 program(s)"),
            "{t}"
        );
        refusals.push(("load", xskit(&["load", "pass", i])));
    }
    for (what, o) in refusals {
        let t = text(&o);
        println!("xskit {what}: {t}");
        assert!(!o.status.success(), "xskit {what} beside libxdp: {t}");
        assert!(
            t.contains("a libxdp dispatcher (v2, program id"),
            "{what}: {t}"
        );
        assert!(
            t.contains("cannot join libxdp dispatchers yet (issue #25)"),
            "{what}: {t}"
        );
        for (name, prio) in &want {
            assert!(t.contains(&format!("{name} prio {prio}")), "{what}: {t}");
        }
        assert_eq!(t.trim().lines().count(), 1, "{what}: not one line: {t}");
    }
}

/// The kernel refuses extensions: libxdp attached its first program alone
/// and refused the second; xskit sees another tool's program.
fn check_lone(i: &str, doctor: &serde_json::Value, second: &Output, errno: Option<i32>) {
    assert!(
        !second.status.success(),
        "xdp-loader load {SECOND} succeeded: {}",
        text(second)
    );
    let ext = &doctor["bpf"]["extensions"];
    assert_eq!(ext["value"], "no", "{doctor}");
    if errno == Some(libc::EPERM) {
        let why = ext["why"].as_str().unwrap();
        assert!(
            why.starts_with("EPERM: this kernel refuses extension programs"),
            "{why}"
        );
    }
    if let Some(status) = status_row(i) {
        assert_ne!(status["program"], "xdp_dispatcher", "{status}");
        assert!(status.get("dispatcher").is_none(), "{status}");
        let o = xskit(&["load", "pass", i]);
        let refusal = text(&o);
        assert!(!o.status.success(), "xskit load beside libxdp: {refusal}");
        assert!(refusal.contains("another tool's"), "{refusal}");
        assert!(!refusal.contains("dispatcher"), "{refusal}");
    }
}

#[test]
fn libxdp_programs_are_listed_and_refused_by_name() {
    if !have_root("libxdp_programs_are_listed_and_refused_by_name") {
        return;
    }
    assert!(
        std::path::Path::new(LOADER).exists(),
        "{LOADER} not found: install Debian's xdp-tools (`apt-get install xdp-tools`); this test \
         compares xskit with libxdp's own loader"
    );
    let seen = probe();
    println!("extension probe: {seen:?}");
    in_netns(|| {
        let p = veth_pair().unwrap();
        let i = p.inner.as_str();
        let _unload = Unload(i.to_string());
        let first = loader(&["load", "-m", "skb", i, &format!("{OBJECTS}/{FIRST}")]);
        assert!(
            first.status.success(),
            "xdp-loader load {FIRST}: {}",
            text(&first)
        );
        let second = loader(&["load", "-m", "skb", i, &format!("{OBJECTS}/{SECOND}")]);
        println!(
            "xdp-loader load {SECOND}: {:?} {}",
            second.status,
            text(&second)
        );
        let doctor: serde_json::Value =
            serde_json::from_str(&ok(&["doctor", i, "--json"])).unwrap();
        println!("doctor: extensions {}", doctor["bpf"]["extensions"]);
        match seen {
            ExtSupport::Loads => check_dispatcher(i, &doctor, &second),
            ExtSupport::Refused { errno, .. } => check_lone(i, &doctor, &second, errno),
            ExtSupport::NoTarget(why) => {
                panic!("the extension probe could not load its XDP program: {why}")
            }
        }
    });
}
