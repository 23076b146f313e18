//! `xskit status --prometheus` and `--metrics-file`, read by a strict
//! parser of the Prometheus text exposition format (0.0.4).

mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use xskit::net::{packet::PacketSocket, veth};
use xskit::testing::{experimental_frame, have_root, in_outer, sandbox};

/// One parsed series: name, labels, value.
type Series = (String, BTreeMap<String, String>, f64);

fn is_name(s: &str, colon: bool) -> bool {
    let mut c = s.chars();
    c.next()
        .is_some_and(|f| f.is_ascii_alphabetic() || f == '_' || (colon && f == ':'))
        && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || (colon && x == ':'))
}

/// Parses exposition text strictly: names and label names well formed,
/// label values correctly escaped, no duplicate label or series, HELP and
/// TYPE at most once per family and before its samples, each family's
/// samples together, values that are numbers, a final newline, no blank
/// lines.
fn parse(text: &str) -> Result<Vec<Series>, String> {
    if !text.is_empty() && !text.ends_with('\n') {
        return Err("no final newline".into());
    }
    let mut out: Vec<Series> = Vec::new();
    let (mut helped, mut typed, mut done) = (HashSet::new(), HashSet::new(), HashSet::new());
    let mut current: Option<String> = None;
    let mut seen = HashSet::new();
    for (n, line) in text.lines().enumerate() {
        let err = |m: &str| format!("line {}: {m}: {line:?}", n + 1);
        if line.is_empty() {
            return Err(err("blank line"));
        }
        let family_switch =
            |name: &str, current: &mut Option<String>, done: &mut HashSet<String>| {
                if current.as_deref() != Some(name) {
                    if let Some(c) = current.take() {
                        done.insert(c);
                    }
                    if done.contains(name) {
                        return Err(format!("family {name} is split"));
                    }
                    *current = Some(name.to_string());
                }
                Ok(())
            };
        if let Some(rest) = line.strip_prefix("# ") {
            let mut w = rest.splitn(3, ' ');
            let (kw, name) = (w.next().unwrap_or(""), w.next().unwrap_or(""));
            match kw {
                "HELP" | "TYPE" => {
                    if !is_name(name, true) {
                        return Err(err("bad metric name"));
                    }
                    family_switch(name, &mut current, &mut done).map_err(|e| err(&e))?;
                    if out.iter().any(|s| s.0 == name) {
                        return Err(err("HELP/TYPE after samples"));
                    }
                    let set = if kw == "HELP" {
                        &mut helped
                    } else {
                        &mut typed
                    };
                    if !set.insert(name.to_string()) {
                        return Err(err("repeated"));
                    }
                    if kw == "TYPE"
                        && !matches!(
                            w.next(),
                            Some("counter" | "gauge" | "histogram" | "summary" | "untyped")
                        )
                    {
                        return Err(err("unknown type"));
                    }
                }
                _ => {}
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, rest) = match line.find(['{', ' ']) {
            Some(i) => line.split_at(i),
            None => return Err(err("no value")),
        };
        if !is_name(name, true) {
            return Err(err("bad metric name"));
        }
        family_switch(name, &mut current, &mut done).map_err(|e| err(&e))?;
        let mut labels = BTreeMap::new();
        let mut rest = rest;
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices().peekable();
            let mut end = None;
            while let Some(&(i, c)) = chars.peek() {
                if c == '}' {
                    end = Some(i);
                    break;
                }
                let start = i;
                while chars.peek().is_some_and(|&(_, c)| c != '=') {
                    chars.next();
                }
                let Some((eq, _)) = chars.next() else {
                    return Err(err("label without ="));
                };
                let lname = &r[start..eq];
                if !is_name(lname, false) {
                    return Err(err("bad label name"));
                }
                if chars.next().map(|x| x.1) != Some('"') {
                    return Err(err("label value not quoted"));
                }
                let mut val = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\\')) => match chars.next() {
                            Some((_, 'n')) => val.push('\n'),
                            Some((_, '\\')) => val.push('\\'),
                            Some((_, '"')) => val.push('"'),
                            _ => return Err(err("bad escape")),
                        },
                        Some((_, '"')) => break,
                        Some((_, '\n')) | None => return Err(err("unterminated label value")),
                        Some((_, c)) => val.push(c),
                    }
                }
                if labels.insert(lname.to_string(), val).is_some() {
                    return Err(err("duplicate label"));
                }
                match chars.peek() {
                    Some(&(_, ',')) => {
                        chars.next();
                    }
                    Some(&(_, '}')) => {}
                    _ => return Err(err("expected , or }")),
                }
            }
            let Some(e) = end else {
                return Err(err("unclosed {"));
            };
            rest = &r[e + 1..];
        }
        let mut w = rest
            .strip_prefix(' ')
            .ok_or_else(|| err("no space before value"))?
            .split(' ');
        let v = w.next().unwrap_or("");
        let value: f64 = match v {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            _ => v.parse().map_err(|_| err("value is not a number"))?,
        };
        if let Some(ts) = w.next() {
            ts.parse::<i64>().map_err(|_| err("bad timestamp"))?;
        }
        if w.next().is_some() {
            return Err(err("trailing fields"));
        }
        if !seen.insert(format!("{name}{labels:?}")) {
            return Err(err("duplicate series"));
        }
        out.push((name.to_string(), labels, value));
    }
    Ok(out)
}

#[test]
fn the_parser_is_strict() {
    assert!(parse("# TYPE a counter\na{x=\"1\"} 2\n").is_ok());
    // Per-queue series: one family, the same labels but the queue.
    let two = parse(
        "# TYPE xskit_app_packets_total counter\n\
         xskit_app_packets_total{direction=\"rx\",queue=\"0\",interface=\"xsk0\"} 1\n\
         xskit_app_packets_total{direction=\"rx\",queue=\"1\",interface=\"xsk0\"} 2\n",
    )
    .unwrap();
    assert_eq!(two.len(), 2);
    assert!(parse("a{queue=\"0\",interface=\"x\"} 1\na{interface=\"x\",queue=\"0\"} 1\n").is_err());
    for bad in [
        "a 1",
        "a{x=\"1\",x=\"2\"} 1\n",
        "a{x=\"\\q\"} 1\n",
        "a 1\nb 1\na 2\n",
        "a 1\na 1\n",
        "a one\n",
        "# TYPE a counter\n# TYPE a counter\na 1\n",
        "a 1\n# TYPE a counter\n",
        "1a 1\n",
        "a{1x=\"\"} 1\n",
        "a 1\n\nb 1\n",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

fn find<'a>(s: &'a [Series], name: &str, labels: &[(&str, &str)]) -> Option<&'a Series> {
    s.iter().find(|x| {
        x.0 == name
            && labels
                .iter()
                .all(|(k, v)| x.1.get(*k).map(String::as_str) == Some(*v))
    })
}

#[test]
fn status_prometheus_has_action_and_rule_counters() {
    if !have_root("status_prometheus_has_action_and_rule_counters") {
        return;
    }
    let g = sandbox("prom").unwrap();
    let sb = g.0.name.as_str();
    common::stdout_ok(&["load", "filter", "xsk0", "--sandbox", sb]);
    common::stdout_ok(&[
        "filter",
        "add",
        "deny",
        "ether",
        "type",
        "0x88b5",
        "--sandbox",
        sb,
    ]);
    in_outer(&g.0, || {
        let sock = PacketSocket::bind(&g.0.outer_if).unwrap();
        let src = veth::mac(&g.0.outer_if).unwrap();
        for _ in 0..7 {
            sock.send(&experimental_frame(src, &[1; 60])).unwrap();
        }
    });
    let text = common::stdout_ok(&["status", "--prometheus", "--sandbox", sb]);
    let _ = common::bin()
        .args(["unload", "--all", "--sandbox", sb])
        .output();
    let s = parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let lab = [("interface", "xsk0"), ("program", "xdp_filter")];
    let dropped = find(
        &s,
        "xskit_xdp_packets_total",
        &[lab[0], lab[1], ("action", "dropped")],
    );
    assert_eq!(dropped.map(|x| x.2), Some(7.0), "{text}");
    let rule = find(
        &s,
        "xskit_filter_rule_packets_total",
        &[lab[0], lab[1], ("rule", "deny ether type 0x88b5")],
    );
    assert_eq!(rule.map(|x| x.2), Some(7.0), "{text}");
    assert!(
        find(
            &s,
            "xskit_xdp_program_attached",
            &[lab[0], ("xskit", "yes")]
        )
        .is_some(),
        "{text}"
    );
}

/// Reads `path` while `cmd` runs, parsing every reading: none may be
/// partial. Returns the readings that parsed and the last one.
fn watch_file(path: &std::path::Path, cmd: &[&str]) -> (usize, Vec<Series>) {
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let r = s.spawn(|| {
            let (mut n, mut last) = (0, Vec::new());
            while !stop.load(Ordering::Relaxed) {
                if let Ok(t) = std::fs::read_to_string(path) {
                    last = parse(&t).unwrap_or_else(|e| panic!("reading {n}: {e}\n{t}"));
                    // The timestamp is written last: without it the file is partial.
                    assert!(
                        last.iter()
                            .any(|s| s.0 == "xskit_metrics_written_timestamp_seconds"),
                        "reading {n} is partial: {t:?}"
                    );
                    n += 1;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            (n, last)
        });
        let o = common::bin()
            .args(cmd)
            .stdout(Stdio::null())
            .output()
            .unwrap();
        stop.store(true, Ordering::Relaxed);
        assert!(
            o.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        r.join().unwrap()
    })
}

#[test]
fn metrics_files_are_rewritten_whole_each_interval() {
    if !have_root("metrics_files_are_rewritten_whole_each_interval") {
        return;
    }
    let g = sandbox("mfile").unwrap();
    let sb = g.0.name.as_str();
    let path = std::env::temp_dir().join(format!("xskit-metrics-{}.prom", std::process::id()));
    let p = path.to_str().unwrap();
    // Counters of one socket carry its queue; dump's are not per queue.
    for (cmd, name, queue) in [
        (
            vec![
                "echo",
                "--sandbox",
                sb,
                "-Q",
                "-n",
                "50ms",
                "-d",
                "1500ms",
                "--metrics-file",
                p,
            ],
            "xskit_app_packets_total",
            Some("0"),
        ),
        (
            vec![
                "rxdrop",
                "--sandbox",
                sb,
                "-Q",
                "-n",
                "50ms",
                "-d",
                "1500ms",
                "--metrics-file",
                p,
            ],
            "xskit_app_packets_total",
            Some("0"),
        ),
        (
            vec!["dump", "--sandbox", sb, "-d", "2500ms", "--metrics-file", p],
            "xskit_dump_frames_total",
            None,
        ),
    ] {
        let _ = std::fs::remove_file(&path);
        let (n, last) = watch_file(&path, &cmd);
        eprintln!("{}: {n} readings, all whole", cmd[0]);
        assert!(n > 10, "{cmd:?}: {n} readings");
        let sample = find(&last, name, &[("command", cmd[0]), ("interface", "xsk0")]);
        assert!(sample.is_some(), "{cmd:?}: {last:?}");
        assert_eq!(
            sample.unwrap().1.get("queue").map(String::as_str),
            queue,
            "{cmd:?}: {last:?}"
        );
    }
    let _ = std::fs::remove_file(&path);
}
