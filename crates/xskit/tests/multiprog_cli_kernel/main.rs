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
//! its program leaves with it. Beside echo's component it adds no program
//! but uses echo's tap: the frames that reach echo, with echo's verdicts.
//!
//! Where the kernel refuses them (this development machine): `xskit echo
//! --multiprog`, `xskit load --multiprog` and `xskit dump --multiprog` fail
//! in one line naming extension programs, and nothing is attached.

#[path = "../common/mod.rs"]
mod common;
mod helpers;

use common::{ok, row, xskit};
use helpers::*;
use std::net::IpAddr;
use std::time::Duration;
use xskit::app::measure::demo::ping_series_within;
use xskit::app::modes::{self, Benchmark};
use xskit::net::netns;
use xskit::testing::{have_root, in_inner, in_outer, sandbox};
use xskit::xdp::ext_probe::{probe, ExtSupport};

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
fn dump_captures_in_xdp_filters_dispatcher_first_or_by_echos_tap() {
    if !have_root("dump_captures_in_xdp_filters_dispatcher_first_or_by_echos_tap") {
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
    let to = |frames: &str, port: u16| frames.matches(&format!("> {port} len")).count();
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
    } else {
        // Ten UDP frames, then dump ends by itself and takes its program
        // out.
        let (dump, said, rest) = start_dump(st, &["-c", "10", "udp"]);
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
        let frames = dump_output(dump, rest);
        assert_eq!((to(&frames, DENIED), to(&frames, OPEN)), (5, 5), "{frames}");
        // Gone with dump; xdp-filter's stays and still drops.
        let list = components(st);
        assert_eq!(list.len(), 1, "{list:?}");
        assert!(list.iter().all(|(n, _)| n != "xdp_capture"), "{list:?}");
        assert_eq!(udp_arrivals(st, DENIED, 5), 0);
    }

    // Beside echo's component, dump uses its tap (no 5.18 helper there),
    // as beside echo alone: the frames that reach echo's program, each
    // with the verdict it gave; those xdp-filter dropped before never do.
    let (mut echo, _, _) = start_echo(st);
    let (dump, said, rest) = start_dump(st, &["-c", "7", "udp or icmp"]);
    assert!(
        said.contains(&format!("beside {ECHO_PROG} (program id"))
            && said.contains("of its dispatcher"),
        "{said}"
    );
    assert_eq!(components(st).len(), 2, "dump added no program");
    assert_eq!(udp_arrivals(st, DENIED, 5), 0);
    assert_eq!(udp_arrivals(st, OPEN, 5), 5);
    let wait = Duration::from_secs(3);
    let answered = in_outer(st, || {
        ping_series_within(IpAddr::V4(st.inner_v4), 2, 56, Duration::ZERO, wait).unwrap()
    });
    assert_eq!(answered.correct, 2);
    let frames = dump_output(dump, rest);
    assert_eq!((to(&frames, DENIED), to(&frames, OPEN)), (0, 5), "{frames}");
    let passed = frames.lines().filter(|l| l.contains("[pass q0]")).count();
    let redirected = frames
        .lines()
        .filter(|l| l.contains("[redirect q0]"))
        .count();
    assert_eq!((passed, redirected), (5, 2), "{frames}");
    stop(&mut echo, libc::SIGTERM);
    assert_eq!(components(st).len(), 1);
}
