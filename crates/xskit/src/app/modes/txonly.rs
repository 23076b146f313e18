//! txonly: send the prebuilt UDP frame as fast as possible (or a count).

use super::worker::Worker;
use anyhow::Result;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl Worker {
    /// One batch of txonly.
    pub(super) fn txonly_step(&mut self) -> Result<bool> {
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
        let sent = u64::from(match &self.multi_buffer {
            Some(packet) => self.xsk.transmit_packets(want, packet),
            None => match &self.tx_metadata {
                Some(meta) => self.xsk.transmit_new_with(want, meta, |_| tx_len)?,
                None => self.xsk.transmit_new(want, |_| tx_len),
            },
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
        Ok(true)
    }
}
