//! Command-line options shared by the AF_XDP applications, in the
//! tradition of xdpsock and xdp-tutorial's af_xdp_user.

use crate::app::shared::sandbox;
use crate::xdp::HookChoice;
use anyhow::{bail, Result};
use std::time::Duration;
use xsk::{FrameCopy, UmemConfig, XskConfig};

/// Parses `--mode auto|native|skb` into a [`HookChoice`], listing the
/// choices in help and errors as a value enum would (the loader crate does
/// not depend on clap).
pub fn hook_parser() -> impl clap::builder::TypedValueParser<Value = HookChoice> {
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new(
        HookChoice::ALL.map(|(_, name, help)| PossibleValue::new(name).help(help)),
    )
    .map(|s| s.parse().unwrap_or_default())
}

/// Parses `allow|deny` into a filter [`Verdict`](crate::xdp::filter::Verdict).
pub fn verdict_parser() -> impl clap::builder::TypedValueParser<Value = crate::xdp::filter::Verdict>
{
    use crate::xdp::filter::Verdict;
    use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
    PossibleValuesParser::new([
        PossibleValue::new("allow").help("Pass the frame to the kernel"),
        PossibleValue::new("deny").help("Drop it"),
    ])
    .map(|s| Verdict::parse(&s).unwrap_or(Verdict::Deny))
}

/// Where and how to open the socket, and how to report.
#[derive(clap::Args, Clone, Debug)]
pub struct SocketArgs {
    /// Interface to work on [default: the inner end of the sandbox, if one is up]
    #[arg(short = 'i', long, value_name = "IFACE")]
    pub interface: Option<String>,
    /// Run inside this sandbox's namespace (see `xskit sandbox`)
    #[arg(long, value_name = "NAME", conflicts_with = "interface")]
    pub sandbox: Option<String>,
    /// Receive queue to bind to
    #[arg(short = 'q', long, default_value_t = 0)]
    pub queue: u32,
    /// XDP attach mode: auto tries native, then falls back to skb
    #[arg(long, value_parser = crate::app::shared::args::hook_parser(), default_value_t = HookChoice::Auto)]
    pub mode: HookChoice,
    /// Short for --mode native
    #[arg(short = 'N', conflicts_with_all = ["skb_mode", "mode"])]
    pub native_mode: bool,
    /// Short for --mode skb
    #[arg(short = 'S', conflicts_with = "mode")]
    pub skb_mode: bool,
    /// Bind in copy mode
    #[arg(short = 'c', long, conflicts_with = "zero_copy")]
    pub copy: bool,
    /// Bind in zero-copy mode (fails if the driver cannot) [default: zero-copy if possible, else copy]
    #[arg(short = 'z', long)]
    pub zero_copy: bool,
    /// Wait in poll() instead of a busy loop (the default of `echo`; the
    /// benchmark modes busy-loop unless given this)
    #[arg(short = 'p', long)]
    pub poll: bool,
    /// Busy-loop instead of waiting in poll() (the default of the benchmark
    /// modes; `echo` waits in poll() unless given this)
    #[arg(long, visible_alias = "busy-loop", conflicts_with = "poll")]
    pub spin: bool,
    /// Frames handled per batch (txonly puts as many on TX each turn as it
    /// has room for, this many at least)
    #[arg(short = 'b', long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub batch: u32,
    /// Frames in the UMEM (1 to 262144)
    #[arg(long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..=MAX_FRAMES as i64))]
    pub frames: u32,
    /// Bytes per frame (2048 or 4096; with -u any size from 2048 to 4096)
    #[arg(short = 'f', long, default_value_t = 4096, value_parser = clap::value_parser!(u32).range(2048..=4096))]
    pub frame_size: u32,
    /// Multi-buffer: receive and send packets larger than a frame as chains
    /// of frames (XDP_USE_SG, Linux 6.6+) with a frags-aware program (an
    /// MTU above what one frame holds, e.g. 9000); `--frags` is an alias
    #[arg(short = 'F', long = "multi-buffer", alias = "frags")]
    pub multi_buffer: bool,
    /// Map the UMEM in 2 MiB huge pages (reserve them first: /proc/sys/vm/nr_hugepages)
    #[arg(long)]
    pub huge_pages: bool,
    /// RX ring entries (power of two) [default: half the frames, 64 to 65536]
    #[arg(long, value_parser = ring_size)]
    pub rx_size: Option<u32>,
    /// TX ring entries (power of two) [default: as RX]
    #[arg(long, value_parser = ring_size)]
    pub tx_size: Option<u32>,
    /// FILL ring entries (power of two) [default: twice RX, as xdpsock, so every frame can wait on it]
    #[arg(long, value_parser = ring_size)]
    pub fill_size: Option<u32>,
    /// COMPLETION ring entries (power of two) [default: as TX]
    #[arg(long, value_parser = ring_size)]
    pub comp_size: Option<u32>,
    /// Period of the statistics line (e.g. 2s, 500ms)
    #[arg(short = 'n', long, default_value = "2s", value_parser = parse_interval)]
    pub interval: Duration,
    /// Stop after this long [default: run until Ctrl-C]
    #[arg(short = 'd', long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// No periodic statistics (the final summary is still printed)
    #[arg(short = 'Q', long)]
    pub quiet: bool,
    /// Add the kernel's XDP_STATISTICS and the XDP program's counters (rxdrop
    /// and l2fwd load their program with counters only then: without, the
    /// kernel leaves the counting out of every frame's path)
    #[arg(short = 'x', long)]
    pub extra: bool,
    /// Print one JSON object per interval (and for the summary)
    #[arg(long)]
    pub json: bool,
    /// Allow a program that takes all traffic on the default-route interface
    #[arg(long)]
    pub force: bool,
    /// Rewrite this file every interval with the counters, in the Prometheus
    /// text format (for node_exporter's textfile collector); written to a
    /// temporary file and renamed, so readers never see half a file
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub share: crate::app::shared::share::ShareArgs,
}

/// `--tx-budget`, on the commands that transmit (`txonly`, `l2fwd`, `echo`).
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TxBudgetArgs {
    /// Frames one TX wake-up (sendto) may send (XDP_MAX_TX_SKB_BUDGET,
    /// Linux 6.17+), 32 to the TX ring size (--tx-size): fewer wake-ups for
    /// as many frames. Matters in copy mode only; an older kernel refuses it
    /// [default: the kernel's, 32]
    #[arg(long, value_name = "N", value_parser = parse_tx_budget)]
    pub tx_budget: Option<u32>,
}

impl TxBudgetArgs {
    /// `config` with the budget asked for; refuses, naming the options, a
    /// budget above its TX ring.
    pub fn apply(&self, config: XskConfig) -> Result<XskConfig> {
        if let Some(b) = self.tx_budget {
            if config.tx_size < xsk::TX_BUDGET_MIN {
                bail!(
                    "--tx-budget needs a TX ring of at least {} entries; this one has {} (--tx-size)",
                    xsk::TX_BUDGET_MIN,
                    config.tx_size
                );
            }
            if b > config.tx_size {
                bail!(
                    "--tx-budget {b} is above the TX ring size ({}): use {} to {}, or a larger --tx-size",
                    config.tx_size,
                    xsk::TX_BUDGET_MIN,
                    config.tx_size
                );
            }
        }
        Ok(config.tx_budget(self.tx_budget))
    }
}

/// A TX budget: [`xsk::TX_BUDGET_MIN`] (32) to the largest ring size; the
/// TX ring's own size is checked once it is known ([`TxBudgetArgs::apply`]).
pub fn parse_tx_budget(s: &str) -> std::result::Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of frames (e.g. 256)"))?;
    if !(xsk::TX_BUDGET_MIN..=1 << 20).contains(&n) {
        return Err(format!(
            "{n} is not a TX budget: use {} to the TX ring size (e.g. 256)",
            xsk::TX_BUDGET_MIN
        ));
    }
    Ok(n)
}

/// Most frames a UMEM may have (1 GiB of 4096-byte frames).
pub const MAX_FRAMES: u32 = 1 << 18;

/// Refuses a frame size the UMEM cannot use: aligned chunks must be a power
/// of two (2048 or 4096); unaligned ones may be any size in range. The
/// error names `-u` only for the commands that take it (`offers_unaligned`).
pub fn check_frame_size(frame_size: u32, unaligned: bool, offers_unaligned: bool) -> Result<()> {
    if !unaligned && !frame_size.is_power_of_two() {
        if offers_unaligned {
            bail!("frame size {frame_size} is not 2048 or 4096: aligned frames are a power of two (-u allows any size from 2048 to 4096)");
        }
        bail!("frame size {frame_size} is not 2048 or 4096: this command's frames are aligned, a power of two");
    }
    Ok(())
}

impl SocketArgs {
    /// The `--metrics-file` writer for `command` on `iface`, if one was asked for.
    pub fn metrics_writer(
        &self,
        command: &str,
        iface: &str,
    ) -> Option<crate::app::shared::metrics::Writer> {
        self.metrics_file
            .as_deref()
            .map(|p| crate::app::shared::metrics::Writer::new(p, command, iface))
    }

    /// The attach mode after the -N/-S short forms.
    pub fn attach_mode(&self) -> HookChoice {
        if self.native_mode {
            HookChoice::Native
        } else if self.skb_mode {
            HookChoice::Skb
        } else {
            self.mode
        }
    }

    /// The bind mode from -c/-z.
    pub fn bind_mode(&self) -> FrameCopy {
        if self.copy {
            FrameCopy::Copy
        } else if self.zero_copy {
            FrameCopy::ZeroCopy
        } else {
            FrameCopy::Auto
        }
    }

    /// The socket configuration these options describe.
    pub fn xsk_config(&self) -> XskConfig {
        let half = (self.frames.max(1).next_power_of_two() / 2).clamp(64, 65536);
        let rx = self.rx_size.unwrap_or(half);
        let tx = self.tx_size.unwrap_or(rx);
        XskConfig::default()
            .umem(
                UmemConfig::default()
                    .frame_count(self.frames)
                    .frame_size(self.frame_size)
                    .huge_pages(self.huge_pages),
            )
            .fill_size(self.fill_size.unwrap_or(rx.saturating_mul(2).min(1 << 20)))
            .comp_size(self.comp_size.unwrap_or(tx))
            .rx_size(rx)
            .tx_size(tx)
            .bind(self.bind_mode())
            .need_wakeup(true)
            .multi_buffer(self.multi_buffer)
    }

    /// Resolves the interface: the one given, or the sandbox's inner end
    /// (entering the sandbox's namespace on this thread).
    pub fn resolve_interface(&self) -> Result<String> {
        if let Some(i) = &self.interface {
            return Ok(i.clone());
        }
        let name = self.sandbox.as_deref().unwrap_or(sandbox::DEFAULT_NAME);
        match sandbox::State::load(name)? {
            Some(state) => {
                state.enter_inner()?;
                Ok(state.inner_if)
            }
            None if self.sandbox.is_some() => bail!("no sandbox named {name} is up: run `xskit sandbox up --name {name}`"),
            None => bail!("no interface given and no sandbox is up: pass -i IFACE, or run `xskit sandbox up` first"),
        }
    }
}

/// Options of type `T` as an empty command line gives them: every field at
/// the default its `#[arg]` declares. Code that runs an application with a
/// few options changed starts here, so the defaults live in one place.
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let cmd = T::augment_args(clap::Command::new("xskit"));
    T::from_arg_matches(&cmd.get_matches_from(["xskit"]))
        .expect("options with defaults only parse from an empty command line")
}

/// Longest duration accepted (about 31 years): longer ones would overflow
/// the clock arithmetic.
pub const MAX_DURATION_SECS: f64 = 1e9;

/// A period between reports: a duration of at least 1 ms (`0` would print
/// tens of thousands of lines a second).
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(1) {
        return Err(format!(
            "{s:?} is too short for an interval: use at least 1ms (e.g. 1s)"
        ));
    }
    Ok(d)
}

/// A nap of a receive loop: `us` accepted besides the units of
/// [`parse_duration`], from 1 µs to 100 ms.
pub fn parse_nap(s: &str) -> Result<Duration, String> {
    let d = match s.trim().strip_suffix("us") {
        Some(n) => n
            .parse::<u64>()
            .map(Duration::from_micros)
            .map_err(|_| format!("{s:?} is not a nap (try 100us or 1ms)"))?,
        None => parse_duration(s)?,
    };
    if d < Duration::from_micros(1) || d > Duration::from_millis(100) {
        return Err(format!("{s:?} is not a nap: use 1us to 100ms (e.g. 100us)"));
    }
    Ok(d)
}

/// Parses `2`, `2s`, `500ms`, `1.5s`, `3m` (up to [`MAX_DURATION_SECS`]).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&s[..i], &s[i..]),
        None => (s, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration (try 2s or 500ms)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {s:?} (use ms, s, m or h)"
            ))
        }
    };
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("{s:?} is not a duration"));
    }
    if secs > MAX_DURATION_SECS {
        return Err(format!("{s:?} is too long: at most {MAX_DURATION_SECS}s"));
    }
    Ok(Duration::from_secs_f64(secs))
}

/// A ring size: a power of two from 1 to 2^20 entries.
pub fn ring_size(s: &str) -> std::result::Result<u32, String> {
    let n: u32 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of ring entries"))?;
    if n == 0 || !n.is_power_of_two() || n > 1 << 20 {
        return Err(format!(
            "{n} is not a ring size: use a power of two from 1 to 1048576 (e.g. 2048)"
        ));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn tx_budgets_are_32_to_the_tx_ring() {
        assert_eq!(super::parse_tx_budget("32"), Ok(32));
        assert_eq!(super::parse_tx_budget("1048576"), Ok(1 << 20));
        for bad in ["0", "31", "1048577", "-1", "abc", "", "4294967296"] {
            assert!(super::parse_tx_budget(bad).is_err(), "{bad}");
        }
        let config = xsk::XskConfig::default().tx_size(512);
        let a = |b| super::TxBudgetArgs { tx_budget: b };
        assert_eq!(a(Some(512)).apply(config).unwrap().tx_budget, Some(512));
        assert_eq!(a(None).apply(config).unwrap().tx_budget, None);
        let e = a(Some(1024)).apply(config).unwrap_err().to_string();
        assert!(e.contains("32 to 512") && e.contains("--tx-size"), "{e}");
        let small = config.tx_size(16);
        let e = a(Some(32)).apply(small).unwrap_err().to_string();
        assert!(e.contains("at least 32 entries") && e.contains("16"), "{e}");
    }

    #[test]
    fn ring_sizes_are_powers_of_two_in_range() {
        assert_eq!(super::ring_size("2048"), Ok(2048));
        assert_eq!(super::ring_size("1"), Ok(1));
        for bad in ["0", "3", "2097152", "-1", "x", "4294967296"] {
            assert!(super::ring_size(bad).is_err(), "{bad}");
        }
    }

    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn defaults_are_the_declared_ones() {
        let s: super::SocketArgs = super::defaults();
        assert_eq!(
            (s.queue, s.batch, s.frames, s.frame_size),
            (0, 64, 4096, 4096)
        );
        assert_eq!(s.interval, Duration::from_secs(2));
        assert!(s.interface.is_none() && !s.poll && !s.json);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("3m").unwrap(), Duration::from_secs(180));
        assert!(parse_duration("fast").is_err());
        assert!(parse_duration("3 parsecs").is_err());
        assert!(parse_duration("99999999999999999999").is_err());
        assert!(super::parse_interval("0").is_err());
        assert!(super::parse_interval("1ms").is_ok());
    }
}

/// A list of numbers given as `0-3` or `0,2` on the command line.
#[derive(Clone, Debug)]
pub struct List(pub Vec<u32>);

impl std::str::FromStr for List {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<List, String> {
        parse_list(s).map(List)
    }
}

/// Parses `0-3`, `1,3`, `0-1,4` into a sorted list without duplicates.
pub fn parse_list(s: &str) -> std::result::Result<Vec<u32>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parsed = match part.split_once('-') {
            Some((a, b)) => {
                let a: u32 = a
                    .trim()
                    .parse()
                    .map_err(|_| format!("{part:?} is not a range like 0-3"))?;
                let b: u32 = b
                    .trim()
                    .parse()
                    .map_err(|_| format!("{part:?} is not a range like 0-3"))?;
                if b < a || b - a > 4096 {
                    return Err(format!("range {part:?} runs backwards or is too long"));
                }
                (a..=b).collect::<Vec<_>>()
            }
            None => vec![part
                .parse()
                .map_err(|_| format!("{part:?} is not a number"))?],
        };
        out.extend(parsed);
    }
    if out.is_empty() {
        return Err("empty list".into());
    }
    out.sort_unstable();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod list_tests {
    #[test]
    fn lists() {
        assert_eq!(super::parse_list("0-3").unwrap(), [0, 1, 2, 3]);
        assert_eq!(super::parse_list("3,1,1").unwrap(), [1, 3]);
        assert_eq!(super::parse_list("0-1,4").unwrap(), [0, 1, 4]);
        assert!(super::parse_list("3-1").is_err());
        assert!(super::parse_list("x").is_err());
    }
}
