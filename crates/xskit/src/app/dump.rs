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
use crate::app::session::{attach, Session};
use crate::wire::summary::{hexdump, summarize};
use crate::xdp::{AttachMode, Program, XdpProgram};
use anyhow::{Context, Result};
use pcap_file::pcap::{PcapPacket, PcapWriter};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Options of `xskit dump`.
#[derive(clap::Args, Clone, Debug)]
pub struct DumpArgs {
    /// Interface to capture on [default: the inner end of the sandbox, if one is up]
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// Capture inside this sandbox's namespace
    #[arg(long, value_name = "NAME", conflicts_with = "interface")]
    pub sandbox: Option<String>,
    /// Queue to take frames from (with --consume)
    #[arg(short = 'q', long, default_value_t = 0, requires = "consume")]
    pub queue: u32,
    /// XDP attach mode
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub mode: AttachMode,
    /// Stop after this many frames
    #[arg(short = 'c', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Add a hex dump of each frame
    #[arg(short = 'x', long, conflicts_with = "write")]
    pub hex: bool,
    /// Write frames to a pcap file (tcpdump and Wireshark read it) instead of printing them
    #[arg(short = 'w', long, value_name = "FILE")]
    pub write: Option<PathBuf>,
    /// Take the frames with AF_XDP (the seed's way): they do not reach the kernel
    #[arg(long)]
    pub consume: bool,
    /// With --consume: allow it on the interface of the default route
    #[arg(long, requires = "consume")]
    pub force: bool,
    /// Stop after this long
    #[arg(short = 'd', long, value_parser = crate::app::args::parse_duration)]
    pub duration: Option<Duration>,
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
}

/// What a capture saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct DumpSummary {
    /// Frames printed or written.
    pub captured: u64,
    /// Frames the kernel could not copy (ring buffer full).
    pub lost: u64,
}

struct Sink<'a> {
    out: &'a mut dyn Write,
    pcap: Option<PcapWriter<BufWriter<File>>>,
    hex: bool,
    captured: u64,
}

impl Sink<'_> {
    fn frame(&mut self, when: Duration, wire_len: u32, data: &[u8]) -> Result<()> {
        self.captured += 1;
        if let Some(w) = &mut self.pcap {
            w.write_packet(&PcapPacket::new(when, wire_len, data))
                .context("writing the pcap file")?;
            return Ok(());
        }
        let secs = when.as_secs();
        writeln!(
            self.out,
            "{:02}:{:02}:{:02}.{:06} {}, length {}",
            secs / 3600 % 24,
            secs / 60 % 60,
            secs % 60,
            when.subsec_micros(),
            summarize(data),
            wire_len
        )?;
        if self.hex {
            write!(self.out, "{}", hexdump(data))?;
        }
        Ok(())
    }
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

/// Captures on `iface` until `stop`, the count or the duration.
pub fn run(
    args: &DumpArgs,
    iface: &str,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<DumpSummary> {
    let pcap = match &args.write {
        Some(path) => {
            let f = File::create(path).with_context(|| format!("creating {}", path.display()))?;
            Some(PcapWriter::new(BufWriter::new(f)).context("writing the pcap header")?)
        }
        None => None,
    };
    let mut sink = Sink {
        out,
        pcap,
        hex: args.hex,
        captured: 0,
    };
    let deadline = args.duration.map(|d| std::time::Instant::now() + d);
    let limit = args.count.unwrap_or(u64::MAX);
    let done = |sink: &Sink| {
        stop.load(Ordering::Relaxed)
            || sink.captured >= limit
            || deadline.is_some_and(|d| std::time::Instant::now() >= d)
    };
    let mut lost = 0;
    if args.consume {
        let mut session = Session::open(iface, &args.socket_args(), Program::Redirect, sink.out)?;
        let mut batch = Vec::with_capacity(64);
        while !done(&sink) {
            session.xsk.socket().poll_rx(100)?;
            session.xsk.recv(&mut batch, 64);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            for f in batch.drain(..) {
                if sink.captured < limit {
                    let data = session.xsk.umem().data(&f);
                    sink.frame(now, data.len() as u32, data)?;
                }
                session.xsk.release(f);
            }
            session.xsk.refill(u32::MAX);
        }
    } else {
        let mut prog = XdpProgram::load(Program::Capture, 1)?;
        let mode = attach(&mut prog, iface, args.mode, false, sink.out)?;
        if sink.pcap.is_none() {
            writeln!(
                sink.out,
                "capturing on {iface} ({} mode), frames pass on to the kernel",
                mode
            )?;
        }
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
                sink.frame(offset + Duration::from_nanos(ktime), len, data)?;
            }
        }
        lost = prog.capture_lost()?;
    }
    if let Some(w) = sink.pcap.take() {
        w.into_writer().flush().context("writing the pcap file")?;
    }
    Ok(DumpSummary {
        captured: sink.captured,
        lost,
    })
}
