//! `xskit status`: per interface, the XDP program, its owner and counters;
//! `--watch` prints rates per action and per filter rule.

use super::filter::FilterReport;
use super::state;
use super::{is_ours, tidy, utc, NsArgs};
use crate::app::shared::args::parse_interval;
use crate::app::shared::metrics::Sample;
use crate::app::shared::report::Report;
use crate::app::shared::stats::thousands;
use crate::net::addrs::interfaces;
use crate::net::netns;
use crate::xdp::{ActionCounters, Counter};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `xskit status` (`--count` needs `--watch` or `-n`).
#[derive(clap::Args, Clone, Debug)]
#[command(group = clap::ArgGroup::new("watching").args(["watch", "interval"]).multiple(true))]
pub struct StatusArgs {
    /// JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Counters in the Prometheus text format (per interface, program,
    /// action and filter rule), for node_exporter's textfile collector
    #[arg(long, conflicts_with_all = ["json", "watch", "interval"])]
    pub prometheus: bool,
    /// Print rates (frames and bytes per second) per action and per filter
    /// rule every interval until Ctrl-C, like `xdp-filter poll`
    #[arg(long, short = 'w')]
    pub watch: bool,
    /// Interval of --watch (implies it)
    #[arg(short = 'n', long, value_parser = parse_interval)]
    pub interval: Option<Duration>,
    /// Stop --watch after this many reports
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), requires = "watching")]
    pub count: Option<u64>,
    /// Also write the counters to this file in the Prometheus text format
    /// (through a temporary file and a rename, for node_exporter's textfile
    /// collector): once, or with --watch at every report (at most once a second)
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub ns: NsArgs,
}

/// A load that reverted unconfirmed (until `xskit unload`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reverted {
    /// The program that was loaded.
    pub program: String,
    /// When it reverted (Unix time).
    pub at: f64,
    /// The note text shows.
    pub text: String,
    /// The command that clears the note.
    pub clear_with: String,
}

/// A load not yet confirmed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Waiting {
    /// When it reverts (Unix time).
    pub deadline: f64,
    /// Seconds until then.
    pub seconds_left: f64,
    /// The process that loaded it.
    pub pid: Option<u32>,
    /// True while that process runs and waits for the confirmation (pid
    /// and start time); false once it is gone: nothing can confirm the
    /// load then, and the kernel guard reverts it at the deadline.
    pub process_alive: bool,
    /// What waits, when it is a change of the filter's rules rather than
    /// the load: e.g. `default deny`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

/// Frames (or bytes) per action of the three actions the table shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ByAction {
    /// XDP_PASS.
    pub passed: u64,
    /// XDP_DROP.
    pub dropped: u64,
    /// XDP_REDIRECT.
    pub redirected: u64,
}

/// One interface of `xskit status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusRow {
    /// The interface.
    pub iface: String,
    /// The XDP program attached, if any.
    pub program: Option<String>,
    /// Its id.
    pub id: Option<u32>,
    /// `native`, `skb`, `offload` or `multi`.
    pub mode: Option<&'static str>,
    /// True if `xskit load` attached it.
    pub xskit: bool,
    /// A load that reverted unconfirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverted: Option<Reverted>,
    /// Frames by action (xskit's programs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<ByAction>,
    /// Bytes by action (xskit's programs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<ByAction>,
    /// Frames and bytes of every action (xskit's programs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<BTreeMap<&'static str, Counter>>,
    /// A load waiting for confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// The filter's rules and counts (xdp_filter). The rule maps, and so
    /// the counts, are one set per namespace, shared by every interface
    /// the filter is on: they are given once, on the first of them.
    #[serde(flatten)]
    pub filter: Option<FilterReport>,
    /// Every interface the filter is on (on each of them), when it is on
    /// more than one: the rules and counts are theirs together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_shared_by: Option<Vec<String>>,
}

/// `xskit status`: a table of interfaces (JSON: an array of rows).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct StatusReport(pub Vec<StatusRow>);

fn by(c: &ActionCounters, f: impl Fn(&Counter) -> u64) -> ByAction {
    ByAction {
        passed: f(&c.passed),
        dropped: f(&c.dropped),
        redirected: f(&c.redirected),
    }
}

/// The rows of `xskit status` (after tidying reverted loads); `hint` is
/// the `--netns`/`--sandbox` suffix of the commands the rows suggest.
pub fn status_rows(hint: &str) -> Result<StatusReport> {
    let mut rows = Vec::new();
    let filter_rules = state::existing_rules()?;
    for i in interfaces() {
        let xdp = netns::xdp_attachment(&i)?;
        let meta = state::load_meta(&i)?;
        let ours = is_ours(&xdp, &meta);
        let mut row = StatusRow {
            iface: i.clone(),
            program: xdp.as_ref().map(|x| x.0.clone()),
            id: xdp.as_ref().map(|x| x.1),
            mode: xdp.as_ref().map(|x| x.2),
            xskit: ours,
            reverted: None,
            counters: None,
            bytes: None,
            actions: None,
            waiting: None,
            filter: None,
            filter_shared_by: None,
        };
        if let Some(m) = meta.as_ref() {
            if let Some(t) = m.reverted_at {
                row.reverted = Some(Reverted {
                    program: m.program.clone(),
                    at: t,
                    text: format!("{} reverted at {}, never confirmed", m.program, utc(t)),
                    clear_with: format!("xskit unload {i}{hint}"),
                });
            }
        }
        if ours {
            if let Some(c) = state::read_stats(&i)? {
                row.counters = Some(by(&c, |x| x.packets));
                row.bytes = Some(by(&c, |x| x.bytes));
                row.actions = Some(
                    crate::app::shared::metrics::actions(&c)
                        .into_iter()
                        .collect(),
                );
            }
            if let Some((deadline, unix)) = meta.as_ref().and_then(|m| m.deadline) {
                let left = deadline.saturating_sub(state::monotonic_ns()) as f64 / 1e9;
                row.waiting = Some(Waiting {
                    deadline: unix,
                    seconds_left: left,
                    pid: meta.as_ref().and_then(|m| m.pid),
                    process_alive: meta.as_ref().is_some_and(|m| m.waiter_alive()),
                    change: meta.as_ref().and_then(|m| m.change.clone()),
                });
            }
            if meta.as_ref().is_some_and(|m| m.program == "xdp_filter") {
                if let Some(r) = &filter_rules {
                    row.filter = Some(FilterReport::new(
                        r.default_verdict()?,
                        &r.list()?,
                        &r.misc_counts()?,
                    ));
                }
            }
        }
        rows.push(row);
    }
    // One set of rules and counts per namespace: on the first row only.
    let on: Vec<String> = rows
        .iter()
        .filter(|r| r.filter.is_some())
        .map(|r| r.iface.clone())
        .collect();
    if on.len() > 1 {
        for r in rows.iter_mut().filter(|r| r.filter.is_some()) {
            if r.iface != on[0] {
                r.filter = None;
            }
            r.filter_shared_by = Some(on.clone());
        }
    }
    Ok(StatusReport(rows))
}

fn dash(v: Option<u64>) -> String {
    v.map(thousands).unwrap_or_else(|| "-".into())
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<16} {:<18} {:>6} {:<8} {:<6} {:>12} {:>12} {:>12}",
            "interface", "program", "id", "mode", "xskit", "passed", "dropped", "redirected"
        )?;
        for r in &self.0 {
            write!(f, "\n{r}")?;
        }
        for r in &self.0 {
            if let (Some(x), Some(by)) = (&r.filter, &r.filter_shared_by) {
                let head = format!(
                    "\nfilter on {} (one set of rules and counts for all of them): ",
                    by.join(", ")
                );
                write_filter(f, x, &head, "\n    ")?;
            }
        }
        Ok(())
    }
}

/// The filter's summary line after `head`, then each rule after `indent`.
fn write_filter(
    f: &mut fmt::Formatter<'_>,
    x: &FilterReport,
    head: &str,
    indent: &str,
) -> fmt::Result {
    write!(
        f,
        "{head}default {}, {} rule(s), {}",
        x.default,
        x.rules.len(),
        x.counts()
    )?;
    for rule in &x.rules {
        write!(f, "{indent}{rule}")?;
    }
    Ok(())
}

impl fmt::Display for StatusRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counters;
        write!(
            f,
            "{:<16} {:<18} {:>6} {:<8} {:<6} {:>12} {:>12} {:>12}",
            self.iface,
            self.program.as_deref().unwrap_or("-"),
            // As `ip` prints it: no thousands separators.
            self.id.map_or_else(|| "-".to_string(), |id| id.to_string()),
            self.mode.unwrap_or("-"),
            if self.xskit { "yes" } else { "no" },
            dash(c.map(|c| c.passed)),
            dash(c.map(|c| c.dropped)),
            dash(c.map(|c| c.redirected))
        )?;
        if let Some(b) = &self.bytes {
            write!(
                f,
                "\n    bytes: passed {}, dropped {}, redirected {}",
                thousands(b.passed),
                thousands(b.dropped),
                thousands(b.redirected)
            )?;
        }
        if let Some(a) = &self.actions {
            // The table and the bytes line show passed, dropped and redirected.
            let rest: Vec<String> = a
                .iter()
                .filter(|(k, _)| matches!(**k, "aborted" | "tx"))
                .map(|(k, c)| format!("{k} {} ({} B)", thousands(c.packets), thousands(c.bytes)))
                .collect();
            write!(f, "\n    also: {}", rest.join(", "))?;
        }
        if let Some(r) = &self.reverted {
            write!(f, "\n    {} (`{}` clears this note)", r.text, r.clear_with)?;
        }
        if let Some(w) = &self.waiting {
            let pid = w.pid.map_or_else(|| "null".to_string(), |p| p.to_string());
            if let Some(c) = &w.change {
                if w.process_alive {
                    write!(
                        f,
                        "\n    waiting for confirmation of the filter change `{c}` (pid {pid}): undone at {} unless confirmed ({:.1}s left)",
                        utc(w.deadline),
                        w.seconds_left
                    )?;
                } else {
                    write!(
                        f,
                        "\n    the filter change `{c}` was not confirmed and its process (pid {pid}) is gone: the next xskit \
                         command here undoes it (deadline {}, {:.1}s left)",
                        utc(w.deadline),
                        w.seconds_left
                    )?;
                }
            } else if w.process_alive {
                write!(
                    f,
                    "\n    waiting for confirmation (pid {pid}): reverts at {} ({:.1}s left)",
                    utc(w.deadline),
                    w.seconds_left
                )?;
            } else {
                write!(
                    f,
                    "\n    not confirmed, and its load process (pid {pid}) is gone, so nothing can confirm it: \
                     the kernel guard reverts it at {} ({:.1}s left)",
                    utc(w.deadline),
                    w.seconds_left
                )?;
            }
        }
        match (&self.filter, &self.filter_shared_by) {
            // Given once, after the table.
            (_, Some(by)) => write!(
                f,
                "\n    filter: one set of rules and counts for {}, below the table",
                by.join(", ")
            )?,
            (Some(x), None) => write_filter(f, x, "\n    filter: ", "\n    ")?,
            (None, None) => {}
        }
        Ok(())
    }
}

impl Report for StatusReport {}

impl StatusReport {
    /// The rows as Prometheus samples: per interface the program attached,
    /// per action of xskit's programs frames and bytes, per filter rule
    /// hits and bytes, loads waiting for confirmation or reverted.
    pub fn prometheus(&self) -> Vec<Sample> {
        let mut v = Vec::new();
        for r in &self.0 {
            let Some(prog) = r.program.as_deref() else {
                continue;
            };
            let iface = r.iface.as_str();
            v.push(
                Sample::gauge(
                    "xskit_xdp_program_attached",
                    "1 for each interface with an XDP program; xskit=\"yes\" if xskit load attached it",
                    1.0,
                )
                .label("interface", iface)
                .label("program", prog)
                .label("mode", r.mode.unwrap_or(""))
                .label("xskit", if r.xskit { "yes" } else { "no" }),
            );
            for (action, c) in r.actions.iter().flatten() {
                for (name, help, n) in [
                    (
                        "xskit_xdp_packets_total",
                        "Frames xskit's XDP program saw, by the action it took",
                        c.packets,
                    ),
                    (
                        "xskit_xdp_bytes_total",
                        "Bytes of the frames xskit's XDP program saw, by action",
                        c.bytes,
                    ),
                ] {
                    v.push(
                        Sample::counter(name, help, n)
                            .label("interface", iface)
                            .label("program", prog)
                            .label("action", *action),
                    );
                }
            }
            if let Some(w) = &r.waiting {
                v.push(
                    Sample::gauge(
                        "xskit_load_confirm_seconds_left",
                        "Seconds until an unconfirmed xskit load reverts",
                        w.seconds_left,
                    )
                    .label("interface", iface)
                    .label("program", prog),
                );
            }
            if let Some(x) = &r.filter {
                // Shared counts: one series, labelled with every interface.
                let iface = r
                    .filter_shared_by
                    .as_ref()
                    .map_or_else(|| iface.to_string(), |v| v.join(","));
                let iface = iface.as_str();
                for rule in &x.rules {
                    for (name, help, n) in [
                        ("xskit_filter_rule_packets_total", "Frames a filter rule decided; the rule maps are one set per namespace, so one series covers every interface the filter is on (listed in the interface label, comma-separated)", rule.hits),
                        ("xskit_filter_rule_bytes_total", "Bytes of the frames a filter rule decided (one series for every interface the filter is on, as above)", rule.bytes),
                    ] {
                        v.push(
                            Sample::counter(name, help, n)
                                .label("interface", iface)
                                .label("program", prog)
                                .label("rule", &rule.rule)
                                .label("id", rule.id.to_string()),
                        );
                    }
                }
                for (kind, n) in [
                    ("non_ip", x.non_ip),
                    ("malformed", x.malformed),
                    ("arp_passed", x.arp_passed),
                    ("nd_passed", x.nd_passed),
                    ("default_passed", x.default_passed),
                    ("default_dropped", x.default_dropped),
                ] {
                    v.push(
                        Sample::counter(
                            "xskit_filter_frames_total",
                            "Frames the filter counted outside its rules, by kind",
                            n,
                        )
                        .label("interface", iface)
                        .label("program", prog)
                        .label("kind", kind),
                    );
                }
            }
        }
        for r in &self.0 {
            if let Some(rv) = &r.reverted {
                v.push(
                    Sample::gauge(
                        "xskit_load_reverted",
                        "1 for a load that reverted unconfirmed (until xskit unload)",
                        1.0,
                    )
                    .label("interface", &r.iface)
                    .label("program", &rv.program),
                );
            }
        }
        v
    }
}

/// `xskit status`.
pub fn status(args: &StatusArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    state::ensure_bpffs()?;
    if args.watch || args.interval.is_some() {
        return watch(args, out);
    }
    // A load past its deadline: the kernel passes its traffic already;
    // detach it and say so (in the rows too).
    let mut notes = Vec::new();
    tidy(&mut notes)?;
    let rows = status_rows(&args.ns.hint())?;
    if let Some(p) = &args.metrics_file {
        write_metrics(p, &rows)?;
    }
    if args.prometheus {
        // Notes about reverted loads would break the format: stderr.
        std::io::stderr().write_all(&notes)?;
        out.write_all(crate::app::shared::metrics::render(&rows.prometheus()).as_bytes())?;
        return Ok(0);
    }
    if !args.json {
        out.write_all(&notes)?;
    }
    rows.print(out, args.json)?;
    Ok(0)
}

/// `status --metrics-file`: the rows' samples and the time written.
fn write_metrics(path: &std::path::Path, rows: &StatusReport) -> Result<()> {
    let mut samples = rows.prometheus();
    samples.push(Sample::gauge(
        "xskit_metrics_written_timestamp_seconds",
        "When xskit last wrote this file (Unix time)",
        super::now_f64(),
    ));
    crate::app::shared::metrics::write_atomic(path, &crate::app::shared::metrics::render(&samples))
}

/// One counter of a `--watch` reading: what it counts, frames and bytes.
#[derive(Clone, Debug, PartialEq)]
struct Counted {
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
fn reading() -> Result<Vec<Counted>> {
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
fn watch(args: &StatusArgs, out: &mut dyn Write) -> Result<i32> {
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
            time: super::now_f64(),
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

#[cfg(test)]
mod tests;
