//! Ring-to-ring batches: the fast path that moves frame addresses straight
//! from one ring to the next in a single pass, with no token per frame.
//!
//! A received batch is a window onto RX entries that are read but not yet
//! taken. Its terminal calls (`recycle`, `transmit`, `dispatch`) write the
//! descriptors onto FILL or TX and then take the RX entries, all at once;
//! dropping a batch without one rolls it back (the frames stay on RX and
//! the next batch sees them again). A frame is thus always in exactly one
//! ring, and the accounting needs no per-frame update.
//!
//! On a split socket the RX half has its own batch (`half.rs`): RX to FILL,
//! or out as tokens for the TX half; the TX half writes new frames from the
//! shared pool. Moving RX entries to TX in one pass needs both halves'
//! rings, so `RxBatch` stays on the whole socket.

use crate::error::Error;
use crate::ring::RxRing;
use crate::tx_meta::TxMetadata;
use crate::umem::Umem;
use crate::xsk::{Parts, Xsk};

mod half;
mod recycle;

pub use half::RxHalfBatch;

/// What [`RxBatch::dispatch`] does with one received frame.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Verdict {
    /// Back to the FILL ring, to receive into again.
    Recycle,
    /// Onto the TX ring with its (possibly rewritten) bytes and length.
    Transmit,
}

/// How a batch ended.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct Moved {
    /// Packets received (a multi-buffer packet is several frames).
    pub packets: u32,
    /// Packets put on TX.
    pub tx_packets: u32,
    /// Frames put back on FILL.
    pub recycled: u32,
    /// Frames put on TX.
    pub transmitted: u32,
    /// Frames meant for TX that found it full and went back to FILL.
    pub tx_full: u32,
    /// Frames that found FILL full too and went to the free list.
    pub freed: u32,
    /// Frames meant for TX that went back to FILL instead, to keep the
    /// frames posted for receiving at [`RxBatch::keep_posted`]'s floor
    /// (included in `recycled` or `freed`).
    pub kept: u32,
    /// Bytes of the received frames.
    pub bytes: u64,
}

/// One received frame inside a batch: its bytes, writable in place.
#[derive(Debug)]
pub struct RxFrame<'a> {
    buf: &'a mut [u8],
    /// The chunk's bytes before the data (its headroom).
    head: &'a [u8],
    len: u32,
    continued: bool,
    first: bool,
}

impl<'a> RxFrame<'a> {
    /// The frame of the RX descriptor `d` as a batch shows it to its
    /// callback, with its chunk's address and its `XDP_PKT_CONTD` option;
    /// counts its length in `moved.bytes`.
    ///
    /// # Safety
    /// `d` was read from RX of `umem`'s socket and its entry is not taken
    /// yet (the kernel has handed the chunk over and will not touch it), no
    /// token exists for the chunk, and no other slice of it lives while the
    /// frame does.
    unsafe fn from_rx(
        umem: &'a Umem,
        d: libc::xdp_desc,
        first: bool,
        moved: &mut Moved,
    ) -> (u64, u32, RxFrame<'a>) {
        let continued = d.options & libc::XDP_PKT_CONTD;
        let addr = umem.decode(d.addr, d.len);
        moved.bytes += u64::from(d.len);
        // SAFETY: the caller's contract above: the chunk is held
        // exclusively and `addr` comes from `decode`.
        let buf = unsafe { umem.chunk_from(addr) };
        // SAFETY: as above; the head ends where `buf` begins, so the two
        // slices do not overlap.
        let head = unsafe { umem.head_before(addr) };
        let frame = RxFrame {
            buf,
            head,
            len: d.len,
            continued: continued != 0,
            first,
        };
        (addr, continued, frame)
    }
}

impl RxFrame<'_> {
    /// The RX metadata an XDP program wrote in front of the frame (the
    /// RSS hash, timestamp and VLAN tag from xskit-xdp's `RxMetaProgram`);
    /// `None` if there is none, and for the later frames of a multi-buffer
    /// packet (the metadata goes with its first).
    pub fn metadata(&self) -> Option<crate::RxMetadata> {
        if !self.first {
            return None;
        }
        crate::RxMetadata::from_head(self.head)
    }

    /// The received bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }

    /// The received bytes, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len as usize]
    }

    /// True if more buffers of the same packet follow (multi-buffer
    /// sockets); the verdict of a packet's first buffer decides for all.
    pub fn is_continued(&self) -> bool {
        self.continued
    }

    /// True for the first buffer of a packet (the one with its headers);
    /// always true on sockets without multi-buffer.
    pub fn starts_packet(&self) -> bool {
        self.first
    }

    /// Room from the data start to the end of the chunk.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Changes the length to transmit (up to [`RxFrame::capacity`]); the
    /// bytes past the old length are the chunk's, unspecified.
    ///
    /// # Errors
    /// Returns the capacity if `len` exceeds it.
    pub fn set_len(&mut self, len: usize) -> Result<(), usize> {
        if len > self.buf.len() {
            return Err(self.buf.len());
        }
        self.len = len as u32;
        Ok(())
    }
}

/// A window onto received frames of an [`Xsk`], from [`Xsk::rx_batch`].
///
/// The entries stay on RX, read but not taken, until a terminal call
/// (`recycle`, `transmit`, `dispatch`) writes each frame's descriptor onto
/// FILL or TX and takes them all at once. Dropping the batch without one
/// rolls it back: the frames stay on RX and the next batch sees them again;
/// so does a panic in `dispatch`'s closure. A frame is thus always in
/// exactly one ring. For a split socket see [`RxHalfBatch`].
#[must_use = "a batch that is dropped rolls back: its frames stay on RX"]
pub struct RxBatch<'x> {
    xsk: &'x mut Xsk,
    idx: u32,
    count: u32,
    /// [`RxBatch::keep_posted`]'s floor (0: none).
    keep: u32,
}

impl std::fmt::Debug for RxBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RxBatch").field("len", &self.count).finish()
    }
}

/// Where a batch writes: FILL from `idx`, `room` slots, `used` so far.
struct FillCursor {
    idx: u32,
    room: u32,
    used: u32,
}

impl FillCursor {
    /// Writes one frame to FILL or, if FILL is full, the free list.
    fn put(&mut self, p: &mut Parts<'_>, addr: u64, moved: &mut Moved) {
        if self.used < self.room {
            p.fill
                .write(self.idx.wrapping_add(self.used), p.umem.chunk_base(addr));
            self.used += 1;
            moved.recycled += 1;
        } else {
            // Made into a free-list token only once the batch commits: if
            // the caller's closure panics the batch is not taken from RX,
            // and a token made now would be a second one for that chunk.
            // (The socket's own buffer, sized for a whole RX ring: no
            // allocation.)
            p.overflow.push(addr);
            moved.freed += 1;
        }
    }
}

/// Up to `max` ready RX entries ending on a packet boundary: a
/// multi-buffer packet is never split between two batches (one longer than
/// `max` is taken whole once all of it has arrived), so each packet gets
/// one verdict. Returns the first index and how many.
fn window(rx: &mut RxRing, max: u32) -> (u32, u32) {
    let (idx, avail) = rx.ready(max);
    let continued =
        |rx: &RxRing, k: u32| rx.read(idx.wrapping_add(k)).options & libc::XDP_PKT_CONTD != 0;
    let mut count = avail;
    while count > 0 && continued(rx, count - 1) {
        count -= 1;
    }
    if count == 0 && avail > 0 {
        let (_, all) = rx.ready(u32::MAX);
        count = (0..all).find(|&k| !continued(rx, k)).map_or(0, |k| k + 1);
    }
    (idx, count)
}

impl<'x> RxBatch<'x> {
    /// The batch ends on a packet boundary: a multi-buffer packet is never
    /// split between two batches (one longer than `max` is taken whole once
    /// all of it has arrived), so each packet gets one verdict.
    pub(crate) fn new(xsk: &'x mut Xsk, max: u32) -> Self {
        let (idx, count) = window(xsk.parts().rx, max);
        RxBatch {
            xsk,
            idx,
            count,
            keep: 0,
        }
    }

    /// Sends packets meant for TX back to FILL instead while fewer than
    /// `min` frames are posted for receiving ([`Xsk::rx_posted`]), counted
    /// in [`Moved::kept`]; the verdict of a packet's first buffer decides
    /// for all of it, as always.
    ///
    /// A forwarder whose TX is slower than its RX otherwise ends with
    /// every frame on TX and none on FILL: the NIC drops what arrives
    /// meanwhile, and some zero-copy drivers never start receiving again,
    /// because they refill their receive ring only in their receive
    /// interrupt, which an empty ring no longer raises, and their RX
    /// wake-up does not reach it (igb before Linux 6.18.17 and 7.0).
    /// With a floor, received packets past it are dropped at once and
    /// receiving goes on, as long as the application takes its turns: the
    /// floor is checked at each batch, and a NIC that receives `min`
    /// frames between two batches (a thread descheduled that long) still
    /// empties it. Posted frames also include, for a while, buffers the
    /// driver has filled and not yet published on RX.
    ///
    /// # Examples
    /// ```no_run
    /// # let mut xsk = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default())?;
    /// // Forward, keeping 512 frames posted for receiving at each batch.
    /// xsk.rx_batch(64).keep_posted(512).transmit();
    /// xsk.flush()?;
    /// # Ok::<(), xsk::Error>(())
    /// ```
    pub fn keep_posted(mut self, min: u32) -> Self {
        self.keep = min;
        self
    }

    /// Frames in the batch.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// True if nothing was received.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Puts every frame back on FILL in one pass.
    pub fn recycle(self) -> Moved {
        let (idx, count) = (self.idx, self.count);
        let p = self.xsk.parts();
        match recycle::rx_to_fill(p.rx, p.fill, p.umem, idx, count) {
            Some(moved) => moved,
            None => self.dispatch(|_| Verdict::Recycle),
        }
    }

    /// Puts every frame on TX in one pass (after rewriting them through
    /// [`RxBatch::dispatch`] if needed); follow with [`Xsk::flush`].
    pub fn transmit(self) -> Moved {
        self.dispatch(|_| Verdict::Transmit)
    }

    /// Shows each frame to `f`, which may rewrite it, and sends it where
    /// the verdict says, in one pass. If `f` panics nothing moves: the
    /// frames stay on RX (with whatever `f` wrote into them).
    pub fn dispatch(self, mut f: impl FnMut(&mut RxFrame<'_>) -> Verdict) -> Moved {
        let (idx, count) = (self.idx, self.count);
        let mut moved = Moved::default();
        // Read only when asked: the kernel's RX producer index, afresh
        // (an older cached one would count received frames as posted).
        let mut posted = if self.keep > 0 {
            self.xsk.rx_posted()
        } else {
            u32::MAX
        };
        let mut p = self.xsk.parts();
        let (fidx, froom) = p.fill.room(count);
        let mut fill = FillCursor {
            idx: fidx,
            room: froom,
            used: 0,
        };
        p.overflow.clear(); // what a panicked batch may have left
        let (tidx, troom) = p.tx.room(count);
        let mut tused = 0u32;
        // A multi-buffer packet moves as a whole: the verdict of its first
        // buffer decides, and if TX fills up part-way, the buffers already
        // written for it go back to FILL with the rest.
        let (mut first, mut packet_verdict) = (true, Verdict::Recycle);
        let (mut packet_tx_start, mut no_room, mut keeping) = (0u32, false, false);
        for i in 0..count {
            let d = p.rx.read(idx.wrapping_add(i));
            // SAFETY: the descriptor was read from RX and is not taken yet,
            // so the kernel has handed the chunk over and will not touch it;
            // this is the only slice of it, dropped before the next frame.
            let (addr, continued, mut frame) =
                unsafe { RxFrame::from_rx(p.umem, d, first, &mut moved) };
            let mut verdict = f(&mut frame);
            if first {
                keeping = verdict == Verdict::Transmit && posted < self.keep;
                if keeping {
                    verdict = Verdict::Recycle;
                }
                (packet_verdict, packet_tx_start, no_room) = (verdict, tused, false);
            }
            let len = frame.len;
            if keeping {
                moved.kept += 1;
            }
            let recycled = moved.recycled;
            match packet_verdict {
                // An emptied frame is no packet: back to FILL.
                Verdict::Transmit if len == 0 => fill.put(&mut p, addr, &mut moved),
                Verdict::Transmit if !no_room && tused < troom => {
                    let desc = libc::xdp_desc {
                        addr,
                        len,
                        options: continued,
                    };
                    p.tx.write(tidx.wrapping_add(tused), desc);
                    tused += 1;
                    moved.transmitted += 1;
                }
                Verdict::Transmit => {
                    if !no_room {
                        no_room = true;
                        for k in packet_tx_start..tused {
                            let a = p.tx.read_own(tidx.wrapping_add(k)).addr;
                            fill.put(&mut p, a, &mut moved);
                        }
                        moved.transmitted -= tused - packet_tx_start;
                        moved.tx_full += tused - packet_tx_start;
                        tused = packet_tx_start;
                    }
                    moved.tx_full += 1;
                    fill.put(&mut p, addr, &mut moved);
                }
                Verdict::Recycle => fill.put(&mut p, addr, &mut moved),
            }
            posted = posted.saturating_add(moved.recycled - recycled);
            if continued == 0 {
                moved.packets += 1;
                if packet_verdict == Verdict::Transmit && !no_room {
                    moved.tx_packets += 1;
                }
            }
            first = continued == 0;
        }
        p.fill.publish(fidx, fill.used);
        p.tx.publish(tidx, tused);
        p.rx.take(idx, count);
        for addr in p.overflow.drain(..) {
            p.free.push(p.umem.frame_from_kernel(addr, 0));
        }
        moved
    }
}

impl Xsk {
    /// Up to `max` received frames as one batch, for the ring-to-ring fast
    /// path (see [`RxBatch`]).
    ///
    /// # Examples
    /// ```no_run
    /// # let mut xsk = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default())?;
    /// // rxdrop: every received frame goes straight back to FILL.
    /// let moved = xsk.rx_batch(64).recycle();
    /// // l2fwd: swap the MAC addresses and send each frame back out.
    /// xsk.rx_batch(64).dispatch(|f| {
    ///     let d = f.data_mut();
    ///     if d.len() >= 12 {
    ///         let (dst, src) = d.split_at_mut(6);
    ///         dst.swap_with_slice(&mut src[..6]);
    ///     }
    ///     xsk::Verdict::Transmit
    /// });
    /// xsk.flush()?;
    /// # Ok::<(), xsk::Error>(())
    /// ```
    pub fn rx_batch(&mut self, max: u32) -> RxBatch<'_> {
        RxBatch::new(self, max)
    }

    /// Moves up to `max` completed frames straight to FILL, in one pass;
    /// returns how many.
    pub fn complete_to_fill(&mut self, max: u32) -> u32 {
        let p = self.parts();
        let (fidx, froom) = p.fill.room(max);
        let (cidx, n) = p.comp.ready(froom);
        for i in 0..n {
            let addr = p.umem.decode(p.comp.read(cidx.wrapping_add(i)), 0);
            p.fill.write(fidx.wrapping_add(i), p.umem.chunk_base(addr));
        }
        p.fill.publish(fidx, n);
        p.comp.take(cidx, n);
        n
    }

    /// Sends up to `max` completed frames again, straight from COMPLETION
    /// to TX with `len` bytes each, in one pass; returns how many. Sending
    /// leaves a frame's bytes as they were, so a sender that repeats its
    /// frames (a traffic generator) need not pass them through the free
    /// list or write them again. A frame with less room than `len` from its
    /// address (or a `len` of 0) stops the pass there: it stays on
    /// COMPLETION for [`Xsk::complete`]. The descriptors carry no TX
    /// metadata, and each frame goes as a packet of its own (do not use it
    /// for frames sent as multi-buffer chains). Follow with [`Xsk::flush`].
    pub fn complete_to_tx(&mut self, max: u32, len: u32) -> u32 {
        let p = self.parts();
        crate::xsk::resend_completions(p.comp, p.tx, p.umem, max, len)
    }

    /// Sends up to `max` frames from the free list, each written by `f`
    /// (given the frame's buffer from its data start, it returns the length
    /// to send), in one pass; returns how many were queued. Follow with
    /// [`Xsk::flush`]. A length of 0 or above the buffer's size stops the
    /// batch there (that frame stays free). If `f` panics nothing is queued.
    pub fn transmit_new(&mut self, max: u32, f: impl FnMut(&mut [u8]) -> usize) -> u32 {
        self.transmit_new_inner(max, None, f)
    }

    /// [`Xsk::transmit_new`] with the TX metadata `meta` written in front
    /// of every frame before it goes onto TX (descriptors marked
    /// `XDP_TX_METADATA`). A frame whose length does not hold `meta`'s
    /// checksum field stops the batch there, as a length of 0 does.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InvalidConfig`] if the UMEM has no TX metadata
    /// area ([`crate::UmemConfig::tx_metadata`]); nothing is queued.
    pub fn transmit_new_with(
        &mut self,
        max: u32,
        meta: &TxMetadata,
        f: impl FnMut(&mut [u8]) -> usize,
    ) -> crate::Result<u32> {
        if !self.umem().has_tx_metadata() {
            return Err(Error::config("this UMEM has no TX metadata area")
                .with_hint("make it with UmemConfig::tx_metadata(true) (Linux 6.8+)"));
        }
        Ok(self.transmit_new_inner(max, Some(meta), f))
    }

    fn transmit_new_inner(
        &mut self,
        max: u32,
        meta: Option<&TxMetadata>,
        mut f: impl FnMut(&mut [u8]) -> usize,
    ) -> u32 {
        let p = self.parts();
        let want = max.min(u32::try_from(p.free.len()).unwrap_or(u32::MAX));
        let (tidx, room) = p.tx.room(want);
        let mut used = 0;
        while used < room {
            let Some(frame) = p.free.last_mut() else {
                break;
            };
            p.umem.reset(frame);
            let addr = frame.addr();
            // SAFETY: the token on the free list proves the chunk is ours
            // and nothing else reaches it; this is its only slice, dropped
            // before the token moves.
            let buf = unsafe { p.umem.chunk_from(addr) };
            let len = f(buf);
            let Ok(len32) = u32::try_from(len) else { break };
            if len == 0 || len > buf.len() {
                break;
            }
            let mut options = 0;
            if let Some(m) = meta {
                // SAFETY: as for `buf`, which is dead now: the chunk is
                // ours, and this is the only slice of it. The descriptor
                // is published below, after this write.
                let Some(o) = (unsafe { p.umem.write_tx_meta_at(addr, m, len) }) else {
                    break;
                };
                options = o;
            }
            let token = p.free.pop().expect("checked above");
            let _ = token.into_addr();
            p.tx.write(
                tidx.wrapping_add(used),
                libc::xdp_desc {
                    addr,
                    len: len32,
                    options,
                },
            );
            used += 1;
        }
        p.tx.publish(tidx, used);
        used
    }

    /// Sends up to `max` copies of the packet `data`, each copied into
    /// frames from the free list: one frame, or on a multi-buffer socket as
    /// many as it takes, chained with `XDP_PKT_CONTD`. Only whole packets
    /// are queued; returns how many. A packet larger than a frame on a
    /// socket without multi-buffer queues nothing.
    pub fn transmit_packets(&mut self, max: u32, data: &[u8]) -> u32 {
        let multi = self.is_multi_buffer();
        let p = self.parts();
        let uc = p.umem.config();
        let cap = (uc.frame_size - uc.headroom) as usize;
        if data.is_empty() {
            return 0; // no packet: the kernel refuses zero-length frames
        }
        let per = data.len().div_ceil(cap);
        let Ok(per32) = u32::try_from(per) else {
            return 0;
        };
        if per > 1 && !multi {
            return 0;
        }
        let by_frames = u32::try_from(p.free.len() / per).unwrap_or(u32::MAX);
        let want = max.min(by_frames).saturating_mul(per32);
        let (tidx, room) = p.tx.room(want);
        let packets = room / per32;
        let mut used = 0;
        for _ in 0..packets {
            let mut chunks = data.chunks(cap).peekable();
            let mut first = true;
            while first || chunks.peek().is_some() {
                first = false;
                let seg = chunks.next().unwrap_or(&[]);
                let mut token = p.free.pop().expect("counted above");
                p.umem.reset(&mut token);
                let addr = token.into_addr();
                // SAFETY: the token just taken off the free list proved the
                // chunk ours; its address is now only in this pass, which
                // makes this the only slice of it.
                let buf = unsafe { p.umem.chunk_from(addr) };
                buf[..seg.len()].copy_from_slice(seg);
                let options = if chunks.peek().is_some() {
                    libc::XDP_PKT_CONTD
                } else {
                    0
                };
                let desc = libc::xdp_desc {
                    addr,
                    len: seg.len() as u32,
                    options,
                };
                p.tx.write(tidx.wrapping_add(used), desc);
                used += 1;
            }
        }
        p.tx.publish(tidx, used);
        packets
    }
}

#[cfg(test)]
pub(crate) mod fixture;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_split;
