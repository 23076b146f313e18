//! Counters of a running application and the periodic statistics line the
//! seed's stats thread prints (packets, pps, bytes and bits per second).
//!
//! The application's own loop calls [`Reporter::tick`], so counters need no
//! atomics and no second thread.

use crate::app::metrics::Sample;
use crate::xdp::ActionCounters;
use serde_json::{json, Value};
use std::io::Write;
use std::time::{Duration, Instant};
use xsk::Statistics;

/// Running totals of one socket (or of several, summed).
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
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

/// Formats an integer with thousands separators (`1,234,567`), as the
/// seed's `%'` printf does; std has no locale-aware formatting.
///
/// ```
/// assert_eq!(xskit::app::stats::thousands(1234567), "1,234,567");
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
#[derive(Clone, Copy, Debug, Default)]
pub struct Extra {
    /// The kernel's per-socket counters.
    pub kernel: Statistics,
    /// The XDP program's per-action counters.
    pub xdp: ActionCounters,
}

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
        }
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
        let secs = now.duration_since(self.last).as_secs_f64();
        let rates = Rates::between(&self.prev, totals, secs);
        self.prev = *totals;
        self.last = now;
        if crate::app::metrics::installed() {
            crate::app::metrics::report(&samples(totals, extra, more));
        }
        if self.style.quiet {
            return;
        }
        let t = now.duration_since(self.start).as_secs_f64();
        if self.style.json {
            let mut v = json!({
                "time_s": round3(t),
                "period_s": round3(secs),
                "rx_packets": totals.rx_packets,
                "rx_bytes": totals.rx_bytes,
                "rx_pps": rates.rx_pps.round(),
                "rx_bps": rates.rx_bps.round(),
                "tx_packets": totals.tx_packets,
                "tx_bytes": totals.tx_bytes,
                "tx_pps": rates.tx_pps.round(),
                "tx_bps": rates.tx_bps.round(),
            });
            for (k, n) in more {
                v[*k] = json!(n);
            }
            if let (true, Some(x)) = (self.style.extra, extra) {
                v["kernel"] = kernel_json(&x.kernel);
                v["xdp"] = xdp_json(&x.xdp);
            }
            let _ = writeln!(out, "{v}");
        } else {
            if !self.header_done {
                let _ = writeln!(
                    out,
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
                );
                self.header_done = true;
            }
            let _ = writeln!(
                out,
                "{:>7.1}s {:>13} {:>10} {:>15} {:>14} {:>13} {:>10} {:>15} {:>14}",
                t,
                thousands(totals.rx_packets),
                thousands(rates.rx_pps.round() as u64),
                thousands(totals.rx_bytes),
                thousands(rates.rx_bps.round() as u64),
                thousands(totals.tx_packets),
                thousands(rates.tx_pps.round() as u64),
                thousands(totals.tx_bytes),
                thousands(rates.tx_bps.round() as u64),
            );
            if let (true, Some(x)) = (self.style.extra, extra) {
                let k = &x.kernel;
                let _ = writeln!(
                    out,
                    "          kernel: rx dropped {}, rx invalid {}, tx invalid {}, rx ring full {}, fill ring empty {}, tx ring empty {}",
                    thousands(k.rx_dropped),
                    thousands(k.rx_invalid_descs),
                    thousands(k.tx_invalid_descs),
                    known(k.rx_ring_full),
                    known(k.rx_fill_ring_empty_descs),
                    known(k.tx_ring_empty_descs)
                );
                let a = &x.xdp;
                let _ = writeln!(
                    out,
                    "          xdp: redirected {}, passed {}, dropped {}, aborted {}",
                    thousands(a.redirected.packets),
                    thousands(a.passed.packets),
                    thousands(a.dropped.packets),
                    thousands(a.aborted.packets)
                );
            }
        }
    }
}

/// The counters of one report as Prometheus samples (for `--metrics-file`).
pub fn samples(totals: &Totals, extra: Option<&Extra>, more: &[(&str, u64)]) -> Vec<Sample> {
    const P: &str = "Frames the application handled, by direction";
    const B: &str = "Bytes the application handled, by direction";
    let mut v = vec![
        Sample::counter("xskit_app_packets_total", P, totals.rx_packets).label("direction", "rx"),
        Sample::counter("xskit_app_packets_total", P, totals.tx_packets).label("direction", "tx"),
        Sample::counter("xskit_app_bytes_total", B, totals.rx_bytes).label("direction", "rx"),
        Sample::counter("xskit_app_bytes_total", B, totals.tx_bytes).label("direction", "tx"),
    ];
    for (k, n) in more {
        v.push(
            Sample::counter("xskit_app_events_total", "Application events, by kind", *n)
                .label("event", *k),
        );
    }
    if let Some(x) = extra {
        const K: &str = "The kernel's AF_XDP socket counters (XDP_STATISTICS)";
        let k = &x.kernel;
        for (name, n) in [
            ("rx_dropped", Some(k.rx_dropped)),
            ("rx_invalid_descs", Some(k.rx_invalid_descs)),
            ("tx_invalid_descs", Some(k.tx_invalid_descs)),
            ("rx_ring_full", k.rx_ring_full),
            ("rx_fill_ring_empty_descs", k.rx_fill_ring_empty_descs),
            ("tx_ring_empty_descs", k.tx_ring_empty_descs),
        ] {
            if let Some(n) = n {
                v.push(Sample::counter("xskit_socket_events_total", K, n).label("counter", name));
            }
        }
        for (action, c) in crate::app::metrics::actions(&x.xdp) {
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

/// The kernel's socket counters as JSON.
pub fn kernel_json(k: &Statistics) -> Value {
    json!({
        "rx_dropped": k.rx_dropped,
        "rx_invalid_descs": k.rx_invalid_descs,
        "tx_invalid_descs": k.tx_invalid_descs,
        "rx_ring_full": k.rx_ring_full,
        "rx_fill_ring_empty_descs": k.rx_fill_ring_empty_descs,
        "tx_ring_empty_descs": k.tx_ring_empty_descs,
    })
}

/// The XDP program's counters as JSON.
pub fn xdp_json(a: &ActionCounters) -> Value {
    json!({
        "redirected": a.redirected.packets,
        "passed": a.passed.packets,
        "dropped": a.dropped.packets,
        "aborted": a.aborted.packets,
        "tx": a.tx.packets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn rates_per_second_and_bits() {
        let a = Totals::default();
        let b = Totals {
            rx_packets: 1000,
            rx_bytes: 64_000,
            tx_packets: 500,
            tx_bytes: 32_000,
        };
        let r = Rates::between(&a, &b, 2.0);
        assert_eq!(r.rx_pps, 500.0);
        assert_eq!(r.rx_bps, 256_000.0);
        assert_eq!(r.tx_pps, 250.0);
        assert_eq!(r.tx_bps, 128_000.0);
    }

    #[test]
    fn text_and_json_lines() {
        let mut r = Reporter::new(ReportStyle {
            interval: Duration::from_secs(2),
            json: false,
            quiet: false,
            extra: false,
        });
        let mut out = Vec::new();
        let t = Totals {
            rx_packets: 12345,
            rx_bytes: 1_000_000,
            ..Default::default()
        };
        r.tick(&mut out, r.start + Duration::from_secs(2), &t, None, &[]);
        let s = String::from_utf8(out).unwrap();
        assert!(s.contains("rx pps"), "{s}");
        assert!(
            s.contains("12,345") && s.contains("6,173") && s.contains("4,000,000"),
            "{s}"
        );

        let mut r = Reporter::new(ReportStyle {
            interval: Duration::from_secs(1),
            json: true,
            quiet: false,
            extra: true,
        });
        let mut out = Vec::new();
        r.tick(
            &mut out,
            r.start + Duration::from_secs(1),
            &t,
            Some(&Extra::default()),
            &[("rejected", 3)],
        );
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["rx_pps"], 12345.0);
        assert_eq!(v["rejected"], 3);
        assert_eq!(v["kernel"]["rx_dropped"], 0);
    }
}
