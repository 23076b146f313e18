//! xskit's commands beside xdp-filter (Debian 12's xdp-tools 1.3.1) on one
//! interface: xdp-filter first (libxdp makes a dispatcher), then `xskit
//! echo` (and `xskit load`) join it by default, in a sandbox.
//!
//! Where the kernel loads extension programs (Debian's kernels in
//! `scripts/vm-test`), checked with frames:
//! - both verdicts at once: every ping answered by xskit's responder, UDP
//!   to the port xdp-filter denies never arrives, UDP to the next port
//!   does;
//! - `xdp-loader status` lists xskit's component, `xskit status` lists
//!   xdp-filter's and names the running echo as the owner of its own;
//! - when echo ends (on SIGHUP, as from a closed terminal), its component
//!   leaves and xdp-filter goes on dropping the port;
//! - SIGKILLed, echo's component stays (pinned in libxdp's folder, as the
//!   protocol needs), passes what it cannot redirect (the kernel answers
//!   the pings), `xskit status` calls it left behind, and `xskit unload`
//!   takes it out, leaving xdp-filter's.
//!
//! `xskit load` in the same dispatcher: `drop` at priority 5 with
//! `--confirm-within 5s`, never confirmed, drops what the filter passes
//! until the deadline and is then taken out; `pass` stays as `xskit load`'s
//! component until `xskit unload`, which leaves xdp-filter's; xskit's rule
//! filter drops the port of its rule beside xdp-filter's, with its status
//! and counters.
//!
//! `xskit dump` joins too, ahead of xdp-filter (priority 0): it captures
//! the UDP frames xdp-filter then drops as well as those it passes, and
//! its program leaves with it.
//!
//! Where the kernel refuses them (this development machine): `xskit echo
//! --multiprog`, `xskit load --multiprog` and `xskit dump --multiprog` fail
//! in one line naming extension programs, and nothing is attached.

mod common;

use common::{ok, row, xskit};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use xskit::app::measure::demo::ping_series_within;
use xskit::app::modes::{self, Benchmark};
use xskit::app::shared::sandbox::State;
use xskit::net::netns;
use xskit::testing::{have_root, in_inner, in_outer, sandbox};
use xskit::xdp::ext_probe::{probe, ExtSupport};

const FILTER: &str = "/usr/sbin/xdp-filter";
const LOADER: &str = "/usr/sbin/xdp-loader";
/// The port xdp-filter denies, and one it does not.
const DENIED: u16 = 7777;
const OPEN: u16 = 7778;
/// echo's program as the kernel names it (15 bytes of xdp_redirect_echo).
const ECHO_PROG: &str = "xdp_redirect_ec";

/// One test at a time: libxdp's tools refuse to run beside themselves
/// ("Unable to read PID from lockfile").
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(tool: &str, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"))
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// xdp-filter's program and its pins go, whatever the test did.
struct FilterGuard<'a>(&'a State);

impl Drop for FilterGuard<'_> {
    fn drop(&mut self) {
        in_inner(self.0, || {
            let _ = run(FILTER, &["unload", &self.0.inner_if]);
            let _ = run(LOADER, &["unload", &self.0.inner_if, "--all"]);
        });
    }
}

/// Where the kernel refuses extension programs: `o` failed in one line
/// naming them, and nothing is attached to the sandbox's inner end.
fn refused_in_one_line(st: &State, what: &str, o: &Output) {
    let t = text(o);
    println!("{what}: {t}");
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("refuses extension programs"), "{t}");
    assert_eq!(t.trim().lines().count(), 1, "not one line: {t}");
    assert_eq!(
        in_inner(st, || netns::xdp_shown_by_ip(&st.inner_if).unwrap()),
        None
    );
}

/// xdp-filter on the sandbox's inner end (libxdp makes its dispatcher),
/// denying UDP to [`DENIED`]; unloaded when the guard goes.
fn xdp_filter(st: &State) -> FilterGuard<'_> {
    let guard = FilterGuard(st);
    in_inner(st, || {
        let l = run(FILTER, &["load", "-m", "skb", &st.inner_if]);
        assert!(l.status.success(), "xdp-filter load: {}", text(&l));
        let p = run(FILTER, &["port", &DENIED.to_string()]);
        assert!(p.status.success(), "xdp-filter port: {}", text(&p));
    });
    guard
}

/// Of `n` UDP datagrams sent from the outer end to the inner address on
/// `port`, how many a socket bound there received.
fn udp_arrivals(st: &State, port: u16, n: usize) -> usize {
    let sock = in_inner(st, || UdpSocket::bind((st.inner_v4, port)).unwrap());
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    in_outer(st, || {
        let s = UdpSocket::bind((st.outer_v4, 0)).unwrap();
        for _ in 0..n {
            s.send_to(b"xskit", (st.inner_v4, port)).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mut got = 0;
    let mut buf = [0u8; 64];
    while sock.recv_from(&mut buf).is_ok() {
        got += 1;
    }
    got
}

/// 20 pings over each family, 3 s each at most: (IPv6, IPv4) answered
/// correctly.
fn pings(st: &State) -> (u32, u32) {
    let wait = Duration::from_secs(3);
    in_outer(st, || {
        (
            ping_series_within(IpAddr::V6(st.inner_v6), 20, 56, Duration::ZERO, wait)
                .unwrap()
                .correct,
            ping_series_within(IpAddr::V4(st.inner_v4), 20, 56, Duration::ZERO, wait)
                .unwrap()
                .correct,
        )
    })
}

/// True where the kernel has namespace cookies (5.14+): before, xskit's
/// operator commands (`status`, `load`, `unload`) refuse in one line naming
/// SO_NETNS_COOKIE.
fn cookies(st: &State) -> bool {
    let o = xskit(&["status", "--sandbox", &st.name]);
    if o.status.success() {
        return true;
    }
    assert!(
        text(&o).contains("SO_NETNS_COOKIE"),
        "xskit status: {}",
        text(&o)
    );
    false
}

/// (name, owner) of each program `xskit status` lists in the inner
/// interface's dispatcher; where the kernel has no namespace cookies, the
/// names `xdp-loader status` lists, owned by "?".
fn components(st: &State) -> Vec<(String, String)> {
    if !cookies(st) {
        return loader_status(st)
            .lines()
            .filter_map(|l| l.split_once("=>"))
            .filter_map(|(_, rest)| rest.split_whitespace().nth(1))
            .map(|n| (n.to_string(), "?".to_string()))
            .collect();
    }
    let o = xskit(&["status", "--sandbox", &st.name, "--json"]);
    assert!(o.status.success(), "xskit status: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = row(&v, &st.inner_if);
    r["dispatcher"]["programs"]
        .as_array()
        .unwrap_or_else(|| panic!("no dispatcher in xskit status: {r}"))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["owner"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The program id `xdp-loader status` gives echo's component.
fn left_id(st: &State) -> u32 {
    loader_status(st)
        .lines()
        .filter_map(|l| l.split_once("=>"))
        .map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.get(1) == Some(&ECHO_PROG))
        .and_then(|w| w.get(2)?.parse().ok())
        .expect("xdp-loader lists echo's component with its id")
}

fn loader_status(st: &State) -> String {
    let t = text(&in_inner(st, || run(LOADER, &["status", &st.inner_if])));
    println!("xdp-loader status:\n{t}");
    t
}

/// Starts `xskit echo --sandbox NAME` and reads its output up to the line
/// that says where its program went; the rest of its output comes from the
/// handle once it ends.
fn start_echo(st: &State) -> (Child, String, std::thread::JoinHandle<String>) {
    let mut child = common::bin()
        .args(["echo", "--sandbox", &st.name, "-p", "-n", "10s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        seen += &l;
        seen += "\n";
        if l.contains(" on xsk0 queue 0:") {
            break;
        }
    }
    // Keep draining, or echo would block on a full pipe.
    let rest = std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .fold(String::new(), |t, l| t + &l + "\n")
    });
    (child, seen, rest)
}

fn stop(child: &mut Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    child.wait().unwrap();
}

#[test]
fn echo_joins_xdp_filters_dispatcher_and_both_verdicts_hold() {
    if !have_root("echo_joins_xdp_filters_dispatcher_and_both_verdicts_hold") {
        return;
    }
    assert!(
        std::path::Path::new(FILTER).exists(),
        "{FILTER} not found: install Debian's xdp-tools (`apt-get install xdp-tools`)"
    );
    let _serial = serial();
    let g = sandbox("mpecho").unwrap();
    let st = &g.0;
    if let ExtSupport::Refused { .. } = probe() {
        let o = xskit(&["echo", "--sandbox", &st.name, "--multiprog", "-d", "1s"]);
        refused_in_one_line(st, "xskit echo --multiprog", &o);
        return;
    }
    let _filter = xdp_filter(st);
    // Before echo: the kernel answers pings, the filter drops the port.
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);
    assert_eq!(udp_arrivals(st, OPEN, 10), 10);

    let (mut echo, said, rest) = start_echo(st);
    println!("xskit echo:\n{said}");
    assert!(said.contains("is in slot"), "{said}");
    let list = components(st);
    println!("xskit status: {list:?}");
    assert_eq!(list.len(), 2, "{list:?}");
    let ours = list.iter().find(|(n, _)| n == ECHO_PROG).expect("echo's");
    let theirs = list.iter().find(|(n, _)| n != ECHO_PROG).unwrap();
    let cookies = cookies(st);
    if cookies {
        assert!(
            ours.1.starts_with("xskit echo --sandbox") && ours.1.contains(" (pid "),
            "{list:?}"
        );
        assert_eq!(theirs.1, "libxdp or another tool", "{list:?}");
    }
    let ls = loader_status(st);
    assert!(
        ls.contains(ECHO_PROG),
        "xdp-loader does not list echo's: {ls}"
    );

    // Both verdicts at once: echo's answers (counted by echo), and
    // xdp-filter's drops.
    assert_eq!(pings(st), (20, 20));
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);
    assert_eq!(udp_arrivals(st, OPEN, 10), 10);
    // SIGHUP, as a closed terminal sends: echo ends as on Ctrl-C and takes
    // its component out (killed by it, the component would stay).
    stop(&mut echo, libc::SIGHUP);
    let summary = rest.join().unwrap();
    assert!(
        summary.contains("answered: 20 ICMPv6, 20 ICMPv4"),
        "echo did not answer the pings itself: {summary}"
    );
    let list = components(st);
    assert!(list.iter().all(|(n, _)| n != ECHO_PROG), "{list:?}");
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);
    assert_eq!(udp_arrivals(st, OPEN, 10), 10);

    // SIGKILL: the component stays, passes, and unload takes it out.
    let (mut echo, _, _) = start_echo(st);
    stop(&mut echo, libc::SIGKILL);
    let list = components(st);
    let left = list
        .iter()
        .find(|(n, _)| n == ECHO_PROG)
        .unwrap_or_else(|| panic!("the killed echo's component is gone: {list:?}"));
    // No socket: the kernel's stack answers.
    assert_eq!(pings(st), (20, 20));
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);
    if !cookies {
        // Before 5.14 `xskit unload` refuses, as every operator command;
        // xdp-loader takes the component out (docs/operations.md).
        let id = left_id(st);
        let o = in_inner(st, || {
            run(LOADER, &["unload", &st.inner_if, "--id", &id.to_string()])
        });
        assert!(o.status.success(), "xdp-loader unload --id: {}", text(&o));
        assert!(!loader_status(st).contains(ECHO_PROG));
        assert_eq!(udp_arrivals(st, DENIED, 10), 0);
        assert_eq!(udp_arrivals(st, OPEN, 10), 10);
        return;
    }
    assert_eq!(
        left.1, "xskit, left by a command that ended without removing it",
        "{list:?}"
    );
    let un = ok(&["unload", &st.inner_if, "--sandbox", &st.name]);
    println!("xskit unload: {un}");
    assert!(un.contains("removed xdp_redirect_ec (program id"), "{un}");
    let list = components(st);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].1, "libxdp or another tool", "{list:?}");
    assert!(!loader_status(st).contains(ECHO_PROG));
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);
    assert_eq!(udp_arrivals(st, OPEN, 10), 10);
}

#[test]
fn load_joins_xdp_filters_dispatcher_reverts_and_unloads_only_its_own() {
    if !have_root("load_joins_xdp_filters_dispatcher_reverts_and_unloads_only_its_own") {
        return;
    }
    let _serial = serial();
    let g = sandbox("mpload").unwrap();
    let st = &g.0;
    if let ExtSupport::Refused { .. } = probe() {
        let o = xskit(&[
            "load",
            "pass",
            &st.inner_if,
            "--sandbox",
            &st.name,
            "--multiprog",
        ]);
        refused_in_one_line(st, "xskit load --multiprog", &o);
        return;
    }
    let _filter = xdp_filter(st);
    assert_eq!(udp_arrivals(st, OPEN, 10), 10);
    if !cookies(st) {
        let o = xskit(&["load", "pass", &st.inner_if, "--sandbox", &st.name]);
        assert!(!o.status.success(), "{}", text(&o));
        assert!(text(&o).contains("SO_NETNS_COOKIE"), "{}", text(&o));
        return;
    }

    // Unconfirmed: dropped until the deadline, then taken out. Under
    // emulation each xskit command takes seconds: the checks below must
    // fit in the window.
    let within = if xskit::testing::slow() { "20s" } else { "5s" };
    let w = common::Waiting::start(&[
        "load",
        "drop",
        &st.inner_if,
        "--sandbox",
        &st.name,
        "--priority",
        "5",
        "--confirm-within",
        within,
    ]);
    println!("xskit load drop: {}", w.asked);
    assert!(
        w.asked.contains("in a dispatcher (priority 5"),
        "{}",
        w.asked
    );
    let list = components(st);
    assert!(
        list.contains(&("xdp_drop".to_string(), "xskit load".to_string())),
        "{list:?}"
    );
    assert_eq!(udp_arrivals(st, OPEN, 10), 0);
    let (code, rest) = w.end(Duration::from_secs(60));
    println!("xskit load drop, after the deadline: {rest}");
    assert_eq!(code, Some(2), "{rest}");
    let list = components(st);
    assert!(list.iter().all(|(n, _)| n != "xdp_drop"), "{list:?}");
    assert_eq!(udp_arrivals(st, OPEN, 10), 10);
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);

    // Kept: a component of `xskit load` until unload.
    let out = ok(&["load", "pass", &st.inner_if, "--sandbox", &st.name]);
    println!("xskit load pass: {out}");
    let list = components(st);
    assert!(
        list.contains(&("xdp_pass".to_string(), "xskit load".to_string())),
        "{list:?}"
    );
    assert!(loader_status(st).contains("xdp_pass"));
    assert_eq!(udp_arrivals(st, OPEN, 10), 10);
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);
    let again = xskit(&["load", "pass", &st.inner_if, "--sandbox", &st.name]);
    assert!(
        text(&again).contains("xskit already has a program on xsk0"),
        "{}",
        text(&again)
    );
    let un = ok(&["unload", &st.inner_if, "--sandbox", &st.name]);
    assert!(un.contains("removed what xskit loaded"), "{un}");
    let list = components(st);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].1, "libxdp or another tool", "{list:?}");
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);

    // The rule filter as a component, with its pinned rule maps: its rule
    // and xdp-filter's each drop their port.
    ok(&["load", "filter", &st.inner_if, "--sandbox", &st.name]);
    let open = OPEN.to_string();
    ok(&[
        "filter",
        "add",
        "deny",
        "udp",
        "dst",
        &open,
        "--sandbox",
        &st.name,
    ]);
    assert_eq!(udp_arrivals(st, OPEN, 10), 0);
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);
    assert_eq!(udp_arrivals(st, OPEN + 1, 10), 10);
    let v: serde_json::Value = serde_json::from_str(&common::stdout_ok(&[
        "status",
        "--sandbox",
        &st.name,
        "--json",
    ]))
    .unwrap();
    let r = row(&v, &st.inner_if);
    assert_eq!(r["xskit"], true, "{r}");
    // The filter's report, flattened into the row: its rule and hits.
    assert_eq!(r["rules"][0]["rule"], "deny udp dst 7778", "{r}");
    assert!(r["rules"][0]["hits"].as_u64().unwrap_or(0) >= 10, "{r}");
    assert!(
        r["counters"]["dropped"].as_u64().unwrap_or(0) >= 10,
        "the filter's counters: {r}"
    );
    let un = ok(&["unload", &st.inner_if, "--sandbox", &st.name]);
    assert!(un.contains("removed what xskit loaded"), "{un}");
    assert_eq!(udp_arrivals(st, OPEN, 10), 10);
    assert_eq!(udp_arrivals(st, DENIED, 10), 0);
    assert_eq!(components(st).len(), 1);
}

#[test]
fn rxdrop_in_a_dispatcher_leaves_it_though_stopped_from_another_namespace() {
    if !have_root("rxdrop_in_a_dispatcher_leaves_it_though_stopped_from_another_namespace") {
        return;
    }
    let _serial = serial();
    let g = sandbox("mprx").unwrap();
    let st = &g.0;
    let args = common::rx_mode_args(&["-i", &st.inner_if, "-Q", "--multiprog"]);
    let start = || {
        in_inner(st, || {
            modes::start(Benchmark::Rxdrop, &args, &st.inner_if, &mut std::io::sink())
        })
    };
    let nothing_left = || {
        let ifindex = in_inner(st, || xsk::netdev::ifindex(&st.inner_if).unwrap());
        assert_eq!(
            in_inner(st, || netns::xdp_shown_by_ip(&st.inner_if).unwrap()),
            None
        );
        let prefix = format!("dispatch-{ifindex}-");
        let pins: Vec<String> = std::fs::read_dir(xskit::xdp::dispatcher::libxdp_dir())
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default();
        // Another test's dispatcher may have the same index in its own
        // namespace: none runs beside this one (serial).
        assert_eq!(pins, Vec::<String>::new());
    };
    if let ExtSupport::Refused { .. } = probe() {
        let e = format!("{:#}", start().err().expect("refused"));
        assert!(e.contains("refuses extension programs"), "{e}");
        assert_eq!(e.lines().count(), 1, "{e}");
        nothing_left();
        return;
    }
    let running = start().unwrap();
    let list = components(st);
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].0, "xdp_redirect", "{list:?}");
    // Stopped (and its program dropped) on this thread, which is in the
    // test's own namespace, not the sandbox's.
    running.stop(0.0).unwrap();
    nothing_left();
}

#[test]
fn dump_captures_in_xdp_filters_dispatcher_ahead_of_its_verdicts() {
    if !have_root("dump_captures_in_xdp_filters_dispatcher_ahead_of_its_verdicts") {
        return;
    }
    let _serial = serial();
    let g = sandbox("mpdump").unwrap();
    let st = &g.0;
    if let ExtSupport::Refused { .. } = probe() {
        let o = xskit(&["dump", "--sandbox", &st.name, "--multiprog", "-d", "1s"]);
        refused_in_one_line(st, "xskit dump --multiprog", &o);
        return;
    }
    let _filter = xdp_filter(st);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    if xskit::app::doctor::rules::kernel_version(release.trim()) < (5, 18) {
        // Its capture program needs bpf_xdp_load_bytes, alone or not.
        let o = xskit(&["dump", "--sandbox", &st.name, "-c", "1", "-d", "5s"]);
        let t = text(&o);
        println!("xskit dump: {t}");
        assert!(!o.status.success(), "{t}");
        assert!(t.contains("bpf_xdp_load_bytes (Linux 5.18"), "{t}");
        assert_eq!(t.trim().lines().count(), 1, "not one line: {t}");
        assert_eq!(components(st).len(), 1);
        return;
    }
    // Ten UDP frames, then dump ends by itself and takes its program out.
    let mut dump = common::bin()
        .args([
            "dump",
            "--sandbox",
            &st.name,
            "-c",
            "10",
            "-d",
            "60s",
            "udp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(dump.stderr.take().unwrap()).lines();
    let mut said = String::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        said += &l;
        said += "\n";
        if l.starts_with("capturing on") {
            break;
        }
    }
    // Keep draining, or dump's summary would hit a closed pipe.
    let rest = std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .fold(String::new(), |t, l| t + &l + "\n")
    });
    println!("xskit dump:\n{said}");
    assert!(
        said.contains("is in slot") && said.contains("at priority 0"),
        "{said}"
    );
    let list = components(st);
    println!("xskit status: {list:?}");
    assert_eq!(list.len(), 2, "{list:?}");
    let ours = list.iter().find(|(n, _)| n == "xdp_capture");
    let ours = ours.unwrap_or_else(|| panic!("no xdp_capture: {list:?}"));
    if cookies(st) {
        assert!(ours.1.starts_with("xskit dump --sandbox"), "{list:?}");
    }
    // dump runs first and passes on: it sees the frames xdp-filter then
    // drops, and those it passes arrive.
    assert_eq!(udp_arrivals(st, DENIED, 5), 0);
    assert_eq!(udp_arrivals(st, OPEN, 5), 5);
    let out = dump.wait_with_output().unwrap();
    let frames = String::from_utf8_lossy(&out.stdout).into_owned();
    let summary = rest.join().unwrap();
    println!("captured:\n{frames}{summary}");
    assert!(out.status.success(), "{}: {frames}{summary}", out.status);
    let to = |port: u16| frames.matches(&format!("> {port} len")).count();
    assert_eq!((to(DENIED), to(OPEN)), (5, 5), "{frames}");
    // Gone with dump; xdp-filter's stays and still drops.
    let list = components(st);
    assert_eq!(list.len(), 1, "{list:?}");
    assert!(list.iter().all(|(n, _)| n != "xdp_capture"), "{list:?}");
    assert_eq!(udp_arrivals(st, DENIED, 5), 0);
}
