//! `xskit gen`: a traffic generator fast enough to saturate a receiver here.
//!
//! It runs the `xdp_gen` program through BPF_PROG_RUN with live frames on
//! the sending interface, so the kernel transmits frames built from one
//! template without socket buffers or a socket at all. The program rotates
//! the UDP source port so that flows differ. Where live frames are not
//! supported it falls back to AF_XDP txonly and says so.

use crate::app::modes::{self, Benchmark, List, ModeArgs};
use crate::app::shared::args::{defaults, parse_duration, parse_interval};
use crate::app::shared::cpu;
use crate::app::shared::sandbox;
use crate::app::shared::stats::{thousands, ReportStyle, Reporter, Totals};
use crate::wire::build;
use crate::wire::parse_mac;
use crate::xdp::{live, Program, XdpProgram};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

mod devcount;

/// Options of `xskit gen`.
#[derive(clap::Args, Clone, Debug)]
pub struct GenArgs {
    /// Interface to send from [default: the outer end of the sandbox, if one is up]
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// Send from this sandbox's outer end
    #[arg(long, value_name = "NAME", conflicts_with = "interface")]
    pub sandbox: Option<String>,
    /// Frame size in bytes, FCS included as in xdpsock (64 sends 60 bytes),
    /// up to 4096 (a live frame is one page)
    #[arg(short = 's', long, default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_GEN_SIZE as u64))]
    pub size: usize,
    /// Send IPv6 (default IPv4); addresses default to the sandbox's
    #[arg(short = '6', long)]
    pub ipv6: bool,
    /// Send ICMP echo requests instead of UDP (for the echo responder)
    #[arg(long)]
    pub icmp: bool,
    /// Source MAC [default: the interface's]
    #[arg(long)]
    pub src_mac: Option<String>,
    /// Destination MAC [default: the sandbox peer's, else broadcast]
    #[arg(long)]
    pub dst_mac: Option<String>,
    /// Source IP [default: the sandbox's outer address]
    #[arg(long)]
    pub src_ip: Option<IpAddr>,
    /// Destination IP [default: the sandbox's inner address]
    #[arg(long)]
    pub dst_ip: Option<IpAddr>,
    /// Number of UDP source ports to rotate through (flows)
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u16).range(1..))]
    pub flows: u16,
    /// Frames per second, all threads together (0: as fast as possible). Sent
    /// as bursts of 50 ms worth at full speed (each BPF_PROG_RUN call costs
    /// ~25 ms here), so receivers need rings that hold a burst
    #[arg(short = 'r', long, default_value_t = 0)]
    pub rate: u64,
    /// Stop after this many frames
    #[arg(short = 'C', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Stop after this long [default: 5s without --count]
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// CPUs to send from, one thread each (e.g. 0 or 0,1)
    #[arg(long)]
    pub cpus: Option<List>,
    /// Period of the statistics line
    #[arg(short = 'n', long, default_value = "1s", value_parser = parse_interval)]
    pub interval: Duration,
    /// No periodic lines
    #[arg(short = 'Q', long)]
    pub quiet: bool,
    /// Use AF_XDP txonly even where live frames work (sends one flow, as
    /// fast as it can, from one CPU)
    #[arg(long, conflicts_with_all = ["rate", "flows"])]
    pub af_xdp: bool,
}

/// Largest `gen -s`: a frame (FCS included) the size of a page.
pub const MAX_GEN_SIZE: usize = 4096;

/// What the generator did.
#[derive(Clone, Copy, Debug, Default)]
pub struct GenSummary {
    /// Frames handed to the kernel for sending (BPF_PROG_RUN iterations, or
    /// AF_XDP descriptors completed): what was offered, not what left.
    pub offered: u64,
    /// Frames the sending interface counted as transmitted while the
    /// generator ran (its own `tx_packets`; at most `offered`), or `None` if
    /// its counters could not be read. This is what was sent.
    pub accepted: Option<u64>,
    /// The same as `offered`, kept for callers that count drops against the
    /// frames offered (tests/modes_kernel.rs); read `offered` or `accepted`.
    pub sent: u64,
    /// Seconds spent.
    pub elapsed: f64,
    /// True if BPF_PROG_RUN live frames were used, false for AF_XDP.
    pub live_frames: bool,
}

/// Where to send from and what.
pub struct Plan {
    /// Interface.
    pub iface: String,
    /// The frame to send.
    pub template: Vec<u8>,
}

impl GenArgs {
    /// Works out the interface and the frame, entering the sandbox's outer
    /// namespace on this thread when no interface is given.
    pub fn plan(&self) -> Result<Plan> {
        let state = match &self.interface {
            Some(_) => None,
            None => {
                let name = self.sandbox.as_deref().unwrap_or(sandbox::DEFAULT_NAME);
                let st = sandbox::State::load(name)?
                    .with_context(|| format!("no interface given and no sandbox {name} is up: pass -i IFACE or run `xskit sandbox up`"))?;
                Some(st)
            }
        };
        let (iface, peer_mac) = match &state {
            Some(st) => {
                let inner_mac = st.in_inner(|| crate::net::veth::mac(&st.inner_if))??;
                st.enter_outer()?;
                (st.outer_if.clone(), Some(inner_mac))
            }
            None => (self.interface.clone().expect("checked"), None),
        };
        let src_mac = match &self.src_mac {
            Some(m) => parse_mac(m)?,
            None => crate::net::veth::mac(&iface)?,
        };
        let dst_mac = match &self.dst_mac {
            Some(m) => parse_mac(m)?,
            None => peer_mac.unwrap_or([0xff; 6]),
        };
        let (src, dst) = match (&state, self.ipv6) {
            (Some(st), false) => (IpAddr::V4(st.outer_v4), IpAddr::V4(st.inner_v4)),
            (Some(st), true) => (IpAddr::V6(st.outer_v6), IpAddr::V6(st.inner_v6)),
            (None, false) => ("198.18.0.2".parse()?, "198.18.0.1".parse()?),
            (None, true) => ("fc00:dead:beef::2".parse()?, "fc00:dead:beef::1".parse()?),
        };
        let src = self.src_ip.unwrap_or(src);
        let dst = self.dst_ip.unwrap_or(dst);
        let template = if self.icmp {
            let frame_len = self.size.saturating_sub(4).max(60);
            match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => build::echo_request_v4(
                    src_mac,
                    dst_mac,
                    s,
                    d,
                    0x5858,
                    1,
                    &vec![0x5a; frame_len.saturating_sub(42)],
                ),
                (IpAddr::V6(s), IpAddr::V6(d)) => build::echo_request_v6(
                    src_mac,
                    dst_mac,
                    s,
                    d,
                    0x5858,
                    1,
                    &vec![0x5a; frame_len.saturating_sub(62).max(4)],
                ),
                _ => bail!("source {src} and destination {dst} are of different IP families"),
            }
        } else {
            modes::udp_template(src_mac, dst_mac, src, dst, 1024, 9, self.size)?
        };
        Ok(Plan { iface, template })
    }
}

/// Frames of the first call of a thread, before its cost is known.
const FIRST_BATCH: u64 = 1024;
/// Most frames in one call.
const MAX_BATCH: u64 = 1 << 20;
/// Shortest and longest time a call is sized for: the generator checks its
/// duration and `stop` between calls only.
const BATCH_TIME: (f64, f64) = (0.05, 0.25);

/// What a BPF_PROG_RUN call costs on this interface, as measured: a fixed
/// part (page pool set-up and tear-down: ~20 ms here whatever the size) and
/// a part per frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pace {
    /// Seconds of the cheapest call so far (its frames included: an upper
    /// bound of the fixed cost).
    pub fixed: Option<f64>,
    /// Seconds per frame beyond the fixed cost.
    pub per_frame: Option<f64>,
    /// Frames of the last call.
    pub last: u64,
}

impl Pace {
    /// Learns from a call of `n` frames that took `took` seconds.
    pub fn observe(&mut self, n: u64, took: f64) {
        let fixed = self.fixed.map_or(took, |f| f.min(took));
        self.fixed = Some(fixed);
        self.last = n;
        // A call that cost little more than the fixed part says nothing of
        // the per-frame cost: the next one grows instead.
        if n > 0 && took > 1.5 * fixed {
            let b = (took - fixed) / n as f64;
            // Slowing down is believed at once, speeding up by halves.
            self.per_frame = Some(self.per_frame.map_or(b, |p| b.max((p + b) / 2.0)));
        }
    }

    /// Seconds a call of `n` frames is expected to take (at least).
    fn cost(&self, n: u64) -> Option<f64> {
        let fixed = self.fixed?;
        let per = self.per_frame.unwrap_or(fixed / self.last.max(1) as f64);
        Some(fixed + per * n as f64)
    }
}

/// Frames for the next BPF_PROG_RUN call: as many as take a few times the
/// fixed cost (between 50 and 250 ms), no more than a rate limit's 50 ms
/// worth (`rate`, per thread, 0: none), and no more than end before the
/// deadline, `left` from now. 0: do not start another call.
pub fn batch_size(pace: &Pace, rate: u64, left: Option<Duration>) -> u64 {
    let mut n = match (pace.fixed, pace.per_frame) {
        (None, _) => FIRST_BATCH,
        (Some(fixed), Some(per)) => {
            let t = (10.0 * fixed).clamp(BATCH_TIME.0, BATCH_TIME.1);
            ((t - fixed) / per) as u64
        }
        (Some(_), None) => pace.last.saturating_mul(4),
    }
    .clamp(1, MAX_BATCH);
    if rate > 0 {
        n = n.min((rate / 20).max(1));
    }
    if let Some(left) = left {
        let left = left.as_secs_f64();
        if let Some(fixed) = pace.fixed {
            let per = pace.cost(1).unwrap_or(fixed) - fixed;
            if left < fixed + per {
                return 0;
            }
            if per > 0.0 {
                n = n.min(((left - fixed) / per) as u64);
            }
        } else if left <= 0.0 {
            return 0;
        }
    }
    n
}

/// Sends until `stop`, the count or the duration.
pub fn run(
    args: &GenArgs,
    plan: &Plan,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<GenSummary> {
    let ifindex = xsk::netdev::ifindex(&plan.iface)?;
    let duration = args.duration.or(if args.count.is_none() {
        Some(Duration::from_secs(5))
    } else {
        None
    });
    // The interface's own count, before anything is offered (the probe too).
    let before = devcount::tx_packets(ifindex);
    if let Err(e) = &before {
        writeln!(
            out,
            "gen: cannot read the transmit counters of {} ({e:#}): how many frames it took will be unknown",
            plan.iface
        )?;
    }
    let mut sum = run_offered(args, plan, ifindex, duration, stop, out)?;
    if let Ok(b) = before {
        match devcount::settled_tx_packets(ifindex, Duration::from_millis(500)) {
            // Other traffic counts too: never claim more than was offered.
            Ok(a) => sum.accepted = Some(a.saturating_sub(b).min(sum.offered)),
            Err(e) => writeln!(
                out,
                "gen: cannot read the transmit counters of {} ({e:#}): how many frames it took is unknown",
                plan.iface
            )?,
        }
    }
    Ok(sum)
}

fn run_offered(
    args: &GenArgs,
    plan: &Plan,
    ifindex: u32,
    duration: Option<Duration>,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<GenSummary> {
    if !args.af_xdp {
        let mut prog = XdpProgram::load(Program::Gen, 1)?;
        prog.configure_gen(1024, args.flows)?;
        let fd = prog.program_fd()?;
        // Probe: one frame tells whether live frames work here.
        match live::run_live(fd, ifindex, 0, &plan.template, 1, 1) {
            Ok(()) => return run_live(args, plan, fd, ifindex, duration, stop, out),
            Err(e) => writeln!(
                out,
                "BPF_PROG_RUN live frames unavailable on {} ({e}); falling back to AF_XDP txonly",
                plan.iface
            )?,
        }
    }
    run_af_xdp(args, plan, duration, stop, out)
}

fn run_live(
    args: &GenArgs,
    plan: &Plan,
    fd: i32,
    ifindex: u32,
    duration: Option<Duration>,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<GenSummary> {
    let cpus = args.cpus.clone().map(|l| l.0);
    let threads = cpus.as_ref().map_or(1, |c| c.len());
    let sent = AtomicU64::new(1);
    let start = Instant::now();
    let deadline = duration.map(|d| start + d);
    let limit = args.count.unwrap_or(u64::MAX);
    if !args.quiet {
        writeln!(
            out,
            "gen: {} {}-byte frames from {} with BPF_PROG_RUN live frames, {} thread(s){}",
            if args.icmp { "ICMP echo" } else { "UDP" },
            plan.template.len() + 4,
            plan.iface,
            threads,
            if args.rate > 0 {
                format!(", {} pps", thousands(args.rate))
            } else {
                String::new()
            }
        )?;
    }
    // The periodic lines count what the device took, where it says.
    let base = devcount::tx_packets(ifindex).ok();
    let failed = AtomicBool::new(false);
    let result = std::thread::scope(|s| -> Result<()> {
        let mut handles = Vec::new();
        for t in 0..threads {
            let cpu = cpus.as_ref().map(|c| c[t]);
            let (sent, failed) = (&sent, &failed);
            handles.push(s.spawn(move || -> Result<()> {
                if let Some(c) = cpu {
                    cpu::pin(c)?;
                }
                let per_thread_rate = args.rate / threads as u64;
                // Each call is sized from the cost of the previous ones to
                // take 50-250 ms, and never to end past the deadline: one
                // call of 2^20 frames takes seconds where a driver is slow,
                // and nothing stops it. A rate limit sends 50 ms worth a
                // call as one burst, then sleeps.
                let mut pace = Pace::default();
                let t0 = Instant::now();
                let mut mine: u64 = 0;
                loop {
                    if stop.load(Ordering::Relaxed) || failed.load(Ordering::Relaxed) {
                        break;
                    }
                    let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                    let chunk = batch_size(&pace, per_thread_rate, left);
                    if chunk == 0 {
                        break;
                    }
                    let before = sent.fetch_add(chunk, Ordering::Relaxed);
                    if before >= limit {
                        sent.fetch_sub(chunk, Ordering::Relaxed);
                        break;
                    }
                    let n = chunk.min(limit - before);
                    if n < chunk {
                        sent.fetch_sub(chunk - n, Ordering::Relaxed);
                    }
                    let call = Instant::now();
                    if let Err(e) = live::run_live(fd, ifindex, 0, &plan.template, n as u32, 64) {
                        failed.store(true, Ordering::Relaxed);
                        sent.fetch_sub(n, Ordering::Relaxed);
                        return Err(e).context("BPF_PROG_RUN (live frames)");
                    }
                    pace.observe(n, call.elapsed().as_secs_f64());
                    mine += n;
                    if per_thread_rate > 0 {
                        let due = Duration::from_secs_f64(mine as f64 / per_thread_rate as f64);
                        if let Some(mut wait) = due.checked_sub(t0.elapsed()) {
                            if let Some(d) = deadline {
                                wait = wait.min(d.saturating_duration_since(Instant::now()));
                            }
                            std::thread::sleep(wait);
                        }
                    }
                }
                Ok(())
            }));
        }
        let mut reporter = Reporter::new(ReportStyle {
            interval: args.interval,
            json: false,
            quiet: args.quiet,
            extra: false,
        });
        while !handles.iter().all(|h| h.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
            let now = Instant::now();
            if reporter.due(now) {
                let offered = sent.load(Ordering::Relaxed) - 1;
                let n = base
                    .and_then(|b| {
                        devcount::tx_packets(ifindex)
                            .ok()
                            .map(|c| c.saturating_sub(b))
                    })
                    .map_or(offered, |taken| taken.min(offered));
                let t = Totals {
                    tx_packets: n,
                    tx_bytes: n * (plan.template.len() as u64 + 4),
                    ..Default::default()
                };
                reporter.tick(out, now, &t, None, &[]);
            }
        }
        for h in handles {
            h.join()
                .map_err(|_| anyhow::anyhow!("generator thread panicked"))??;
        }
        Ok(())
    });
    result?;
    // `sent` started at 1 for the probe frame.
    let offered = sent.load(Ordering::Relaxed);
    Ok(GenSummary {
        offered,
        accepted: None,
        sent: offered,
        elapsed: start.elapsed().as_secs_f64(),
        live_frames: true,
    })
}

fn run_af_xdp(
    args: &GenArgs,
    plan: &Plan,
    duration: Option<Duration>,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<GenSummary> {
    // Reuse txonly with the generator's frame.
    let mut m: ModeArgs = defaults();
    m.socket.interface = Some(plan.iface.clone());
    m.socket.duration = duration;
    m.socket.quiet = args.quiet;
    m.socket.interval = args.interval;
    m.tx.count = args.count;
    // One socket per CPU given, each on its own queue (as live frames run
    // one thread per CPU; veth hands a frame to the peer's queue of the
    // same number), as many as the interface has queues.
    let cpus = args.cpus.clone().map(|l| l.0).unwrap_or_default();
    let queues = xsk::netdev::rx_queue_count(&plan.iface)
        .ok()
        .flatten()
        .unwrap_or(1)
        .max(1) as usize;
    let n = cpus.len().clamp(1, queues);
    if n > 1 {
        m.queues = Some(List((0..n as u32).collect()));
    }
    m.cpus = (!cpus.is_empty()).then(|| List(cpus[..n].to_vec()));
    m.template = Some(plan.template.clone());
    let sum = modes::run(Benchmark::Txonly, &m, &plan.iface, stop, out)?;
    Ok(GenSummary {
        offered: sum.total.tx_packets,
        accepted: None,
        sent: sum.total.tx_packets,
        elapsed: sum.elapsed,
        live_frames: false,
    })
}

/// True if the device took none of the frames offered: its counter did not
/// move, or moved by less than 1% of 1,000 or more frames offered (the
/// counter counts the interface's other traffic too: neighbour discovery,
/// ARP).
pub fn took_none(s: &GenSummary) -> bool {
    s.offered > 0
        && s.accepted
            .is_some_and(|a| a == 0 || (s.offered >= 1000 && a.saturating_mul(100) < s.offered))
}

/// Why a device took none of the frames offered, in one line.
pub const NONE_TAKEN: &str = "the device took none of the frames: some drivers transmit XDP frames only while an XDP program is attached (igb, ixgbe...: to the sending interface; veth: to its peer); attach one (`xskit load pass IFACE`) or use --af-xdp";

/// The closing line of `xskit gen`.
pub fn summary_line(s: &GenSummary, iface: &str) -> String {
    let how = if s.live_frames {
        "live frames"
    } else {
        "AF_XDP txonly"
    };
    let secs = s.elapsed.max(1e-9);
    match s.accepted {
        Some(a) => format!(
            "gen: {} frames accepted by {iface} ({} offered) in {:.2} s, {:.3} Mpps ({how})",
            thousands(a),
            thousands(s.offered),
            s.elapsed,
            a as f64 / secs / 1e6
        ),
        None => format!(
            "gen: {} frames offered to {iface} in {:.2} s, {:.3} Mpps offered ({how}); \
             how many it sent is unknown (its counters could not be read)",
            thousands(s.offered),
            s.elapsed,
            s.offered as f64 / secs / 1e6
        ),
    }
}

/// Runs `xskit gen` and prints what it sent.
pub fn exec(args: &GenArgs, out: &mut dyn Write) -> Result<i32> {
    use crate::app::shared::{caps, signals};
    caps::require("gen", &caps::xsk(args.interface.is_some()))?;
    let stop = signals::stop_flag()?;
    let plan = args.plan()?;
    let s = run(args, &plan, &stop, out)?;
    writeln!(out, "{}", summary_line(&s, &plan.iface))?;
    if took_none(&s) {
        bail!("{}: {NONE_TAKEN}", plan.iface);
    }
    Ok(0)
}

#[cfg(test)]
mod tests;
