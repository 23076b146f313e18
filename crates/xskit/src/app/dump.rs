//! `xskit dump`: print (and optionally save) the frames an interface
//! receives, as the seed does at its end.
//!
//! Two ways to see frames:
//! - default, pass: the `xdp_capture` program copies each frame's first
//!   2048 bytes into a BPF ring buffer and passes the frame on, so capture
//!   takes nothing away from the host;
//! - `--consume`: the seed's way, AF_XDP redirect of every frame on one
//!   queue; those frames do not reach the kernel stack.

use crate::app::args::{defaults, SocketArgs};
use crate::app::dump_out::{Sink, SinkOptions};
use crate::app::pfilter::Filter;
use crate::app::session::{attach, Session};
use crate::xdp::{AttachMode, Program, XdpProgram};
use anyhow::{Context, Result};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Largest `-s` (tcpdump's default and maximum).
pub const MAX_SNAPLEN: u32 = 262_144;

/// Options of `xskit dump`.
#[derive(clap::Args, Clone, Debug)]
pub struct DumpArgs {
    /// Interface to capture on [default: the inner end of the sandbox, if one is up]
    #[arg(short = 'i', long, value_name = "IFACE", conflicts_with = "read")]
    pub interface: Option<String>,
    /// Capture inside this sandbox's namespace
    #[arg(long, value_name = "NAME", conflicts_with_all = ["interface", "read"])]
    pub sandbox: Option<String>,
    /// Queue to take frames from (with --consume)
    #[arg(short = 'q', long, default_value_t = 0, requires = "consume")]
    pub queue: u32,
    /// XDP attach mode
    #[arg(long, value_enum, default_value_t = AttachMode::Auto, conflicts_with = "read")]
    pub mode: AttachMode,
    /// Stop after this many frames (that match the expression)
    #[arg(short = 'c', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Add a hex dump of each frame
    #[arg(short = 'x', long, conflicts_with = "write")]
    pub hex: bool,
    /// Write frames to a pcap file (tcpdump and Wireshark read it) instead of
    /// printing them; `-` is standard output (`xskit dump -w - | tcpdump -r -`)
    #[arg(short = 'w', long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Write pcapng instead of pcap: an interface description block and a
    /// comment on each packet
    #[arg(long, requires = "write")]
    pub pcapng: bool,
    /// Flush the output after every packet (always so when writing to a pipe)
    #[arg(short = 'U', long)]
    pub packet_buffered: bool,
    /// Bytes kept of each frame (the capture program copies at most 2048)
    #[arg(short = 's', long, default_value_t = MAX_SNAPLEN, value_parser = clap::value_parser!(u32).range(1..=MAX_SNAPLEN as i64))]
    pub snaplen: u32,
    /// Read frames from a pcap file instead of an interface (with an
    /// expression: keep the frames that match)
    #[arg(short = 'r', long, value_name = "FILE", conflicts_with_all = ["consume", "duration"])]
    pub read: Option<PathBuf>,
    /// Take the frames with AF_XDP (the seed's way): they do not reach the kernel
    #[arg(long)]
    pub consume: bool,
    /// With --consume: allow it on the interface of the default route
    #[arg(long, requires = "consume")]
    pub force: bool,
    /// Stop after this long
    #[arg(short = 'd', long, value_parser = crate::app::args::parse_duration)]
    pub duration: Option<Duration>,
    /// Rewrite this file every second with the capture's counters
    /// (Prometheus text format, written to a temporary file and renamed)
    #[arg(long, value_name = "PATH", conflicts_with = "read")]
    pub metrics_file: Option<PathBuf>,
    /// Filter expression in tcpdump's syntax (host, net, port, src, dst,
    /// ether, tcp, udp, icmp, icmp6, arp, ip, ip6, vlan, and, or, not,
    /// parentheses), applied in user space to the frames captured
    #[arg(
        value_name = "EXPRESSION",
        trailing_var_arg = true,
        allow_hyphen_values = false
    )]
    pub expression: Vec<String>,
}

impl DumpArgs {
    /// The socket options `--consume` uses.
    fn socket_args(&self) -> SocketArgs {
        let mut s: SocketArgs = defaults();
        s.interface = self.interface.clone();
        s.sandbox = self.sandbox.clone();
        s.queue = self.queue;
        s.mode = self.mode;
        s.poll = true;
        s.duration = self.duration;
        s.quiet = true;
        s.force = self.force;
        s
    }

    /// Resolves the interface like the other commands do.
    pub fn resolve_interface(&self) -> Result<String> {
        self.socket_args().resolve_interface()
    }

    /// The compiled expression, if one was given.
    pub fn filter(&self) -> Result<Option<Filter>> {
        if self.expression.is_empty() {
            return Ok(None);
        }
        let e = self.expression.join(" ");
        Ok(Some(e.parse().with_context(|| format!("filter {e:?}"))?))
    }

    fn sink_options<'a>(&'a self, iface: &'a str) -> SinkOptions<'a> {
        SinkOptions {
            write: self.write.as_deref(),
            pcapng: self.pcapng,
            hex: self.hex,
            snaplen: self.snaplen,
            packet_buffered: self.packet_buffered,
            iface,
            comment: if self.consume {
                "taken by AF_XDP (xskit dump --consume)"
            } else {
                "copied by xdp_capture, passed on"
            },
        }
    }
}

/// What a capture saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct DumpSummary {
    /// Frames printed or written.
    pub captured: u64,
    /// Frames the kernel could not copy (ring buffer full).
    pub lost: u64,
    /// Frames seen that the expression left out.
    pub filtered_out: u64,
}

fn clock(id: libc::clockid_t) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec.
    unsafe { libc::clock_gettime(id, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Frames from a pcap file (`-r`), filtered, to the sink.
pub fn read_file(
    args: &DumpArgs,
    path: &std::path::Path,
    out: &mut dyn Write,
) -> Result<DumpSummary> {
    let filter = args.filter()?;
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut r = pcap_file::pcap::PcapReader::new(std::io::BufReader::new(f))
        .with_context(|| format!("reading {}", path.display()))?;
    let mut sink = Sink::open(&args.sink_options("file"), out)?;
    let mut sum = DumpSummary::default();
    let limit = args.count.unwrap_or(u64::MAX);
    let nano = r.header().ts_resolution == pcap_file::TsResolution::NanoSecond;
    // Raw packets: pcap-file's checked ones refuse a frame longer than the
    // snap length, which is what a capture with -s writes.
    while let Some(p) = r.next_raw_packet() {
        let p = p.with_context(|| format!("reading {}", path.display()))?;
        if sink.captured >= limit {
            break;
        }
        if filter.as_ref().is_some_and(|f| !f.matches(&p.data)) {
            sum.filtered_out += 1;
            continue;
        }
        let frac = if nano {
            p.ts_frac
        } else {
            p.ts_frac.saturating_mul(1000)
        };
        let when = Duration::new(u64::from(p.ts_sec), frac.min(999_999_999));
        sink.frame(when, p.orig_len, &p.data)?;
    }
    sink.flush()?;
    sum.captured = sink.captured;
    Ok(sum)
}

/// Captures on `iface` until `stop`, the count or the duration. Frames go
/// to `out` as text, or to the `-w` file; messages go to `msg` (stderr).
pub fn run(
    args: &DumpArgs,
    iface: &str,
    stop: &AtomicBool,
    out: &mut dyn Write,
    msg: &mut dyn Write,
) -> Result<DumpSummary> {
    let filter = args.filter()?;
    let opts = args.sink_options(iface);
    let mut sink = Sink::open(&opts, out)?;
    let mut metrics = args
        .metrics_file
        .as_ref()
        .map(|p| crate::app::metrics::Writer::new(p, "dump", iface));
    let mut filtered_out = 0u64;
    let deadline = args.duration.map(|d| std::time::Instant::now() + d);
    let limit = args.count.unwrap_or(u64::MAX);
    let done = |sink: &Sink| {
        stop.load(Ordering::Relaxed)
            || sink.captured >= limit
            || deadline.is_some_and(|d| std::time::Instant::now() >= d)
    };
    let keep = |data: &[u8], n: &mut u64| {
        let k = filter.as_ref().is_none_or(|f| f.matches(data));
        *n += u64::from(!k);
        k
    };
    let mut lost = 0;
    if args.consume {
        let mut session = Session::open(iface, &args.socket_args(), Program::Redirect, msg)?;
        let mut batch = Vec::with_capacity(64);
        while !done(&sink) {
            session.xsk.socket().poll_rx(100)?;
            session.xsk.recv(&mut batch, 64);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            for f in batch.drain(..) {
                let data = session.xsk.umem().data(&f);
                if sink.captured < limit && keep(data, &mut filtered_out) {
                    sink.frame(now, data.len() as u32, data)?;
                }
                session.xsk.release(f);
            }
            session.xsk.refill(u32::MAX);
            sink.flush()?;
            if let Some(m) = &mut metrics {
                m.maybe_write(&dump_counters(sink.captured, filtered_out, 0))?;
            }
        }
    } else {
        let mut prog = XdpProgram::load(Program::Capture, 1)?;
        let mode = attach(&mut prog, iface, args.mode, false, msg)?;
        writeln!(
            msg,
            "capturing on {iface} ({mode} mode), frames pass on to the kernel{}",
            if filter.is_some() {
                "; expression applied in user space"
            } else {
                ""
            }
        )?;
        let mut ring = prog.take_capture_ring()?;
        // bpf_ktime_get_ns() counts from boot (CLOCK_MONOTONIC): shift to wall time.
        let offset = clock(libc::CLOCK_REALTIME).saturating_sub(clock(libc::CLOCK_MONOTONIC));
        let ifindex = xsk::netdev::ifindex(iface)?;
        while !done(&sink) {
            crate::net::wait_readable(&ring, Duration::from_millis(100));
            // The program goes with a deleted interface and the ring then
            // stays silent: notice it instead of waiting forever.
            if xsk::netdev::ifindex(iface).ok() != Some(ifindex) {
                anyhow::bail!("interface {iface} is gone (deleted or moved to another namespace)");
            }
            while sink.captured < limit {
                let Some(item) = ring.next() else { break };
                let rec: &[u8] = &item;
                if rec.len() < 24 {
                    continue;
                }
                let ktime = u64::from_ne_bytes(rec[0..8].try_into().expect("8 bytes"));
                let len = u32::from_ne_bytes(rec[8..12].try_into().expect("4 bytes"));
                let caplen = u32::from_ne_bytes(rec[12..16].try_into().expect("4 bytes")) as usize;
                let data = &rec[24..(24 + caplen).min(rec.len())];
                if keep(data, &mut filtered_out) {
                    sink.frame(offset + Duration::from_nanos(ktime), len, data)?;
                }
            }
            sink.flush()?;
            if let Some(m) = &mut metrics {
                m.maybe_write(&dump_counters(
                    sink.captured,
                    filtered_out,
                    prog.capture_lost()?,
                ))?;
            }
        }
        lost = prog.capture_lost()?;
    }
    sink.flush()?;
    if let Some(m) = &mut metrics {
        m.write(&dump_counters(sink.captured, filtered_out, lost))?;
    }
    Ok(DumpSummary {
        captured: sink.captured,
        lost,
        filtered_out,
    })
}

fn dump_counters(captured: u64, filtered_out: u64, lost: u64) -> Vec<crate::app::metrics::Sample> {
    use crate::app::metrics::Sample;
    vec![
        Sample::counter(
            "xskit_dump_frames_total",
            "Frames written or printed by xskit dump",
            captured,
        ),
        Sample::counter(
            "xskit_dump_filtered_out_total",
            "Frames the filter expression left out",
            filtered_out,
        ),
        Sample::counter(
            "xskit_dump_lost_total",
            "Frames the kernel could not copy (ring buffer full)",
            lost,
        ),
    ]
}
