//! `xskit latency`: echo round-trip times as a distribution, the kernel's
//! own responder and xskit's answering the same requests in the same run.
//!
//! A temporary sandbox; from its outer end a ping socket sends requests at
//! fixed rates, each stamped by the kernel as it leaves and as its reply
//! arrives (`net::probe`), first with the kernel answering (no XDP program),
//! then with `xskit echo` answering. One report struct, rendered as a table
//! or as JSON.

use crate::app::echo::{self, EchoArgs};
use crate::app::shared::args::{defaults, parse_duration};
use crate::app::shared::sandbox::{self, Guard, State, UpArgs};
use crate::net::probe::{now_ns, Event, Prober};
use crate::xdp::loader::HookChoice;
use anyhow::{bail, Result};
use clap::Args;
use serde::Serialize;
use std::collections::HashMap;
use std::fmt;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// Options of `xskit latency`.
#[derive(Args, Debug, Clone)]
pub struct LatencyArgs {
    /// Request rates to measure at, per second (the first should be low)
    #[arg(long, value_delimiter = ',', default_value = "100,1000,10000",
          value_parser = clap::value_parser!(u32).range(1..=200_000))]
    pub rates: Vec<u32>,
    /// Requests per rate, family and responder
    #[arg(short = 'c', long, default_value_t = 1000, value_parser = clap::value_parser!(u16).range(10..=60_000))]
    pub count: u16,
    /// ICMP payload bytes
    #[arg(short = 's', long, default_value_t = 56, value_parser = clap::value_parser!(u16).range(0..=1400))]
    pub size: u16,
    /// How xskit's responder waits for requests: `busy-poll` (`echo
    /// --busy-poll`, the lowest latency measured), `spin` (`echo --spin`) or
    /// `poll` (`echo`'s default: no CPU while idle, a wake-up per request)
    /// [default: busy-poll; spin on kernels before 5.11, which lack it]
    #[arg(long, value_enum)]
    pub wait: Option<Wait>,
    /// Pin the responder to this CPU [default: the last CPU, when there are two or more]
    #[arg(long)]
    pub cpu: Option<u32>,
    /// Pin the sender (and so, on veth, the receive softirq) to this CPU
    /// [default: CPU 0, when there are two or more]
    #[arg(long)]
    pub sender_cpu: Option<u32>,
    /// Rounds to split the requests into, each the kernel answering and
    /// then xskit (so both see the same drift of the host's speed)
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub rounds: u16,
    /// XDP attach mode of xskit's responder. On veth `skb` answered sooner
    /// (BENCHMARKS.md): the request takes the kernel's own receive path up
    /// to the program, where `native` adds a hand-over through veth's own
    /// NAPI ring; on a NIC, `native` runs the program before any skb is
    /// built
    #[arg(long, value_parser = crate::app::shared::args::hook_parser(), default_value_t = HookChoice::Skb)]
    pub mode: HookChoice,
    /// Keep the busy responder's reply path warm in its idle turns (`echo
    /// --warm`); off by default, so both responders meet every request cold
    #[arg(long)]
    pub warm: bool,
    /// How long to wait for the last replies of a series
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub linger: Duration,
    /// Name of the temporary sandbox
    #[arg(long, default_value = "xskit-lat")]
    pub name: String,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

/// How the responder waits for requests.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// In poll(), woken by the kernel for each request.
    Poll,
    /// A busy loop over the rings, asking the kernel only when it needs a wake-up.
    Spin,
    /// A busy loop whose recvfrom runs the queue's NAPI (SO_PREFER_BUSY_POLL).
    BusyPoll,
}

impl fmt::Display for Wait {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Wait::Poll => "waiting in poll()",
            Wait::Spin => "busy loop",
            Wait::BusyPoll => "preferred busy polling",
        })
    }
}

/// Round-trip times of one series, microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Row {
    /// Who answered: "kernel" or "xskit".
    pub responder: &'static str,
    /// "ipv4" or "ipv6".
    pub family: &'static str,
    /// Requests per second.
    pub rate: u32,
    /// Requests sent.
    pub sent: u32,
    /// Replies received.
    pub received: u32,
    /// Percentiles and maximum of the round-trip time, µs.
    pub p50_us: f64,
    /// 90th percentile, µs.
    pub p90_us: f64,
    /// 99th percentile, µs.
    pub p99_us: f64,
    /// 99.9th percentile, µs.
    pub p999_us: f64,
    /// Maximum, µs.
    pub max_us: f64,
    /// The send times are the kernel's TX stamps (false: user-space times
    /// before sendto, because the kernel did not stamp every request).
    pub kernel_tx_stamps: bool,
    /// The responder kept its reply path warm in idle turns (`--warm`;
    /// only xskit's busy responder does).
    pub warmed: bool,
}

/// The whole measurement.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Report {
    /// Where the timestamps come from.
    pub timestamps: &'static str,
    /// Which CPU the sender and the responder ran on.
    pub placement: String,
    /// Rounds the requests were split into, each the kernel answering and
    /// then xskit.
    pub rounds: u16,
    /// Where xskit's program ran: "native" or "skb" (none if it never ran).
    pub xdp_mode: Option<String>,
    /// One row per responder, family and rate.
    pub rows: Vec<Row>,
}

/// Nearest-rank percentile of sorted values (NaN when empty).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // The small slack keeps 99.9 % of 1000 at rank 999 despite rounding.
    let rank = ((p / 100.0) * sorted.len() as f64 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Row {
    fn from_rtts(
        responder: &'static str,
        family: &'static str,
        rate: u32,
        sent: u32,
        mut rtts: Vec<f64>,
    ) -> Row {
        rtts.sort_by(f64::total_cmp);
        Row {
            responder,
            family,
            rate,
            sent,
            received: rtts.len() as u32,
            p50_us: percentile(&rtts, 50.0),
            p90_us: percentile(&rtts, 90.0),
            p99_us: percentile(&rtts, 99.0),
            p999_us: percentile(&rtts, 99.9),
            max_us: rtts.last().copied().unwrap_or(f64::NAN),
            kernel_tx_stamps: true,
            warmed: false,
        }
    }
}

impl Report {
    /// The kernel's row for the same family and rate as `r`.
    fn kernel_for(&self, r: &Row) -> Option<&Row> {
        self.rows
            .iter()
            .find(|k| k.responder == "kernel" && k.family == r.family && k.rate == r.rate)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "round-trip times in µs ({})", self.timestamps)?;
        writeln!(f, "{}", self.placement)?;
        writeln!(
            f,
            "{} rounds, each the kernel answering and then xskit{}",
            self.rounds,
            self.xdp_mode
                .as_ref()
                .map_or(String::new(), |m| format!(" (its program in {m} mode)"))
        )?;
        writeln!(
            f,
            "| responder | family | rate/s | replies | p50 | p90 | p99 | p99.9 | max | p50, p99 vs kernel |"
        )?;
        writeln!(f, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")?;
        for r in &self.rows {
            let vs = match (r.responder, self.kernel_for(r)) {
                _ if !r.kernel_tx_stamps => "(sent: user-space times)".to_string(),
                ("xskit", Some(k)) if !k.kernel_tx_stamps => {
                    "(kernel's row: user-space times)".to_string()
                }
                ("xskit", Some(k)) => {
                    format!("{:.2}, {:.2}", r.p50_us / k.p50_us, r.p99_us / k.p99_us)
                }
                _ => String::new(),
            };
            writeln!(
                f,
                "| {}{} | {} | {} | {}/{} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {vs} |",
                r.responder,
                if r.warmed { " (warmed)" } else { "" },
                r.family,
                r.rate,
                r.received,
                r.sent,
                r.p50_us,
                r.p90_us,
                r.p99_us,
                r.p999_us,
                r.max_us
            )?;
        }
        Ok(())
    }
}

/// Sends `count` requests to `dst` at `rate` per second from the calling
/// thread's namespace; returns the round-trip times (µs) and whether the
/// kernel stamped the transmissions.
pub fn series(
    dst: IpAddr,
    rate: u32,
    count: u16,
    size: u16,
    linger: Duration,
) -> Result<(Vec<f64>, bool)> {
    let mut p = Prober::new(dst.is_ipv6())?;
    let payload: Vec<u8> = (0..size).map(|i| i as u8).collect();
    let gap = Duration::from_secs_f64(1.0 / f64::from(rate));
    let mut user_sent: Vec<u64> = Vec::with_capacity(count as usize);
    let mut kernel_sent: HashMap<u32, u64> = HashMap::with_capacity(count as usize);
    let mut replies: HashMap<u16, u64> = HashMap::with_capacity(count as usize);
    let mut events = Vec::new();
    let start = Instant::now();
    let mut next = start;
    let mut last = None;
    loop {
        let now = Instant::now();
        let n = user_sent.len();
        if n < count as usize && now >= next {
            user_sent.push(now_ns());
            p.send(dst, n as u16, &payload)?;
            next += gap;
            continue;
        }
        if n == count as usize {
            let done = *last.get_or_insert(now);
            if replies.len() == n || now.duration_since(done) > linger {
                break;
            }
        }
        let wait = if n < count as usize {
            next.saturating_duration_since(now)
        } else {
            Duration::from_millis(10)
        };
        p.collect(wait.min(Duration::from_millis(10)), &mut events)?;
        for e in events.drain(..) {
            match e {
                Event::Reply { seq, at_ns } => {
                    replies.insert(seq, at_ns);
                }
                Event::Sent { id, at_ns } => {
                    kernel_sent.insert(id, at_ns);
                }
            }
        }
    }
    let tx_stamps = p.tx_stamps && kernel_sent.len() == user_sent.len();
    let rtts = replies
        .iter()
        .filter_map(|(&seq, &rx)| {
            let tx = if tx_stamps {
                *kernel_sent.get(&u32::from(seq))?
            } else {
                *user_sent.get(seq as usize)?
            };
            Some(rx.saturating_sub(tx) as f64 / 1e3)
        })
        .collect();
    Ok((rtts, tx_stamps))
}

/// Round-trip times pooled over the rounds, per (responder, family, rate),
/// and whether every series had the kernel's TX stamps.
type Pool = Vec<((&'static str, &'static str, u32), Vec<f64>, bool)>;

/// One series per family and rate with `responder` answering, `count`
/// requests each, added to `pool`.
fn measure(
    state: &State,
    args: &LatencyArgs,
    sender_cpu: Option<u32>,
    responder: &'static str,
    count: u16,
    pool: &mut Pool,
) -> Result<()> {
    for (family, dst) in [
        ("ipv4", IpAddr::V4(state.inner_v4)),
        ("ipv6", IpAddr::V6(state.inner_v6)),
    ] {
        for &rate in &args.rates {
            let (rtts, tx) = state.in_outer(|| {
                if let Some(c) = sender_cpu {
                    crate::app::shared::cpu::pin(c)?;
                }
                series(dst, rate, count, args.size, args.linger)
            })??;
            let key = (responder, family, rate);
            match pool.iter_mut().find(|(k, ..)| *k == key) {
                Some((_, all, all_tx)) => {
                    // One round without every TX stamp marks the whole row
                    // (whose percentiles then mix both time bases): it is
                    // compared with nothing.
                    all.extend(rtts);
                    *all_tx &= tx;
                }
                None => pool.push((key, rtts, tx)),
            }
        }
    }
    Ok(())
}

/// Requests per round: `count` split as evenly as possible over `rounds`.
fn per_round(count: u16, rounds: u16) -> Vec<u16> {
    (0..rounds)
        .map(|r| count / rounds + u16::from(r < count % rounds))
        .collect()
}

/// Runs the measurement in a temporary sandbox.
pub fn run(args: &LatencyArgs) -> Result<Report> {
    if sandbox::State::load(&args.name)?.is_some() {
        bail!("a sandbox named {:?} exists: remove it (xskit sandbox down --name {0}) or pick another --name", args.name);
    }
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    for (opt, c) in [("--cpu", args.cpu), ("--sender-cpu", args.sender_cpu)] {
        if let Some(c) = c.filter(|&c| c >= ncpu) {
            bail!(
                "{opt} {c}: this machine has {ncpu} CPU(s), 0 to {}",
                ncpu - 1
            );
        }
    }
    if args.rounds > args.count {
        bail!(
            "--rounds {} is more than the {} requests per series (-c): use fewer rounds or more requests",
            args.rounds,
            args.count
        );
    }
    // A rate given twice is measured once (its rows would pool both).
    let mut rates = args.rates.clone();
    let mut seen = std::collections::HashSet::new();
    rates.retain(|r| seen.insert(*r));
    // Preferred busy polling where the kernel has it (5.11+), unless asked
    // for another way; asked for where it has not, the responder's start
    // fails saying so.
    let (wait, no_busy_poll) = match args.wait {
        Some(w) => (w, false),
        None if xsk::Socket::supports_busy_poll()? => (Wait::BusyPoll, false),
        None => (Wait::Spin, true),
    };
    let args = &LatencyArgs {
        rates,
        wait: Some(wait),
        ..args.clone()
    };
    let guard = Guard(sandbox::up(&UpArgs::named(&args.name))?);
    let state = &guard.0;
    // The sender and the responder on CPUs of their own: sharing one, the
    // responder (waiting in poll() or spinning) and the sender take turns
    // and the figures measure the scheduler.
    let two = ncpu >= 2;
    let sender_cpu = args.sender_cpu.or(two.then_some(0));
    let responder_cpu = args.cpu.or(two.then_some(ncpu - 1));
    let show = |c: Option<u32>| c.map_or("any CPU".to_string(), |c| format!("CPU {c}"));
    let mut report = Report {
        timestamps: "kernel software stamps: request leaving the sender, reply reaching it",
        placement: format!(
            "sender (and its softirq) on {}, xskit's responder on {}, {}{}",
            show(sender_cpu),
            show(responder_cpu),
            wait,
            match (wait, args.warm) {
                (Wait::Poll, _) | (_, false) => "",
                (_, true) => ", idle turns keep the reply path warm (--warm)",
            }
        ) + if no_busy_poll {
            " (no preferred busy polling before Linux 5.11)"
        } else {
            ""
        },
        rounds: args.rounds,
        xdp_mode: None,
        rows: Vec::new(),
    };
    let mut a: EchoArgs = defaults();
    a.socket.interface = Some(state.inner_if.clone());
    a.socket.poll = wait == Wait::Poll;
    a.busy_poll = wait == Wait::BusyPoll;
    a.warm = args.warm;
    a.socket.mode = args.mode;
    a.socket.quiet = true;
    a.socket.interval = Duration::from_secs(3600);
    // One source asks on purpose: measure the responder, not its limit.
    a.rate_limit = 0;
    // Round by round, the kernel answering and then xskit: the host's
    // speed drifts within a run, and whole series one after the other
    // would compare the drift rather than the responders.
    // The first round adds the keys in the report's order: the kernel's
    // rows, then xskit's, each by family and then the rates as given.
    let mut pool = Pool::new();
    for n in per_round(args.count, args.rounds) {
        measure(state, args, sender_cpu, "kernel", n, &mut pool)?;
        let responder =
            echo::Background::start(state, a.clone(), responder_cpu, Box::new(std::io::sink()))?;
        let r = measure(state, args, sender_cpu, "xskit", n, &mut pool);
        let summary = responder.stop()?;
        r?;
        if let Some(m) = summary.mode {
            report.xdp_mode = Some(m.to_string());
        }
    }
    for ((responder, family, rate), rtts, tx) in pool {
        // A series without every TX stamp measured from user space: say so
        // on that row, and compare it with nothing.
        let mut row = Row::from_rtts(responder, family, rate, u32::from(args.count), rtts);
        row.kernel_tx_stamps = tx;
        row.warmed = responder == "xskit" && args.warm && wait != Wait::Poll;
        report.rows.push(row);
    }
    Ok(report)
}

/// Prints the report as a table or JSON.
pub fn print(report: &Report, json: bool, out: &mut dyn Write) -> Result<()> {
    if json {
        writeln!(out, "{}", serde_json::to_string(report)?)?;
    } else {
        write!(out, "{report}")?;
    }
    Ok(())
}

/// Runs `xskit latency` and prints its report.
pub fn exec(args: &LatencyArgs, out: &mut dyn Write) -> Result<i32> {
    use crate::app::shared::{caps, signals};
    caps::require("latency", &caps::needs(true, true, true))?;
    signals::remove_sandbox_on_exit(&args.name)?;
    let report = run(args)?;
    print(&report, args.json, out)?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_split_the_requests_evenly() {
        assert_eq!(per_round(1000, 5), vec![200; 5]);
        assert_eq!(per_round(12, 5), vec![3, 3, 2, 2, 2]);
        assert_eq!(per_round(10, 1), vec![10]);
        assert_eq!(per_round(10, 10), vec![1; 10]);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<f64> = (1..=1000).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 500.0);
        assert_eq!(percentile(&v, 99.0), 990.0);
        assert_eq!(percentile(&v, 99.9), 999.0);
        assert_eq!(percentile(&[7.0], 99.9), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn the_report_renders_as_table_and_json_from_one_struct() {
        let report = Report {
            timestamps: "test",
            placement: "sender on CPU 0".into(),
            rounds: 3,
            xdp_mode: Some("skb".into()),
            rows: vec![
                Row::from_rtts("kernel", "ipv4", 100, 3, vec![10.0, 20.0, 30.0]),
                Row::from_rtts("xskit", "ipv4", 100, 3, vec![5.0, 10.0, 15.0]),
            ],
        };
        let text = report.to_string();
        assert!(
            text.contains("| xskit | ipv4 | 100 | 3/3 | 10.0 |"),
            "{text}"
        );
        assert!(text.contains("0.50, 0.50"), "{text}");
        assert!(text.contains("3 rounds, each the kernel"), "{text}");
        assert!(text.contains("(its program in skb mode)"), "{text}");
        let v: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(v["rounds"], 3);
        assert_eq!(v["xdp_mode"], "skb");
        assert_eq!(v["rows"][1]["p50_us"], 10.0);
        assert_eq!(v["rows"][0]["responder"], "kernel");
        assert_eq!(v["rows"][0]["kernel_tx_stamps"], true);
    }

    #[test]
    fn a_row_sent_at_user_space_times_says_so_and_is_not_compared() {
        let mut user = Row::from_rtts("kernel", "ipv6", 100, 3, vec![10.0, 20.0, 30.0]);
        user.kernel_tx_stamps = false;
        let report = Report {
            timestamps: "test",
            placement: "sender on CPU 0".into(),
            rounds: 1,
            xdp_mode: None,
            rows: vec![
                user,
                Row::from_rtts("xskit", "ipv6", 100, 3, vec![5.0, 10.0, 15.0]),
            ],
        };
        let text = report.to_string();
        assert!(text.contains("(sent: user-space times)"), "{text}");
        assert!(text.contains("(kernel's row: user-space times)"), "{text}");
        assert!(!text.contains("0.50, 0.50"), "{text}");
        assert!(!text.contains("its program in"), "{text}");
        let v: serde_json::Value = serde_json::to_value(&report).unwrap();
        assert_eq!(v["rows"][0]["kernel_tx_stamps"], false);
    }
}
