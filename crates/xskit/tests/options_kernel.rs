//! The `xskit` command with every numeric option at 0, 1, its maximum and
//! one past it: each run ends with status 0, 1 or 2 (never a panic's 101
//! or a signal), and an error is one line on stderr. Runs use a sandbox
//! per worker thread and short durations.

mod common;

use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use xskit::testing::{have_root, sandbox};

const U32_MAX: &str = "4294967295";
const U32_OVER: &str = "4294967296";
const U64_MAX: &str = "18446744073709551615";
const U64_OVER: &str = "18446744073709551616";
const DUR_MAX: &str = "1000000000";
const DUR_OVER: &str = "1000000001";

/// (command words before the option, option, its four values). `SB` is
/// replaced by the worker's sandbox name.
fn cases() -> Vec<(Vec<&'static str>, &'static str, [&'static str; 4])> {
    let u32v = ["0", "1", U32_MAX, U32_OVER];
    let u64v = ["0", "1", U64_MAX, U64_OVER];
    let u16v = ["0", "1", "65535", "65536"];
    let dur = ["0", "1", DUR_MAX, DUR_OVER];
    let ring = ["0", "1", "1048576", "2097152"];
    let list = ["0", "1", U32_MAX, U32_OVER];
    let mut v = Vec::new();
    let sock: Vec<(&str, [&str; 4])> = vec![
        ("-q", u32v),
        ("-b", ["0", "1", "4096", "4097"]),
        ("--frames", ["0", "1", "262144", "262145"]),
        ("-f", ["0", "1", "4096", "4097"]),
        ("--rx-size", ring),
        ("--tx-size", ring),
        ("--fill-size", ring),
        ("--comp-size", ring),
        ("-n", dur),
        ("-d", dur),
    ];
    for cmd in ["echo", "rxdrop", "l2fwd", "txonly"] {
        for (opt, vals) in &sock {
            let mut base = vec![cmd, "--sandbox", "SB", "-Q"];
            if *opt != "-d" {
                base.extend(["-d", "100ms"]);
            }
            v.push((base, *opt, *vals));
        }
    }
    for cmd in ["rxdrop", "l2fwd", "txonly"] {
        v.push((
            vec![cmd, "--sandbox", "SB", "-Q", "-d", "100ms"],
            "--queues",
            list,
        ));
        v.push((
            vec![cmd, "--sandbox", "SB", "-Q", "-d", "100ms"],
            "--cpus",
            list,
        ));
    }
    // The TX budget: 32 to the TX ring size (2048 here), Linux 6.17+.
    for cmd in ["echo", "l2fwd", "txonly"] {
        v.push((
            vec![cmd, "--sandbox", "SB", "-Q", "-d", "100ms"],
            "--tx-budget",
            ["0", "32", "1048576", "1048577"],
        ));
    }
    let tx = vec!["txonly", "--sandbox", "SB", "-Q", "-d", "100ms"];
    v.push((tx.clone(), "-s", ["0", "1", "65535", "65536"]));
    // The sizes that wrapped a 16-bit length and panicked (issue 13).
    v.push((
        tx.clone(),
        "-s",
        ["100000", "131072", "70000", "4294967296"],
    ));
    v.push((tx.clone(), "-C", u64v));
    v.push((tx.clone(), "--src-port", u16v));
    v.push((tx, "--dst-port", u16v));
    let gen = vec!["gen", "--sandbox", "SB", "-Q", "-d", "100ms"];
    v.push((gen.clone(), "-s", ["0", "1", "4096", "4097"]));
    v.push((gen.clone(), "-s", ["100000", "131072", "70000", "65536"]));
    v.push((gen.clone(), "--flows", u16v));
    v.push((gen.clone(), "-r", u64v));
    v.push((gen.clone(), "-C", u64v));
    v.push((gen.clone(), "-n", dur));
    v.push((gen.clone(), "--cpus", list));
    v.push((vec!["gen", "--sandbox", "SB", "-Q"], "-d", dur));
    let dump = vec!["dump", "--sandbox", "SB", "-d", "100ms"];
    v.push((dump.clone(), "-c", u64v));
    v.push((
        vec!["dump", "--sandbox", "SB", "-d", "100ms", "--consume"],
        "-q",
        u32v,
    ));
    v.push((vec!["dump", "--sandbox", "SB"], "-d", dur));
    v.push((dump, "-s", ["0", "1", "262144", "262145"]));
    let watch = vec!["status", "--sandbox", "SB", "--watch"];
    v.push(([watch.clone(), vec!["--count", "1"]].concat(), "-n", dur));
    v.push(([watch, vec!["-n", "1ms"]].concat(), "--count", u64v));
    v.push((vec!["confirm", "--sandbox", "SB"], "", u32v));
    // Values that run for minutes (bench, demo) are only checked where
    // they are refused; demo runs once with the smallest values below.
    v.push((vec!["bench"], "--runs", ["0", U32_OVER, "-1", "x"]));
    v.push((vec!["bench"], "-s", ["0", "63", "4097", U64_OVER]));
    v.push((vec!["bench"], "--frames", ["0", "262145", U32_OVER, "-1"]));
    v.push((
        vec!["bench"],
        "--frame-size",
        ["0", "2047", "4097", U32_OVER],
    ));
    v.push((vec!["bench"], "--window", ["0", DUR_OVER, "-1", "x"]));
    v.push((vec!["bench"], "--nap", ["0", "101ms", "-1", "x"]));
    v.push((vec!["bench"], "--rx-size", ["0", "3", "2097152", U32_OVER]));
    v.push((vec!["bench"], "--fill-size", ["0", "100", "2097152", "-1"]));
    v.push((vec!["latency"], "--cpu", ["4096", U32_OVER, "-1", "x"]));
    v.push((
        vec!["latency"],
        "--sender-cpu",
        ["4096", U32_OVER, "-1", "x"],
    ));
    v.push((vec!["latency"], "--mode", ["x", "-1", "", "generic"]));
    v.push((vec!["demo"], "-C", ["0", "65536", "-1", "x"]));
    v.push((vec!["demo"], "-s", ["1453", U64_OVER, "-1", "x"]));
    v.push((vec!["demo"], "-I", [DUR_OVER, "-1", "x", "1e400"]));
    v.push((
        vec!["load", "pass", "xsk0", "--sandbox", "SB"],
        "--confirm-within",
        [DUR_OVER, "-1", "x", "1e400"],
    ));
    v
}

struct Outcome {
    line: String,
    code: Option<i32>,
    stderr: String,
    secs: f64,
}

/// Runs xskit with `args`; SIGINT after 3 s (long durations), SIGKILL
/// (and a failed case) after 15 s.
fn run(args: &[String]) -> Outcome {
    let t = Instant::now();
    let mut child = common::bin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let mut interrupted = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        let e = t.elapsed();
        if e > Duration::from_secs(3) && !interrupted {
            // SAFETY: kill sends a signal to our own child.
            unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
            interrupted = true;
        }
        if e > Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Outcome {
        line: format!("xskit {}", args.join(" ")),
        code: status.and_then(|s| s.code()),
        stderr: reader.join().unwrap(),
        secs: t.elapsed().as_secs_f64(),
    }
}

#[test]
fn every_numeric_option_at_0_1_max_and_past_max_exits_cleanly() {
    if !have_root("every_numeric_option_at_0_1_max_and_past_max_exits_cleanly") {
        return;
    }
    let started = Instant::now();
    let mut jobs: Vec<Vec<String>> = Vec::new();
    for (base, opt, vals) in cases() {
        for val in vals {
            let mut a: Vec<String> = base.iter().map(|s| s.to_string()).collect();
            if !opt.is_empty() {
                a.push(opt.to_string());
            }
            a.push(val.to_string());
            jobs.push(a);
        }
    }
    // XSKIT_OPTIONS_ONLY=WORDS runs only the cases whose command line
    // contains WORDS (for checking one option quickly).
    if let Ok(only) = std::env::var("XSKIT_OPTIONS_ONLY") {
        jobs.retain(|a| a.join(" ").contains(&only));
    }
    let total = jobs.len();
    let jobs = Mutex::new(jobs);
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for w in 0..3 {
            let (jobs, results) = (&jobs, &results);
            s.spawn(move || {
                let g = sandbox(&format!("opt{w}")).unwrap();
                loop {
                    let Some(job) = jobs.lock().unwrap().pop() else {
                        break;
                    };
                    let job: Vec<String> = job
                        .into_iter()
                        .map(|a| if a == "SB" { g.0.name.clone() } else { a })
                        .collect();
                    let o = run(&job);
                    results.lock().unwrap().push(o);
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    assert_eq!(results.len(), total);
    let mut bad = Vec::new();
    let mut codes = [0usize; 3];
    for o in &results {
        let lines = o.stderr.lines().filter(|l| !l.trim().is_empty()).count();
        match o.code {
            Some(c @ 0..=2) if c == 0 || lines == 1 => codes[c as usize] += 1,
            _ => bad.push(format!(
                "{} -> {:?} after {:.1}s, stderr: {}",
                o.line, o.code, o.secs, o.stderr
            )),
        }
        assert!(!o.stderr.contains("panicked"), "{}: {}", o.line, o.stderr);
    }
    eprintln!(
        "{total} runs in {:.1}s: {} exit 0, {} exit 1, {} exit 2",
        started.elapsed().as_secs_f64(),
        codes[0],
        codes[1],
        codes[2]
    );
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn sandbox_queues_from_1_to_64_and_not_0_or_65() {
    if !have_root("sandbox_queues_from_1_to_64_and_not_0_or_65") {
        return;
    }
    let name = format!("xtq{}", std::process::id());
    for (q, want) in [("0", 2), ("1", 0), ("64", 0), ("65", 2)] {
        let o = run(&[
            "sandbox".into(),
            "up".into(),
            "--name".into(),
            name.clone(),
            "--queues".into(),
            q.into(),
        ]);
        let _ = run(&[
            "sandbox".into(),
            "down".into(),
            "--name".into(),
            name.clone(),
        ]);
        assert_eq!(o.code, Some(want), "{}: {}", o.line, o.stderr);
        if want != 0 {
            assert_eq!(o.stderr.lines().count(), 1, "{}", o.stderr);
        }
    }
}

#[test]
fn contradictory_ignored_and_senseless_options_are_refused_in_one_line() {
    if !have_root("contradictory_ignored_and_senseless_options_are_refused_in_one_line") {
        return;
    }
    let g = sandbox("refuse").unwrap();
    let sb = g.0.name.as_str();
    let f = "/tmp/xskit-refused.pcap";
    // (command line, exit status, a word the one line must name)
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (vec!["echo", "--sandbox", sb, "-n", "0"], 2, "interval"),
        (vec!["rxdrop", "--sandbox", sb, "-n", "0"], 2, "interval"),
        (vec!["status", "--watch", "-n", "0"], 2, "interval"),
        (
            vec!["echo", "--sandbox", sb, "--mode", "skb", "-N"],
            2,
            "--mode",
        ),
        (vec!["echo", "--sandbox", sb, "-N", "-S"], 2, "-S"),
        (vec!["echo", "--sandbox", sb, "-p", "--spin"], 2, "--spin"),
        (vec!["dump", "--sandbox", sb, "-x", "-w", f], 2, "--hex"),
        (vec!["dump", "--sandbox", sb, "-q", "1"], 2, "--consume"),
        (vec!["dump", "--sandbox", sb, "--force"], 2, "--consume"),
        (vec!["dump", "--sandbox", sb, "--pcapng"], 2, "--write"),
        (vec!["dump", "-r", f, "--consume"], 2, "--consume"),
        (vec!["dump", "--sandbox", sb, "-c", "0"], 2, "--count"),
        (vec!["dump", "--sandbox", sb, "port"], 1, "port"),
        (
            vec!["dump", "--sandbox", sb, "host", "1.2.3.4", "udp"],
            1,
            "udp",
        ),
        (
            vec!["rxdrop", "--sandbox", sb, "-s", "100"],
            2,
            "unexpected argument '-s'",
        ),
        (
            vec!["l2fwd", "--sandbox", sb, "--src-ip", "198.18.0.9"],
            2,
            "--src-ip",
        ),
        (
            vec!["rxdrop", "--sandbox", sb, "-C", "5"],
            2,
            "unexpected argument '-C'",
        ),
        (
            vec!["txonly", "--sandbox", sb, "--nap", "1ms"],
            2,
            "unexpected argument '--nap'",
        ),
        (
            vec!["rxdrop", "--sandbox", sb, "-q", "0", "--queues", "0"],
            2,
            "--queues",
        ),
        (vec!["txonly", "--sandbox", sb, "-C", "0"], 2, "--count"),
        (vec!["txonly", "--sandbox", sb, "-s", "4101"], 1, "4101"),
        (vec!["echo", "--sandbox", sb, "-f", "3000"], 1, "3000"),
        (vec!["echo", "--sandbox", sb, "-q", "1"], 1, "queue 1"),
        (vec!["gen", "--sandbox", sb, "-s", "100000"], 2, "--size"),
        (vec!["txonly", "--sandbox", sb, "-s", "100000"], 2, "--size"),
        (
            vec!["gen", "--sandbox", sb, "--af-xdp", "--rate", "5"],
            2,
            "--rate",
        ),
        (vec!["gen", "--sandbox", sb, "--flows", "0"], 2, "--flows"),
        (
            vec![
                "echo",
                "--sandbox",
                sb,
                "--rate-limit",
                "off",
                "--rate-burst",
                "10",
            ],
            2,
            "--rate-burst 10 means nothing with --rate-limit off",
        ),
        (
            vec![
                "load",
                "pass",
                "xsk0",
                "--sandbox",
                sb,
                "--confirm-within",
                "1ms",
            ],
            2,
            "use at least 5s",
        ),
        (
            vec![
                "filter",
                "default",
                "deny",
                "--sandbox",
                sb,
                "--confirm-within",
                "2s",
            ],
            2,
            "use at least 5s",
        ),
        (vec!["status", "--count", "2"], 2, "--watch"),
        (vec!["status", "--prometheus", "--json"], 2, "--prometheus"),
        (vec!["sandbox", "up", "--queues", "0"], 2, "--queues"),
        // Output errors name the path (a full disk: /dev/full).
        (
            vec!["dump", "--sandbox", sb, "-w", "/nonexistent/x.pcap"],
            1,
            "/nonexistent/x.pcap",
        ),
        (
            vec!["dump", "--sandbox", sb, "-w", "/dev/full"],
            1,
            "writing /dev/full",
        ),
        (
            vec!["dump", "-r", "/nonexistent/y.pcap"],
            1,
            "/nonexistent/y.pcap",
        ),
        (
            vec![
                "echo",
                "--sandbox",
                sb,
                "--metrics-file",
                "/nonexistent/m.prom",
                "-n",
                "1ms",
                "-d",
                "50ms",
            ],
            0,
            "",
        ),
    ];
    for (args, code, word) in cases {
        let a: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let o = run(&a);
        if code == 0 {
            // A metrics file that cannot be written is a warning, once.
            assert_eq!(o.code, Some(0), "{}: {}", o.line, o.stderr);
            assert_eq!(o.stderr.lines().count(), 1, "{}: {}", o.line, o.stderr);
            assert!(o.stderr.contains("/nonexistent/"), "{}", o.stderr);
            continue;
        }
        let lines: Vec<&str> = o.stderr.lines().collect();
        assert_eq!(o.code, Some(code), "{}: {}", o.line, o.stderr);
        assert_eq!(lines.len(), 1, "{}: {}", o.line, o.stderr);
        assert!(lines[0].contains(word), "{}: {}", o.line, o.stderr);
    }
}

#[test]
fn an_interrupted_demo_says_so_and_exits_130() {
    if !have_root("an_interrupted_demo_says_so_and_exits_130") {
        return;
    }
    use std::io::BufRead;
    let name = format!("xtdemo{}", std::process::id());
    let mut c = common::bin()
        .args(["demo", "--name", &name, "-C", "60000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = std::io::BufReader::new(c.stdout.take().unwrap());
    let err = c.stderr.take().unwrap();
    let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
    // Interrupted once it pings (the sandbox is up, the responder runs).
    let mut lines = out.lines().map_while(Result::ok);
    assert!(
        lines.any(|l| l.starts_with("sending ")),
        "the demo did not start pinging"
    );
    std::thread::spawn(move || lines.for_each(drop));
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
    let t = Instant::now();
    let status = loop {
        if let Some(s) = c.try_wait().unwrap() {
            break s;
        }
        assert!(t.elapsed() < Duration::from_secs(15), "demo still runs");
        std::thread::sleep(Duration::from_millis(50));
    };
    let err = err.join().unwrap();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(
        err.contains(&format!(
            "xskit demo: interrupted (Ctrl-C) before it finished: no result; sandbox {name} removed"
        )),
        "{err}"
    );
    assert!(!xskit::net::netns::exists(&format!("{name}-in")));
}
