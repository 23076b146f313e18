//! What the operator commands say (issue 29, items 6, 7, 9 and 10): tables
//! of command lines with the exit status and the first line expected of
//! each, run with `--sandbox` in sandboxes of the tests' own, so that every
//! hint is checked to name that sandbox. The real binary.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};
use xskit::testing::{have_root, sandbox};

/// One row: the command line (`SB` is the sandbox's name, `NS` its inner
/// namespace's), the exit status, what the first line of the output
/// (stderr if the command wrote there, else stdout) contains, what the
/// whole output must also contain, and what it must not.
struct Row {
    args: &'static [&'static str],
    code: i32,
    first: &'static str,
    also: &'static str,
    never: &'static [&'static str],
}

const fn row(args: &'static [&'static str], code: i32, first: &'static str) -> Row {
    Row {
        args,
        code,
        first,
        also: "",
        never: &[],
    }
}

/// Runs a row in sandbox `sb` (inner namespace `ns`); returns the output.
fn check(r: &Row, sb: &str, ns: &str) -> String {
    let sub = |s: &str| s.replace("SB", sb).replace("NS", ns);
    let args: Vec<String> = r.args.iter().map(|a| sub(a)).collect();
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = cmd(&a).stdin(Stdio::null()).output().unwrap();
    let (out, err) = (
        String::from_utf8_lossy(&o.stdout).to_string(),
        String::from_utf8_lossy(&o.stderr).to_string(),
    );
    let text = if err.trim().is_empty() { &out } else { &err };
    let first = text.lines().next().unwrap_or_default();
    let all = format!("{out}{err}");
    let line = format!("xskit {}", args.join(" "));
    assert_eq!(o.status.code(), Some(r.code), "{line}:\n{all}");
    assert!(
        first.contains(&sub(r.first)),
        "{line}: the first line\n  {first}\ndoes not say\n  {}\n{all}",
        sub(r.first)
    );
    assert!(
        all.contains(&sub(r.also)),
        "{line}: no {:?} in\n{all}",
        sub(r.also)
    );
    for n in r.never {
        assert!(!all.contains(n), "{line}: {n:?} in\n{all}");
    }
    assert!(!all.contains("panicked"), "{line}:\n{all}");
    all
}

/// Item 9 (and 6: the hints in its errors): input errors say what was
/// expected, in one line, never with Rust's own parse errors.
#[test]
fn input_errors_say_what_was_expected_and_options_are_strict() {
    if !have_root("input_errors_say_what_was_expected_and_options_are_strict") {
        return;
    }
    let g = sandbox("msg9").unwrap();
    let (sb, ns) = (g.0.name.as_str(), g.0.inner_ns.as_str());
    const RUST: &[&str] = &[
        "number too large",
        "invalid digit",
        "no more were expected",
        "ParseIntError",
    ];
    let table = [
        Row {
            never: RUST,
            ..row(
                &["filter", "add", "deny", "tcp", "dst", "70000", "--sandbox", "SB"],
                1,
                "xskit: error: 70000 is not a port: expected a number from 0 to 65535 after `tcp dst`",
            )
        },
        Row {
            never: RUST,
            ..row(
                &["filter", "add", "deny", "tcp", "dst", "x1", "--sandbox", "SB"],
                1,
                "xskit: error: \"x1\" is not a port: expected a number from 0 to 65535",
            )
        },
        Row {
            never: RUST,
            ..row(
                &["filter", "add", "deny", "src", "10.0.0.0/8", "tcp", "dst", "80", "--sandbox", "SB"],
                1,
                "xskit: error: `src 10.0.0.0/8` and `tcp dst 80` are two rules: a rule matches one field",
            )
        },
        Row {
            never: RUST,
            ..row(
                &["filter", "add", "deny", "tcp", "dst", "22", "80", "--sandbox", "SB"],
                1,
                "xskit: error: unexpected `80` after `tcp dst 22`: a rule takes one port",
            )
        },
        row(
            &["filter", "add", "deny", "ip", "--sandbox", "SB"],
            1,
            "xskit: error: `ip` alone is not a rule",
        ),
        row(
            &["filter", "add", "deny", "proto", "300", "--sandbox", "SB"],
            1,
            "xskit: error: 300 is not an IP protocol number: expected 0-255",
        ),
        row(
            &["filter", "add", "deny", "src", "198.18.5.1/24", "--sandbox", "SB"],
            1,
            "xskit: error: 198.18.5.1/24 has host bits set: the network is 198.18.5.0/24",
        ),
        row(
            &["filter", "add", "deny", "bogus", "--sandbox", "SB"],
            1,
            "xskit: error: expected a rule: `[src|dst] PREFIX`, `tcp|udp [src|dst] PORT`, `tcp`, `udp`, `icmp`, `icmp6`",
        ),
        // Nothing was made by the errors above: no rule maps to list.
        row(&["filter", "del", "7", "--sandbox", "SB"], 1, "no rule #7 (`xskit filter list --sandbox SB` shows the ids"),
        // ICMP is a rule of its own now.
        row(&["filter", "add", "deny", "icmp", "--sandbox", "SB"], 0, "added #0: deny icmp"),
        row(
            &["filter", "add", "allow", "ip", "proto", "1", "--sandbox", "SB"],
            1,
            "xskit: error: `allow icmp` clashes with #0 `deny icmp`: the filter keeps one verdict per address, port, protocol or type; pass --replace to replace it, or `xskit filter del 0 --sandbox SB` first",
        ),
        Row {
            also: "note: the filter is stateless: with default deny it also drops the replies to this host's own outgoing traffic",
            ..row(&["filter", "default", "deny", "--sandbox", "SB"], 0, "default policy: deny")
        },
        row(&["filter", "flush", "--maps", "--sandbox", "SB"], 0, "removed the filter's maps"),
        // Strict options.
        row(
            &["echo", "--sandbox", "SB", "-d", "1s", "--rate-limit", "off", "--rate-burst", "10"],
            2,
            "xskit: error: --rate-burst 10 means nothing with --rate-limit off",
        ),
        row(
            &["load", "pass", "xsk0", "--sandbox", "SB", "--confirm-within", "1ms"],
            2,
            "too short to read the question and answer it: use at least 5s",
        ),
        row(
            &["load", "pass", "xsk0", "--sandbox", "SB", "--confirm-within", "1m30"],
            2,
            "is not a duration: expected e.g. 30s, 1m30s or 0",
        ),
        row(
            &["filter", "default", "deny", "--sandbox", "SB", "--confirm-within", "4s"],
            2,
            "use at least 5s",
        ),
        row(
            &["confirm", "4000001", "--sandbox", "SB"],
            1,
            "xskit: error: no xskit load or filter change of pid 4000001 is waiting for confirmation",
        ),
    ];
    for r in &table {
        check(r, sb, ns);
    }
    // `1m30s` is taken: the question says 90 s (then SIGHUP reverts it).
    let (mut child, asked) = load_waiting(&[
        "load",
        "pass",
        "xsk0",
        "--sandbox",
        sb,
        "--confirm-within",
        "1m30s",
    ]);
    assert!(asked.contains("type `yes` within 90s"), "{asked}");
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    assert_eq!(child.wait().unwrap().code(), Some(2));
}

/// The first line a spawned command wrote on stdout that contains `what`.
fn wait_for_line(lines: &mut impl Iterator<Item = String>, what: &str) -> String {
    for l in lines.by_ref() {
        if l.contains(what) {
            return l;
        }
    }
    panic!("no line with {what:?}");
}

/// Items 6 and 7: hints name the sandbox the command was given, owners are
/// named (a pinned load, a running dump), `unload --any` detaches a BPF
/// link, the confirmation question states the program's risk; and item
/// 10's readability: ids, watch lines, dump's banner and summary, doctor
/// in a namespace, a partly failed load, empty state folders.
#[test]
fn hints_name_the_sandbox_and_owners_are_named() {
    if !have_root("hints_name_the_sandbox_and_owners_are_named") {
        return;
    }
    let g = sandbox("msg67").unwrap();
    let other = sandbox("msg67b").unwrap();
    let (sb, ns) = (g.0.name.as_str(), g.0.inner_ns.as_str());
    let pcap = format!("/tmp/xskit-msg-{sb}.pcap");
    let table = [
        row(&["load", "pass", "xsk0", "--sandbox", "SB", "--confirm-within", "0"], 0, "xsk0: xdp_pass attached"),
        row(
            &["load", "pass", "xsk0", "--sandbox", "SB"],
            1,
            "xskit: error: xskit already has a program on xsk0 (xdp_pass program id",
        )
        .also_has("`xskit unload xsk0 --sandbox SB` first"),
        Row {
            never: &["perhaps by another tool"],
            ..row(
                &["echo", "--sandbox", "SB", "-d", "1s"],
                1,
                "xskit: error: cannot attach xdp_redirect_echo to xsk0: xsk0 has xskit's xdp_pass (program id",
            )
            .also_has("pinned by `xskit load`; `xskit unload xsk0 --sandbox SB` detaches it")
        },
        // A capture into plain pcap beside a program: no verdicts promised.
        row(
            &["dump", "--sandbox", "SB", "-d", "500ms", "-w", "/tmp/xskit-msg-SB.pcap"],
            0,
            "capturing on xsk0 beside xdp_pass",
        )
        .also_has("verdicts not kept: plain pcap cannot carry them (--pcapng keeps them)"),
        row(&["unload", "xsk0", "--sandbox", "SB"], 0, "xsk0: removed what xskit loaded"),
        // Part of a multi-interface load failed: what to do, in the sandbox.
        row(
            &["load", "pass", "xsk0", "lo", "--mode", "native", "--sandbox", "SB", "--confirm-within", "0"],
            1,
            "xsk0: xdp_pass attached in native mode",
        )
        .also_has("loaded on xsk0 but not on lo (why above): fix that and run `xskit load pass lo --sandbox SB` for the rest, or `xskit unload xsk0 --sandbox SB` to undo this load"),
        row(&["unload", "xsk0", "--sandbox", "SB"], 0, "xsk0: removed what xskit loaded"),
        // Doctor inside the namespace reads what it has.
        Row {
            never: &["JIT ?", "(max 0)"],
            ..row(&["doctor", "--netns", "NS"], 0, "kernel ")
                .also_has("lo (index 1): driver ?, mtu 65536 (no maximum set by the driver)")
        },
    ];
    for r in &table {
        check(r, sb, ns);
    }
    let _ = std::fs::remove_file(&pcap);

    // A running dump's xdp_capture: named as such by load and unload, and
    // detached by `unload --any` (a BPF link), which ends the dump.
    let (mut dump, first, rest) = spawn_dump_drained(sb, &["-d", "30s"]);
    assert!(first.contains("capturing on xsk0 (native mode)"), "{first}");
    let during = [
        Row {
            never: &["perhaps by another tool"],
            ..row(
                &["load", "filter", "xsk0", "--sandbox", "SB"],
                1,
                "xskit: error: cannot attach xdp_filter to xsk0: xsk0 has xdp_capture (program id",
            )
            .also_has("of a running `xskit dump --sandbox SB -d 30s` (pid")
        },
        Row {
            never: &["not attached by xskit"],
            ..row(
                &["unload", "xsk0", "--sandbox", "SB"],
                1,
                "xsk0: not pinned by `xskit load`: xdp_capture (program id",
            )
            .also_has("it goes when that command ends; leaving it (`--any` detaches it now)")
        },
        Row {
            never: &["Can't replace active BPF XDP link", "could not detach"],
            ..row(
                &["unload", "xsk0", "--any", "--sandbox", "SB"],
                0,
                "warning: xsk0: detaching xdp_capture (program id",
            )
        },
    ];
    for r in &during {
        check(r, sb, ns);
    }
    let t = Instant::now();
    while dump.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(5), "dump still runs");
        std::thread::sleep(Duration::from_millis(50));
    }
    let rest = rest.join().unwrap();
    assert!(
        rest.contains("xdp_capture is no longer attached to xsk0"),
        "{rest}"
    );

    // The confirmation question: the confirm command in the sandbox, and
    // the risk of the program, not "can drop" for xdp_pass.
    let mut child = cmd(&[
        "load",
        "pass",
        "xsk0",
        "--sandbox",
        sb,
        "--confirm-within",
        "20s",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .spawn()
    .unwrap();
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let asked = wait_for_line(&mut lines, "type `yes`");
    std::thread::spawn(move || lines.for_each(drop));
    assert!(
        asked.contains(&format!(
            "(or run `xskit confirm {pid} --sandbox {sb}` in another shell)"
        )),
        "{asked}"
    );
    // From another namespace: said where it waits, not "unknown pid".
    let o = xskit(&["confirm", &pid.to_string(), "--sandbox", &other.0.name]);
    let e = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{e}");
    assert!(
        e.contains(&format!(
            "the load of pid {pid} (xdp_pass on xsk0) waits in another network namespace"
        )) && e.contains(&format!("run `xskit confirm {pid}`")),
        "{e}"
    );
    let out = ok(&["confirm", &pid.to_string(), "--sandbox", sb]);
    assert!(
        out.contains(&format!("confirmed the load of pid {pid}")),
        "{out}"
    );
    assert!(child.wait().unwrap().success());

    // Program ids as `ip` prints them; --watch with the time and, in JSON,
    // the interface, program and action of each counter.
    let v: serde_json::Value =
        serde_json::from_str(&ok(&["status", "--json", "--sandbox", sb])).unwrap();
    let id = v
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["iface"] == "xsk0")
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let text = ok(&["status", "--sandbox", sb]);
    let line = text.lines().find(|l| l.starts_with("xsk0 ")).unwrap();
    assert!(
        line.split_whitespace().nth(2) == Some(id.to_string().as_str()),
        "{id}: {line}"
    );
    let w = ok(&["status", "--sandbox", sb, "-n", "200ms", "--count", "1"]);
    let head = w.lines().next().unwrap();
    assert!(
        head.starts_with("--- 20") && head.contains(" UTC (") && head.ends_with("s)"),
        "{w}"
    );
    assert!(w.contains("xsk0 xdp_pass passed"), "{w}");
    let j: serde_json::Value = serde_json::from_str(
        ok(&[
            "status",
            "--sandbox",
            sb,
            "-n",
            "200ms",
            "--count",
            "1",
            "--json",
        ])
        .trim(),
    )
    .unwrap();
    assert!(j["time"].as_f64().unwrap() > 1.7e9, "{j}");
    let dropped = j["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["action"] == "dropped")
        .unwrap_or_else(|| panic!("{j}"));
    assert_eq!(
        (&dropped["interface"], &dropped["program"]),
        (&serde_json::json!("xsk0"), &serde_json::json!("xdp_pass")),
        "{j}"
    );
    // --metrics-file, once.
    let prom = std::env::temp_dir().join(format!("xskit-msg-{}.prom", std::process::id()));
    ok(&[
        "status",
        "--sandbox",
        sb,
        "--metrics-file",
        prom.to_str().unwrap(),
    ]);
    let m = std::fs::read_to_string(&prom).unwrap();
    assert!(
        m.contains("xskit_xdp_program_attached{interface=\"xsk0\",program=\"xdp_pass\"")
            && m.contains("xskit_metrics_written_timestamp_seconds"),
        "{m}"
    );
    let _ = std::fs::remove_file(&prom);
    ok(&["unload", "xsk0", "--sandbox", sb]);

    // A load reverted unconfirmed: the note's command names the sandbox.
    let o = xskit(&[
        "load",
        "drop",
        "xsk0",
        "--sandbox",
        sb,
        "--confirm-within",
        "5s",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let text = ok(&["status", "--sandbox", sb]);
    assert!(
        text.contains(&format!(
            "(`xskit unload xsk0 --sandbox {sb}` clears this note)"
        )),
        "{text}"
    );
    ok(&["unload", "xsk0", "--sandbox", sb]);

    // Nothing left: no state folders of the namespace.
    let cookie = xskit::app::shared::records::identity::cookie;
    let c = xskit::testing::in_inner(&g.0, cookie).unwrap();
    for d in [
        format!("/sys/fs/bpf/xskit/netns-{c}"),
        format!("/run/xskit/loaded/netns-{c}"),
    ] {
        assert!(!std::path::Path::new(&d).exists(), "{d} left behind");
    }
    // Nor empty top folders (one that another test fills is not empty; a
    // moment later, one being made is filled or gone).
    let empty = |d: &str| std::fs::read_dir(d).is_ok_and(|mut r| r.next().is_none());
    for d in [
        "/sys/fs/bpf/xskit",
        "/run/xskit/loaded",
        "/run/xskit/pending",
    ] {
        if empty(d) {
            std::thread::sleep(Duration::from_millis(300));
            assert!(!empty(d), "{d} left behind, empty");
        }
    }

    // dump without -i, the default sandbox not up: the ones that are.
    if !std::path::Path::new("/run/xskit/sandbox/xskit.json").exists() {
        check(
            &row(
                &["dump", "-d", "100ms"],
                1,
                "xskit: error: no interface given, and the default sandbox (xskit) is not up;",
            )
            .also_has("`--sandbox SB`"),
            sb,
            ns,
        );
    }
}

impl Row {
    /// The row with `s` required somewhere in the output.
    const fn also_has(self, s: &'static str) -> Row {
        Row { also: s, ..self }
    }
}

/// Item 10: dump takes `--netns`, and its summary counts lost frames and
/// says `1 frame`.
#[test]
fn dump_takes_netns_and_its_summary_says_1_frame_and_what_was_lost() {
    if !have_root("dump_takes_netns_and_its_summary_says_1_frame_and_what_was_lost") {
        return;
    }
    let g = sandbox("msgdump").unwrap();
    let st = &g.0;
    let mut c = bin()
        .args([
            "dump",
            "--netns",
            &st.inner_ns,
            "-i",
            &st.inner_if,
            "-c",
            "1",
            "-d",
            "10s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(c.stderr.take().unwrap())
        .lines()
        .map_while(Result::ok);
    let first = err.next().unwrap_or_default();
    assert!(
        first.starts_with(&format!("capturing on {} (", st.inner_if)),
        "{first}"
    );
    xskit::testing::in_outer(st, || {
        let s = xskit::net::packet::PacketSocket::bind(&st.outer_if).unwrap();
        let mac = xskit::net::veth::mac(&st.outer_if).unwrap();
        s.send(&xskit::testing::experimental_frame(mac, b"one frame"))
            .unwrap();
    });
    assert_eq!(c.wait().unwrap().code(), Some(0));
    let rest: Vec<String> = err.collect();
    assert_eq!(
        rest.last().map(String::as_str),
        Some("1 frame captured, 0 lost (not copied: ring buffer full)"),
        "{rest:?}"
    );
}
