//! `xskit status`: per interface, the XDP program, its owner and counters;
//! `--watch` prints rates per action and per filter rule.

use super::{is_ours, tidy, utc, NsArgs};
use crate::app::args::parse_interval;
use crate::app::stats::thousands;
use crate::net::addrs::interfaces;
use crate::net::netns;
use crate::xdp::filter::{Listed, Rules};
use crate::xdp::pin;
use anyhow::Result;
use serde_json::{json, Value};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `xskit status`.
#[derive(clap::Args, Clone, Debug)]
pub struct StatusArgs {
    /// JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Counters in the Prometheus text format (per interface, program,
    /// action and filter rule), for node_exporter's textfile collector
    #[arg(long)]
    pub prometheus: bool,
    /// Print rates (frames and bytes per second) per action and per filter
    /// rule every interval until Ctrl-C, like `xdp-filter poll`
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Interval of --watch (implies it)
    #[arg(short = 'n', long, value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Stop --watch after this many reports
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    #[command(flatten)]
    pub ns: NsArgs,
}

fn counter_json(c: &crate::xdp::Counter) -> Value {
    json!({"packets": c.packets, "bytes": c.bytes})
}

/// The rows of `xskit status` (after tidying reverted loads).
pub fn status_rows() -> Result<Vec<Value>> {
    let mut rows = Vec::new();
    let filter_rules = Rules::existing()?;
    for i in interfaces() {
        let xdp = netns::xdp_attachment(&i)?;
        let meta = pin::load_meta(&i)?;
        let ours = is_ours(&xdp, &meta);
        let mut row = json!({
            "iface": i,
            "program": xdp.as_ref().map(|x| x.0.clone()),
            "id": xdp.as_ref().map(|x| x.1),
            "mode": xdp.as_ref().map(|x| x.2),
            "xskit": ours,
        });
        if let Some(m) = meta.as_ref() {
            if let Some(t) = m.reverted_at {
                row["reverted"] = json!({"program": m.program, "at": t, "text": format!("{} reverted at {}, never confirmed", m.program, utc(t))});
            }
        }
        if ours {
            if let Some(c) = pin::read_stats(&i)? {
                row["counters"] = json!({"passed": c.passed.packets, "dropped": c.dropped.packets, "redirected": c.redirected.packets});
                row["bytes"] = json!({"passed": c.passed.bytes, "dropped": c.dropped.bytes, "redirected": c.redirected.bytes});
                row["actions"] = json!({"aborted": counter_json(&c.aborted), "dropped": counter_json(&c.dropped), "passed": counter_json(&c.passed), "tx": counter_json(&c.tx), "redirected": counter_json(&c.redirected)});
            }
            if let Some((deadline, unix)) = meta.as_ref().and_then(|m| m.deadline) {
                let left = deadline.saturating_sub(pin::monotonic_ns()) as f64 / 1e9;
                row["waiting"] = json!({"deadline": unix, "seconds_left": left, "pid": meta.as_ref().and_then(|m| m.pid)});
            }
            if meta.as_ref().is_some_and(|m| m.program == "xdp_filter") {
                if let Some(r) = &filter_rules {
                    row["default"] = json!(r.default_verdict()?.name());
                    row["rules"] = rules_json(&r.list()?);
                    let m = r.misc_counts()?;
                    row["non_ip"] = json!(m.not_ip);
                    row["malformed"] = json!(m.truncated);
                    row["arp_passed"] = json!(m.arp);
                    row["nd_passed"] = json!(m.nd);
                }
            }
        }
        rows.push(row);
    }
    Ok(rows)
}

/// Rules as JSON: id, rule, hits (frames), bytes.
pub fn rules_json(list: &[Listed]) -> Value {
    Value::Array(
        list.iter()
            .map(|l| json!({"id": l.id, "rule": l.rule.to_string(), "hits": l.hits, "bytes": l.bytes}))
            .collect(),
    )
}

/// The rows of `status` as Prometheus samples: per interface the program
/// attached, per action of xskit's programs frames and bytes, per filter
/// rule hits and bytes, loads waiting for confirmation or reverted.
pub fn prometheus(rows: &[Value]) -> Vec<crate::app::metrics::Sample> {
    use crate::app::metrics::Sample;
    let mut v = Vec::new();
    let s = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    for r in rows {
        let (iface, prog) = (s(r, "iface"), s(r, "program"));
        if prog.is_empty() {
            continue;
        }
        v.push(
            Sample::gauge(
                "xskit_xdp_program_attached",
                "1 for each interface with an XDP program; xskit=\"yes\" if xskit load attached it",
                1.0,
            )
            .label("interface", &iface)
            .label("program", &prog)
            .label("mode", s(r, "mode"))
            .label(
                "xskit",
                if r["xskit"].as_bool() == Some(true) {
                    "yes"
                } else {
                    "no"
                },
            ),
        );
        if let Some(a) = r.get("actions").and_then(Value::as_object) {
            for (action, c) in a {
                for (name, help, key) in [
                    (
                        "xskit_xdp_packets_total",
                        "Frames xskit's XDP program saw, by the action it took",
                        "packets",
                    ),
                    (
                        "xskit_xdp_bytes_total",
                        "Bytes of the frames xskit's XDP program saw, by action",
                        "bytes",
                    ),
                ] {
                    v.push(
                        Sample::counter(name, help, c[key].as_u64().unwrap_or(0))
                            .label("interface", &iface)
                            .label("program", &prog)
                            .label("action", action.as_str()),
                    );
                }
            }
        }
        if let Some(w) = r.get("waiting") {
            v.push(
                Sample::gauge(
                    "xskit_load_confirm_seconds_left",
                    "Seconds until an unconfirmed xskit load reverts",
                    w["seconds_left"].as_f64().unwrap_or(0.0),
                )
                .label("interface", &iface)
                .label("program", &prog),
            );
        }
        if let Some(rules) = r.get("rules").and_then(Value::as_array) {
            for rule in rules {
                for (name, help, key) in [
                    ("xskit_filter_rule_packets_total", "Frames a filter rule decided (the rule maps are shared by every interface the filter is on)", "hits"),
                    ("xskit_filter_rule_bytes_total", "Bytes of the frames a filter rule decided (shared maps, as above)", "bytes"),
                ] {
                    v.push(
                        Sample::counter(name, help, rule[key].as_u64().unwrap_or(0))
                            .label("interface", &iface)
                            .label("program", &prog)
                            .label("rule", rule["rule"].as_str().unwrap_or(""))
                            .label("id", rule["id"].to_string()),
                    );
                }
            }
            for kind in ["non_ip", "malformed", "arp_passed", "nd_passed"] {
                v.push(
                    Sample::counter(
                        "xskit_filter_frames_total",
                        "Frames the filter counted outside its rules, by kind",
                        r[kind].as_u64().unwrap_or(0),
                    )
                    .label("interface", &iface)
                    .label("program", &prog)
                    .label("kind", kind),
                );
            }
        }
    }
    for r in rows {
        if let Some(rv) = r.get("reverted") {
            v.push(
                Sample::gauge(
                    "xskit_load_reverted",
                    "1 for a load that reverted unconfirmed (until xskit unload)",
                    1.0,
                )
                .label("interface", s(r, "iface"))
                .label("program", rv["program"].as_str().unwrap_or("")),
            );
        }
    }
    v
}

fn dash(v: Option<u64>) -> String {
    v.map(thousands).unwrap_or_else(|| "-".into())
}

/// `xskit status`.
pub fn status(args: &StatusArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    pin::ensure_bpffs()?;
    if args.watch || args.interval.is_some() {
        return watch(args, out);
    }
    // A load past its deadline: the kernel passes its traffic already;
    // detach it and say so (in the rows too).
    let mut notes = Vec::new();
    tidy(&mut notes)?;
    let rows = status_rows()?;
    if args.prometheus {
        // Notes about reverted loads would break the format: stderr.
        std::io::stderr().write_all(&notes)?;
        out.write_all(crate::app::metrics::render(&prometheus(&rows)).as_bytes())?;
        return Ok(0);
    }
    if args.json {
        writeln!(out, "{}", Value::Array(rows))?;
        return Ok(0);
    }
    out.write_all(&notes)?;
    writeln!(
        out,
        "{:<16} {:<18} {:>6} {:<8} {:<6} {:>12} {:>12} {:>12}",
        "interface", "program", "id", "mode", "xskit", "passed", "dropped", "redirected"
    )?;
    for r in &rows {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        let n = |k: &str| {
            dash(
                r.get("counters")
                    .and_then(|c| c.get(k))
                    .and_then(Value::as_u64),
            )
        };
        writeln!(
            out,
            "{:<16} {:<18} {:>6} {:<8} {:<6} {:>12} {:>12} {:>12}",
            s("iface"),
            s("program"),
            dash(r.get("id").and_then(Value::as_u64)),
            s("mode"),
            if r["xskit"].as_bool() == Some(true) {
                "yes"
            } else {
                "no"
            },
            n("passed"),
            n("dropped"),
            n("redirected")
        )?;
        if let Some(b) = r.get("bytes") {
            writeln!(
                out,
                "    bytes: passed {}, dropped {}, redirected {}",
                dash(b["passed"].as_u64()),
                dash(b["dropped"].as_u64()),
                dash(b["redirected"].as_u64())
            )?;
        }
        if let Some(t) = r.get("reverted").and_then(|v| v["text"].as_str()) {
            writeln!(
                out,
                "    {t} (`xskit unload {}` clears this note)",
                s("iface")
            )?;
        }
        if let Some(w) = r.get("waiting") {
            writeln!(
                out,
                "    waiting for confirmation (pid {}): reverts at {} ({:.1}s left)",
                w["pid"],
                utc(w["deadline"].as_f64().unwrap_or(0.0)),
                w["seconds_left"].as_f64().unwrap_or(0.0)
            )?;
        }
        if let Some(rules) = r.get("rules").and_then(Value::as_array) {
            writeln!(
                out,
                "    filter: default {}, {} rule(s), non-IP {}, malformed {}, ARP passed {}, ND passed {}",
                s("default"),
                rules.len(),
                r["non_ip"],
                r["malformed"],
                r["arp_passed"],
                r["nd_passed"]
            )?;
            for rule in rules {
                writeln!(
                    out,
                    "    #{:<4} {:<40} {:>12} hits {:>14} bytes",
                    rule["id"],
                    rule["rule"].as_str().unwrap_or(""),
                    thousands(rule["hits"].as_u64().unwrap_or(0)),
                    thousands(rule["bytes"].as_u64().unwrap_or(0))
                )?;
            }
        }
    }
    Ok(0)
}

/// One reading for `--watch`: (label, frames, bytes) per counter.
fn reading() -> Result<Vec<(String, u64, u64)>> {
    let mut v = Vec::new();
    for (iface, m) in pin::metas()? {
        if m.reverted_at.is_some() {
            continue;
        }
        if let Some(c) = pin::read_stats(&iface)? {
            for (name, x) in [
                ("passed", c.passed),
                ("dropped", c.dropped),
                ("redirected", c.redirected),
                ("aborted", c.aborted),
                ("tx", c.tx),
            ] {
                v.push((format!("{iface} {} {name}", m.program), x.packets, x.bytes));
            }
        }
    }
    if let Some(r) = Rules::existing()? {
        for l in r.list()? {
            v.push((format!("rule #{} {}", l.id, l.rule), l.hits, l.bytes));
        }
    }
    Ok(v)
}

/// `xskit status --watch`: rates per action and per rule.
fn watch(args: &StatusArgs, out: &mut dyn Write) -> Result<i32> {
    let interval = args.interval.unwrap_or(Duration::from_secs(1));
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let mut before = reading()?;
    let mut t0 = Instant::now();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) && args.count.is_none_or(|c| n < c) {
        let until = t0 + interval;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
        let now = reading()?;
        let dt = t0.elapsed().as_secs_f64().max(1e-9);
        t0 = Instant::now();
        n += 1;
        if args.json {
            let rows: Vec<Value> = now
                .iter()
                .map(|(k, p, b)| {
                    let (p0, b0) = before.iter().find(|x| &x.0 == k).map_or((0, 0), |x| (x.1, x.2));
                    json!({"counter": k, "pps": (p.saturating_sub(p0)) as f64 / dt, "bps": (b.saturating_sub(b0)) as f64 * 8.0 / dt, "packets": p, "bytes": b})
                })
                .collect();
            writeln!(out, "{}", Value::Array(rows))?;
        } else {
            writeln!(out, "--- {:.2}s", dt)?;
            for (k, p, b) in &now {
                let (p0, b0) = before
                    .iter()
                    .find(|x| &x.0 == k)
                    .map_or((0, 0), |x| (x.1, x.2));
                writeln!(
                    out,
                    "{k:<56} {:>12.0} pps {:>14.0} bit/s",
                    p.saturating_sub(p0) as f64 / dt,
                    b.saturating_sub(b0) as f64 * 8.0 / dt
                )?;
            }
        }
        out.flush()?;
        before = now;
    }
    Ok(0)
}
