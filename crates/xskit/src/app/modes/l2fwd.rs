//! l2fwd: swap the MAC addresses and send each frame back out.

use super::worker::Worker;
use anyhow::Result;
use std::sync::atomic::Ordering;
use xsk::Verdict;

impl Worker {
    /// One batch of l2fwd.
    pub(super) fn l2fwd_step(&mut self) -> Result<bool> {
        self.wait_rx()?;
        // Completed sends go straight back to FILL, and received
        // frames straight onto TX, each in one pass. When TX is slower
        // than RX, frames pile up on TX: below the floor, received frames
        // go back to FILL instead (dropped), so the NIC has frames to
        // receive into while this loop keeps up its turns; on igb before
        // Linux 6.18.17 and 7.0 an empty FILL stopped receiving for good
        // (see `RxBatch::keep_posted`).
        self.xsk.complete_to_fill(u32::MAX);
        let batch = self.xsk.rx_batch(self.batch).keep_posted(self.fill_floor);
        let m = batch.dispatch(|f| {
            if !f.starts_packet() {
                return Verdict::Transmit; // the rest of a multi_buffer frame
            }
            let d = f.data_mut();
            if d.len() >= 12 {
                let (dst, src) = d.split_at_mut(6);
                dst.swap_with_slice(&mut src[..6]);
            }
            Verdict::Transmit
        });
        let n = m.transmitted + m.tx_full + m.kept;
        self.received(n);
        if n > 0 {
            let c = &self.counters;
            c.rx_packets.fetch_add(u64::from(n), Ordering::Relaxed);
            c.rx_bytes.fetch_add(m.bytes, Ordering::Relaxed);
            c.tx_packets
                .fetch_add(u64::from(m.transmitted), Ordering::Relaxed);
            c.tx_dropped
                .fetch_add(u64::from(m.tx_full + m.kept), Ordering::Relaxed);
            // Bytes out: all frames keep their length.
            let out = m.bytes / u64::from(n) * u64::from(m.transmitted);
            c.tx_bytes.fetch_add(out, Ordering::Relaxed);
        }
        // Every turn, not only after new frames (a system call only where
        // frames wait on TX and the kernel asked for a wake-up): a driver
        // that asked sends nothing more until it gets one, and once every
        // frame of the UMEM waits on TX nothing arrives to prompt one.
        self.xsk.flush()?;
        if m.freed > 0 {
            self.xsk.refill(u32::MAX);
        }
        Ok(true)
    }
}
