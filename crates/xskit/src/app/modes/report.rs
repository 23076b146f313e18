//! What a benchmark mode run did, and its final summary.

use crate::app::stats::{known, thousands, Totals};
use anyhow::Result;
use serde_json::json;
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
    /// Prints the final summary.
    pub fn print(&self, out: &mut dyn Write, json_out: bool) -> Result<()> {
        let secs = self.elapsed.max(1e-9);
        if json_out {
            let qs: Vec<_> = self
                .queues
                .iter()
                .map(|(q, t, k)| json!({"queue": q, "rx_packets": t.rx_packets, "tx_packets": t.tx_packets,
                    "rx_dropped": k.rx_dropped, "rx_ring_full": k.rx_ring_full, "fill_ring_empty": k.rx_fill_ring_empty_descs}))
                .collect();
            writeln!(
                out,
                "{}",
                json!({"summary": true, "elapsed_s": secs, "rx_packets": self.total.rx_packets, "tx_packets": self.total.tx_packets,
                    "rx_pps": (self.total.rx_packets as f64 / secs).round(), "tx_pps": (self.total.tx_packets as f64 / secs).round(),
                    "rss_bytes": self.rss_bytes, "umem_bytes": self.umem_bytes, "frames_unaccounted": self.frames_unaccounted, "queues": qs})
            )?;
            return Ok(());
        }
        writeln!(
            out,
            "summary: {:.1}s, rx {} pkts ({} pps), tx {} pkts ({} pps), resident memory {} MiB (UMEM {} MiB)",
            secs,
            thousands(self.total.rx_packets),
            thousands((self.total.rx_packets as f64 / secs) as u64),
            thousands(self.total.tx_packets),
            thousands((self.total.tx_packets as f64 / secs) as u64),
            self.rss_bytes >> 20,
            self.umem_bytes >> 20
        )?;
        for (q, t, k) in &self.queues {
            writeln!(
                out,
                "  queue {q}: rx {} tx {}; kernel: rx dropped {}, rx ring full {}, fill ring empty {}",
                thousands(t.rx_packets),
                thousands(t.tx_packets),
                thousands(k.rx_dropped),
                known(k.rx_ring_full),
                known(k.rx_fill_ring_empty_descs)
            )?;
        }
        if self.frames_unaccounted > 0 {
            writeln!(
                out,
                "  WARNING: {} frames not accounted for",
                self.frames_unaccounted
            )?;
        }
        Ok(())
    }
}
