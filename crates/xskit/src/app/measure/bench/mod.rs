//! `xskit bench`: every figure of the table measured in one run, on one
//! sandbox, as ratios to a ceiling measured in the same run.
//!
//! - ceiling: `xdp_drop` on the receiving end drops what `xskit gen` sends;
//! - rxdrop, l2fwd, echo: the application receives the generator's frames;
//! - txonly: the application sends, the far end counts what arrives.
//!
//! Two configurations: shared core (generator, softirq and application on
//! CPU 0, application in poll()) and own core (generator on CPU 0,
//! application on CPU 1 in a busy loop). Each figure is the median of
//! `--runs` measurement windows, taken in rounds (the ceiling's window, then
//! each mode's), and each ratio the median of the rounds' ratios.

use crate::app::echo::{self, EchoArgs};
use crate::app::measure::gen::{self, GenArgs};
use crate::app::modes::{self, Benchmark, ModeArgs, RxNap};
use crate::app::shared::args::defaults;
use crate::app::shared::report::Report;
use crate::app::shared::sandbox::{self, Guard, State, UpArgs};
use crate::xdp::{HookChoice, Program, XdpProgram};
use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;
use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod row;
use row::{figures, round3};
pub use row::{markdown, Row};

/// Options of `xskit bench`.
#[derive(clap::Args, Clone, Debug)]
pub struct BenchArgs {
    /// Measurement windows per figure; the median is reported
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub runs: u32,
    /// Length of one measurement window
    #[arg(long, default_value = "1s", value_parser = crate::app::shared::args::parse_interval)]
    pub window: Duration,
    /// Frame size, FCS included (64 sends 60-byte frames)
    #[arg(short = 's', long, default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(64..=crate::app::measure::gen::MAX_GEN_SIZE as u64))]
    pub size: usize,
    /// One JSON object per (configuration, mode) instead of a table
    #[arg(long)]
    pub json: bool,
    /// UMEM frames per socket of rxdrop, l2fwd and txonly (rings get half
    /// as many slots; xdpsock's default too; echo keeps its own). Fewer
    /// starve the socket on a fast host: a warning says so when the kernel
    /// drops frames for want of ring slots
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=crate::app::shared::args::MAX_FRAMES as i64))]
    pub frames: u32,
    /// Bytes per UMEM frame, 2048 or 4096 (xdpsock's default is 4096; with
    /// 4096 every frame's copy lands in the same cache sets)
    #[arg(long, default_value_t = 2048, value_parser = parse_frame_size)]
    pub frame_size: u32,
    /// RX ring entries of the application (power of two) [default: half the frames]
    #[arg(long, value_parser = crate::app::shared::args::ring_size)]
    pub rx_size: Option<u32>,
    /// FILL ring entries of the application (power of two) [default: twice the RX ring]
    #[arg(long, value_parser = crate::app::shared::args::ring_size)]
    pub fill_size: Option<u32>,
    /// rxdrop and l2fwd sleep this long when their RX ring runs dry (`--nap`
    /// of those modes) instead of waiting in poll() (shared core) or
    /// spinning (own core); `off` for neither
    /// [default: 100us in shared-core, off in own-core]
    #[arg(long, value_parser = parse_bench_nap)]
    pub nap: Option<RxNap>,
    /// Map the applications' UMEM in 2 MiB huge pages (reserve them first:
    /// /proc/sys/vm/nr_hugepages)
    #[arg(long)]
    pub huge_pages: bool,
    /// Put the applications' programs in a dispatcher of libxdp's protocol
    /// (xskit's own), to measure what the dispatcher costs (the ceiling's
    /// program stays alone); needs a kernel that loads extension programs
    #[arg(long)]
    pub multiprog: bool,
    /// Name of the temporary sandbox
    #[arg(long, default_value = "xskit-bench")]
    pub name: String,
    /// Only these configurations
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "shared-core,own-core"
    )]
    pub configs: Vec<CoreSharing>,
    /// Only these modes (ceiling is always measured)
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "rxdrop,l2fwd,echo,txonly"
    )]
    pub modes: Vec<BenchTarget>,
}

/// Where the application runs relative to the generator.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CoreSharing {
    /// Generator, softirq and application on CPU 0, the application in poll()
    SharedCore,
    /// Generator on CPU 0, the application on CPU 1 in a busy loop
    OwnCore,
}

/// What one figure measures.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Eq, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchTarget {
    /// `xdp_drop` on the receiving end (always measured first)
    #[value(skip)]
    Ceiling,
    /// `xskit rxdrop` receives the generator's frames
    Rxdrop,
    /// `xskit l2fwd` sends them back
    L2fwd,
    /// `xskit echo` answers ICMP echo requests
    Echo,
    /// `xskit txonly` sends; the far end counts
    Txonly,
}

/// Aligned UMEM frames: a power of two from 2048 to 4096.
fn parse_frame_size(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(n @ (2048 | 4096)) => Ok(n),
        _ => Err(format!("{s:?} is not a frame size: use 2048 or 4096")),
    }
}

/// `bench --nap`: a duration, or `off` (the configuration's own poll() or
/// busy loop). Not `auto`: its naps depend on timing, and a benchmark
/// compares fixed ways of waiting.
fn parse_bench_nap(s: &str) -> Result<RxNap, String> {
    if s == "off" {
        return Ok(RxNap::Off);
    }
    crate::app::shared::args::parse_nap(s)
        .map(RxNap::For)
        .map_err(|e| format!("{e}, or `off`"))
}

fn name_of(v: &impl clap::ValueEnum) -> String {
    v.to_possible_value()
        .map(|p| p.get_name().to_string())
        .unwrap_or_else(|| "ceiling".into())
}

impl fmt::Display for CoreSharing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&name_of(self))
    }
}

impl fmt::Display for BenchTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&name_of(self))
    }
}

struct Config {
    name: CoreSharing,
    gen_cpu: u32,
    app_cpu: u32,
    poll: bool,
    /// How rxdrop and l2fwd wait unless `--nap` says otherwise.
    nap: RxNap,
}

/// Starts the generator in the outer namespace, pinned to `cpu`, for `d`.
fn start_gen(
    state: &State,
    cpu: u32,
    icmp: bool,
    size: usize,
    d: Duration,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<Result<gen::GenSummary>> {
    let st = state.clone();
    std::thread::spawn(move || {
        st.enter_outer()?;
        let mut args: GenArgs = defaults();
        args.interface = None;
        args.sandbox = Some(st.name.clone());
        args.size = size;
        args.icmp = icmp;
        args.duration = Some(d);
        args.cpus = Some(modes::List(vec![cpu]));
        args.quiet = true;
        let plan = args.plan()?;
        gen::run(&args, &plan, &stop, &mut std::io::sink())
    })
}

fn mode_args(state: &State, cfg: &Config, args: &BenchArgs, mode: Benchmark) -> ModeArgs {
    let (size, frames, frame_size) = (args.size, args.frames, args.frame_size);
    let mut m: ModeArgs = defaults();
    m.socket.interface = Some(state.inner_if.clone());
    m.socket.poll = cfg.poll;
    m.socket.quiet = true;
    m.socket.frames = frames;
    m.socket.frame_size = frame_size;
    m.socket.rx_size = args.rx_size;
    m.socket.fill_size = args.fill_size;
    m.nap = match mode {
        Benchmark::Txonly => RxNap::Off,
        _ => args.nap.unwrap_or(cfg.nap),
    };
    m.socket.huge_pages = args.huge_pages;
    m.socket.share.multiprog = args.multiprog;
    m.cpus = Some(modes::List(vec![cfg.app_cpu]));
    m.tx.size = size;
    m.tx.dst_mac = None;
    m.tx.src_ip = state.inner_v4.into();
    m.tx.dst_ip = state.outer_v4.into();
    m
}

/// Measures one window: waits `warm`, reads `count()`, waits the window,
/// reads again; returns Mpps.
fn window(warm: Duration, win: Duration, count: &dyn Fn() -> Result<u64>) -> Result<f64> {
    std::thread::sleep(warm);
    let (c0, t0) = (count()?, Instant::now());
    std::thread::sleep(win);
    let (c1, t1) = (count()?, Instant::now());
    Ok((c1.saturating_sub(c0)) as f64 / t1.duration_since(t0).as_secs_f64() / 1e6)
}

/// A nap as the header states it.
fn nap_text(n: RxNap) -> String {
    match n {
        RxNap::Off => "off".to_string(),
        RxNap::Auto => "auto".to_string(),
        RxNap::For(d) => format!("{} µs", d.as_micros()),
    }
}

/// Runs the benchmark and returns its rows.
pub fn run(args: &BenchArgs, out: &mut dyn Write) -> Result<Vec<Row>> {
    let ncpu = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut configs = Vec::new();
    for &c in &args.configs {
        configs.push(match c {
            // A nap of 100 µs: the shared core's best measured (BENCHMARKS.md).
            CoreSharing::SharedCore => Config {
                name: c,
                gen_cpu: 0,
                app_cpu: 0,
                poll: true,
                nap: RxNap::For(Duration::from_micros(100)),
            },
            CoreSharing::OwnCore => {
                if ncpu < 2 {
                    bail!("own-core needs two CPUs; this machine has {ncpu} (use --configs shared-core)");
                }
                Config { name: c, gen_cpu: 0, app_cpu: 1, poll: false, nap: RxNap::Off }
            }
        });
    }
    let state = sandbox::up(&UpArgs::named(&args.name))?;
    let _guard = Guard(state.clone());
    // Frames that come back to the outer end (l2fwd, echo, txonly) are
    // dropped there by XDP, and counted: that is what txonly and echo measure.
    let outer_drop = state.in_outer(|| -> Result<XdpProgram> {
        let mut p = XdpProgram::load(Program::Drop, 1)?;
        p.attach(&state.outer_if, HookChoice::Auto, true)?;
        Ok(p)
    })??;
    let outer_drop = Arc::new(outer_drop);
    let warm = Duration::from_millis(300);
    let total = warm + args.window;
    let mut rows = Vec::new();
    if !args.json {
        writeln!(
            out,
            "xskit bench: {} rounds of {:.1}s windows, {}-byte frames, veth in copy mode, {} CPUs, \
             rxdrop/l2fwd/txonly UMEM {} x {} B, rxdrop/l2fwd nap: {}",
            args.runs,
            args.window.as_secs_f64(),
            args.size,
            ncpu,
            args.frames,
            args.frame_size,
            match args.nap {
                Some(n) => nap_text(n),
                None => configs
                    .iter()
                    .map(|c| format!("{} in {}", nap_text(c.nap), c.name))
                    .collect::<Vec<_>>()
                    .join(", "),
            }
        )?;
    }
    for cfg in &configs {
        let mut targets = vec![BenchTarget::Ceiling];
        targets.extend(args.modes.iter().filter(|m| **m != BenchTarget::Ceiling));
        // Round by round, the ceiling's window and then each mode's: a
        // mode's ratio is the median of its windows each divided by the
        // ceiling's window of the same round, seconds apart. The host's
        // speed drifts by a factor of two over a minute here; windows
        // compared across the whole run would measure the drift.
        let mut samples = vec![Vec::new(); targets.len()];
        let mut drops: Vec<Option<u64>> = vec![None; targets.len()];
        for _ in 0..args.runs {
            for (i, &mode) in targets.iter().enumerate() {
                let (v, d) = measure(&state, cfg, mode, args, warm, total, &outer_drop)
                    .with_context(|| format!("{} {mode}", cfg.name))?;
                samples[i].push(v);
                if let Some(d) = d {
                    drops[i] = Some(drops[i].unwrap_or(0) + d);
                }
            }
        }
        for (i, &mode) in targets.iter().enumerate() {
            let (mpps, ratio, ratios) = figures(&samples[i], &samples[0]);
            let row = Row {
                config: cfg.name,
                mode,
                mpps,
                ratio,
                samples: samples[i].iter().copied().map(round3).collect(),
                ratios,
                drops: drops[i],
                runs: args.runs,
                window_s: args.window.as_secs_f64(),
                size: args.size,
            };
            row.print(out, args.json)?;
            out.flush()?;
            if let Some(w) = row.starved(args.frames) {
                eprintln!("{w}");
            }
            rows.push(row);
        }
    }
    Ok(rows)
}

fn measure(
    state: &State,
    cfg: &Config,
    mode: BenchTarget,
    args: &BenchArgs,
    warm: Duration,
    total: Duration,
    outer_drop: &Arc<XdpProgram>,
) -> Result<(f64, Option<u64>)> {
    let (size, win) = (args.size, args.window);
    let stop = Arc::new(AtomicBool::new(false));
    let outer_count = {
        let p = outer_drop.clone();
        move || -> Result<u64> { Ok(p.counters()?.dropped.packets) }
    };
    match mode {
        BenchTarget::Ceiling => {
            let prog = state.in_inner(|| -> Result<XdpProgram> {
                let mut p = XdpProgram::load(Program::Drop, 1)?;
                p.attach(&state.inner_if, HookChoice::Auto, true)?;
                Ok(p)
            })??;
            let g = start_gen(state, cfg.gen_cpu, false, size, total, stop.clone());
            let r = window(warm, win, &|| Ok(prog.counters()?.dropped.packets));
            stop.store(true, Ordering::Relaxed);
            g.join().map_err(|_| anyhow!("generator panicked"))??;
            Ok((r?, None))
        }
        BenchTarget::Rxdrop | BenchTarget::L2fwd | BenchTarget::Txonly => {
            let m = match mode {
                BenchTarget::Rxdrop => Benchmark::Rxdrop,
                BenchTarget::L2fwd => Benchmark::L2fwd,
                _ => Benchmark::Txonly,
            };
            let margs = mode_args(state, cfg, args, m);
            let running = state
                .in_inner(|| modes::start(m, &margs, &state.inner_if, &mut std::io::sink()))??;
            let g = (m != Benchmark::Txonly)
                .then(|| start_gen(state, cfg.gen_cpu, false, size, total, stop.clone()));
            // Kernel drops on the socket, from the generator's start to the
            // end of the window (rxdrop only: the others are bounded by TX).
            let dropped = || -> Result<u64> {
                let (k, _) = running.kernel_statistics()?;
                Ok(k.rx_dropped + k.rx_ring_full.unwrap_or(0))
            };
            let d0 = if m == Benchmark::Rxdrop {
                Some(dropped()?)
            } else {
                None
            };
            let r = match m {
                Benchmark::Rxdrop => window(warm, win, &|| Ok(running.totals().rx_packets)),
                Benchmark::L2fwd => window(warm, win, &|| Ok(running.totals().tx_packets)),
                Benchmark::Txonly => window(warm, win, &outer_count),
            };
            stop.store(true, Ordering::Relaxed);
            if let Some(g) = g {
                g.join().map_err(|_| anyhow!("generator panicked"))??;
            }
            let d = match d0 {
                Some(d0) => Some(dropped()?.saturating_sub(d0)),
                None => None,
            };
            running.stop(0.0)?;
            Ok((r?, d))
        }
        BenchTarget::Echo => {
            let mut a: EchoArgs = defaults();
            a.socket.interface = Some(state.inner_if.clone());
            a.socket.poll = cfg.poll;
            a.socket.quiet = true;
            a.socket.interval = Duration::from_secs(3600);
            a.socket.share.multiprog = args.multiprog;
            // One source floods on purpose: measure the responder, not its limit.
            a.rate_limit = 0;
            let responder =
                echo::Background::start(state, a, Some(cfg.app_cpu), Box::new(std::io::sink()))?;
            let g = start_gen(state, cfg.gen_cpu, true, size, total, stop.clone());
            let r = window(warm, win, &outer_count);
            stop.store(true, Ordering::Relaxed);
            g.join().map_err(|_| anyhow!("generator panicked"))??;
            responder.stop()?;
            Ok((r?, None))
        }
    }
}

/// Runs `xskit bench` and prints its rows (and a Markdown table unless
/// `--json`).
pub fn exec(args: &BenchArgs, out: &mut dyn Write) -> Result<i32> {
    use crate::app::shared::{caps, signals};
    caps::require("bench", &caps::needs(true, true, true))?;
    signals::remove_sandbox_on_exit(&args.name)?;
    let rows = run(args, out)?;
    if !args.json {
        writeln!(out)?;
        write!(out, "{}", markdown(&rows))?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_sizes_and_naps_parse_or_say_what_to_use() {
        assert_eq!(parse_frame_size("2048"), Ok(2048));
        assert_eq!(parse_frame_size("4096"), Ok(4096));
        for bad in ["3000", "1024", "", "x"] {
            assert!(
                parse_frame_size(bad).unwrap_err().contains("2048 or 4096"),
                "{bad}"
            );
        }
        assert_eq!(parse_bench_nap("off"), Ok(RxNap::Off));
        assert_eq!(
            parse_bench_nap("100us"),
            Ok(RxNap::For(Duration::from_micros(100)))
        );
        assert!(parse_bench_nap("0").unwrap_err().contains("`off`"));
    }
}
