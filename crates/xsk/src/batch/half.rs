//! Batches on the halves of a split socket. The RX half's batch puts frames
//! back on FILL in one pass, or hands chosen ones out as tokens (for the TX
//! half, on another thread); the TX half writes new frames from the shared
//! pool straight onto TX. Both commit at the end or not at all.

use super::{window, Moved, RxFrame, Verdict};
use crate::pool::FreePool;
use crate::ring::TxRing;
use crate::umem::{Frame, Umem};
use crate::xsk::{RxHalf, TxHalf};
use std::sync::atomic::Ordering;

/// A window onto received frames of an [`RxHalf`]: the RX half's version of
/// [`RxBatch`](crate::RxBatch). Its frames go back to FILL, or out as
/// [`Frame`] tokens (for the TX half), all at once when it ends; dropping it
/// without `recycle` or `dispatch` rolls it back (the frames stay on RX), and
/// so does a panic in the closure given to `dispatch`.
#[must_use = "a batch that is dropped rolls back: its frames stay on RX"]
pub struct RxHalfBatch<'h> {
    half: &'h mut RxHalf,
    idx: u32,
    count: u32,
}

impl std::fmt::Debug for RxHalfBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxHalfBatch")
            .field("len", &self.count)
            .finish()
    }
}

impl RxHalf {
    /// Up to `max` received frames as one batch, ending on a packet
    /// boundary as [`Xsk::rx_batch`](crate::Xsk::rx_batch)'s.
    ///
    /// # Examples
    /// ```no_run
    /// # let (mut rx, _tx) = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default())?.split();
    /// // Count and drop: every frame goes straight back to FILL.
    /// let mut bytes = 0;
    /// let moved = rx.rx_batch(64).dispatch(&mut Vec::new(), |f| {
    ///     bytes += f.data().len();
    ///     xsk::Verdict::Recycle
    /// });
    /// // Answer ARP requests from the TX half: hand those frames out.
    /// let mut answers = Vec::new();
    /// rx.rx_batch(64).dispatch(&mut answers, |f| {
    ///     match f.data().get(12..14) {
    ///         Some([0x08, 0x06]) => xsk::Verdict::Transmit,
    ///         _ => xsk::Verdict::Recycle,
    ///     }
    /// });
    /// // ... send `answers` to the TX half's thread.
    /// # Ok::<(), xsk::Error>(())
    /// ```
    pub fn rx_batch(&mut self, max: u32) -> RxHalfBatch<'_> {
        let (idx, count) = window(self.parts().rx, max);
        RxHalfBatch {
            half: self,
            idx,
            count,
        }
    }
}

impl RxHalfBatch<'_> {
    /// Frames in the batch.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if nothing was received.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Puts every frame back on FILL in one pass (those that find it full go
    /// to the shared pool: [`Moved::freed`]).
    pub fn recycle(self) -> Moved {
        let (idx, count) = (self.idx, self.count);
        let p = self.half.parts();
        match super::recycle::rx_to_fill(p.rx, p.fill, p.umem, idx, count) {
            Some(moved) => moved,
            None => self.dispatch(&mut Vec::new(), |_| Verdict::Recycle),
        }
    }

    /// Shows each frame to `f`, which may rewrite it, then in one pass puts
    /// it back on FILL ([`Verdict::Recycle`]) or appends it to `out` as a
    /// token ([`Verdict::Transmit`]: for the TX half, through the caller's
    /// channel; counted in [`Moved::transmitted`] and
    /// [`Moved::tx_packets`]). A packet's first buffer decides for all its
    /// buffers; an emptied frame goes back to FILL. If `f` panics nothing
    /// moves: the frames stay on RX.
    pub fn dispatch(
        self,
        out: &mut Vec<Frame>,
        mut f: impl FnMut(&mut RxFrame<'_>) -> Verdict,
    ) -> Moved {
        let (idx, count) = (self.idx, self.count);
        let p = self.half.parts();
        let mut moved = Moved::default();
        let (fidx, froom) = p.fill.room(count);
        let mut fused = 0u32;
        // What a panicked batch may have left.
        p.overflow.clear();
        p.staged.clear();
        let (mut first, mut verdict) = (true, Verdict::Recycle);
        for i in 0..count {
            let d = p.rx.read(idx.wrapping_add(i));
            // SAFETY: the descriptor was read from RX and is not taken yet,
            // so the kernel has handed the chunk over and will not touch it;
            // no token exists for it; this is the only slice of it, dropped
            // before the next frame.
            let (addr, continued, mut frame) =
                unsafe { RxFrame::from_rx(p.umem, d, first, &mut moved) };
            let v = f(&mut frame);
            if first {
                verdict = v;
            }
            let len = frame.len;
            if verdict == Verdict::Transmit && len > 0 {
                // Made into a token only once the batch commits, as the
                // whole socket's overflow: a panic must leave no token for
                // a frame still on RX.
                p.staged.push(libc::xdp_desc {
                    addr,
                    len,
                    options: continued,
                });
                moved.transmitted += 1;
            } else if fused < froom {
                p.fill
                    .write(fidx.wrapping_add(fused), p.umem.chunk_base(addr));
                fused += 1;
                moved.recycled += 1;
            } else {
                p.overflow.push(addr);
                moved.freed += 1;
            }
            if continued == 0 {
                moved.packets += 1;
                if verdict == Verdict::Transmit {
                    moved.tx_packets += 1;
                }
            }
            first = continued == 0;
        }
        // Before the commit: growing `out` is the one step that may panic.
        out.reserve(p.staged.len());
        p.fill.publish(fidx, fused);
        p.rx.take(idx, count);
        for addr in p.overflow.drain(..) {
            p.pool.push(p.umem.chunk_base(addr));
        }
        p.handed_out.fetch_add(p.staged.len(), Ordering::Relaxed);
        for d in p.staged.drain(..) {
            let mut frame = p.umem.frame_from_kernel(d.addr, d.len);
            frame.set_continued(d.options != 0);
            out.push(frame);
        }
        moved
    }
}

/// Frames a TX batch took from the pool and wrote to TX, not yet published.
/// Unless the batch commits they go back to the pool when this is dropped
/// (the caller's closure panicked, or the batch stopped mid-packet).
struct TxStage<'a> {
    tx: &'a mut TxRing,
    umem: &'a Umem,
    pool: &'a FreePool,
    idx: u32,
    used: u32,
    /// A frame taken from the pool and not yet written to TX.
    holding: Option<u64>,
}

impl<'a> TxStage<'a> {
    /// A stage that writes TX from slot `idx` on, with nothing written.
    fn new(tx: &'a mut TxRing, umem: &'a Umem, pool: &'a FreePool, idx: u32) -> Self {
        TxStage {
            tx,
            umem,
            pool,
            idx,
            used: 0,
            holding: None,
        }
    }

    /// Gives the frames written from slot `from` on back to the pool.
    fn unwind_to(&mut self, from: u32) {
        for k in from..self.used {
            let addr = self.tx.read_own(self.idx.wrapping_add(k)).addr;
            self.pool.push(self.umem.chunk_base(addr));
        }
        self.used = from;
    }

    /// Writes a frame at the next slot.
    fn write(&mut self, desc: libc::xdp_desc) {
        self.tx.write(self.idx.wrapping_add(self.used), desc);
        self.used += 1;
    }

    /// Publishes what was written; returns how many.
    fn commit(mut self) -> u32 {
        let n = self.used;
        self.tx.publish(self.idx, n);
        self.used = 0;
        n
    }
}

impl Drop for TxStage<'_> {
    fn drop(&mut self) {
        if let Some(addr) = self.holding.take() {
            self.pool.push(addr);
        }
        self.unwind_to(0);
    }
}

/// The chunk of a pool address, as [`Umem::reset`] leaves a frame.
fn fresh(umem: &Umem, addr: u64) -> u64 {
    umem.chunk_base(addr) + u64::from(umem.config().headroom)
}

impl TxHalf {
    /// Sends up to `max` frames from the shared pool, each written by `f`,
    /// in one pass; returns how many were queued. As
    /// [`Xsk::transmit_new`](crate::Xsk::transmit_new): `f` gets the buffer
    /// and returns the length to send; 0 or more than the buffer stops the
    /// batch (that frame goes back to the pool). If `f` panics nothing is
    /// queued and the frames go back to the pool. Follow with
    /// [`TxHalf::flush`].
    pub fn transmit_new(&mut self, max: u32, f: impl FnMut(&mut [u8]) -> usize) -> u32 {
        self.transmit_new_inner(max, None, f)
    }

    /// [`TxHalf::transmit_new`] with the TX metadata `meta` in front of
    /// every frame, as [`Xsk::transmit_new_with`](crate::Xsk::transmit_new_with).
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidConfig`] if the UMEM has no TX metadata
    /// area; nothing is queued.
    pub fn transmit_new_with(
        &mut self,
        max: u32,
        meta: &crate::TxMetadata,
        f: impl FnMut(&mut [u8]) -> usize,
    ) -> crate::Result<u32> {
        if !self.umem().has_tx_metadata() {
            return Err(crate::Error::config("this UMEM has no TX metadata area")
                .with_hint("make it with UmemConfig::tx_metadata(true) (Linux 6.8+)"));
        }
        Ok(self.transmit_new_inner(max, Some(meta), f))
    }

    fn transmit_new_inner(
        &mut self,
        max: u32,
        meta: Option<&crate::TxMetadata>,
        mut f: impl FnMut(&mut [u8]) -> usize,
    ) -> u32 {
        let p = self.parts();
        let umem = p.umem;
        let (idx, room) = p.tx.room(max);
        let mut st = TxStage::new(p.tx, umem, p.pool, idx);
        while st.used < room {
            let Some(chunk) = st.pool.pop() else { break };
            st.holding = Some(chunk);
            let addr = fresh(umem, chunk);
            // SAFETY: the address came out of the pool, which gives each
            // address to one taker, and no token exists for a pooled
            // frame: nothing else reaches the chunk. This is its only
            // slice, dropped before the address moves on.
            let buf = unsafe { umem.chunk_from(addr) };
            let len = f(buf);
            let Ok(len32) = u32::try_from(len) else { break };
            if len == 0 || len > buf.len() {
                break;
            }
            let mut options = 0;
            if let Some(m) = meta {
                // SAFETY: as for `buf`, which is dead now; the descriptor
                // is published by `commit`, after this write.
                let Some(o) = (unsafe { umem.write_tx_meta_at(addr, m, len) }) else {
                    break;
                };
                options = o;
            }
            st.holding = None;
            st.write(libc::xdp_desc {
                addr,
                len: len32,
                options,
            });
        }
        st.commit()
    }

    /// Sends up to `max` copies of the packet `data` in frames from the
    /// shared pool, as [`Xsk::transmit_packets`](crate::Xsk::transmit_packets):
    /// one frame each, or a chain on a multi-buffer socket; only whole
    /// packets are queued. Returns how many packets.
    pub fn transmit_packets(&mut self, max: u32, data: &[u8]) -> u32 {
        let p = self.parts();
        let (umem, uc) = (p.umem, p.umem.config());
        let cap = (uc.frame_size - uc.headroom) as usize;
        let per = data.len().div_ceil(cap);
        let Ok(per32) = u32::try_from(per) else {
            return 0;
        };
        // An empty packet is none (the kernel refuses zero-length frames).
        if per == 0 || (per > 1 && !p.multi_buffer) {
            return 0;
        }
        let (idx, room) = p.tx.room(max.saturating_mul(per32));
        let mut st = TxStage::new(p.tx, umem, p.pool, idx);
        let mut packets = 0;
        'packets: while packets < room / per32 {
            let start = st.used;
            let mut segs = data.chunks(cap).peekable();
            while let Some(seg) = segs.next() {
                let Some(chunk) = st.pool.pop() else {
                    // The other half took the rest: no partial packet.
                    st.unwind_to(start);
                    break 'packets;
                };
                let addr = fresh(umem, chunk);
                // SAFETY: as in `transmit_new`: the pool gave this address
                // to us alone; the slice is dropped before it is written
                // to TX.
                let buf = unsafe { umem.chunk_from(addr) };
                buf[..seg.len()].copy_from_slice(seg);
                let options = if segs.peek().is_some() {
                    libc::XDP_PKT_CONTD
                } else {
                    0
                };
                st.write(libc::xdp_desc {
                    addr,
                    len: seg.len() as u32,
                    options,
                });
            }
            packets += 1;
        }
        st.commit();
        packets
    }
}
