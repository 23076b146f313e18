//! Counters of a running application and the periodic statistics line
//! (packets, pps, bytes and bits per second), as text or JSON from one
//! [`StatsLine`], and as Prometheus samples for `--metrics-file`.
//!
//! The application's own loop calls [`Reporter::tick`], so counters need no
//! atomics and no second thread.

use crate::app::shared::metrics::{Sample, Writer};
use crate::app::shared::report::Report;
use crate::xdp::ActionCounters;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::time::{Duration, Instant};
use xsk::Statistics;

/// Running totals of one socket (or of several, summed).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
pub struct Totals {
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

impl std::ops::AddAssign for Totals {
    fn add_assign(&mut self, o: Totals) {
        self.rx_packets += o.rx_packets;
        self.rx_bytes += o.rx_bytes;
        self.tx_packets += o.tx_packets;
        self.tx_bytes += o.tx_bytes;
    }
}

/// Formats an integer with thousands separators (`1,234,567`), as C's
/// `%'` printf does; std has no locale-aware formatting.
///
/// ```
/// assert_eq!(xskit::app::shared::stats::thousands(1234567), "1,234,567");
/// ```
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A counter the kernel may not have (older kernels): its value with
/// thousands separators, or "unknown".
pub fn known(n: Option<u64>) -> String {
    n.map_or_else(|| "unknown".to_string(), thousands)
}

/// Rates over one period.
#[derive(Clone, Copy, Debug, Default)]
pub struct Rates {
    /// Packets per second received.
    pub rx_pps: f64,
    /// Bits per second received.
    pub rx_bps: f64,
    /// Packets per second sent.
    pub tx_pps: f64,
    /// Bits per second sent.
    pub tx_bps: f64,
}

impl Rates {
    /// Rates between two snapshots `secs` apart.
    pub fn between(prev: &Totals, now: &Totals, secs: f64) -> Rates {
        let per = |a: u64, b: u64| {
            if secs > 0.0 {
                (b - a) as f64 / secs
            } else {
                0.0
            }
        };
        Rates {
            rx_pps: per(prev.rx_packets, now.rx_packets),
            rx_bps: per(prev.rx_bytes, now.rx_bytes) * 8.0,
            tx_pps: per(prev.tx_packets, now.tx_packets),
            tx_bps: per(prev.tx_bytes, now.tx_bytes) * 8.0,
        }
    }
}

/// Extra figures shown with `-x/--extra`.
#[derive(Clone, Debug, Default)]
pub struct Extra {
    /// The kernel's socket counters (summed over sockets).
    pub kernel: Statistics,
    /// The XDP program's per-action counters.
    pub xdp: ActionCounters,
    /// The kernel's counters of each socket, by queue (for the metrics'
    /// `queue` label; empty when there is one socket, `kernel` then).
    pub per_queue: Vec<(u32, Statistics)>,
}

/// The XDP program's frames by action, as reports show them.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq, Serialize)]
pub struct XdpPackets {
    /// Frames redirected to a socket.
    pub redirected: u64,
    /// Frames passed to the kernel.
    pub passed: u64,
    /// Frames dropped.
    pub dropped: u64,
    /// Frames the program aborted on.
    pub aborted: u64,
    /// Frames sent back out (XDP_TX).
    pub tx: u64,
}

impl From<&ActionCounters> for XdpPackets {
    fn from(a: &ActionCounters) -> XdpPackets {
        XdpPackets {
            redirected: a.redirected.packets,
            passed: a.passed.packets,
            dropped: a.dropped.packets,
            aborted: a.aborted.packets,
            tx: a.tx.packets,
        }
    }
}

/// One queue's counters and rates on a periodic line (multi-queue modes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct QueueRates {
    /// The queue.
    pub queue: u32,
    /// Frames received so far.
    pub rx_packets: u64,
    /// Frames sent so far.
    pub tx_packets: u64,
    /// Frames received per second over the period.
    pub rx_pps: f64,
    /// Frames sent per second over the period.
    pub tx_pps: f64,
}

/// One periodic statistics report: a row of the text table (with a header
/// before the first) or one JSON object per line.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct StatsLine {
    /// Seconds since the start.
    pub time_s: f64,
    /// Seconds this period lasted.
    pub period_s: f64,
    /// Frames received so far.
    pub rx_packets: u64,
    /// Bytes received so far.
    pub rx_bytes: u64,
    /// Frames received per second over the period.
    pub rx_pps: f64,
    /// Bits received per second over the period.
    pub rx_bps: f64,
    /// Frames sent so far.
    pub tx_packets: u64,
    /// Bytes sent so far.
    pub tx_bytes: u64,
    /// Frames sent per second over the period.
    pub tx_pps: f64,
    /// Bits sent per second over the period.
    pub tx_bps: f64,
    /// The application's own counters (e.g. echo's `not_answered`), as
    /// top-level JSON fields; the application prints them in its words.
    #[serde(flatten)]
    pub events: BTreeMap<String, u64>,
    /// The kernel's socket counters (`-x`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel: Option<Statistics>,
    /// The XDP program's counters (`-x`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdp: Option<XdpPackets>,
    /// Per queue, when a mode runs on several (text: only for more than one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueRates>,
    /// Print the table's header before the row (text only).
    #[serde(skip)]
    pub header: bool,
}

impl fmt::Display for StatsLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |x: f64| thousands(x.round() as u64);
        if self.header {
            writeln!(
                f,
                "{:>8} {:>13} {:>10} {:>15} {:>14} {:>13} {:>10} {:>15} {:>14}",
                "time",
                "rx pkts",
                "rx pps",
                "rx bytes",
                "rx bit/s",
                "tx pkts",
                "tx pps",
                "tx bytes",
                "tx bit/s"
            )?;
        }
        write!(
            f,
            "{:>7.1}s {:>13} {:>10} {:>15} {:>14} {:>13} {:>10} {:>15} {:>14}",
            self.time_s,
            thousands(self.rx_packets),
            n(self.rx_pps),
            thousands(self.rx_bytes),
            n(self.rx_bps),
            thousands(self.tx_packets),
            n(self.tx_pps),
            thousands(self.tx_bytes),
            n(self.tx_bps),
        )?;
        if let Some(k) = &self.kernel {
            write!(
                f,
                "\n          kernel: rx dropped {}, rx invalid {}, tx invalid {}, rx ring full {}, fill ring empty {}, tx ring empty {}",
                thousands(k.rx_dropped),
                thousands(k.rx_invalid_descs),
                thousands(k.tx_invalid_descs),
                known(k.rx_ring_full),
                known(k.rx_fill_ring_empty_descs),
                known(k.tx_ring_empty_descs)
            )?;
        }
        if let Some(a) = &self.xdp {
            write!(
                f,
                "\n          xdp: redirected {}, passed {}, dropped {}, aborted {}, tx {}",
                thousands(a.redirected),
                thousands(a.passed),
                thousands(a.dropped),
                thousands(a.aborted),
                thousands(a.tx)
            )?;
        }
        if self.queues.len() > 1 {
            for q in &self.queues {
                write!(
                    f,
                    "\n          queue {}: rx {} pps, tx {} pps",
                    q.queue,
                    n(q.rx_pps),
                    n(q.tx_pps)
                )?;
            }
        }
        Ok(())
    }
}

impl Report for StatsLine {}

/// How statistics are printed.
#[derive(Clone, Copy, Debug)]
pub struct ReportStyle {
    /// Period between lines.
    pub interval: Duration,
    /// One JSON object per line instead of text.
    pub json: bool,
    /// No periodic lines (the final summary is still printed).
    pub quiet: bool,
    /// Add kernel and XDP counters.
    pub extra: bool,
}

/// Prints a line every interval.
pub struct Reporter {
    style: ReportStyle,
    start: Instant,
    last: Instant,
    prev: Totals,
    header_done: bool,
    /// The socket's queue, when there is one (the metrics' `queue` label).
    queue: Option<u32>,
    /// The `--metrics-file`, rewritten every interval.
    metrics: Option<Writer>,
}

impl Reporter {
    /// Starts the clock.
    pub fn new(style: ReportStyle) -> Reporter {
        let now = Instant::now();
        Reporter {
            style,
            start: now,
            last: now,
            prev: Totals::default(),
            header_done: false,
            queue: None,
            metrics: None,
        }
    }

    /// Every interval also rewrites this metrics file (`--metrics-file`).
    pub fn with_metrics(mut self, metrics: Option<Writer>) -> Reporter {
        self.metrics = metrics;
        self
    }

    /// Counters are those of one socket, on `queue` (labels the metrics).
    pub fn for_queue(mut self, queue: u32) -> Reporter {
        self.queue = Some(queue);
        self
    }

    /// True when a line is due.
    pub fn due(&self, now: Instant) -> bool {
        now.duration_since(self.last) >= self.style.interval
    }

    /// Time since start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Prints the line for the period that just ended.
    pub fn tick(
        &mut self,
        out: &mut dyn Write,
        now: Instant,
        totals: &Totals,
        extra: Option<&Extra>,
        more: &[(&str, u64)],
    ) {
        self.tick_queues(out, now, totals, extra, more, &[]);
    }

    /// As [`Reporter::tick`], with each queue's totals now (several
    /// queues, summed in `totals`) and at the previous line.
    pub fn tick_queues(
        &mut self,
        out: &mut dyn Write,
        now: Instant,
        totals: &Totals,
        extra: Option<&Extra>,
        more: &[(&str, u64)],
        queues: &[(u32, Totals, Totals)],
    ) {
        let secs = now.duration_since(self.last).as_secs_f64();
        let rates = Rates::between(&self.prev, totals, secs);
        self.prev = *totals;
        self.last = now;
        if let Some(w) = self.metrics.as_mut() {
            let per_queue: Vec<(u32, Totals)> = match self.queue {
                Some(q) => vec![(q, *totals)],
                None => queues.iter().map(|(q, t, _)| (*q, *t)).collect(),
            };
            // A failed write is reported once, then the file is given up.
            if let Err(e) = w.write(&samples(totals, extra, more, &per_queue)) {
                eprintln!("xskit: warning: metrics file: {e:#}; no longer written");
                self.metrics = None;
            }
        }
        if self.style.quiet {
            return;
        }
        let extra = extra.filter(|_| self.style.extra);
        let line = StatsLine {
            time_s: round3(now.duration_since(self.start).as_secs_f64()),
            period_s: round3(secs),
            rx_packets: totals.rx_packets,
            rx_bytes: totals.rx_bytes,
            rx_pps: rates.rx_pps.round(),
            rx_bps: rates.rx_bps.round(),
            tx_packets: totals.tx_packets,
            tx_bytes: totals.tx_bytes,
            tx_pps: rates.tx_pps.round(),
            tx_bps: rates.tx_bps.round(),
            events: more.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
            kernel: extra.map(|x| x.kernel),
            xdp: extra.map(|x| XdpPackets::from(&x.xdp)),
            queues: queues
                .iter()
                .map(|(q, t, p)| {
                    let r = Rates::between(p, t, secs);
                    QueueRates {
                        queue: *q,
                        rx_packets: t.rx_packets,
                        tx_packets: t.tx_packets,
                        rx_pps: r.rx_pps.round(),
                        tx_pps: r.tx_pps.round(),
                    }
                })
                .collect(),
            header: !self.style.json && !self.header_done,
        };
        self.header_done |= line.header;
        let _ = line.print(out, self.style.json);
    }
}

/// The counters of one report as Prometheus samples (for `--metrics-file`):
/// the application's frames and bytes per queue when `per_queue` names the
/// queues (labelled `queue`), else summed; the kernel's socket counters per
/// queue likewise.
pub fn samples(
    totals: &Totals,
    extra: Option<&Extra>,
    more: &[(&str, u64)],
    per_queue: &[(u32, Totals)],
) -> Vec<Sample> {
    const P: &str = "Frames the application handled, by direction";
    const B: &str = "Bytes the application handled, by direction";
    let mut v = Vec::new();
    let app = |t: &Totals, queue: Option<u32>| {
        [
            Sample::counter("xskit_app_packets_total", P, t.rx_packets).label("direction", "rx"),
            Sample::counter("xskit_app_packets_total", P, t.tx_packets).label("direction", "tx"),
            Sample::counter("xskit_app_bytes_total", B, t.rx_bytes).label("direction", "rx"),
            Sample::counter("xskit_app_bytes_total", B, t.tx_bytes).label("direction", "tx"),
        ]
        .map(|s| match queue {
            Some(q) => s.label("queue", q.to_string()),
            None => s,
        })
    };
    if per_queue.is_empty() {
        v.extend(app(totals, None));
    } else {
        for (q, t) in per_queue {
            v.extend(app(t, Some(*q)));
        }
    }
    // With one socket, its events are that queue's.
    let one_queue = match per_queue {
        [(q, _)] => Some(*q),
        _ => None,
    };
    for (k, n) in more {
        let s = Sample::counter("xskit_app_events_total", "Application events, by kind", *n)
            .label("event", *k);
        v.push(match one_queue {
            Some(q) => s.label("queue", q.to_string()),
            None => s,
        });
    }
    if let Some(x) = extra {
        const K: &str = "The kernel's AF_XDP socket counters (XDP_STATISTICS)";
        let sockets: Vec<(Option<u32>, &Statistics)> = if x.per_queue.is_empty() {
            vec![(one_queue, &x.kernel)]
        } else {
            x.per_queue.iter().map(|(q, k)| (Some(*q), k)).collect()
        };
        for (queue, k) in sockets {
            for (name, n) in [
                ("rx_dropped", Some(k.rx_dropped)),
                ("rx_invalid_descs", Some(k.rx_invalid_descs)),
                ("tx_invalid_descs", Some(k.tx_invalid_descs)),
                ("rx_ring_full", k.rx_ring_full),
                ("rx_fill_ring_empty_descs", k.rx_fill_ring_empty_descs),
                ("tx_ring_empty_descs", k.tx_ring_empty_descs),
            ] {
                if let Some(n) = n {
                    let s =
                        Sample::counter("xskit_socket_events_total", K, n).label("counter", name);
                    v.push(match queue {
                        Some(q) => s.label("queue", q.to_string()),
                        None => s,
                    });
                }
            }
        }
        for (action, c) in crate::app::shared::metrics::actions(&x.xdp) {
            v.push(
                Sample::counter(
                    "xskit_xdp_packets_total",
                    "Frames the XDP program saw, by action",
                    c.packets,
                )
                .label("action", action),
            );
        }
    }
    v
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests;
