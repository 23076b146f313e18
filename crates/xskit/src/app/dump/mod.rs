//! `xskit dump`: print (and optionally save) the frames an interface
//! receives, as xdp-tutorial's AF_XDP lesson does at its end.
//!
//! Three ways to see frames:
//! - default, pass: the `xdp_capture` program copies each frame's first
//!   2048 bytes into a BPF ring buffer and passes the frame on, so capture
//!   takes nothing away from the host;
//! - beside an xskit program already attached (`load`, `echo`, ...): that
//!   program's own capture tap copies each frame with the verdict it gave
//!   (`bpf/tap.h`, [`crate::xdp::tap`]);
//! - `--consume`: the lesson's way, AF_XDP redirect of every frame on one
//!   queue; those frames do not reach the kernel stack.

pub mod expr;
pub mod rxmeta;
pub mod sink;

use crate::app::dump::expr::Filter;
use crate::app::dump::sink::{Sink, SinkOptions, Verdict};
use crate::app::shared::args::{defaults, SocketArgs};
use crate::app::shared::session::{attach, Session};
use crate::xdp::tap::{self, Tap};
use crate::xdp::{HookChoice, Program, XdpProgram};
use anyhow::{bail, Context, Result};
use aya::maps::{MapData, RingBuf};
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
    /// Capture on -i IFACE in this network namespace (`ip netns add NAME`);
    /// only the network namespace is entered
    #[arg(long, value_name = "NAME", requires = "interface", conflicts_with_all = ["sandbox", "read"])]
    pub netns: Option<String>,
    /// Queue to take frames from (with --consume)
    #[arg(short = 'q', long, default_value_t = 0, requires = "consume")]
    pub queue: u32,
    /// XDP attach mode
    #[arg(long, value_parser = crate::app::shared::args::hook_parser(), default_value_t = HookChoice::Auto, conflicts_with = "read")]
    pub mode: HookChoice,
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
    /// Take the frames with AF_XDP (af_xdp_user's way): they do not reach the kernel
    #[arg(long)]
    pub consume: bool,
    /// With --consume: bind in copy mode (`-c` is the frame count here)
    #[arg(long, requires = "consume", conflicts_with = "zero_copy")]
    pub copy: bool,
    /// With --consume: bind in zero-copy mode, or fail [default: zero-copy
    /// where the driver can, else copy]
    #[arg(short = 'z', long, requires = "consume")]
    pub zero_copy: bool,
    /// With --consume: allow it on the interface of the default route
    #[arg(long, requires = "consume")]
    pub force: bool,
    /// With --consume: take the frames with the RX metadata program
    /// (native mode, Linux 6.3+) and print each one's RX hash, VLAN tag and
    /// hardware timestamp
    #[arg(long, requires = "consume")]
    pub rx_meta: bool,
    /// Stop after this long
    #[arg(short = 'd', long, value_parser = crate::app::shared::args::parse_duration)]
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
        s.copy = self.copy;
        s.zero_copy = self.zero_copy;
        s
    }

    /// Resolves the interface like the other commands do (entering the
    /// `--netns` namespace first). Without -i and --sandbox, the sandbox
    /// named `xskit` is used; if it is not up, the error names the
    /// sandboxes that are.
    pub fn resolve_interface(&self) -> Result<String> {
        if let Some(n) = &self.netns {
            crate::net::netns::enter(n)?;
        }
        if self.interface.is_none() && self.sandbox.is_none() {
            let default = crate::app::shared::sandbox::DEFAULT_NAME;
            if crate::app::shared::sandbox::State::load(default)?.is_none() {
                let up = sandboxes_up();
                if up.is_empty() {
                    bail!("no interface given and no sandbox is up: pass -i IFACE, or run `xskit sandbox up` first");
                }
                bail!(
                    "no interface given, and the default sandbox ({default}) is not up; {}: pass {}, or -i IFACE",
                    if up.len() == 1 {
                        format!("sandbox {} is", up[0])
                    } else {
                        format!("sandboxes {} are", up.join(", "))
                    },
                    up.iter()
                        .map(|n| format!("`--sandbox {n}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                );
            }
        }
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
                "taken by AF_XDP (xskit dump --consume)".into()
            } else {
                "copied by xdp_capture, passed on".into()
            },
        }
    }
}

/// Names of the sandboxes that are up (`xskit sandbox up --name NAME`).
fn sandboxes_up() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir("/run/xskit/sandbox")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".json"))
                        .map(String::from)
                })
                .filter(|n| crate::app::shared::sandbox::State::load(n).is_ok_and(|s| s.is_some()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
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

/// Wall-clock time minus CLOCK_MONOTONIC, the clock of
/// `bpf_ktime_get_ns()` (which counts from boot).
fn monotonic_to_wall() -> Duration {
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    wall.saturating_sub(Duration::from_nanos(crate::app::ops::state::monotonic_ns()))
}

/// What copies frames in the kernel for a capture that passes them on.
enum Copier {
    /// dump's own `xdp_capture`, attached for this capture.
    Own {
        prog: XdpProgram,
        ring: RingBuf<MapData>,
        /// Its program id, as the interface reported it once attached.
        id: Option<u32>,
    },
    /// The tap of the xskit program that was attached already.
    Tap { tap: Tap, id: u32, name: String },
}

/// One frame from a [`Copier`]'s ring.
struct Copied<'a> {
    ktime_ns: u64,
    len: u32,
    data: &'a [u8],
    verdict: Option<Verdict>,
}

impl Copier {
    /// The tap of the program attached to `iface`, or dump's own program
    /// when nothing is attached; refuses beside other tools' programs.
    fn open(args: &DumpArgs, iface: &str, msg: &mut dyn Write, note: &str) -> Result<Copier> {
        // Where `ip` cannot say (no such interface), attaching says why.
        let attached = crate::net::netns::xdp_attachment(iface).ok().flatten();
        let Some((name, id, mode)) = attached else {
            let mut prog = XdpProgram::load(Program::Capture, 1)?;
            let mode = attach(&mut prog, iface, args.mode, false, msg)?;
            writeln!(
                msg,
                "capturing on {iface} ({mode} mode), frames pass on to the kernel{note}"
            )?;
            let ring = prog.take_capture_ring()?;
            let id = crate::net::netns::xdp_attachment(iface)
                .ok()
                .flatten()
                .filter(|(n, _, _)| n == "xdp_capture")
                .map(|(_, id, _)| id);
            return Ok(Copier::Own { prog, ring, id });
        };
        let ifindex = xsk::netdev::ifindex(iface)?;
        // A tap runs where its program is attached: a different --mode
        // cannot be honoured, and is refused rather than ignored, before the
        // tap is switched on (a foreign program gets its own refusal below).
        let wanted = match args.mode {
            HookChoice::Auto => None,
            HookChoice::Native => Some("native"),
            HookChoice::Skb => Some("skb"),
        };
        // ("multi" or "?": the program's own mode is not known here.)
        let known = matches!(mode, "native" | "skb");
        if let Some(w) = wanted.filter(|w| known && *w != mode) {
            if Tap::exists(id)? {
                bail!(
                    "--mode {w}: {iface} already has {name} (program id {id}) in {mode} mode, and dump \
                     captures beside it there: leave out --mode, or detach that program first"
                );
            }
        }
        // Filters and summaries want the headers even with a small -s.
        if let Some(tap) = Tap::open(id, ifindex, args.snaplen.max(256))? {
            // Plain pcap has no place for a verdict: said, not promised.
            let verdicts = match (&args.write, args.pcapng) {
                (None, _) => "each frame with its verdict",
                (Some(_), true) => "each frame's verdict in its pcapng comment",
                (Some(_), false) => {
                    "verdicts not kept: plain pcap cannot carry them (--pcapng keeps them)"
                }
            };
            writeln!(
                msg,
                "capturing on {iface} beside {name} (program id {id}, {mode} mode), {verdicts}{note}"
            )?;
            return Ok(Copier::Tap { tap, id, name });
        }
        bail!(refusal(
            iface,
            &name,
            id,
            mode,
            crate::app::ops::thread_netns_name().as_deref()
        ))
    }

    fn ring(&mut self) -> &mut RingBuf<MapData> {
        match self {
            Copier::Own { ring, .. } => ring,
            Copier::Tap { tap, .. } => tap.ring(),
        }
    }

    fn lost(&self) -> Result<u64> {
        Ok(match self {
            Copier::Own { prog, .. } => prog.capture_lost()?,
            Copier::Tap { tap, .. } => tap.lost()?,
        })
    }

    /// Records older than this are left from an earlier capture.
    fn since_ns(&self) -> u64 {
        match self {
            Copier::Own { .. } => 0,
            Copier::Tap { tap, .. } => tap.since_ns,
        }
    }

    /// Reads one record: `struct capture_record` of bpf/xdp_capture.c or
    /// `struct xskit_tap_record` of bpf/tap.h.
    fn parse(tapped: bool, rec: &[u8]) -> Option<Copied<'_>> {
        if tapped {
            let r = tap::Record::parse(rec)?;
            return Some(Copied {
                ktime_ns: r.ktime_ns,
                len: r.len,
                data: r.data,
                verdict: Some(Verdict {
                    action: tap::verdict_name(r.action),
                    rx_queue: r.rx_queue,
                }),
            });
        }
        if rec.len() < 24 {
            return None;
        }
        let caplen = u32::from_ne_bytes(rec[12..16].try_into().expect("4 bytes")) as usize;
        Some(Copied {
            ktime_ns: u64::from_ne_bytes(rec[0..8].try_into().expect("8 bytes")),
            len: u32::from_ne_bytes(rec[8..12].try_into().expect("4 bytes")),
            data: &rec[24..(24 + caplen).min(rec.len())],
            verdict: None,
        })
    }

    /// Ends the capture if the tapped program is no longer attached (its
    /// `echo` ended, `xskit unload`): its ring would stay silent.
    fn check_attached(&self, iface: &str) -> Result<()> {
        let now = crate::net::netns::xdp_attachment(iface)?.map(|(_, i, _)| i);
        match self {
            Copier::Tap { id, .. } if now != Some(*id) => bail!(
                "the program captured beside (id {id}) is no longer attached to {iface}; capture ended"
            ),
            Copier::Own { id, .. } => {
                if id.is_some() && now != *id {
                    bail!(
                        "dump's xdp_capture is no longer attached to {iface} (detached by `xskit unload --any`?); capture ended"
                    );
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Why dump cannot capture beside the program attached to `iface`; the
/// commands it suggests act in `netns` (a name of `ip netns`) if given.
fn refusal(iface: &str, name: &str, id: u32, mode: &str, netns: Option<&str>) -> String {
    let (xskit, exec) = match netns {
        Some(n) => match n
            .strip_suffix("-in")
            .filter(|sb| crate::app::shared::sandbox::State::load(sb).is_ok_and(|s| s.is_some()))
        {
            Some(sb) => (format!(" --sandbox {sb}"), format!("ip netns exec {n} ")),
            None => (format!(" --netns {n}"), format!("ip netns exec {n} ")),
        },
        None => (String::new(), String::new()),
    };
    // The kernel keeps 15 bytes of a name: xdp_redirect_echo_frags is
    // xdp_redirect_ec.
    let ours =
        ["xdp_drop", "xdp_pass", "xdp_filter"].contains(&name) || name.starts_with("xdp_redirect");
    if name == "xdp_capture" {
        format!(
            "{iface} has xdp_capture (program id {id}) attached: another `xskit dump` is capturing there; \
             one capture per interface at a time"
        )
    } else if ours {
        format!(
            "{iface} has xskit's {name} (program id {id}, {mode} mode), loaded by an xskit without capture taps: \
             attach it again with this xskit (`xskit unload {iface}{xskit}` and `xskit load ...{xskit}`, or restart the command \
             that attached it), then capture"
        )
    } else {
        format!(
            "{iface} has another tool's XDP program {name} (program id {id}, {mode} mode): xskit dump captures only \
             beside xskit's own programs; use that tool's capture, or `{exec}tcpdump -i {iface}` (it sees the frames the \
             program passes), or detach it (`{exec}ip link set dev {iface} xdp off`, or `xskit unload {iface} --any{xskit}` \
             for a BPF link) and run xskit dump again"
        )
    }
}

/// The first bytes of a pcapng file (a section header block's type).
const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// Frames from a pcap or pcapng file (`-r`; told apart by their first
/// bytes), filtered, to the sink.
pub fn read_file(
    args: &DumpArgs,
    path: &std::path::Path,
    out: &mut dyn Write,
) -> Result<DumpSummary> {
    use std::io::BufRead;
    let filter = args.filter()?;
    if filter.as_ref().is_some_and(|f| f.uses_direction()) {
        anyhow::bail!(
            "inbound/outbound are known only for a live capture (every frame XDP sees was received): not for a file read with -r"
        );
    }
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut input = std::io::BufReader::new(f);
    let pcapng = input
        .fill_buf()
        .with_context(|| format!("reading {}", path.display()))?
        .starts_with(&PCAPNG_MAGIC);
    let mut sink = Sink::open(&args.sink_options("file"), out)?;
    let mut sum = DumpSummary::default();
    let limit = args.count.unwrap_or(u64::MAX);
    let mut each = |when: Duration, orig_len: u32, data: &[u8], verdict: Option<Verdict>| {
        // `len`, `greater` and `less` judge the length on the wire.
        if filter
            .as_ref()
            .is_some_and(|f| !f.matches_frame(data, orig_len as usize))
        {
            sum.filtered_out += 1;
            return Ok(false);
        }
        sink.frame_with(when, orig_len, data, verdict)?;
        // -c counts the frames kept.
        Ok::<bool, anyhow::Error>(sink.captured >= limit)
    };
    let ctx = || format!("reading {}", path.display());
    if pcapng {
        use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
        use pcap_file::pcapng::Block;
        let mut r = pcap_file::pcapng::PcapNgReader::new(input).with_context(ctx)?;
        // Each interface's `if_tsresol`, in the order of the section.
        let mut resol: Vec<u8> = Vec::new();
        let of = |resol: &[u8], id: usize| resol.get(id).copied().unwrap_or(6);
        while let Some(block) = r.next_block() {
            match block.with_context(ctx)? {
                Block::SectionHeader(_) => resol.clear(),
                Block::InterfaceDescription(i) => resol.push(idb_resolution(&i)),
                Block::EnhancedPacket(p) => {
                    // pcap-file reads the timestamp's units as nanoseconds.
                    let units = p.timestamp.as_nanos() as u64;
                    let when = pcapng_time(units, of(&resol, p.interface_id as usize));
                    let verdict = p.options.iter().find_map(|o| match o {
                        EnhancedPacketOption::Comment(c) => verdict_of_comment(c),
                        _ => None,
                    });
                    if each(when, p.original_len, &p.data, verdict)? {
                        break;
                    }
                }
                Block::SimplePacket(p) => {
                    // No time; the data is padded to 32 bits.
                    let len = (p.original_len as usize).min(p.data.len());
                    if each(Duration::ZERO, p.original_len, &p.data[..len], None)? {
                        break;
                    }
                }
                Block::Packet(p) => {
                    let when = pcapng_time(p.timestamp, of(&resol, usize::from(p.interface_id)));
                    if each(when, p.original_len, &p.data, None)? {
                        break;
                    }
                }
                _ => {}
            }
        }
    } else {
        let mut r = pcap_file::pcap::PcapReader::new(input).with_context(ctx)?;
        let nano = r.header().ts_resolution == pcap_file::TsResolution::NanoSecond;
        // Raw packets: pcap-file's checked ones refuse a frame longer than the
        // snap length, which is what a capture with -s writes.
        while let Some(p) = r.next_raw_packet() {
            let p = p.with_context(ctx)?;
            let frac = if nano {
                p.ts_frac
            } else {
                p.ts_frac.saturating_mul(1000)
            };
            let when = Duration::new(u64::from(p.ts_sec), frac.min(999_999_999));
            if each(when, p.orig_len, &p.data, None)? {
                break;
            }
        }
    }
    sink.flush()?;
    sum.captured = sink.captured;
    Ok(sum)
}

/// `if_tsresol` of an interface description (6, microseconds, if absent).
fn idb_resolution(
    i: &pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionBlock,
) -> u8 {
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    i.options
        .iter()
        .find_map(|o| match o {
            InterfaceDescriptionOption::IfTsResol(r) => Some(*r),
            _ => None,
        })
        .unwrap_or(6)
}

/// A pcapng timestamp of `units` at resolution `resol` (`if_tsresol`:
/// 10^-n seconds, or 2^-n with the top bit set) since the Unix epoch.
fn pcapng_time(units: u64, resol: u8) -> Duration {
    let n = u32::from(resol & 0x7f);
    let per_sec: u128 = if resol & 0x80 == 0 {
        10u128.checked_pow(n).unwrap_or(u128::MAX)
    } else {
        1u128.checked_shl(n).unwrap_or(u128::MAX)
    };
    let units = u128::from(units);
    let secs = units / per_sec;
    let nanos = (units % per_sec) * 1_000_000_000 / per_sec;
    Duration::new(u64::try_from(secs).unwrap_or(u64::MAX), nanos as u32)
}

/// The verdict `dump --pcapng` wrote in a packet's comment (`verdict pass,
/// rx queue 0; ...`).
fn verdict_of_comment(c: &str) -> Option<Verdict> {
    let rest = c.strip_prefix("verdict ")?;
    let (action, rest) = rest.split_once(", rx queue ")?;
    let queue: u32 = rest.split(';').next()?.trim().parse().ok()?;
    let action = ["aborted", "drop", "pass", "tx", "redirect", "unknown"]
        .into_iter()
        .find(|a| *a == action)?;
    Some(Verdict {
        action,
        rx_queue: queue,
    })
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
        .map(|p| crate::app::shared::metrics::Writer::new(p, "dump", iface));
    let mut filtered_out = 0u64;
    let deadline = args.duration.map(|d| std::time::Instant::now() + d);
    let limit = args.count.unwrap_or(u64::MAX);
    let done = |sink: &Sink| {
        stop.load(Ordering::Relaxed)
            || sink.captured >= limit
            || deadline.is_some_and(|d| std::time::Instant::now() >= d)
    };
    // `wire_len`: the frame's length on the wire, which `len`, `greater`
    // and `less` judge (the copy may be cut short by the snap length).
    let keep = |data: &[u8], wire_len: u32, n: &mut u64| {
        let k = filter
            .as_ref()
            .is_none_or(|f| f.matches_frame(data, wire_len as usize));
        *n += u64::from(!k);
        k
    };
    let lost;
    if args.consume {
        // The socket lives in one of the two; `xsk` borrows it.
        let (mut plain, mut meta) = (None, None);
        let xsk = if args.rx_meta {
            &mut meta
                .insert(rxmeta::MetaSession::open(iface, &args.socket_args(), msg)?)
                .xsk
        } else {
            &mut plain
                .insert(Session::open(
                    iface,
                    &args.socket_args(),
                    Program::Redirect,
                    msg,
                )?)
                .xsk
        };
        let mut batch = Vec::with_capacity(64);
        while !done(&sink) {
            xsk.socket().poll_rx(Some(Duration::from_millis(100)))?;
            xsk.recv(&mut batch, 64);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            for f in batch.drain(..) {
                let data = xsk.umem().data(&f);
                if sink.captured < limit && keep(data, data.len() as u32, &mut filtered_out) {
                    if args.rx_meta {
                        sink.set_note(rxmeta::describe(xsk.umem().rx_metadata(&f)));
                    }
                    sink.frame(now, data.len() as u32, data)?;
                }
                xsk.release(f);
            }
            xsk.refill(u32::MAX);
            sink.flush()?;
            if let Some(m) = &mut metrics {
                m.maybe_write(&dump_counters(sink.captured, filtered_out, 0))?;
            }
        }
        // What the kernel could not put on the socket's RX ring.
        lost = xsk
            .socket()
            .statistics()
            .map_or(0, |st| st.rx_dropped + st.rx_ring_full.unwrap_or(0));
    } else {
        let note = if filter.is_some() {
            "; expression applied in user space"
        } else {
            ""
        };
        let mut copier = Copier::open(args, iface, msg, note)?;
        if let Copier::Tap { id, name, .. } = &copier {
            sink.set_comment(format!(
                "copied by the capture tap of {name} (program id {id})"
            ));
        }
        let tapped = matches!(copier, Copier::Tap { .. });
        let offset = monotonic_to_wall();
        let ifindex = xsk::netdev::ifindex(iface)?;
        let since = copier.since_ns();
        let mut checked = std::time::Instant::now();
        while !done(&sink) {
            crate::net::wait_readable(copier.ring(), Duration::from_millis(100));
            // The programs go with a deleted interface and the ring then
            // stays silent: notice it instead of waiting forever.
            if xsk::netdev::ifindex(iface).ok() != Some(ifindex) {
                bail!("interface {iface} is gone (deleted or moved to another namespace)");
            }
            if checked.elapsed() >= Duration::from_secs(1) {
                copier.check_attached(iface)?;
                checked = std::time::Instant::now();
            }
            // A bounded batch, and the deadline moved within it, so neither
            // a flood nor a slow reader of the output switches the tap off
            // unnoticed.
            for _ in 0..4096 {
                if let Copier::Tap { tap, .. } = &mut copier {
                    if let Some(off) = tap.keep_alive()? {
                        writeln!(
                            msg,
                            "dump: the capture was off for {} ms (writing the output held it up past its {} s deadline); frames of that time were not copied",
                            off.as_millis(),
                            crate::xdp::tap::TTL.as_secs()
                        )?;
                    }
                }
                if sink.captured >= limit {
                    break;
                }
                let Some(item) = copier.ring().next() else {
                    break;
                };
                let Some(c) = Copier::parse(tapped, &item) else {
                    continue;
                };
                if c.ktime_ns < since || !keep(c.data, c.len, &mut filtered_out) {
                    continue;
                }
                let when = offset + Duration::from_nanos(c.ktime_ns);
                sink.frame_with(when, c.len, c.data, c.verdict)?;
            }
            sink.flush()?;
            if let Some(m) = &mut metrics {
                m.maybe_write(&dump_counters(sink.captured, filtered_out, copier.lost()?))?;
            }
        }
        lost = copier.lost()?;
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

fn dump_counters(
    captured: u64,
    filtered_out: u64,
    lost: u64,
) -> Vec<crate::app::shared::metrics::Sample> {
    use crate::app::shared::metrics::Sample;
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

/// Runs `xskit dump` (or reads a file with `-r`); frames on `out`, the
/// closing count on stderr as tcpdump does.
pub fn exec(args: &DumpArgs, out: &mut dyn Write) -> Result<i32> {
    use crate::app::shared::{caps, signals};
    // The expression is checked before anything is attached.
    args.filter()?;
    let s = match &args.read {
        Some(path) => read_file(args, path, out)?,
        None => {
            caps::require(
                "dump",
                &caps::needs(true, args.consume, args.interface.is_none()),
            )?;
            let stop = signals::stop_flag()?;
            let iface = args.resolve_interface()?;
            run(args, &iface, &stop, out, &mut std::io::stderr())?
        }
    };
    eprintln!("{}", summary_line(&s, args));
    Ok(0)
}

/// `N frame(s)`.
fn frames(n: u64) -> String {
    format!("{n} frame{}", if n == 1 { "" } else { "s" })
}

/// The closing line: frames kept, frames the kernel could not copy (a
/// capture from an interface), frames the expression left out.
fn summary_line(s: &DumpSummary, args: &DumpArgs) -> String {
    let mut notes = String::new();
    if args.read.is_none() {
        notes += &format!(
            ", {} lost ({})",
            s.lost,
            if args.consume {
                "dropped by the kernel: the socket's RX ring full"
            } else {
                "not copied: ring buffer full"
            }
        );
    }
    if s.filtered_out > 0 {
        notes += &format!(", {} left out by the expression", s.filtered_out);
    }
    match &args.write {
        Some(p) if p.as_os_str() != "-" => {
            format!("{} written to {}{notes}", frames(s.captured), p.display())
        }
        Some(_) => format!("{} written to standard output{notes}", frames(s.captured)),
        None if args.read.is_some() => format!("{} read{notes}", frames(s.captured)),
        None => format!("{} captured{notes}", frames(s.captured)),
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn refusals_tell_xskit_programs_without_taps_from_other_tools_and_dumps() {
        let r = refusal("eth1", "xdp_redirect_ec", 7, "native", None);
        assert!(
            r.contains("without capture taps") && r.contains("xskit unload eth1"),
            "{r}"
        );
        let r = refusal("eth1", "xdp_capture", 7, "skb", None);
        assert!(r.contains("another `xskit dump`"), "{r}");
        let r = refusal("eth1", "xdp_dispatcher", 7, "native", None);
        assert!(
            r.contains("another tool's XDP program xdp_dispatcher")
                && r.contains("ip link set dev eth1 xdp off"),
            "{r}"
        );
        // In a named namespace, every suggested command acts there.
        let r = refusal("eth1", "xdp_dispatcher", 7, "native", Some("opsA"));
        assert!(
            r.contains("ip netns exec opsA tcpdump -i eth1")
                && r.contains("ip netns exec opsA ip link set dev eth1 xdp off")
                && r.contains("xskit unload eth1 --any --netns opsA"),
            "{r}"
        );
        let r = refusal("eth1", "xdp_pass", 7, "native", Some("opsA"));
        assert!(r.contains("`xskit unload eth1 --netns opsA`"), "{r}");
    }

    #[test]
    fn the_summary_counts_lost_frames_and_says_1_frame() {
        use super::{summary_line, DumpArgs, DumpSummary};
        use clap::{Args, FromArgMatches};
        let args = |a: &[&str]| {
            let cmd = DumpArgs::augment_args(clap::Command::new("dump"));
            DumpArgs::from_arg_matches(&cmd.get_matches_from(a)).unwrap()
        };
        let s = |captured, lost, filtered_out| DumpSummary {
            captured,
            lost,
            filtered_out,
        };
        assert_eq!(
            summary_line(&s(1, 0, 0), &args(&["dump", "-i", "eth1"])),
            "1 frame captured, 0 lost (not copied: ring buffer full)"
        );
        assert_eq!(
            summary_line(&s(2, 3, 4), &args(&["dump", "-i", "eth1", "-w", "x.pcap"])),
            "2 frames written to x.pcap, 3 lost (not copied: ring buffer full), 4 left out by the expression"
        );
        assert_eq!(
            summary_line(&s(1, 0, 0), &args(&["dump", "-r", "x.pcap"])),
            "1 frame read"
        );
    }

    #[test]
    fn pcapng_times_follow_the_interfaces_resolution() {
        use super::pcapng_time;
        use std::time::Duration;
        assert_eq!(pcapng_time(1_500_000, 6), Duration::from_millis(1500));
        assert_eq!(pcapng_time(1_500_000_001, 9), Duration::new(1, 500_000_001));
        assert_eq!(pcapng_time(3, 0x81), Duration::from_millis(1500));
        assert_eq!(pcapng_time(u64::MAX, 127), Duration::ZERO);
    }

    #[test]
    fn the_verdict_in_a_pcapng_comment_is_read_back() {
        let v = super::verdict_of_comment("verdict redirect, rx queue 3; UDP 1 > 2; copied by x")
            .unwrap();
        assert_eq!((v.action, v.rx_queue), ("redirect", 3));
        assert!(super::verdict_of_comment("IPv4 198.18.0.2 > 198.18.0.1; copied").is_none());
        assert!(super::verdict_of_comment("verdict maybe, rx queue 3; x").is_none());
    }
}
