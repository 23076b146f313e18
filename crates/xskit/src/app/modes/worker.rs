//! The per-packet loop of one queue and its counters; each mode's step is
//! in its own file (rxdrop.rs, txonly.rs, l2fwd.rs).

use super::args::{Benchmark, RxNap, AUTO_NAP, AUTO_NAP_QUIET_TURNS};
use crate::app::shared::stats::Totals;
use anyhow::{bail, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use xsk::Xsk;

/// Counters of one queue, shared between its thread and the reporter.
#[derive(Debug, Default)]
pub struct QueueCounters {
    pub(super) rx_packets: AtomicU64,
    pub(super) rx_bytes: AtomicU64,
    pub(super) tx_packets: AtomicU64,
    pub(super) tx_bytes: AtomicU64,
    pub(super) tx_dropped: AtomicU64,
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
    pub(super) mode: Benchmark,
    pub(super) batch: u32,
    pub(super) poll: bool,
    pub(super) busy_poll: bool,
    /// The nap where it applies: `Auto` only with poll() and no busy poll.
    pub(super) nap: RxNap,
    pub(super) counters: Arc<QueueCounters>,
    pub(super) tx_len: usize,
    /// txonly -F: the packet, when it does not fit a frame.
    pub(super) multi_buffer: Option<Vec<u8>>,
    /// txonly --tx-checksum: the request written in front of every frame.
    pub(super) tx_metadata: Option<xsk::TxMetadata>,
    /// Frames one packet takes (1 but for jumbo packets).
    pub(super) bufs_per_packet: u64,
    /// Completed frames not yet counted as a whole packet.
    pub(super) done_bufs: u64,
    pub(super) tx_left: u64,
    /// The last receive filled a whole batch.
    pub(super) last_full: bool,
    /// Receives in a row that found nothing.
    pub(super) empty_turns: u32,
    /// l2fwd: the frames kept posted for receiving (a quarter of those
    /// posted at the start; see `l2fwd_step`).
    pub(super) fill_floor: u32,
}

/// How a [`Worker`] runs: batch size, how it waits for frames, and how
/// many packets txonly sends.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct WorkerConfig {
    /// Descriptors per batch.
    pub batch: u32,
    /// Sleep in poll() when the ring runs dry, instead of a busy loop.
    pub poll: bool,
    /// Preferred busy polling on the socket (SO_PREFER_BUSY_POLL,
    /// SO_BUSY_POLL, SO_BUSY_POLL_BUDGET = batch).
    pub busy_poll: bool,
    /// How the receiving modes wait when the ring runs dry: a fixed nap
    /// instead of poll() or a busy loop, or (with `poll`) naps while frames
    /// flow.
    pub nap: RxNap,
    /// txonly: packets to send, then stop (None: until stopped).
    pub count: Option<u64>,
    /// txonly: TX metadata for every frame (`--tx-checksum`).
    pub tx_metadata: Option<xsk::TxMetadata>,
}

impl Default for WorkerConfig {
    /// Batches of 64 in a busy loop, no count.
    fn default() -> WorkerConfig {
        WorkerConfig {
            batch: 64,
            poll: false,
            busy_poll: false,
            nap: RxNap::Off,
            count: None,
            tx_metadata: None,
        }
    }
}

impl Worker {
    /// Sets up the loop; for txonly, writes `template` into every frame once.
    pub fn new(
        mut xsk: Xsk,
        mode: Benchmark,
        config: &WorkerConfig,
        template: &[u8],
    ) -> Result<Worker> {
        let WorkerConfig {
            batch,
            poll,
            busy_poll,
            nap,
            count,
            tx_metadata,
        } = *config;
        if tx_metadata.is_some() && mode == Benchmark::Txonly && xsk.is_multi_buffer() {
            bail!("--tx-checksum does not combine with multi-buffer (-F)");
        }
        if busy_poll {
            xsk.socket().set_busy_poll(20, batch)?;
        }
        let mut tx_len = 0;
        let mut multi_buffer = None;
        let room = {
            let c = xsk.umem().config();
            (c.frame_size - c.headroom) as usize
        };
        if mode == Benchmark::Txonly && xsk.is_multi_buffer() && template.len() > room {
            // Larger than a frame: each packet is copied into a chain of
            // frames as it is sent (-F).
            multi_buffer = Some(template.to_vec());
            tx_len = template.len();
        } else if mode == Benchmark::Txonly {
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
        let fill_floor = if mode == Benchmark::L2fwd {
            xsk.rx_posted() / 4
        } else {
            0
        };
        Ok(Worker {
            xsk,
            mode,
            batch,
            poll,
            busy_poll,
            nap: nap_in_use(nap, poll, busy_poll),
            counters: Arc::new(QueueCounters::default()),
            tx_len,
            bufs_per_packet: multi_buffer
                .as_ref()
                .map_or(1, |t: &Vec<u8>| t.len().div_ceil(room) as u64),
            done_bufs: 0,
            multi_buffer,
            tx_metadata,
            tx_left: count.unwrap_or(u64::MAX),
            last_full: false,
            // Start in poll(): nothing has flowed yet.
            empty_turns: AUTO_NAP_QUIET_TURNS,
            fill_floor,
        })
    }

    /// The counters this worker updates.
    pub fn counters(&self) -> Arc<QueueCounters> {
        self.counters.clone()
    }

    /// Notes what a receive took: `n` descriptors of a batch.
    pub(super) fn received(&mut self, n: u32) {
        self.last_full = n == self.batch;
        self.empty_turns = if n > 0 {
            0
        } else {
            self.empty_turns.saturating_add(1)
        };
    }

    /// The nap before the next receive: the fixed one, or with `Auto`
    /// [`AUTO_NAP`] until [`AUTO_NAP_QUIET_TURNS`] receives in a row found
    /// nothing (then poll(), woken by the next frame at once).
    fn nap(&self) -> Option<std::time::Duration> {
        nap_for(self.nap, self.empty_turns)
    }

    pub(super) fn wait_rx(&mut self) -> Result<()> {
        if let Some(nap) = self.nap() {
            // A timed sleep: the kernel fills the ring meanwhile without
            // waking this thread for every batch it delivers.
            if !self.last_full {
                std::thread::sleep(nap);
            }
            if self.xsk.fill_needs_wakeup() {
                self.xsk.socket().kick_rx()?;
            }
        } else if self.poll {
            // Sleep in poll() only when the ring ran dry: after a full
            // batch more frames are likely waiting, and a syscall per
            // batch is what keeps a shared core from keeping up.
            if !self.last_full {
                self.xsk
                    .socket()
                    .poll_rx(Some(std::time::Duration::from_millis(100)))?;
            }
        } else if self.busy_poll || (self.xsk.fill_needs_wakeup() && self.xsk.rx_pending() == 0) {
            // A busy loop wakes the driver only once RX ran dry, as
            // xdpsock does: frames still waiting mean its receive poll
            // runs and takes from FILL, and every wake-up costs a system
            // call (and on igb an interrupt).
            self.xsk.socket().kick_rx()?;
        }
        Ok(())
    }

    /// One batch. Returns false once a txonly count is sent and completed.
    pub fn step(&mut self) -> Result<bool> {
        match self.mode {
            Benchmark::Rxdrop => self.rxdrop_step(),
            Benchmark::L2fwd => self.l2fwd_step(),
            Benchmark::Txonly => self.txonly_step(),
        }
    }
}

/// The nap a loop uses: `Auto` naps only between poll()s (a busy loop
/// or busy polling never sleeps unless given a fixed nap).
fn nap_in_use(nap: RxNap, poll: bool, busy_poll: bool) -> RxNap {
    match nap {
        RxNap::Auto if !poll || busy_poll => RxNap::Off,
        n => n,
    }
}

/// [`Worker::nap`]'s policy: a fixed nap always; `auto` naps while fewer
/// than [`AUTO_NAP_QUIET_TURNS`] receives in a row found nothing.
fn nap_for(nap: RxNap, empty_turns: u32) -> Option<std::time::Duration> {
    match nap {
        RxNap::For(n) => Some(n),
        RxNap::Auto if empty_turns < AUTO_NAP_QUIET_TURNS => Some(AUTO_NAP),
        RxNap::Auto | RxNap::Off => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn auto_naps_while_frames_flow_and_polls_after_a_quiet_spell() {
        // Frames just came: nap.
        assert_eq!(nap_for(RxNap::Auto, 0), Some(AUTO_NAP));
        assert_eq!(
            nap_for(RxNap::Auto, AUTO_NAP_QUIET_TURNS - 1),
            Some(AUTO_NAP)
        );
        // 1 ms without a frame: back to poll(), where the next frame wakes
        // the loop at once.
        assert_eq!(nap_for(RxNap::Auto, AUTO_NAP_QUIET_TURNS), None);
        assert_eq!(nap_for(RxNap::Auto, u32::MAX), None);
        // Off: never; a fixed nap: always, however quiet.
        assert_eq!(nap_for(RxNap::Off, 0), None);
        let d = Duration::from_micros(250);
        assert_eq!(nap_for(RxNap::For(d), 0), Some(d));
        assert_eq!(nap_for(RxNap::For(d), u32::MAX), Some(d));
        // Auto only between poll()s; a fixed nap whatever the loop.
        assert_eq!(nap_in_use(RxNap::Auto, true, false), RxNap::Auto);
        assert_eq!(nap_in_use(RxNap::Auto, false, false), RxNap::Off);
        assert_eq!(nap_in_use(RxNap::Auto, true, true), RxNap::Off);
        assert_eq!(nap_in_use(RxNap::For(d), false, false), RxNap::For(d));
    }
}
