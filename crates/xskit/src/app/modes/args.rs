//! Options of the benchmark modes (`rxdrop`, `txonly`, `l2fwd`) and the
//! frame txonly sends.

use crate::app::shared::args::List;
use crate::app::shared::args::{SocketArgs, TxBudgetArgs};
use crate::wire::build;
use anyhow::{bail, Result};
use std::net::IpAddr;

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

/// Options every benchmark mode takes; each command's own ones
/// ([`RxModeArgs`], [`TxonlyArgs`]) are filled in by it.
#[derive(clap::Args, Clone, Debug)]
pub struct ModeArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Queues to run on, one socket and thread each (e.g. 0-3 or 0,2) [default: -q]
    #[arg(long, conflicts_with = "queue")]
    pub queues: Option<List>,
    /// CPUs to pin the queue threads to, one per queue or one for all
    #[arg(long)]
    pub cpus: Option<List>,
    /// Unaligned chunk mode: any --frame-size
    #[arg(short = 'u', long)]
    pub unaligned: bool,
    /// Do not use need_wakeup: wake the kernel on every batch
    #[arg(short = 'm', long)]
    pub no_need_wakeup: bool,
    /// Preferred busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL, SO_BUSY_POLL_BUDGET = batch)
    #[arg(short = 'B', long)]
    pub busy_poll: bool,
    /// The receiving loops' nap ([`RxModeArgs::nap`]; off for txonly).
    #[arg(skip)]
    pub nap: RxNap,
    /// The frame txonly sends ([`TxonlyArgs`]).
    #[arg(skip)]
    pub tx: TxFrameArgs,
    /// txonly: send this frame instead of building one (for the generator)
    #[arg(skip)]
    pub template: Option<Vec<u8>>,
    /// `--tx-budget` of txonly and l2fwd ([`TxonlyArgs`], [`L2fwdArgs`]).
    #[arg(skip)]
    pub tx_budget: TxBudgetArgs,
    /// `--tx-checksum` of txonly ([`TxonlyArgs`]).
    #[arg(skip)]
    pub tx_checksum: bool,
}

/// Options of the receiving modes, `rxdrop` and `l2fwd`.
#[derive(clap::Args, Clone, Debug)]
pub struct RxModeArgs {
    #[command(flatten)]
    pub mode: ModeArgs,
    /// When the RX ring runs dry, sleep this long (e.g. 100us) instead of
    /// waiting in poll() or spinning: one wake-up per nap instead of one per
    /// kernel batch, more frames per second on a core shared with the
    /// receive softirq, at up to this much more latency. `auto` (with -p):
    /// nap 100us while frames flow and wait in poll() once none came for
    /// 1 ms, so a lone frame is not delayed; `off`: poll() only
    /// [default: auto]
    #[arg(long, value_parser = parse_rx_nap, conflicts_with = "busy_poll")]
    pub nap: Option<RxNap>,
}

/// The nap of `--nap auto`, and how many empty naps in a row (1 ms of
/// quiet) send the loop back to poll().
pub const AUTO_NAP: std::time::Duration = std::time::Duration::from_micros(100);
/// See [`AUTO_NAP`].
pub const AUTO_NAP_QUIET_TURNS: u32 = 10;

/// `--nap` of rxdrop and l2fwd: how a receiving loop waits when its RX
/// ring runs dry.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub enum RxNap {
    /// With poll() (`-p`): nap 100 µs while frames flow, poll() after 10
    /// empty naps in a row; as `Off` otherwise.
    Auto,
    /// Never nap: poll() or a busy loop.
    #[default]
    Off,
    /// Nap this long whenever the ring runs dry.
    For(std::time::Duration),
}

fn parse_rx_nap(s: &str) -> Result<RxNap, String> {
    match s {
        "auto" => Ok(RxNap::Auto),
        "off" => Ok(RxNap::Off),
        _ => crate::app::shared::args::parse_nap(s)
            .map(RxNap::For)
            .map_err(|e| format!("{e}, `auto` or `off`")),
    }
}

impl From<RxModeArgs> for ModeArgs {
    fn from(a: RxModeArgs) -> ModeArgs {
        ModeArgs {
            nap: a.nap.unwrap_or(RxNap::Auto),
            ..a.mode
        }
    }
}

/// Options of `l2fwd`: the receiving modes' and the TX budget.
#[derive(clap::Args, Clone, Debug)]
pub struct L2fwdArgs {
    #[command(flatten)]
    pub rx: RxModeArgs,
    #[command(flatten)]
    pub tx_budget: TxBudgetArgs,
}

impl From<L2fwdArgs> for ModeArgs {
    fn from(a: L2fwdArgs) -> ModeArgs {
        ModeArgs {
            tx_budget: a.tx_budget,
            ..a.rx.into()
        }
    }
}

/// Options of `txonly`.
#[derive(clap::Args, Clone, Debug)]
pub struct TxonlyArgs {
    #[command(flatten)]
    pub mode: ModeArgs,
    #[command(flatten)]
    pub frame: TxFrameArgs,
    #[command(flatten)]
    pub tx_budget: TxBudgetArgs,
    /// Leave the UDP checksum to the device or kernel (AF_XDP TX metadata,
    /// Linux 6.8+): each frame carries only the pseudo-header sum in its
    /// checksum field and a checksum offload request. Not with -F
    #[arg(long)]
    pub tx_checksum: bool,
}

impl From<TxonlyArgs> for ModeArgs {
    fn from(a: TxonlyArgs) -> ModeArgs {
        ModeArgs {
            tx: a.frame,
            tx_budget: a.tx_budget,
            tx_checksum: a.tx_checksum,
            ..a.mode
        }
    }
}

/// The UDP frame `txonly` sends, and how many.
#[derive(clap::Args, Clone, Debug)]
pub struct TxFrameArgs {
    /// Frame size in bytes, FCS included as in xdpsock (64 sends 60
    /// bytes); at most the frame size (-f) plus 4
    #[arg(short = 's', long, default_value_t = 64, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=65535))]
    pub size: usize,
    /// Stop after sending this many frames
    #[arg(short = 'C', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Source MAC [default: the interface's]
    #[arg(long)]
    pub src_mac: Option<String>,
    /// Destination MAC [default: broadcast]
    #[arg(long)]
    pub dst_mac: Option<String>,
    /// Source IP (IPv4 or IPv6, same family as --dst-ip)
    #[arg(long, default_value = "198.18.0.1")]
    pub src_ip: IpAddr,
    /// Destination IP
    #[arg(long, default_value = "198.18.0.2")]
    pub dst_ip: IpAddr,
    /// UDP source port
    #[arg(long, default_value_t = 1024)]
    pub src_port: u16,
    /// UDP destination port
    #[arg(long, default_value_t = 9)]
    pub dst_port: u16,
}

impl Default for TxFrameArgs {
    /// The defaults the command line gives (parsed from no options, so the
    /// two never disagree).
    fn default() -> Self {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            f: TxFrameArgs,
        }
        <P as clap::Parser>::parse_from(["txonly"]).f
    }
}

/// A UDP frame of `size` bytes (FCS included, so `size - 4` in memory).
pub fn udp_template(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    size: usize,
) -> Result<Vec<u8>> {
    let frame_len = size.saturating_sub(4);
    let headers = match (src, dst) {
        (IpAddr::V4(_), IpAddr::V4(_)) => 14 + 20 + 8,
        (IpAddr::V6(_), IpAddr::V6(_)) => 14 + 40 + 8,
        _ => bail!("source {src} and destination {dst} are of different IP families"),
    };
    if frame_len < headers.max(60) {
        bail!(
            "size {size} is too small: at least {} for UDP over {}",
            headers.max(60) + 4,
            if src.is_ipv4() { "IPv4" } else { "IPv6" }
        );
    }
    let payload: Vec<u8> = (0..frame_len - headers).map(|i| i as u8).collect();
    Ok(build::udp(
        src_mac, dst_mac, src, dst, sport, dport, &payload,
    ))
}
