//! What a run of `xskit echo` did ([`EchoSummary`]) and its final report,
//! as text or JSON from one struct.

use crate::app::shared::report::Report;
use crate::app::shared::stats::Totals;
use crate::app::shared::stats::{known, thousands, XdpPackets};
use crate::wire::echo::Reject;
use crate::xdp::{ActionCounters, XdpHook};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::time::Duration;
use xsk::{FrameAccounting, Statistics};

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct EchoSummary {
    /// Packet and byte totals.
    pub totals: Totals,
    /// ICMPv4 echo requests answered.
    pub answered_v4: u64,
    /// ICMPv6 echo requests answered.
    pub answered_v6: u64,
    /// Frames not answered, by reason (order of [`Reject::ALL`]).
    pub rejected: [u64; Reject::COUNT],
    /// Replies dropped because the TX ring stayed full.
    pub tx_ring_full: u64,
    /// Idle turns of a busy loop that kept the reply path warm (in copy
    /// mode each an empty sendto, which the kernel counts in
    /// `tx_ring_empty_descs`).
    pub warm_turns: u64,
    /// Of those, the turns that looped a frame through `lo` (copy mode:
    /// the kernel's transmit path, see [`super::warm`]).
    pub warm_frames: u64,
    /// How long it ran.
    pub elapsed: Duration,
    /// Where every frame was at the end.
    pub accounting: FrameAccounting,
    /// The kernel's socket counters at the end.
    pub kernel: Statistics,
    /// The XDP program's counters at the end.
    pub xdp: ActionCounters,
    /// XDP mode used.
    pub mode: Option<XdpHook>,
}

impl EchoSummary {
    /// Frames not answered, all reasons.
    pub fn rejected_total(&self) -> u64 {
        self.rejected.iter().sum()
    }

    /// Frames not answered for `reason`.
    pub fn rejected(&self, reason: Reject) -> u64 {
        self.rejected[reason as usize]
    }

    /// "N reason, M reason" for the reasons that occurred, or "0".
    pub fn rejected_text(&self) -> String {
        if self.rejected_total() == 0 {
            return "0".to_string();
        }
        Reject::ALL
            .iter()
            .zip(self.rejected)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| format!("{} {}", thousands(n), r.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Prints the final summary (text or JSON).
    pub fn print(&self, out: &mut dyn Write, json_out: bool) -> Result<()> {
        Ok(self.report().print(out, json_out)?)
    }
}

/// What `xskit echo` prints when it ends.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EchoReport {
    /// Always true: marks the summary among JSON lines.
    pub summary: bool,
    /// Seconds it ran (to the millisecond).
    pub elapsed_s: f64,
    /// Frames received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Frames sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// ICMPv4 echo requests answered.
    pub answered_v4: u64,
    /// ICMPv6 echo requests answered.
    pub answered_v6: u64,
    /// Frames not answered, by reason (every reason, zeros included).
    pub rejected: BTreeMap<&'static str, u64>,
    /// Replies dropped because the TX ring stayed full.
    pub tx_ring_full: u64,
    /// Idle turns that kept the reply path warm (`kernel.tx_ring_empty_descs`
    /// counts their empty sendtos in copy mode).
    pub warm_turns: u64,
    /// Of those, the turns that looped a frame through `lo` (copy mode).
    pub warm_frames: u64,
    /// Every frame was where the accounting says.
    pub frames_accounted: bool,
    /// Where every frame was (text only; JSON has `frames_accounted`).
    #[serde(skip)]
    pub frames: FrameAccounting,
    /// The kernel's socket counters at the end.
    pub kernel: Statistics,
    /// The XDP program's counters at the end.
    pub xdp: XdpPackets,
}

impl EchoSummary {
    /// The summary as a report.
    pub fn report(&self) -> EchoReport {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        EchoReport {
            summary: true,
            elapsed_s: (secs * 1000.0).round() / 1000.0,
            rx_packets: self.totals.rx_packets,
            rx_bytes: self.totals.rx_bytes,
            tx_packets: self.totals.tx_packets,
            tx_bytes: self.totals.tx_bytes,
            answered_v4: self.answered_v4,
            answered_v6: self.answered_v6,
            rejected: Reject::ALL
                .iter()
                .zip(self.rejected)
                .map(|(r, n)| (r.name(), n))
                .collect(),
            tx_ring_full: self.tx_ring_full,
            warm_turns: self.warm_turns,
            warm_frames: self.warm_frames,
            frames_accounted: self.accounting.is_consistent(),
            frames: self.accounting,
            kernel: self.kernel,
            xdp: XdpPackets::from(&self.xdp),
        }
    }
}

impl fmt::Display for EchoReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed_s.max(1e-9);
        writeln!(
            f,
            "summary: {:.1}s, rx {} pkts ({} B), tx {} pkts ({} B), avg {} pps rx / {} pps tx",
            secs,
            thousands(self.rx_packets),
            thousands(self.rx_bytes),
            thousands(self.tx_packets),
            thousands(self.tx_bytes),
            thousands((self.rx_packets as f64 / secs) as u64),
            thousands((self.tx_packets as f64 / secs) as u64),
        )?;
        let not_answered: Vec<String> = self
            .rejected
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(r, n)| format!("{} {r}", thousands(*n)))
            .collect();
        writeln!(
            f,
            "  answered: {} ICMPv6, {} ICMPv4; not answered: {}; tx ring full {}; idle turns kept warm {} ({} frames looped through lo)",
            thousands(self.answered_v6),
            thousands(self.answered_v4),
            if not_answered.is_empty() {
                "0".to_string()
            } else {
                not_answered.join(", ")
            },
            thousands(self.tx_ring_full),
            thousands(self.warm_turns),
            thousands(self.warm_frames)
        )?;
        let a = &self.frames;
        writeln!(
            f,
            "  frames: {} total = {} free + {} fill + {} rx + {} tx + {} completion + {} kernel + {} app ({})",
            a.total,
            a.free,
            a.fill,
            a.rx,
            a.tx,
            a.completion,
            a.kernel,
            a.application,
            if self.frames_accounted {
                "all accounted for".to_string()
            } else {
                format!("MISMATCH: {} lost", a.lost)
            }
        )?;
        let k = &self.kernel;
        let x = &self.xdp;
        write!(
            f,
            "  kernel: rx dropped {}, rx invalid {}, tx invalid {}, rx ring full {}, fill ring empty {}, tx ring empty {}; \
             xdp: redirected {}, passed {}, dropped {}, aborted {}, tx {}",
            k.rx_dropped,
            k.rx_invalid_descs,
            k.tx_invalid_descs,
            known(k.rx_ring_full),
            known(k.rx_fill_ring_empty_descs),
            known(k.tx_ring_empty_descs),
            x.redirected,
            x.passed,
            x.dropped,
            x.aborted,
            x.tx
        )
    }
}

impl Report for EchoReport {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::shared::stats::Totals;
    use std::time::Duration;

    #[test]
    fn echo_report_text_and_json_carry_the_same_values() {
        let mut rejected = [0; Reject::COUNT];
        for (i, n) in rejected.iter_mut().enumerate() {
            *n = 7001 + i as u64;
        }
        let sum = EchoSummary {
            totals: Totals {
                rx_packets: 1001,
                rx_bytes: 1002,
                tx_packets: 1003,
                tx_bytes: 1004,
            },
            answered_v4: 1005,
            answered_v6: 1006,
            rejected,
            tx_ring_full: 1007,
            warm_turns: 1008,
            warm_frames: 1009,
            elapsed: Duration::from_millis(2500),
            kernel: Statistics {
                rx_dropped: 2001,
                rx_invalid_descs: 2002,
                tx_invalid_descs: 2003,
                rx_ring_full: Some(2004),
                rx_fill_ring_empty_descs: Some(2005),
                tx_ring_empty_descs: None,
            },
            ..Default::default()
        };
        let r = sum.report();
        crate::app::shared::report::assert_text_shows_json(&r, &["summary"]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(
            v["rejected"]["rate_limited"],
            7001 + Reject::COUNT as u64 - 1
        );
        assert_eq!(v["frames_accounted"], true);
        assert_eq!(v["kernel"]["tx_ring_empty_descs"], serde_json::Value::Null);
        assert!(r
            .to_string()
            .contains("answered: 1,006 ICMPv6, 1,005 ICMPv4"));
    }
}
