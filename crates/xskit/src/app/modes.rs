//! `xskit rxdrop | txonly | l2fwd`: the classic AF_XDP benchmark modes of
//! the kernel's xdpsock sample, on one queue or several sharing one UMEM.
//!
//! Each queue gets a socket and a thread (pinned with `--cpus`); the first
//! socket registers the UMEM, the others share it (XDP_SHARED_UMEM) with
//! their own FILL and COMPLETION rings and their own share of the frames.
//! The per-packet loops allocate nothing: their vectors are sized once.

use crate::app::cpu;
pub use crate::app::cpu::List;
pub use crate::app::mode_args::{udp_template, ModeArgs};
pub use crate::app::mode_report::ModeSummary;
use crate::app::session::{attach, xskmap_slots};
use crate::app::stats::{thousands, ReportStyle, Reporter, Totals};
use crate::xdp::{ModeInUse, Program, XdpProgram};
use anyhow::{bail, Context, Result};
use serde_json::json;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use xsk::{Frame, Statistics, Umem, Verdict, Xsk};

/// The benchmark mode.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Mode {
    /// Receive and drop.
    Rxdrop,
    /// Send prebuilt UDP frames as fast as possible.
    Txonly,
    /// Swap MAC addresses and send each frame back out.
    L2fwd,
}

impl Mode {
    /// The subcommand's name.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Rxdrop => "rxdrop",
            Mode::Txonly => "txonly",
            Mode::L2fwd => "l2fwd",
        }
    }
}

/// Counters of one queue, shared between its thread and the reporter.
#[derive(Debug, Default)]
pub struct QueueCounters {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_dropped: AtomicU64,
}

impl QueueCounters {
    /// A consistent-enough snapshot.
    pub fn totals(&self) -> Totals {
        Totals {
            rx_packets: self.rx_packets.load(Ordering::Relaxed),
            rx_bytes: self.rx_bytes.load(Ordering::Relaxed),
            tx_packets: self.tx_packets.load(Ordering::Relaxed),
            tx_bytes: self.tx_bytes.load(Ordering::Relaxed),
        }
    }
}

/// The per-packet loop of one queue.
pub struct Worker {
    /// The queue's socket.
    pub xsk: Xsk,
    mode: Mode,
    batch: u32,
    poll: bool,
    busy_poll: bool,
    counters: Arc<QueueCounters>,
    tx_len: usize,
    /// txonly -F: the packet, when it does not fit a frame.
    jumbo: Option<Vec<u8>>,
    /// Frames one packet takes (1 but for jumbo packets).
    bufs_per_packet: u64,
    /// Completed frames not yet counted as a whole packet.
    done_bufs: u64,
    tx_left: u64,
    /// The last receive filled a whole batch.
    last_full: bool,
}

impl Worker {
    /// Sets up the loop; for txonly, writes `template` into every frame once.
    pub fn new(
        mut xsk: Xsk,
        mode: Mode,
        batch: u32,
        poll: bool,
        busy_poll: bool,
        template: &[u8],
        count: Option<u64>,
    ) -> Result<Worker> {
        if busy_poll {
            xsk.socket().set_busy_poll(20, batch)?;
        }
        let mut tx_len = 0;
        let mut jumbo = None;
        let room = {
            let c = xsk.umem().config();
            (c.frame_size - c.headroom) as usize
        };
        if mode == Mode::Txonly && xsk.is_multi_buffer() && template.len() > room {
            // Larger than a frame: each packet is copied into a chain of
            // frames as it is sent (-F).
            jumbo = Some(template.to_vec());
            tx_len = template.len();
        } else if mode == Mode::Txonly {
            let mut all = Vec::with_capacity(xsk.free_frames());
            while let Some(mut f) = xsk.alloc() {
                let buf = xsk.umem().buffer_mut(&mut f);
                if buf.len() < template.len() {
                    bail!(
                        "frames of {} bytes cannot hold a {}-byte packet: use larger frames (-f, -u), \
                         a smaller -s, or multi-buffer (-F, Linux 6.6+)",
                        buf.len(),
                        template.len()
                    );
                }
                buf[..template.len()].copy_from_slice(template);
                all.push(f);
            }
            for f in all {
                xsk.release(f);
            }
            tx_len = template.len();
        } else {
            xsk.refill(u32::MAX);
        }
        Ok(Worker {
            xsk,
            mode,
            batch,
            poll,
            busy_poll,
            counters: Arc::new(QueueCounters::default()),
            tx_len,
            bufs_per_packet: jumbo
                .as_ref()
                .map_or(1, |t: &Vec<u8>| t.len().div_ceil(room) as u64),
            done_bufs: 0,
            jumbo,
            tx_left: count.unwrap_or(u64::MAX),
            last_full: false,
        })
    }

    /// The counters this worker updates.
    pub fn counters(&self) -> Arc<QueueCounters> {
        self.counters.clone()
    }

    fn wait_rx(&mut self) -> Result<()> {
        if self.poll {
            // Sleep in poll() only when the ring ran dry: after a full
            // batch more frames are likely waiting, and a syscall per
            // batch is what keeps a shared core from keeping up.
            if !self.last_full {
                self.xsk.socket().poll_rx(100)?;
            }
        } else if self.busy_poll || self.xsk.fill_needs_wakeup() {
            self.xsk.socket().kick_rx()?;
        }
        Ok(())
    }

    /// One batch. Returns false once a txonly count is sent and completed.
    pub fn step(&mut self) -> Result<bool> {
        match self.mode {
            Mode::Rxdrop => {
                self.wait_rx()?;
                // One pass: RX descriptors straight back onto FILL.
                let m = self.xsk.rx_batch(self.batch).recycle();
                let n = m.recycled + m.freed;
                self.last_full = n == self.batch;
                if n > 0 {
                    let c = &self.counters;
                    c.rx_packets
                        .fetch_add(u64::from(m.packets), Ordering::Relaxed);
                    c.rx_bytes.fetch_add(m.bytes, Ordering::Relaxed);
                }
                if m.freed > 0 {
                    self.xsk.refill(u32::MAX);
                }
            }
            Mode::L2fwd => {
                self.wait_rx()?;
                // Completed sends go straight back to FILL, and received
                // frames straight onto TX, each in one pass.
                self.xsk.complete_to_fill(u32::MAX);
                let m = self.xsk.rx_batch(self.batch).dispatch(|f| {
                    if !f.starts_packet() {
                        return Verdict::Transmit; // the rest of a jumbo frame
                    }
                    let d = f.data_mut();
                    if d.len() >= 12 {
                        let (dst, src) = d.split_at_mut(6);
                        dst.swap_with_slice(&mut src[..6]);
                    }
                    Verdict::Transmit
                });
                let n = m.transmitted + m.tx_full;
                self.last_full = n == self.batch;
                if n > 0 {
                    let c = &self.counters;
                    c.rx_packets.fetch_add(u64::from(n), Ordering::Relaxed);
                    c.rx_bytes.fetch_add(m.bytes, Ordering::Relaxed);
                    c.tx_packets
                        .fetch_add(u64::from(m.transmitted), Ordering::Relaxed);
                    c.tx_dropped
                        .fetch_add(u64::from(m.tx_full), Ordering::Relaxed);
                    // Bytes out: all frames keep their length.
                    let out = m.bytes / u64::from(n) * u64::from(m.transmitted);
                    c.tx_bytes.fetch_add(out, Ordering::Relaxed);
                    self.xsk.flush()?;
                } else if self.busy_poll || !self.xsk.uses_need_wakeup() {
                    self.xsk.flush()?;
                }
                if m.freed > 0 {
                    self.xsk.refill(u32::MAX);
                }
            }
            Mode::Txonly => {
                self.done_bufs += u64::from(self.xsk.complete(u32::MAX));
                let done = self.done_bufs / self.bufs_per_packet;
                self.done_bufs %= self.bufs_per_packet;
                if done > 0 {
                    self.counters.tx_packets.fetch_add(done, Ordering::Relaxed);
                    self.counters
                        .tx_bytes
                        .fetch_add(done * self.tx_len as u64, Ordering::Relaxed);
                }
                let want = (self.batch as u64).min(self.tx_left) as u32;
                // One pass from the free list onto TX: every frame already
                // holds the packet (written once by `new`).
                let tx_len = self.tx_len;
                let sent = u64::from(match &self.jumbo {
                    Some(packet) => self.xsk.transmit_packets(want, packet),
                    None => self.xsk.transmit_new(want, |_| tx_len),
                });
                let queued = sent;
                self.tx_left -= sent.min(queued);
                self.xsk.flush()?;
                if self.tx_left == 0 {
                    let a = self.xsk.accounting();
                    if a.tx + a.completion + a.kernel == 0 {
                        return Ok(false);
                    }
                    if self.poll {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                }
            }
        }
        Ok(true)
    }
}

/// A mode running on one or more queues.
pub struct Running {
    stop: Arc<AtomicBool>,
    /// A second descriptor per queue's socket, for XDP_STATISTICS.
    sockets: Vec<xsk::Socket>,
    threads: Vec<(u32, JoinHandle<Result<Worker>>)>,
    counters: Vec<(u32, Arc<QueueCounters>)>,
    prog: Option<XdpProgram>,
    /// XDP mode in use (none for txonly, which loads no program).
    pub mode: Option<ModeInUse>,
    /// Zero-copy or copy.
    pub zero_copy: bool,
    /// Bytes of UMEM.
    pub umem_bytes: usize,
}

impl Running {
    /// Sums of every queue's counters now.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for (_, c) in &self.counters {
            t += c.totals();
        }
        t
    }

    /// The kernel's socket counters summed over queues, and the XDP
    /// program's counters (for `-x`).
    pub fn extra(&self) -> Result<crate::app::stats::Extra> {
        let mut k = Statistics::default();
        for s in &self.sockets {
            k += &s.statistics()?;
        }
        let xdp = match &self.prog {
            Some(p) => p.counters()?,
            None => Default::default(),
        };
        Ok(crate::app::stats::Extra { kernel: k, xdp })
    }

    /// Per-queue counters now.
    pub fn per_queue(&self) -> Vec<(u32, Totals)> {
        self.counters
            .iter()
            .map(|(q, c)| (*q, c.totals()))
            .collect()
    }

    /// True once every thread has ended (txonly with a count).
    pub fn finished(&self) -> bool {
        self.threads.iter().all(|(_, h)| h.is_finished())
    }

    /// Stops the threads and collects the summary.
    pub fn stop(mut self, elapsed: f64) -> Result<ModeSummary> {
        self.stop.store(true, Ordering::Relaxed);
        let mut sum = ModeSummary {
            elapsed,
            umem_bytes: self.umem_bytes,
            ..Default::default()
        };
        let mut workers = Vec::new();
        let mut first_err = None;
        for (q, h) in self.threads.drain(..) {
            match h.join() {
                Ok(Ok(w)) => workers.push((q, w)),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(_) => {
                    first_err.get_or_insert(anyhow::anyhow!("queue {q} thread panicked"));
                }
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        sum.rss_bytes = cpu::rss_bytes();
        for (q, w) in &workers {
            let t = w.counters.totals();
            sum.total += t;
            let a = w.xsk.accounting();
            if !a.is_consistent() {
                sum.frames_unaccounted += a.total;
            }
            sum.queues
                .push((*q, t, w.xsk.statistics().unwrap_or_default()));
        }
        if let Some(p) = &mut self.prog {
            for (q, _) in &workers {
                let _ = p.unregister(*q);
            }
        }
        drop(workers);
        Ok(sum)
    }
}

/// Opens the sockets and starts one thread per queue.
pub fn start(mode: Mode, args: &ModeArgs, iface: &str, out: &mut dyn Write) -> Result<Running> {
    let s = &args.socket;
    let queues = args
        .queues
        .clone()
        .map(|l| l.0)
        .unwrap_or_else(|| vec![s.queue]);
    let cpus = args.cpus.clone().map(|l| l.0);
    if let Some(c) = &cpus {
        if c.len() != 1 && c.len() != queues.len() {
            bail!(
                "--cpus lists {} CPUs for {} queues: give one CPU per queue, or one for all",
                c.len(),
                queues.len()
            );
        }
    }
    crate::app::args::check_frame_size(s.frame_size, args.unaligned)?;
    let mut config = s.xsk_config();
    config.need_wakeup = !args.no_need_wakeup;
    config.umem.unaligned = args.unaligned;
    config.umem.frame_count = s
        .frames
        .checked_mul(queues.len() as u32)
        .filter(|n| *n <= crate::app::args::MAX_FRAMES * 16)
        .with_context(|| {
            format!(
                "{} frames for each of {} queues is too many",
                s.frames,
                queues.len()
            )
        })?;

    let template = if let Some(t) = &args.template {
        t.clone()
    } else if mode == Mode::Txonly {
        if !s.frags && args.size.saturating_sub(4) > s.frame_size as usize {
            bail!(
                "size {} does not fit a frame of {} bytes: use -s {} or less, a larger -f, or -F (multi-buffer)",
                args.size,
                s.frame_size,
                s.frame_size as usize + 4
            );
        }
        let src_mac = match &args.src_mac {
            Some(m) => crate::net::parse_mac(m)?,
            None => crate::net::veth::mac(iface).unwrap_or([2, 0, 0, 0, 0, 1]),
        };
        let dst_mac = match &args.dst_mac {
            Some(m) => crate::net::parse_mac(m)?,
            None => [0xff; 6],
        };
        udp_template(
            src_mac,
            dst_mac,
            args.src_ip,
            args.dst_ip,
            args.src_port,
            args.dst_port,
            args.size,
        )?
    } else {
        Vec::new()
    };

    let mut prog = None;
    let mut mode_in_use = None;
    if mode != Mode::Txonly {
        let highest = queues.iter().max().copied().unwrap_or(0);
        let program = if s.frags {
            Program::RedirectFrags
        } else {
            Program::Redirect
        };
        let mut p = XdpProgram::load(program, xskmap_slots(iface, highest)?)?;
        mode_in_use = Some(attach(&mut p, iface, s.attach_mode(), s.force, out)?);
        prog = Some(p);
    }

    let (umem, mut frames) = Umem::new(config.umem)?;
    let per_queue = frames.len() / queues.len();
    let mut xsks: Vec<Xsk> = Vec::new();
    for (i, &q) in queues.iter().enumerate() {
        let mine: Vec<Frame> = frames.drain(..per_queue.min(frames.len())).collect();
        let x = if i == 0 {
            Xsk::with_umem(iface, q, &config, umem.clone(), mine)?
        } else {
            Xsk::shared(&xsks[0], iface, q, &config, mine)?
        };
        if let Some(p) = &mut prog {
            p.register(q, &x)
                .with_context(|| format!("registering queue {q}"))?;
        }
        xsks.push(x);
    }
    let zero_copy = xsks[0].is_zero_copy();
    if !s.json {
        writeln!(
            out,
            "{} on {iface} queue(s) {:?}: {}, {} bind, {} frames x {} B{}, {}{}",
            mode.name(),
            queues,
            mode_in_use
                .map(|m| format!("XDP {m} mode"))
                .unwrap_or_else(|| "no XDP program".into()),
            if zero_copy { "zero-copy" } else { "copy" },
            config.umem.frame_count,
            config.umem.frame_size,
            if args.unaligned { " unaligned" } else { "" },
            if args.busy_poll {
                "busy poll"
            } else if s.poll {
                "poll()"
            } else {
                "busy loop"
            },
            if args.no_need_wakeup {
                ", no need_wakeup"
            } else {
                ""
            },
        )?;
    }

    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    let mut counters = Vec::new();
    let sockets = xsks
        .iter()
        .map(|x| x.socket().try_clone())
        .collect::<xsk::Result<Vec<_>>>()?;
    for (i, (x, &q)) in xsks.into_iter().zip(&queues).enumerate() {
        let mut w = Worker::new(
            x,
            mode,
            s.batch,
            s.poll,
            args.busy_poll,
            &template,
            args.count.map(|c| {
                c / queues.len() as u64
                    + u64::from((i as u64) < args.count.unwrap_or(0) % queues.len() as u64)
            }),
        )?;
        counters.push((q, w.counters()));
        let stop = stop.clone();
        let cpu_for = cpus
            .as_ref()
            .map(|c| if c.len() == 1 { c[0] } else { c[i] });
        threads.push((
            q,
            std::thread::Builder::new()
                .name(format!("xsk-q{q}"))
                .spawn(move || -> Result<Worker> {
                    if let Some(c) = cpu_for {
                        cpu::pin(c)?;
                    }
                    // A busy loop never waits in poll(), which is where a
                    // vanished interface is noticed: check now and then.
                    let mut next_check = Instant::now() + BOUND_CHECK;
                    let mut steps = 0u32;
                    while !stop.load(Ordering::Relaxed) {
                        if !w.step()? {
                            break;
                        }
                        steps = steps.wrapping_add(1);
                        if steps.is_multiple_of(1024) && Instant::now() >= next_check {
                            w.xsk.check_bound()?;
                            next_check = Instant::now() + BOUND_CHECK;
                        }
                    }
                    Ok(w)
                })?,
        ));
    }
    Ok(Running {
        stop,
        sockets,
        threads,
        counters,
        prog,
        mode: mode_in_use,
        zero_copy,
        umem_bytes: config.umem.len().unwrap_or(0),
    })
}

/// How often a busy loop checks that its interface still exists.
pub(crate) const BOUND_CHECK: Duration = Duration::from_millis(500);

/// Runs a mode with statistics until `stop`, the duration or the count.
pub fn run(
    mode: Mode,
    args: &ModeArgs,
    iface: &str,
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<ModeSummary> {
    let s = &args.socket;
    let running = start(mode, args, iface, out)?;
    let mut reporter = Reporter::new(ReportStyle {
        interval: s.interval,
        json: s.json,
        quiet: s.quiet,
        extra: s.extra,
    });
    let started = Instant::now();
    let deadline = s.duration.map(|d| started + d);
    let mut prev: Vec<(u32, Totals)> = running.per_queue();
    let mut last = started;
    loop {
        std::thread::sleep(s.interval.min(Duration::from_millis(50)));
        let now = Instant::now();
        let ended = stop.load(Ordering::Relaxed)
            || deadline.is_some_and(|d| now >= d)
            || running.finished();
        if reporter.due(now) && !ended {
            let per = running.per_queue();
            let secs = now.duration_since(last).as_secs_f64();
            if s.json && !s.quiet {
                let qs: Vec<_> = per
                    .iter()
                    .zip(&prev)
                    .map(|((q, t), (_, p))| {
                        json!({"queue": q, "rx_packets": t.rx_packets, "tx_packets": t.tx_packets,
                               "rx_pps": ((t.rx_packets - p.rx_packets) as f64 / secs).round(),
                               "tx_pps": ((t.tx_packets - p.tx_packets) as f64 / secs).round()})
                    })
                    .collect();
                let total = running.totals();
                writeln!(
                    out,
                    "{}",
                    json!({"time_s": (now - started).as_secs_f64(), "rx_packets": total.rx_packets, "tx_packets": total.tx_packets,
                    "rx_bytes": total.rx_bytes, "tx_bytes": total.tx_bytes, "queues": qs})
                )?;
                reporter.tick(&mut std::io::sink(), now, &total, None, &[]);
            } else {
                let extra = if s.extra {
                    Some(running.extra()?)
                } else {
                    None
                };
                reporter.tick(out, now, &running.totals(), extra.as_ref(), &[]);
                if per.len() > 1 && !s.quiet {
                    for ((q, t), (_, p)) in per.iter().zip(&prev) {
                        writeln!(
                            out,
                            "          queue {q}: rx {} pps, tx {} pps",
                            thousands(((t.rx_packets - p.rx_packets) as f64 / secs) as u64),
                            thousands(((t.tx_packets - p.tx_packets) as f64 / secs) as u64)
                        )?;
                    }
                }
            }
            prev = per;
            last = now;
        }
        if ended {
            break;
        }
    }
    running.stop(started.elapsed().as_secs_f64())
}
