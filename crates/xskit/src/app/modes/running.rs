//! Starting a mode on its queues (sockets, program, one thread each) and
//! stopping it into a summary.

use super::args::{udp_template, Benchmark, ModeArgs, RxNap};
use super::report::ModeSummary;
use super::worker::{QueueCounters, Worker, WorkerConfig};
use crate::app::shared::cpu;
use crate::app::shared::session::BOUND_CHECK;
use crate::app::shared::session::{attach, with_option_hint, xskmap_slots};
use crate::app::shared::stats::Totals;
use crate::xdp::{Program, XdpHook, XdpProgram};
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use xsk::{Frame, Statistics, Umem, Xsk};

/// A mode running on one or more queues.
pub struct Running {
    stop: Arc<AtomicBool>,
    /// A second descriptor per queue's socket, for XDP_STATISTICS.
    sockets: Vec<xsk::Socket>,
    threads: Vec<(u32, JoinHandle<Result<Worker>>)>,
    counters: Vec<(u32, Arc<QueueCounters>)>,
    prog: Option<XdpProgram>,
    /// XDP mode in use (none for txonly, unless it attached xdp_pass for
    /// a zero-copy TX wake-up).
    pub mode: Option<XdpHook>,
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

    /// The kernel's socket counters (XDP_STATISTICS) summed, and per queue.
    pub fn kernel_statistics(&self) -> Result<(Statistics, Vec<(u32, Statistics)>)> {
        let mut kernel = Statistics::default();
        let mut per_queue = Vec::with_capacity(self.sockets.len());
        for (s, (q, _)) in self.sockets.iter().zip(&self.counters) {
            let k = s.statistics()?;
            kernel += &k;
            per_queue.push((*q, k));
        }
        Ok((kernel, per_queue))
    }

    /// The kernel's socket counters per queue and summed, and the XDP
    /// program's counters (for `-x`: without it, the program was loaded
    /// without counters and this fails).
    pub fn extra(&self) -> Result<crate::app::shared::stats::Extra> {
        let (kernel, per_queue) = self.kernel_statistics()?;
        let xdp = match &self.prog {
            Some(p) => p.counters()?,
            None => Default::default(),
        };
        Ok(crate::app::shared::stats::Extra {
            kernel,
            xdp,
            per_queue,
        })
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
        sum.rss_bytes = rss_bytes();
        for (q, w) in &workers {
            let t = w.counters.totals();
            sum.total += t;
            if !settled_accounting(&w.xsk) {
                sum.frames_unaccounted += w.xsk.accounting().total;
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

/// The chunks txonly puts on FILL: enough for a driver to keep receiving
/// while frames pass to the stack (`config.prefill`).
const TXONLY_RX_CHUNKS: u32 = 64;

/// Opens the sockets and starts one thread per queue.
pub fn start(
    mode: Benchmark,
    args: &ModeArgs,
    iface: &str,
    out: &mut dyn Write,
) -> Result<Running> {
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
    crate::app::shared::args::check_frame_size(s.frame_size, args.unaligned, true)?;
    let mut config = args.tx_budget.apply(s.xsk_config())?;
    config.need_wakeup = !args.no_need_wakeup;
    config.umem.unaligned = args.unaligned;
    if mode == Benchmark::Txonly {
        // Nothing to receive, but a zero-copy bind feeds the queue's
        // receive ring from this UMEM alone (virtio-net, igb): with FILL
        // empty the queue takes no frame at all, the host's own traffic on
        // it included (and on QEMU's hub the sending peer blocks for good).
        // txonly's program passes what arrives to the stack and the driver
        // reuses those chunks, so a few keep the queue alive; in copy mode
        // they stay on FILL, unused.
        config.prefill = TXONLY_RX_CHUNKS.min(s.frames / 4);
    }
    if args.tx_checksum {
        config.umem = config.umem.tx_metadata(true);
    }
    config.umem.frame_count = s
        .frames
        .checked_mul(queues.len() as u32)
        .filter(|n| *n <= crate::app::shared::args::MAX_FRAMES * 16)
        .with_context(|| {
            format!(
                "{} frames for each of {} queues is too many",
                s.frames,
                queues.len()
            )
        })?;

    let mut template = if let Some(t) = &args.template {
        t.clone()
    } else if mode == Benchmark::Txonly {
        if !s.multi_buffer && args.tx.size.saturating_sub(4) > s.frame_size as usize {
            bail!(
                "size {} does not fit a frame of {} bytes: use -s {} or less, a larger -f, or -F (multi-buffer)",
                args.tx.size,
                s.frame_size,
                s.frame_size as usize + 4
            );
        }
        let src_mac = match &args.tx.src_mac {
            Some(m) => crate::wire::parse_mac(m)?,
            None => crate::net::veth::mac(iface).unwrap_or([2, 0, 0, 0, 0, 1]),
        };
        let dst_mac = match &args.tx.dst_mac {
            Some(m) => crate::wire::parse_mac(m)?,
            None => [0xff; 6],
        };
        udp_template(
            src_mac,
            dst_mac,
            args.tx.src_ip,
            args.tx.dst_ip,
            args.tx.src_port,
            args.tx.dst_port,
            args.tx.size,
        )?
    } else {
        Vec::new()
    };

    let tx_metadata = if args.tx_checksum {
        let at = crate::wire::checksum::udp_partial(&mut template)
            .context("--tx-checksum: the frame to send is not UDP over IPv4 or IPv6")?;
        Some(xsk::TxMetadata::default().checksum(Some(xsk::TxChecksum::new(at.start, at.offset))))
    } else {
        None
    };

    let mut prog = None;
    let mut mode_in_use = None;
    if mode != Benchmark::Txonly {
        let highest = queues.iter().max().copied().unwrap_or(0);
        let program = if s.multi_buffer {
            Program::RedirectMultiBuffer
        } else {
            Program::Redirect
        };
        let p = crate::app::shared::share::load(
            program,
            xskmap_slots(iface, highest)?,
            iface,
            &s.share,
            None,
            // The counters are read only for -x: without it each frame
            // costs the redirect alone.
            !s.extra,
        )?;
        // Refusals first: nothing is bound on an interface the program may
        // not go on.
        p.check_attach(iface, s.force)?;
        prog = Some(p);
    }

    let (umem, mut frames) = Umem::new(config.umem)?;
    let per_queue = frames.len() / queues.len();
    let mut xsks: Vec<Xsk> = Vec::new();
    for (i, &q) in queues.iter().enumerate() {
        let mine: Vec<Frame> = frames.drain(..per_queue.min(frames.len())).collect();
        let mut x = if i == 0 {
            Xsk::with_umem(iface, q, &config, umem.clone(), mine)
                .map_err(|e| tx_checksum_hint(e, args.tx_checksum))?
        } else {
            Xsk::shared(&xsks[0], iface, q, &config, mine).map_err(with_option_hint)?
        };
        if let Some(p) = &mut prog {
            x.refill(u32::MAX);
            p.register(q, &x)
                .with_context(|| format!("registering queue {q}"))?;
        }
        xsks.push(x);
    }
    // Attached once every socket is registered: until then the program
    // would pass the frames of the queues without one to the stack.
    if let Some(p) = &mut prog {
        mode_in_use = Some(attach(p, iface, s.attach_mode(), s.force, out)?);
        crate::app::shared::session::say_component_lifetime(p, iface, out)?;
    }
    let zero_copy = xsks[0].is_zero_copy();
    if mode == Benchmark::Txonly && zero_copy {
        // Some drivers take zero-copy TX wake-ups only with an XDP program
        // on the interface (igb: sendto fails with EINVAL), so txonly
        // attaches xdp_pass where none is, as xdpsock attaches its own.
        if crate::net::netns::xdp_attachment(iface)?.is_none() {
            let mut p = XdpProgram::load(Program::Pass, 1)?;
            match attach(&mut p, iface, s.attach_mode(), s.force, out) {
                Ok(m) => {
                    mode_in_use = Some(m);
                    prog = Some(p);
                }
                Err(e) => writeln!(
                    out,
                    "no XDP program on {iface} ({e:#}): some drivers (igb) refuse zero-copy TX wake-ups without one"
                )?,
            }
        }
    }
    if zero_copy || mode == Benchmark::Txonly {
        // igb takes its link down for about 2 s on every XDP attach and
        // zero-copy bind: frames sent meanwhile never reach the wire, and
        // txonly's count would include them.
        wait_for_carrier(iface);
    }
    if !s.json {
        writeln!(
            out,
            "{} on {iface} queue(s) {:?}: {}, {} bind, {} frames x {} B{}, {}{}{}",
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
                "busy poll".to_string()
            } else if let RxNap::For(n) = args.nap {
                format!("nap {} µs when idle", n.as_micros())
            } else if s.poll && args.nap == RxNap::Auto && mode != Benchmark::Txonly {
                format!(
                    "poll(), napping {} µs while frames flow",
                    super::args::AUTO_NAP.as_micros()
                )
            } else if s.poll {
                "poll()".to_string()
            } else {
                "busy loop".to_string()
            },
            if args.no_need_wakeup {
                ", no need_wakeup"
            } else {
                ""
            },
            config
                .tx_budget
                .map(|b| format!(", TX budget {b}"))
                .unwrap_or_default(),
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
        let worker = WorkerConfig {
            batch: s.batch,
            poll: s.poll,
            busy_poll: args.busy_poll,
            nap: args.nap,
            count: args.tx.count.map(|c| {
                c / queues.len() as u64
                    + u64::from((i as u64) < args.tx.count.unwrap_or(0) % queues.len() as u64)
            }),
            tx_metadata,
        };
        let mut w = Worker::new(x, mode, &worker, &template)?;
        counters.push((q, w.counters()));
        let stop = stop.clone();
        let napping = match args.nap {
            RxNap::For(_) => true,
            RxNap::Auto => s.poll,
            RxNap::Off => false,
        };
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
                    // A napping loop takes few steps a second when idle:
                    // check on time alone (a clock read per step is
                    // nothing beside a sleep).
                    let every = if napping { 1 } else { 1024 };
                    while !stop.load(Ordering::Relaxed) {
                        if !w.step()? {
                            break;
                        }
                        steps = steps.wrapping_add(1);
                        if steps.is_multiple_of(every) && Instant::now() >= next_check {
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

/// A refused TX metadata area names `--tx-checksum`, in one line.
fn tx_checksum_hint(e: xsk::Error, tx_checksum: bool) -> anyhow::Error {
    if tx_checksum && e.kind() == xsk::ErrorKind::Unsupported {
        return anyhow::anyhow!("--tx-checksum: {e}");
    }
    with_option_hint(e)
}

/// Waits up to 5 s for `iface`'s carrier (igb drops it for about 2 s on
/// every XDP attach and zero-copy bind, a little after the call); frames
/// sent before it returns are lost.
fn wait_for_carrier(iface: &str) {
    let carrier = || {
        std::fs::read_to_string(format!("/sys/class/net/{iface}/carrier"))
            .map(|c| c.trim() == "1")
            .unwrap_or(true)
    };
    let end = Instant::now() + std::time::Duration::from_secs(5);
    std::thread::sleep(std::time::Duration::from_millis(100));
    while !carrier() && Instant::now() < end {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Resident set size of this process, in bytes (from /proc/self/statm).
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * rustix::param::page_size() as u64
}

/// Whether every frame of `xsk` is in one place: the accounting read again
/// for up to half a second while the kernel may still be moving frames
/// from TX to the completion ring (its indices move between the reads of
/// one accounting; seen under emulation, where a stop comes with frames in
/// flight). A frame really lost stays missing.
fn settled_accounting(xsk: &xsk::Xsk) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_millis(500);
    loop {
        if xsk.accounting().is_consistent() {
            return true;
        }
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}
