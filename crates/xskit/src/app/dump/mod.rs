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

mod copier;
pub mod expr;
mod file;
pub mod rxmeta;
pub mod sink;

use crate::app::dump::expr::Filter;
use crate::app::dump::sink::{Sink, SinkOptions};
use crate::app::shared::args::{defaults, SocketArgs};
use crate::app::shared::session::Session;
use crate::xdp::{HookChoice, Program};
use anyhow::{bail, Context, Result};
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
    // Beside other XDP programs: where a dispatcher of libxdp's protocol is
    // attached, dump's program joins it (the capture ahead of the others,
    // priority 0, passing every frame on to them; --consume at 50).
    #[command(flatten)]
    pub share: crate::app::shared::share::ShareArgs,
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
        s.share = self.share.clone();
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
    wall.saturating_sub(Duration::from_nanos(
        crate::app::shared::records::state::monotonic_ns(),
    ))
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
                        let meta = xsk.umem().rx_metadata(&f);
                        sink.set_hw_time(meta.and_then(|m| m.timestamp).map(Duration::from_nanos));
                        sink.set_note(rxmeta::describe(meta));
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
        let mut copier = copier::Copier::open(args, iface, msg, note)?;
        if let copier::Copier::Tap { id, name, .. } = &copier {
            sink.set_comment(format!(
                "copied by the capture tap of {name} (program id {id})"
            ));
        }
        let tapped = matches!(copier, copier::Copier::Tap { .. });
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
                if let copier::Copier::Tap { tap, .. } = &mut copier {
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
                let Some(c) = copier::Copier::parse(tapped, &item) else {
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
        Some(path) => file::read_file(args, path, out)?,
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
}
