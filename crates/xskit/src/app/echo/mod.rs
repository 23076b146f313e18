//! `xskit echo`: the ICMPv6 (and ICMPv4) echo responder of xdp-tutorial's
//! advanced03-AF_XDP lesson, hardened.
//!
//! Each batch: take frames from RX, rewrite echo requests into replies in
//! place and queue them on TX, release everything else, then reap
//! completions and refill the FILL ring.

#[cfg(feature = "tokio")]
pub mod asynch;
pub mod multibuffer;
pub mod ratelimit;
pub mod report;
pub mod warm;

use crate::app::echo::ratelimit::{parse_per_second, Limiter, RateLimit};
use crate::app::echo::warm::Warm;
use crate::app::shared::args::{SocketArgs, TxBudgetArgs};
use crate::app::shared::sandbox::State;
use crate::app::shared::session::Session;
use crate::app::shared::stats::{Extra, ReportStyle, Reporter};
use crate::net::addrs;
use crate::wire::echo::{self, Answered, Reject};
use crate::xdp::Program;
use anyhow::{anyhow, Context, Result};
pub use report::EchoSummary;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use xsk::Verdict;

/// How long one recvfrom/sendto may poll the queue's NAPI with `--busy-poll`
/// (SO_BUSY_POLL, µs): short, so the loop stays responsive to its other work.
const BUSY_POLL_USECS: u32 = 20;

/// How long a busy loop must have seen no frame before its idle turns keep
/// the reply path warm (see [`warm`]).
const WARM_AFTER: Duration = Duration::from_micros(500);

/// Options of `xskit echo`.
#[derive(clap::Args, Clone, Debug)]
pub struct EchoArgs {
    #[command(flatten)]
    pub socket: SocketArgs,
    /// Redirect every frame on the queue to the socket (xdp_redirect), not only echo
    /// requests; ARP, neighbour discovery and everything else then go unanswered
    #[arg(long)]
    pub all_traffic: bool,
    /// Echo replies per second to one source address (token bucket per
    /// source, like the kernel's icmp_ratelimit); `off` or 0 for no limit
    #[arg(long, default_value = "1000", value_parser = parse_per_second, value_name = "N|off")]
    pub rate_limit: u32,
    /// Replies one source may get at once after a quiet period [default: 200];
    /// refused with `--rate-limit off`, where it would mean nothing
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_burst: Option<u32>,
    /// Preferred busy polling (SO_PREFER_BUSY_POLL, Linux 5.11+): a busy loop
    /// whose recvfrom/sendto run the queue's NAPI poll themselves instead of
    /// waiting for the softirq; the lowest latency, one CPU kept at 100 %
    #[arg(long, conflicts_with = "poll")]
    pub busy_poll: bool,
    /// In a busy loop (--spin, --busy-poll), keep the reply path warm in
    /// idle turns: after 500 µs without a frame, each one answers a
    /// built-in request in a private buffer and, in copy mode, makes an
    /// empty sendto or, once every 150 µs, sends a 60-byte frame of the
    /// local experimental EtherType (0x88B5) through lo, taken back by the
    /// responder itself (nothing goes out of the interface, but captures on
    /// lo and programs on lo see them; the kernel's tx_ring_empty_descs
    /// counts the sendtos; not with -F). Off by default
    #[arg(long)]
    pub warm: bool,
    #[command(flatten)]
    pub tx_budget: TxBudgetArgs,
}

impl EchoArgs {
    /// The per-source rate limit these options ask for.
    pub fn rate(&self) -> RateLimit {
        RateLimit {
            per_second: self.rate_limit,
            burst: self.rate_burst.unwrap_or(ratelimit::DEFAULT_BURST),
        }
    }
}

/// Runs the responder on `iface` until `stop` is set or the duration ends.
/// `ready` is called once the socket is bound and registered.
pub fn run(
    args: &EchoArgs,
    iface: &str,
    stop: &AtomicBool,
    out: &mut dyn Write,
    ready: &mut dyn FnMut(),
) -> Result<EchoSummary> {
    let s = &args.socket;
    let program = match (args.all_traffic, s.multi_buffer) {
        (true, false) => Program::Redirect,
        (true, true) => Program::RedirectMultiBuffer,
        (false, false) => Program::RedirectEcho,
        (false, true) => Program::RedirectEchoMultiBuffer,
    };
    let config = args.tx_budget.apply(s.xsk_config())?;
    let mut session = Session::open_with(iface, s, &config, program, out)?;
    // With --busy-poll, Some(true): recvfrom each turn runs the queue's
    // NAPI; Some(false): the socket has no NAPI to poll, so the loop spins
    // on the rings instead; None: not known until the first request (before
    // Linux 6.13 the id comes with the first frame).
    let mut napi = Some(false);
    if args.busy_poll {
        let sock = session.xsk.socket();
        sock.set_busy_poll(BUSY_POLL_USECS, s.batch)
            .context("--busy-poll")?;
        napi = sock.napi_id()?.map(|_| true);
    }
    ready();

    let mut reporter = Reporter::new(ReportStyle {
        interval: s.interval,
        json: s.json,
        quiet: s.quiet,
        extra: s.extra,
    })
    .for_queue(s.queue)
    .with_metrics(s.metrics_writer("echo", iface));
    let deadline = s.duration.map(|d| Instant::now() + d);
    let mut local = addrs::echo_local(iface);
    let mut limiter = Limiter::new(args.rate());
    let mut sum = EchoSummary {
        mode: Some(session.mode),
        ..Default::default()
    };
    let batch = s.batch;
    let poll_timeout = Duration::from_millis(s.interval.as_millis().clamp(1, 100) as u64);

    // Requests larger than a frame (-F) take the gathering path.
    let mut multi_buffer = s
        .multi_buffer
        .then(|| crate::app::echo::multibuffer::MultiBuffer::new(batch));
    let mut next_check = Instant::now() + crate::app::shared::session::BOUND_CHECK;
    // Idle turns of a loop that never sleeps keep the reply path warm.
    let busy = !s.poll || args.busy_poll;
    let mut warm = (busy && args.warm && multi_buffer.is_none())
        .then(|| Warm::new(&local, !session.xsk.is_zero_copy()).loop_frames(iface));
    let mut last_frame = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        if args.busy_poll {
            if napi != Some(false) {
                // recvfrom runs the queue's NAPI poll in this thread.
                session.xsk.socket().kick_rx()?;
            }
        } else {
            session.wait_rx(s.poll, poll_timeout)?;
        }
        let xsk = &mut session.xsk;
        if let Some(j) = multi_buffer.as_mut() {
            j.step(xsk, batch, &local, &mut limiter, &mut sum)?;
        } else {
            // Completed replies go straight back to FILL; each request is
            // rewritten in place and sent, or recycled, in one pass.
            xsk.complete_to_fill(u32::MAX);
            let now = Instant::now();
            let room = xsk.tx_room();
            let mut answered = 0u32;
            let m = xsk.rx_batch(batch).dispatch(|f| {
                let len = f.data().len() as u64;
                sum.totals.rx_packets += 1;
                sum.totals.rx_bytes += len;
                let admit = |src| limiter.admit(src, now);
                match echo::answer_with(f.data_mut(), &local, admit) {
                    Ok(kind) => {
                        match kind {
                            Answered::V4 => sum.answered_v4 += 1,
                            Answered::V6 => sum.answered_v6 += 1,
                        }
                        if answered < room {
                            sum.totals.tx_bytes += len;
                        }
                        answered += 1;
                        Verdict::Transmit
                    }
                    Err(r) => {
                        sum.rejected[r as usize] += 1;
                        Verdict::Recycle
                    }
                }
            });
            sum.totals.tx_packets += u64::from(m.transmitted);
            sum.tx_ring_full += u64::from(m.tx_full);
            let n = m.transmitted + m.tx_full + m.recycled + m.freed;
            if args.busy_poll && m.transmitted > 0 {
                // Busy polling: sendto at once, whatever the need_wakeup
                // flag says (as xdpsock does): it runs the queue's NAPI
                // poll, which sends the replies now rather than a turn later.
                xsk.socket().kick_tx()?;
                xsk.flush()?;
            } else if m.transmitted > 0 || n == 0 {
                xsk.flush()?;
            }
            if m.freed > 0 {
                xsk.refill(u32::MAX);
            }
            if n > 0 {
                last_frame = now;
            } else if let Some(w) = warm.as_mut() {
                // Only once the loop has been idle a while, so that under
                // load the turns between bursts stay short; and no empty
                // sendto while recvfrom busy-polls (a system call a turn).
                if now.duration_since(last_frame) >= WARM_AFTER {
                    let sock = xsk.socket();
                    let polling = napi == Some(true);
                    let kick = || if polling { Ok(()) } else { sock.kick_tx() };
                    sum.warm_frames += u64::from(w.turn(&local, now, kick)?);
                    sum.warm_turns += 1;
                }
            }
        }

        if napi.is_none() && sum.totals.rx_packets > 0 {
            let quiet = s.quiet || s.json;
            napi = Some(busy_poll_has_napi(session.xsk.socket(), quiet, out)?);
        }
        let now = Instant::now();
        if now >= next_check {
            // Noticed in poll() too, but a busy loop never waits there.
            session.xsk.check_bound()?;
            next_check = now + crate::app::shared::session::BOUND_CHECK;
        }
        if reporter.due(now) {
            let extra = if s.extra {
                Some(Extra {
                    kernel: session.xsk.statistics()?,
                    xdp: session.prog.counters()?,
                    per_queue: Vec::new(),
                })
            } else {
                None
            };
            let mut more = [("not_answered", 0u64); Reject::COUNT + 1];
            more[0].1 = sum.rejected_total();
            if s.extra {
                for (m, r) in more[1..].iter_mut().zip(Reject::ALL) {
                    *m = (r.name(), sum.rejected(r));
                }
            }
            let more = if s.extra { &more[..] } else { &more[..1] };
            reporter.tick(out, now, &sum.totals, extra.as_ref(), more);
            if s.extra && !s.json && !s.quiet {
                let _ = writeln!(out, "          not answered: {}", sum.rejected_text());
            }
            local = addrs::echo_local(iface);
            if let Some(w) = warm.as_mut() {
                w.refresh(&local);
            }
        }
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
    }

    // Let the last replies leave and come back through COMPLETION.
    let settle = Instant::now() + Duration::from_millis(200);
    while {
        let a = session.xsk.accounting();
        a.tx + a.kernel > 0
    } && Instant::now() < settle
    {
        session.xsk.flush()?;
        session.xsk.complete(u32::MAX);
        std::thread::sleep(Duration::from_millis(1));
    }
    sum.elapsed = reporter.elapsed();
    sum.accounting = session.xsk.accounting();
    sum.kernel = session.xsk.statistics()?;
    sum.xdp = session.prog.counters()?;
    Ok(sum)
}

/// Once requests arrive: whether the socket has a NAPI instance to busy
/// poll. Without one (veth on Linux 6.13+, SKB mode) every recvfrom would
/// be a system call that polls nothing; says so once (unless quiet) and
/// the loop spins on the rings instead.
fn busy_poll_has_napi(sock: &xsk::Socket, quiet: bool, out: &mut dyn Write) -> Result<bool> {
    let has = sock.napi_id()?.is_some();
    if !has && !quiet {
        writeln!(
            out,
            "--busy-poll: the kernel gave this socket no NAPI instance to poll \
             (its driver does not report its queues' NAPI, as veth on Linux 6.13+, or SKB mode); \
             waiting in a busy loop over the rings instead"
        )?;
    }
    Ok(has)
}

/// A responder running on a thread of its own in a sandbox's inner
/// namespace (for the demo, the benchmark and tests).
pub struct Background {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<Result<EchoSummary>>,
}

impl Background {
    /// Starts the responder on `state`'s inner end, pinned to `cpu` if
    /// given, writing its statistics to `out`; returns once its socket is
    /// bound and registered, or with the error that kept it from starting.
    pub fn start(
        state: &State,
        args: EchoArgs,
        cpu: Option<u32>,
        mut out: Box<dyn Write + Send>,
    ) -> Result<Background> {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let (stop, state) = (stop.clone(), state.clone());
            std::thread::spawn(move || -> Result<EchoSummary> {
                state.enter_inner()?;
                if let Some(c) = cpu {
                    crate::app::shared::cpu::pin(c)?;
                }
                run(&args, &state.inner_if, &stop, &mut out, &mut || {
                    let _ = ready_tx.send(());
                })
            })
        };
        // Generous: loading and verifying the program takes seconds in an
        // emulated VM (scripts/vm-test) with other tests running.
        if ready_rx.recv_timeout(Duration::from_secs(60)).is_err() {
            stop.store(true, Ordering::Relaxed);
            let r = thread.join().map_err(|_| anyhow!("responder panicked"))?;
            return Err(r
                .err()
                .unwrap_or_else(|| anyhow!("responder did not start")));
        }
        Ok(Background { stop, thread })
    }

    /// Stops the responder and returns its summary.
    pub fn stop(self) -> Result<EchoSummary> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread
            .join()
            .map_err(|_| anyhow!("responder panicked"))?
    }
}

/// Runs `xskit echo` until stopped, then prints its summary.
pub fn exec(args: &EchoArgs, out: &mut dyn Write) -> Result<i32> {
    use crate::app::shared::{caps, signals};
    // Options are strict: one that would be ignored is refused (exit 2).
    if let Err(e) = ratelimit::check_options(args.rate_limit, args.rate_burst) {
        eprintln!("xskit: error: {e} (see --help)");
        return Ok(2);
    }
    caps::require("echo", &caps::xsk(args.socket.interface.is_some()))?;
    let mut args = args.clone();
    // The responder waits in poll() unless --spin asks for a busy loop
    // (the benchmark modes keep theirs).
    args.socket.poll = !(args.socket.spin || args.busy_poll);
    let stop = signals::stop_flag()?;
    let iface = args.socket.resolve_interface()?;
    let summary = run(&args, &iface, &stop, out, &mut || {})?;
    summary.print(out, args.socket.json)?;
    Ok(0)
}
