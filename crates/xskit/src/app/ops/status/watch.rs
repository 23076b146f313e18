//! `xskit status --watch`: rates per action and per filter rule.

use super::args::StatusArgs;
use super::prometheus::write_metrics;
use super::rows::status_rows;
use crate::app::ops::clock::{now_f64, utc};
use crate::app::shared::records::state;
use crate::app::shared::report::Report;
use anyhow::Result;
use serde::Serialize;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One counter of a `--watch` reading: what it counts, frames and bytes.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Counted {
    /// Interface(s): one for a program's action, those the filter is on
    /// for a rule (comma-separated).
    interface: String,
    program: String,
    /// The action (`passed`, `dropped`, ...), or None for a rule.
    action: Option<&'static str>,
    /// The rule's id and words, or None for an action.
    rule: Option<(u32, String)>,
    packets: u64,
    bytes: u64,
}

impl Counted {
    fn key(&self) -> (String, Option<&'static str>, Option<u32>) {
        (
            self.interface.clone(),
            self.action,
            self.rule.as_ref().map(|r| r.0),
        )
    }
}

/// One reading for `--watch`: every action counter of xskit's loads, and
/// every filter rule.
pub(super) fn reading() -> Result<Vec<Counted>> {
    let mut v = Vec::new();
    let mut filter_on = Vec::new();
    for (iface, m) in state::metas()? {
        if m.reverted_at.is_some() {
            continue;
        }
        if m.program == "xdp_filter" {
            filter_on.push(iface.clone());
        }
        if let Some(c) = state::read_stats(&iface)? {
            for (name, x) in [
                ("passed", c.passed),
                ("dropped", c.dropped),
                ("redirected", c.redirected),
                ("aborted", c.aborted),
                ("tx", c.tx),
            ] {
                v.push(Counted {
                    interface: iface.clone(),
                    program: m.program.clone(),
                    action: Some(name),
                    rule: None,
                    packets: x.packets,
                    bytes: x.bytes,
                });
            }
        }
    }
    if let Some(r) = state::existing_rules()? {
        for l in r.list()? {
            v.push(Counted {
                interface: filter_on.join(","),
                program: "xdp_filter".into(),
                action: None,
                rule: Some((l.id, l.rule.to_string())),
                packets: l.hits,
                bytes: l.bytes,
            });
        }
    }
    Ok(v)
}

/// `xskit status --watch`: rates per action and per rule.
pub(super) fn watch(args: &StatusArgs, out: &mut dyn Write) -> Result<i32> {
    let interval = args.interval.unwrap_or(Duration::from_secs(1));
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    let mut before = reading()?;
    let mut t0 = Instant::now();
    let mut n = 0;
    let mut written: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) && args.count.is_none_or(|c| n < c) {
        let until = t0 + interval;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(20).min(until - Instant::now()));
        }
        let now = reading()?;
        let dt = t0.elapsed().as_secs_f64().max(1e-9);
        t0 = Instant::now();
        n += 1;
        let rates = WatchReport {
            time: now_f64(),
            period_s: dt,
            rows: now
                .iter()
                .map(|c| {
                    let (p0, b0) = before
                        .iter()
                        .find(|x| x.key() == c.key())
                        .map_or((0, 0), |x| (x.packets, x.bytes));
                    WatchRow {
                        interface: c.interface.clone(),
                        program: c.program.clone(),
                        action: c.action.map(String::from),
                        rule_id: c.rule.as_ref().map(|r| r.0),
                        rule: c.rule.as_ref().map(|r| r.1.clone()),
                        pps: c.packets.saturating_sub(p0) as f64 / dt,
                        bps: c.bytes.saturating_sub(b0) as f64 * 8.0 / dt,
                        packets: c.packets,
                        bytes: c.bytes,
                    }
                })
                .collect(),
        };
        rates.print(out, args.json)?;
        out.flush()?;
        if let Some(p) = &args.metrics_file {
            if written.is_none_or(|t| t.elapsed() >= Duration::from_secs(1)) {
                write_metrics(p, &status_rows(&args.ns.hint())?)?;
                written = Some(Instant::now());
            }
        }
        before = now;
    }
    Ok(0)
}

/// One counter's rates on a `status --watch` report: an action of a
/// program xskit loaded, or a filter rule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WatchRow {
    /// The interface (a rule: every interface the filter is on,
    /// comma-separated; its counts are theirs together).
    pub interface: String,
    /// The program.
    pub program: String,
    /// The action counted (`passed`, `dropped`, `redirected`, `aborted`,
    /// `tx`), or null for a rule.
    pub action: Option<String>,
    /// The filter rule's id, or null for an action.
    pub rule_id: Option<u32>,
    /// The filter rule, or null for an action.
    pub rule: Option<String>,
    /// Frames per second over the period.
    pub pps: f64,
    /// Bits per second over the period.
    pub bps: f64,
    /// Frames so far.
    pub packets: u64,
    /// Bytes so far.
    pub bytes: u64,
}

/// One `status --watch` report (JSON: one object a line).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WatchReport {
    /// When it was read (Unix time; text: UTC).
    pub time: f64,
    /// Seconds the period lasted.
    pub period_s: f64,
    /// Every counter.
    pub rows: Vec<WatchRow>,
}

impl fmt::Display for WatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "--- {} ({:.2}s)", utc(self.time), self.period_s)?;
        for r in &self.rows {
            let what = match (&r.action, r.rule_id, &r.rule) {
                (Some(a), _, _) => format!("{} {} {a}", r.interface, r.program),
                (None, Some(id), Some(rule)) => {
                    format!("rule #{id} {rule} ({} on {})", r.program, r.interface)
                }
                _ => format!("{} {}", r.interface, r.program),
            };
            write!(f, "\n{what:<56} {:>12.0} pps {:>14.0} bit/s", r.pps, r.bps)?;
        }
        Ok(())
    }
}

impl Report for WatchReport {}
