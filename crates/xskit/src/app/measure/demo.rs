//! `xskit demo`: the whole AF_XDP echo lesson on one machine. Sandbox up, echo responder
//! on the inner end, echo requests from the outer end through the kernel's
//! own ping sockets, every reply checked, then the same pings answered by
//! the kernel for comparison, and the sandbox torn down.

use crate::app::echo::{self, EchoArgs};
use crate::app::shared::args::defaults;
use crate::app::shared::sandbox::{self, Guard, State, UpArgs};
use crate::net::ping::Pinger;
use crate::xdp::HookChoice;
use anyhow::Result;
use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

/// Options of `xskit demo`.
#[derive(clap::Args, Clone, Debug)]
pub struct DemoArgs {
    /// Echo requests per protocol (ICMPv6 and ICMPv4)
    #[arg(short = 'C', long, default_value_t = 300, value_parser = clap::value_parser!(u16).range(1..))]
    pub count: u16,
    /// Bytes of data in each echo request (up to 1452: one unfragmented IPv6 packet)
    #[arg(short = 's', long, default_value_t = 56, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1452))]
    pub size: usize,
    /// Name of the temporary sandbox
    #[arg(long, default_value = "xskit-demo")]
    pub name: String,
    /// XDP attach mode of the responder
    #[arg(long, value_parser = crate::app::shared::args::hook_parser(), default_value_t = HookChoice::Auto)]
    pub mode: HookChoice,
    /// Responder waits in poll() instead of a busy loop
    #[arg(short = 'p', long)]
    pub poll: bool,
    /// Pause between echo requests
    #[arg(short = 'I', long, default_value = "2ms", value_parser = crate::app::shared::args::parse_duration)]
    pub gap: Duration,
    /// How long to wait for each reply before counting it missing
    #[arg(short = 'W', long, default_value = "1s", value_parser = crate::app::shared::args::parse_duration)]
    pub wait: Duration,
}

/// Results of one series of pings.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Requests sent.
    pub sent: u32,
    /// Replies that came back with the right identifier, sequence and data.
    pub correct: u32,
    /// Replies that came back wrong.
    pub wrong: u32,
    /// Round-trip times of the correct replies, microseconds.
    pub rtts_us: Vec<f64>,
}

impl Series {
    fn rtt_line(&self) -> String {
        if self.rtts_us.is_empty() {
            return "-".into();
        }
        let mut v = self.rtts_us.clone();
        v.sort_by(f64::total_cmp);
        let p50 = crate::app::measure::latency::percentile(&v, 50.0);
        let p99 = crate::app::measure::latency::percentile(&v, 99.0);
        format!("{p50:.1} / {p99:.1}")
    }
}

fn payload(seq: u16, size: usize) -> Vec<u8> {
    (0..size).map(|i| (seq as usize * 7 + i) as u8).collect()
}

/// Sends `count` echo requests to `dst` from the current thread's namespace.
pub fn ping_series(dst: IpAddr, count: u16, size: usize, gap: Duration) -> Result<Series> {
    ping_series_within(dst, count, size, gap, Duration::from_secs(1))
}

/// [`ping_series`], waiting up to `wait` for each reply.
pub fn ping_series_within(
    dst: IpAddr,
    count: u16,
    size: usize,
    gap: Duration,
    wait: Duration,
) -> Result<Series> {
    let pinger = Pinger::new(dst.is_ipv6())?;
    let mut s = Series::default();
    for seq in 1..=count {
        let data = payload(seq, size);
        s.sent += 1;
        match pinger.ping(dst, seq, &data, wait)? {
            Some(r) if r.ident == pinger.ident() && r.seq == seq && r.payload == data => {
                s.correct += 1;
                s.rtts_us.push(r.rtt.as_secs_f64() * 1e6);
            }
            Some(_) => s.wrong += 1,
            None => {}
        }
        std::thread::sleep(gap);
    }
    Ok(s)
}

/// Pings both addresses of the inner end from the outer namespace, from
/// `cpu` if given.
fn ping_both(state: &State, args: &DemoArgs, cpu: Option<u32>) -> Result<(Series, Series)> {
    let (count, size, gap, wait) = (args.count, args.size, args.gap, args.wait);
    state.in_outer(|| -> Result<(Series, Series)> {
        if let Some(c) = cpu {
            crate::app::shared::cpu::pin(c)?;
        }
        Ok((
            ping_series_within(IpAddr::V6(state.inner_v6), count, size, gap, wait)?,
            ping_series_within(IpAddr::V4(state.inner_v4), count, size, gap, wait)?,
        ))
    })?
}

/// Runs the demo; true if every reply was correct.
pub fn run(args: &DemoArgs, out: &mut dyn Write) -> Result<bool> {
    let state = sandbox::up(&UpArgs::named(&args.name))?;
    let guard = Guard(state.clone());
    write!(out, "{}", sandbox::describe(&state))?;

    let mut echo_args: EchoArgs = defaults();
    echo_args.socket.interface = Some(state.inner_if.clone());
    echo_args.socket.mode = args.mode;
    echo_args.socket.poll = args.poll;
    echo_args.socket.interval = Duration::from_millis(500);
    // The pinging thread and the busy responder on CPUs of their own, as
    // `xskit latency` places them: sharing one, they take turns and the
    // round trips measure the scheduler (tails of milliseconds).
    let cpus = crate::app::shared::cpu::two_apart();
    let responder = echo::Background::start(
        &state,
        echo_args,
        cpus.map(|c| c.1),
        Box::new(std::io::stdout()),
    )?;
    writeln!(
        out,
        "sending {} ICMPv6 and {} ICMPv4 echo requests from {} ...",
        args.count, args.count, state.outer_ns
    )?;
    let sender = cpus.map(|c| c.0);
    let pinged = ping_both(&state, args, sender);
    let summary = responder.stop()?;
    let (x6, x4) = pinged?;
    summary.print(out, false)?;

    writeln!(
        out,
        "the same echo requests, answered by the kernel (no XDP program attached) ..."
    )?;
    let (k6, k4) = ping_both(&state, args, sender)?;
    drop(guard);

    writeln!(out)?;
    writeln!(
        out,
        "{:<22} {:>6} {:>8} {:>6}   rtt p50 / p99 (us; `xskit latency` for more)",
        "answered by", "sent", "correct", "wrong"
    )?;
    for (who, s) in [
        ("xskit, ICMPv6", &x6),
        ("xskit, ICMPv4", &x4),
        ("kernel, ICMPv6", &k6),
        ("kernel, ICMPv4", &k4),
    ] {
        writeln!(
            out,
            "{:<22} {:>6} {:>8} {:>6}   {}",
            who,
            s.sent,
            s.correct,
            s.wrong,
            s.rtt_line()
        )?;
    }
    let n = args.count as u32;
    let all_ok = x6.correct == n
        && x4.correct == n
        && k6.correct == n
        && k4.correct == n
        && summary.answered_v6 == n as u64
        && summary.answered_v4 == n as u64
        && summary.accounting.is_consistent();
    writeln!(out, "sandbox {} removed", state.name)?;
    if all_ok {
        writeln!(
            out,
            "PASS: every echo request got a correct reply from xskit ({} of {})",
            2 * n,
            2 * n
        )?;
    } else {
        writeln!(
            out,
            "FAIL: xskit answered {} of {} ICMPv6 and {} of {} ICMPv4 correctly (responder counted {} and {})",
            x6.correct, n, x4.correct, n, summary.answered_v6, summary.answered_v4
        )?;
    }
    Ok(all_ok)
}

/// What the demo says when a signal ends it: it was interrupted, and its
/// sandbox is gone (exit 128 + the signal: 130 for Ctrl-C).
fn interrupted_line(sig: i32, sandbox: &str) -> String {
    let name = match sig {
        libc::SIGINT => "Ctrl-C",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "hang-up",
        _ => "a signal",
    };
    format!(
        "xskit demo: interrupted ({name}) before it finished: no result; sandbox {sandbox} removed"
    )
}

/// As `signals::remove_sandbox_on_exit`, and says that the demo was
/// interrupted (a silent exit 130 reads as a crash or a hang).
fn remove_sandbox_and_say_so_on_signal(name: &str) -> Result<()> {
    use anyhow::Context;
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    crate::sys::ignore_sigpipe();
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .context("installing signal handlers")?;
    let name = name.to_string();
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // Not halfway through making it: wait for `up` to finish.
            let _made = sandbox::SETTING_UP.lock();
            let _ = sandbox::down(&name);
            eprintln!("{}", interrupted_line(sig, &name));
            std::process::exit(128 + sig);
        }
    });
    Ok(())
}

/// Runs `xskit demo`: exit 0 only if every reply was right; 130 (and a
/// line saying so) if interrupted by Ctrl-C.
pub fn exec(args: &DemoArgs, out: &mut dyn Write) -> Result<i32> {
    use crate::app::shared::caps;
    caps::require("demo", &caps::needs(true, true, true))?;
    remove_sandbox_and_say_so_on_signal(&args.name)?;
    Ok(if run(args, out)? { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_interrupted_demo_says_so() {
        let l = super::interrupted_line(libc::SIGINT, "xskit-demo");
        assert!(
            l.contains("interrupted (Ctrl-C)") && l.contains("sandbox xskit-demo removed"),
            "{l}"
        );
    }
}
