//! What a benchmark mode run did, and its final summary.

use crate::app::shared::report::Report;
use crate::app::shared::stats::{known, thousands, Totals};
use anyhow::Result;
use serde::Serialize;
use std::fmt;
use std::io::Write;
use xsk::Statistics;

/// What a run did, per queue and in total.
#[derive(Clone, Debug, Default)]
pub struct ModeSummary {
    /// (queue, totals, kernel counters).
    pub queues: Vec<(u32, Totals, Statistics)>,
    /// Sum over queues.
    pub total: Totals,
    /// Seconds it ran.
    pub elapsed: f64,
    /// Resident memory at the end.
    pub rss_bytes: u64,
    /// UMEM size.
    pub umem_bytes: usize,
    /// Frames not accounted for, summed over queues (must be zero).
    pub frames_unaccounted: usize,
}

impl ModeSummary {
    /// The summary as a report.
    pub fn report(&self) -> ModeReport {
        let secs = self.elapsed.max(1e-9);
        ModeReport {
            summary: true,
            elapsed_s: secs,
            rx_packets: self.total.rx_packets,
            tx_packets: self.total.tx_packets,
            rx_pps: (self.total.rx_packets as f64 / secs).round(),
            tx_pps: (self.total.tx_packets as f64 / secs).round(),
            rss_bytes: self.rss_bytes,
            umem_bytes: self.umem_bytes,
            frames_unaccounted: self.frames_unaccounted,
            queues: self
                .queues
                .iter()
                .map(|(q, t, k)| QueueReport {
                    queue: *q,
                    rx_packets: t.rx_packets,
                    tx_packets: t.tx_packets,
                    rx_dropped: k.rx_dropped,
                    rx_ring_full: k.rx_ring_full,
                    fill_ring_empty: k.rx_fill_ring_empty_descs,
                })
                .collect(),
        }
    }

    /// Prints the final summary.
    pub fn print(&self, out: &mut dyn Write, json_out: bool) -> Result<()> {
        Ok(self.report().print(out, json_out)?)
    }
}

/// The final summary of a mode run, as printed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModeReport {
    /// Always true: marks the summary among JSON lines.
    pub summary: bool,
    /// Seconds it ran.
    pub elapsed_s: f64,
    /// Frames received, all queues.
    pub rx_packets: u64,
    /// Frames sent, all queues.
    pub tx_packets: u64,
    /// Average frames received per second.
    pub rx_pps: f64,
    /// Average frames sent per second.
    pub tx_pps: f64,
    /// Resident memory at the end.
    pub rss_bytes: u64,
    /// UMEM size.
    pub umem_bytes: usize,
    /// Frames not accounted for (must be zero).
    pub frames_unaccounted: usize,
    /// Per queue.
    pub queues: Vec<QueueReport>,
}

/// One queue of a [`ModeReport`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct QueueReport {
    /// The queue.
    pub queue: u32,
    /// Frames received.
    pub rx_packets: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// The kernel's rx_dropped.
    pub rx_dropped: u64,
    /// The kernel's rx_ring_full (unknown before 5.9).
    pub rx_ring_full: Option<u64>,
    /// The kernel's rx_fill_ring_empty_descs (unknown before 5.9).
    pub fill_ring_empty: Option<u64>,
}

impl fmt::Display for ModeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "summary: {:.1}s, rx {} pkts ({} pps), tx {} pkts ({} pps), resident memory {} MiB (UMEM {} MiB)",
            self.elapsed_s,
            thousands(self.rx_packets),
            thousands(self.rx_pps as u64),
            thousands(self.tx_packets),
            thousands(self.tx_pps as u64),
            self.rss_bytes >> 20,
            self.umem_bytes >> 20
        )?;
        for q in &self.queues {
            write!(
                f,
                "\n  queue {}: rx {} tx {}; kernel: rx dropped {}, rx ring full {}, fill ring empty {}",
                q.queue,
                thousands(q.rx_packets),
                thousands(q.tx_packets),
                thousands(q.rx_dropped),
                known(q.rx_ring_full),
                known(q.fill_ring_empty)
            )?;
        }
        if self.frames_unaccounted > 0 {
            write!(
                f,
                "\n  WARNING: {} frames not accounted for",
                self.frames_unaccounted
            )?;
        }
        Ok(())
    }
}

impl Report for ModeReport {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_report_text_and_json_carry_the_same_values() {
        let k = Statistics {
            rx_dropped: 101,
            rx_ring_full: Some(102),
            rx_fill_ring_empty_descs: None,
            ..Default::default()
        };
        let t = Totals {
            rx_packets: 1_000_001,
            rx_bytes: 0,
            tx_packets: 2_000_002,
            tx_bytes: 0,
        };
        let sum = ModeSummary {
            queues: vec![(3, t, k)],
            total: t,
            elapsed: 2.0,
            rss_bytes: 7 << 20,
            umem_bytes: 9 << 20,
            frames_unaccounted: 12,
        };
        let r = sum.report();
        // Memory is shown in MiB; `summary` marks the JSON line.
        crate::app::shared::report::assert_text_shows_json(
            &r,
            &["summary", "rss_bytes", "umem_bytes"],
        );
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["rx_pps"], 500_001.0);
        assert_eq!(v["queues"][0]["fill_ring_empty"], serde_json::Value::Null);
        assert_eq!(v["summary"], true);
    }
}
