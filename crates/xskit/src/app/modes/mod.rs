//! `xskit rxdrop | txonly | l2fwd`: the classic AF_XDP benchmark modes of
//! the kernel's xdpsock sample, on one queue or several sharing one UMEM.
//!
//! Each queue gets a socket and a thread (pinned with `--cpus`); the first
//! socket registers the UMEM, the others share it (XDP_SHARED_UMEM) with
//! their own FILL and COMPLETION rings and their own share of the frames.
//! The per-packet loops allocate nothing: their vectors are sized once.

mod args;
mod l2fwd;
mod report;
mod running;
mod rxdrop;
mod txonly;
mod worker;

pub use crate::app::cpu::List;
pub use args::{udp_template, ModeArgs};
pub use report::ModeSummary;
pub use running::{start, Running};
pub use worker::{QueueCounters, Worker};

use crate::app::stats::{thousands, ReportStyle, Reporter, Totals};
use anyhow::Result;
use serde_json::json;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The benchmark a mode command runs (the kernel's xdpsock modes).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Benchmark {
    /// Receive and drop.
    Rxdrop,
    /// Send prebuilt UDP frames as fast as possible.
    Txonly,
    /// Swap MAC addresses and send each frame back out.
    L2fwd,
}

impl Benchmark {
    /// The subcommand's name.
    pub fn name(self) -> &'static str {
        match self {
            Benchmark::Rxdrop => "rxdrop",
            Benchmark::Txonly => "txonly",
            Benchmark::L2fwd => "l2fwd",
        }
    }
}
/// How often a busy loop checks that its interface still exists.
pub(crate) const BOUND_CHECK: Duration = Duration::from_millis(500);

/// Runs a mode with statistics until `stop`, the duration or the count.
pub fn run(
    mode: Benchmark,
    args: &ModeArgs,
    iface: &str,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<ModeSummary> {
    let s = &args.socket;
    let running = start(mode, args, iface, out)?;
    let mut reporter = Reporter::new(ReportStyle {
        interval: s.interval,
        json: s.json,
        quiet: s.quiet,
        extra: s.extra,
    });
    let started = Instant::now();
    let deadline = s.duration.map(|d| started + d);
    let mut prev: Vec<(u32, Totals)> = running.per_queue();
    let mut last = started;
    loop {
        std::thread::sleep(s.interval.min(Duration::from_millis(50)));
        let now = Instant::now();
        let ended = stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| now >= d)
            || running.finished();
        if reporter.due(now) && !ended {
            let per = running.per_queue();
            let secs = now.duration_since(last).as_secs_f64();
            if s.json && !s.quiet {
                let qs: Vec<_> = per
                    .iter()
                    .zip(&prev)
                    .map(|((q, t), (_, p))| {
                        json!({"queue": q, "rx_packets": t.rx_packets, "tx_packets": t.tx_packets,
                               "rx_pps": ((t.rx_packets - p.rx_packets) as f64 / secs).round(),
                               "tx_pps": ((t.tx_packets - p.tx_packets) as f64 / secs).round()})
                    })
                    .collect();
                let total = running.totals();
                writeln!(
                    out,
                    "{}",
                    json!({"time_s": (now - started).as_secs_f64(), "rx_packets": total.rx_packets, "tx_packets": total.tx_packets,
                    "rx_bytes": total.rx_bytes, "tx_bytes": total.tx_bytes, "queues": qs})
                )?;
                reporter.tick(&mut std::io::sink(), now, &total, None, &[]);
            } else {
                let extra = if s.extra {
                    Some(running.extra()?)
                } else {
                    None
                };
                reporter.tick(out, now, &running.totals(), extra.as_ref(), &[]);
                if per.len() > 1 && !s.quiet {
                    for ((q, t), (_, p)) in per.iter().zip(&prev) {
                        writeln!(
                            out,
                            "          queue {q}: rx {} pps, tx {} pps",
                            thousands(((t.rx_packets - p.rx_packets) as f64 / secs) as u64),
                            thousands(((t.tx_packets - p.tx_packets) as f64 / secs) as u64)
                        )?;
                    }
                }
            }
            prev = per;
            last = now;
        }
        if ended {
            break;
        }
    }
    running.stop(started.elapsed().as_secs_f64())
}
