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

pub use crate::app::shared::args::List;
pub use args::{
    udp_template, Benchmark, L2fwdArgs, ModeArgs, RxModeArgs, RxNap, TxFrameArgs, TxonlyArgs,
};
pub use report::ModeSummary;
pub use running::{start, Running};
pub use worker::{QueueCounters, Worker, WorkerConfig};

use crate::app::shared::stats::{ReportStyle, Reporter, Totals};
use anyhow::Result;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
    })
    .with_metrics(s.metrics_writer(mode.name(), iface));
    let started = Instant::now();
    let deadline = s.duration.map(|d| started + d);
    let mut prev: Vec<(u32, Totals)> = running.per_queue();
    loop {
        std::thread::sleep(s.interval.min(Duration::from_millis(50)));
        let now = Instant::now();
        let ended = stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| now >= d)
            || running.finished();
        if reporter.due(now) && !ended {
            let per = running.per_queue();
            let extra = if s.extra {
                Some(running.extra()?)
            } else {
                None
            };
            let queues: Vec<(u32, Totals, Totals)> = per
                .iter()
                .zip(&prev)
                .map(|((q, t), (_, p))| (*q, *t, *p))
                .collect();
            reporter.tick_queues(out, now, &running.totals(), extra.as_ref(), &[], &queues);
            prev = per;
        }
        if ended {
            break;
        }
    }
    running.stop(started.elapsed().as_secs_f64())
}

/// Runs a benchmark mode until stopped and prints its summary; exit 1 if
/// any frame is unaccounted for.
pub fn exec(mode: Benchmark, args: ModeArgs, out: &mut dyn Write) -> Result<i32> {
    use crate::app::shared::{caps, signals};
    caps::require(mode.name(), &caps::xsk(args.socket.interface.is_some()))?;
    let stop = signals::stop_flag()?;
    let iface = args.socket.resolve_interface()?;
    let summary = run(mode, &args, &iface, &stop, out)?;
    summary.print(out, args.socket.json)?;
    if summary.frames_unaccounted == 0 {
        return Ok(0);
    }
    eprintln!(
        "xskit {}: {} frames not accounted for at the end (lost by the frame accounting, or still moving after 0.5 s): a bug to report",
        mode.name(),
        summary.frames_unaccounted
    );
    Ok(1)
}
