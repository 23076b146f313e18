//! rxdrop: receive and drop; RX descriptors go straight back onto FILL.

use super::worker::Worker;
use anyhow::Result;
use std::sync::atomic::Ordering;

impl Worker {
    /// One batch of rxdrop.
    pub(super) fn rxdrop_step(&mut self) -> Result<bool> {
        self.wait_rx()?;
        // One pass: RX descriptors straight back onto FILL.
        let m = self.xsk.rx_batch(self.batch).recycle();
        let n = m.recycled + m.freed;
        self.received(n);
        if n > 0 {
            let c = &self.counters;
            c.rx_packets
                .fetch_add(u64::from(m.packets), Ordering::Relaxed);
            c.rx_bytes.fetch_add(m.bytes, Ordering::Relaxed);
        }
        if m.freed > 0 {
            self.xsk.refill(u32::MAX);
        }
        Ok(true)
    }
}
