//! `xskit bench`'s result: rows, their figures (medians of windows, ratios
//! paired by round), the drops warning and the Markdown table.

use super::{BenchTarget, CoreSharing};
use crate::app::shared::report::Report;
use serde::Serialize;
use std::fmt;

/// One row of the result (one line of text or JSON).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// `shared-core` or `own-core`.
    pub config: CoreSharing,
    /// `ceiling`, `rxdrop`, `l2fwd`, `echo`, `txonly`.
    pub mode: BenchTarget,
    /// Median million packets per second (to three decimals).
    pub mpps: f64,
    /// Median of `ratios` (to three decimals).
    pub ratio: f64,
    /// Every window's figure (to three decimals).
    pub samples: Vec<f64>,
    /// Every window's figure divided by the ceiling's window of the same
    /// round (to three decimals).
    pub ratios: Vec<f64>,
    /// Frames the kernel dropped on the application's socket over all
    /// windows (rx_dropped + rx ring full; rxdrop only).
    pub drops: Option<u64>,
    /// Windows per figure (in the text header).
    pub runs: u32,
    /// Seconds per window (in the text header).
    pub window_s: f64,
    /// Frame size (in the text header).
    pub size: usize,
}

impl fmt::Display for Row {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<12} {:<8} {:>8.3} Mpps   {:>5.2} of ceiling   (windows: {}; ratios: {})",
            self.config,
            self.mode,
            self.mpps,
            self.ratio,
            join3(&self.samples, " "),
            join3(&self.ratios, " "),
        )?;
        if let Some(d) = self.drops {
            write!(f, "   kernel drops: {d}")?;
        }
        Ok(())
    }
}

impl Report for Row {}

/// Above this share of the frames reaching the socket dropped by the
/// kernel, a row's figure says more about the rings than about the mode.
const STARVED_SHARE: f64 = 0.01;

impl Row {
    /// The warning for a row whose socket the kernel dropped more than 1 %
    /// of its frames on (RX ring full or FILL ring empty: the rings, sized
    /// from `frames`, were too small for the rate, or the mode napped too
    /// long), or `None`. The frames received are estimated from the windows'
    /// rates; the drops also cover each window's warm-up, which errs
    /// towards warning.
    pub fn starved(&self, frames: u32) -> Option<String> {
        let dropped = self.drops?;
        let received: f64 = self.samples.iter().sum::<f64>() * self.window_s * 1e6;
        let share = dropped as f64 / (received + dropped as f64).max(1.0);
        (share > STARVED_SHARE).then(|| {
            format!(
                "xskit bench: warning: {} {}: the kernel dropped {dropped} frames on the socket \
                 ({:.1}% of those that reached it: RX ring full or FILL ring empty), so this \
                 figure measures its rings; rerun with --frames {} (rings get half as many \
                 slots) or a shorter --nap",
                self.config,
                self.mode,
                share * 100.0,
                frames.saturating_mul(2),
            )
        })
    }
}

/// Each window divided by the ceiling's window of the same round (0 where
/// the ceiling measured nothing).
fn paired_ratios(windows: &[f64], ceiling: &[f64]) -> Vec<f64> {
    windows
        .iter()
        .zip(ceiling)
        .map(|(v, c)| if *c > 0.0 { v / c } else { 0.0 })
        .collect()
}

/// A mode's median Mpps, median paired ratio and every round's ratio (to
/// three decimals) from its windows and the ceiling's.
pub(super) fn figures(windows: &[f64], ceiling: &[f64]) -> (f64, f64, Vec<f64>) {
    let ratios = paired_ratios(windows, ceiling);
    (
        round3(median(&mut windows.to_vec())),
        round3(median(&mut ratios.clone())),
        ratios.into_iter().map(round3).collect(),
    )
}

fn join3(v: &[f64], sep: &str) -> String {
    v.iter()
        .map(|x| format!("{x:.3}"))
        .collect::<Vec<_>>()
        .join(sep)
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        0.0
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Prints rows as the Markdown table BENCHMARKS.md holds.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from("| config | mode | Mpps (median) | ratio to ceiling (median) | windows (Mpps) | ratios per round |\n|---|---|---:|---:|---|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {:.3} | {:.2} | {} | {} |\n",
            r.config,
            r.mode,
            r.mpps,
            r.ratio,
            join3(&r.samples, ", "),
            join3(&r.ratios, ", "),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_pair_each_window_with_the_ceiling_of_its_round() {
        // The host slows to half speed after the second round: paired with
        // its own round's ceiling, every window of the mode says 0.5.
        let ceiling = [4.0, 4.0, 2.0, 2.0, 2.0];
        let mode = [2.0, 2.0, 1.0, 1.0, 1.0];
        let r = paired_ratios(&mode, &ceiling);
        assert_eq!(r, vec![0.5; 5]);
        // Each window goes with its own round, not with another's.
        assert_eq!(
            paired_ratios(&[2.0, 1.2, 2.0], &[4.0, 2.0, 4.0]),
            vec![0.5, 0.6, 0.5]
        );
        assert_eq!(paired_ratios(&[1.0], &[0.0]), vec![0.0]);
        // The reported ratio is the median of the rounds' ratios, not the
        // ratio of the medians (here 0.6 / 1.0 = 0.6 against 0.5).
        let (mpps, ratio, ratios) = figures(&[0.5, 0.6, 1.0], &[1.0, 1.0, 2.0]);
        assert_eq!((mpps, ratio, ratios), (0.6, 0.5, vec![0.5, 0.6, 0.5]));
    }

    #[test]
    fn bench_row_text_and_json_carry_the_same_values() {
        let row = Row {
            config: CoreSharing::OwnCore,
            mode: BenchTarget::L2fwd,
            mpps: 1.234,
            ratio: 0.57,
            samples: vec![1.111, 1.234, 1.345],
            ratios: vec![0.512, 0.57, 0.589],
            drops: Some(4321),
            runs: 3,
            window_s: 1.0,
            size: 64,
        };
        // Runs, window and size are in the text's header line.
        crate::app::shared::report::assert_text_shows_json(&row, &["runs", "window_s", "size"]);
        let v = serde_json::to_value(&row).unwrap();
        assert_eq!(v["config"], "own-core");
        assert_eq!(v["mode"], "l2fwd");
        assert_eq!(BenchTarget::Ceiling.to_string(), "ceiling");
        assert_eq!(CoreSharing::SharedCore.to_string(), "shared-core");
    }

    #[test]
    fn a_row_whose_socket_dropped_over_one_percent_warns_with_bigger_rings() {
        let mut row = Row {
            config: CoreSharing::SharedCore,
            mode: BenchTarget::Rxdrop,
            mpps: 2.0,
            ratio: 0.4,
            samples: vec![2.0, 2.0],
            ratios: vec![0.4, 0.4],
            drops: Some(200_000),
            runs: 2,
            window_s: 1.0,
            size: 64,
        };
        // 200,000 dropped beside 4,000,000 received: 4.8 %.
        let w = row.starved(1024).expect("4.8 % dropped warns");
        assert!(
            w.contains("dropped 200000 frames") && w.contains("4.8%"),
            "{w}"
        );
        assert!(
            w.contains("--frames 2048") && w.contains("shared-core rxdrop"),
            "{w}"
        );
        // 0.5 %: no warning; no drops counted (other modes): none either.
        row.drops = Some(20_000);
        assert_eq!(row.starved(1024), None);
        row.drops = None;
        assert_eq!(row.starved(1024), None);
        // Nothing received at all and frames dropped: warns, no division by zero.
        row.samples = vec![0.0, 0.0];
        row.drops = Some(10);
        assert!(row
            .starved(u32::MAX)
            .unwrap()
            .contains("--frames 4294967295"));
    }
}
