//! txonly: send the prebuilt UDP frame as fast as possible (or a count).

use super::worker::Worker;
use anyhow::Result;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Worker {
    /// One turn of txonly: TX filled to its room (at least a batch).
    pub(super) fn txonly_step(&mut self) -> Result<bool> {
        // As much as TX holds, not a batch: a driver that sends from TX in
        // its NAPI poll (igb in zero-copy) keeps polling while
        // TX holds more than one poll sends, and ends its poll, to be
        // woken again by the next system call and interrupt, when TX runs
        // short. Turns of 64 kept TX that short on igb: 0.59x xdpsock
        // under QEMU's icount; filled to its room, 1.01x (BENCHMARKS.md).
        let turn = self.batch.max(self.xsk.tx_room());
        let want = u64::from(turn).min(self.tx_left) as u32;
        // Single frames without metadata: what completed goes straight back
        // onto TX, its bytes unchanged (the free list is for the rest).
        let again = match (&self.multi_buffer, &self.tx_metadata) {
            (None, None) => self.xsk.complete_to_tx(want, self.tx_len as u32),
            _ => 0,
        };
        self.done_bufs += u64::from(again) + u64::from(self.xsk.complete(u32::MAX));
        let done = self.done_bufs / self.bufs_per_packet;
        self.done_bufs %= self.bufs_per_packet;
        if done > 0 {
            self.counters.tx_packets.fetch_add(done, Ordering::Relaxed);
            self.counters
                .tx_bytes
                .fetch_add(done * self.tx_len as u64, Ordering::Relaxed);
        }
        // Then from the free list: every frame already holds the packet
        // (written once by `new`).
        let (want, tx_len) = (want - again, self.tx_len);
        let sent = u64::from(match &self.multi_buffer {
            Some(packet) => self.xsk.transmit_packets(want, packet),
            None => match &self.tx_metadata {
                Some(meta) => self.xsk.transmit_new_with(want, meta, |_| tx_len)?,
                None => self.xsk.transmit_new(want, |_| tx_len),
            },
        });
        self.tx_left -= u64::from(again) + sent;
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
        Ok(true)
    }
}
