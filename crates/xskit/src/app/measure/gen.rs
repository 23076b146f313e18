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
    /// Frames handed to the kernel for sending.
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
                // Each BPF_PROG_RUN call costs about 25 ms of set-up and
                // tear-down here whatever its size, so unlimited runs send
                // 2^20 frames a call (~70 ms at 15 Mpps); a rate limit sends
                // 50 ms worth a call as one burst, then sleeps.
                let chunk: u64 = if per_thread_rate > 0 {
                    (per_thread_rate / 20).clamp(1, 1 << 20)
                } else {
                    1 << 20
                };
                let t0 = Instant::now();
                let mut mine: u64 = 0;
                loop {
                    if stop.load(Ordering::Relaxed)
                        || failed.load(Ordering::Relaxed)
                        || deadline.is_some_and(|d| Instant::now() >= d)
                    {
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
                    if let Err(e) = live::run_live(fd, ifindex, 0, &plan.template, n as u32, 64) {
                        failed.store(true, Ordering::Relaxed);
                        sent.fetch_sub(n, Ordering::Relaxed);
                        return Err(e).context("BPF_PROG_RUN (live frames)");
                    }
                    mine += n;
                    if per_thread_rate > 0 {
                        let due = Duration::from_secs_f64(mine as f64 / per_thread_rate as f64);
                        if let Some(wait) = due.checked_sub(t0.elapsed()) {
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
                let n = sent.load(Ordering::Relaxed) - 1;
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
    let summary = GenSummary {
        // `sent` started at 1 for the probe frame.
        sent: sent.load(Ordering::Relaxed),
        elapsed: start.elapsed().as_secs_f64(),
        live_frames: true,
    };
    Ok(summary)
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
    m.cpus = args.cpus.clone().map(|l| List(vec![l.0[0]]));
    m.template = Some(plan.template.clone());
    let sum = modes::run(Benchmark::Txonly, &m, &plan.iface, stop, out)?;
    Ok(GenSummary {
        sent: sum.total.tx_packets,
        elapsed: sum.elapsed,
        live_frames: false,
    })
}

/// Runs `xskit gen` and prints what it sent.
pub fn exec(args: &GenArgs, out: &mut dyn Write) -> Result<i32> {
    use crate::app::shared::{caps, signals};
    caps::require("gen", &caps::xsk(args.interface.is_some()))?;
    let stop = signals::stop_flag()?;
    let plan = args.plan()?;
    let s = run(args, &plan, &stop, out)?;
    writeln!(
        out,
        "sent {} frames in {:.2}s: {:.3} Mpps ({})",
        crate::app::shared::stats::thousands(s.sent),
        s.elapsed,
        s.sent as f64 / s.elapsed.max(1e-9) / 1e6,
        if s.live_frames {
            "live frames"
        } else {
            "AF_XDP txonly"
        }
    )?;
    Ok(0)
}
