//! [`Xsk`]: a bound socket, its four rings and its frames, and the
//! accounting of where every frame is.

mod config;
mod open;
mod split;

pub use config::{FrameAccounting, FrameCopy, XskConfig};
#[cfg(any(test, feature = "test-util"))]
pub(crate) use open::{Bound, Rings};
pub use split::{RxHalf, TxHalf};

use crate::error::Result;
use crate::if_xdp::Statistics;
use crate::ring::{CompletionRing, FillRing, RxRing, TxRing};
use crate::socket::Socket;
use crate::umem::{Frame, Umem};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;

/// A bound AF_XDP socket with its rings and its frames.
///
/// Frames move between places only through methods that take or return
/// [`Frame`] tokens by value; [`Xsk::accounting`] reports where each is.
pub struct Xsk {
    // Field order is drop order: the ring mappings go first, then the socket
    // is closed. Closing with rings still mapped keeps the queue busy (EBUSY
    // on the next bind) until the mappings are gone.
    rx: RxRing,
    tx: TxRing,
    fill: FillRing,
    comp: CompletionRing,
    socket: Socket,
    umem: Arc<Umem>,
    free: FreeList,
    /// A batch's frames that found FILL full, until it commits (capacity:
    /// the RX ring, the most one batch can hold).
    overflow: Vec<u64>,
    total: usize,
    /// Frames handed to the application (alloc, recv) minus those given
    /// back (release, send). Wrapping: with a shared UMEM a frame may leave
    /// through one socket and come back through another.
    handed_out: usize,
    /// Ring indices at bind time, so the kernel's share can be read from
    /// how far its indices have moved since.
    fill_base: u32,
    rx_base: u32,
    tx_base: u32,
    comp_base: u32,
    ifindex: u32,
    queue: u32,
    zero_copy: bool,
    need_wakeup: bool,
    multi_buffer: bool,
}

impl std::fmt::Debug for Xsk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Xsk")
            .field("ifindex", &self.ifindex)
            .field("queue", &self.queue)
            .field("zero_copy", &self.zero_copy)
            .field("umem", &self.umem)
            .finish()
    }
}

/// Disjoint mutable views of an [`Xsk`]'s rings, UMEM and free list, for
/// the ring-to-ring passes in `batch.rs`.
pub(crate) struct Parts<'a> {
    pub rx: &'a mut RxRing,
    pub tx: &'a mut TxRing,
    pub fill: &'a mut FillRing,
    pub comp: &'a mut CompletionRing,
    pub umem: &'a Umem,
    pub free: &'a mut Vec<Frame>,
    pub overflow: &'a mut Vec<u64>,
}

impl Xsk {
    pub(crate) fn parts(&mut self) -> Parts<'_> {
        Parts {
            rx: &mut self.rx,
            tx: &mut self.tx,
            fill: &mut self.fill,
            comp: &mut self.comp,
            umem: &self.umem,
            free: &mut self.free.0,
            overflow: &mut self.overflow,
        }
    }

    /// The free list, for tests.
    #[cfg(test)]
    pub(crate) fn free_list(&self) -> &[Frame] {
        &self.free
    }

    /// The pending entries of FILL, RX, TX and COMPLETION, for tests.
    #[cfg(test)]
    pub(crate) fn ring_views(
        &self,
    ) -> (Vec<u64>, Vec<libc::xdp_desc>, Vec<libc::xdp_desc>, Vec<u64>) {
        (
            self.fill.peek_all(),
            self.rx.peek_all(),
            self.tx.peek_all(),
            self.comp.peek_all(),
        )
    }

    /// The socket, for registering in an XSKMAP or reading options.
    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// The packet memory; frame data is read and written through it.
    pub fn umem(&self) -> &Umem {
        &self.umem
    }

    /// A handle on the packet memory that outlives the socket, e.g. to read
    /// [`Umem::lost_frames`] after the socket is closed while tokens are
    /// still held.
    pub fn umem_arc(&self) -> Arc<Umem> {
        Arc::clone(&self.umem)
    }

    /// The interface index this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The queue this socket is bound to.
    pub fn queue(&self) -> u32 {
        self.queue
    }

    /// True if bound in zero-copy mode.
    pub fn is_zero_copy(&self) -> bool {
        self.zero_copy
    }

    /// Frames waiting on RX.
    pub fn rx_pending(&mut self) -> u32 {
        self.rx.available(u32::MAX)
    }

    /// Free slots on TX.
    pub fn tx_room(&mut self) -> u32 {
        self.tx.free(u32::MAX)
    }

    /// Frames on the free list.
    pub fn free_frames(&self) -> usize {
        self.free.len()
    }

    /// Takes a free frame (reset to an empty buffer) to build a frame to send.
    pub fn alloc(&mut self) -> Option<Frame> {
        let mut f = self.free.pop()?;
        self.umem.reset(&mut f);
        self.handed_out = self.handed_out.wrapping_add(1);
        Some(f)
    }

    /// Gives a frame back to the free list. (Per-socket accounting assumes
    /// a frame comes back to the socket it left; moving frames between
    /// sockets that share a UMEM works, but shifts their counts.)
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn release(&mut self, frame: Frame) {
        self.umem.check(&frame);
        self.handed_out = self.handed_out.wrapping_sub(1);
        self.free.push(frame);
    }

    /// Moves free frames onto the FILL ring, as many as fit (at most `max`).
    pub fn refill(&mut self, max: u32) -> u32 {
        let want = max.min(u32::try_from(self.free.len()).unwrap_or(u32::MAX));
        if want == 0 {
            return 0;
        }
        let umem = &self.umem;
        let free = &mut self.free;
        let mut frames = std::iter::from_fn(|| free.pop()).map(|f| umem.chunk_base(f.into_addr()));
        self.fill.produce(&mut frames, want)
    }

    /// Appends up to `max` received frames to `out`; returns how many.
    pub fn recv(&mut self, out: &mut Vec<Frame>, max: u32) -> u32 {
        let count = take_rx(&mut self.rx, &self.umem, out, max);
        self.handed_out = self.handed_out.wrapping_add(count as usize);
        count
    }

    /// Puts frames from the front of `frames` on the TX ring, as many as fit,
    /// and removes them from the vector. It stops before a zero-length frame,
    /// which stays at the front (a frame from [`Xsk::alloc`] is empty until
    /// [`Umem::set_len`]). Call [`Xsk::flush`] to make the kernel
    /// send them. Returns how many were queued.
    ///
    /// # Panics
    /// If a frame belongs to another UMEM (checked before any is queued).
    pub fn send(&mut self, frames: &mut Vec<Frame>) -> u32 {
        let count = queue_frames(&mut self.tx, &self.umem, frames);
        self.handed_out = self.handed_out.wrapping_sub(count as usize);
        count
    }

    /// Queues one frame for sending, or gives it back if the TX ring is full
    /// or the frame is empty.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn send_one(&mut self, frame: Frame) -> std::result::Result<(), Frame> {
        queue_one(&mut self.tx, &self.umem, frame)?;
        self.handed_out = self.handed_out.wrapping_sub(1);
        Ok(())
    }
}

/// Takes up to `max` entries from RX as tokens into `out`.
pub(crate) fn take_rx(rx: &mut RxRing, umem: &Umem, out: &mut Vec<Frame>, max: u32) -> u32 {
    let (idx, count) = rx.ready(max);
    // Every descriptor is checked before any token is made: a panic (a
    // kernel bug) must not leave tokens for entries still on RX.
    for i in 0..count {
        let d = rx.read(idx.wrapping_add(i));
        umem.decode(d.addr, d.len);
    }
    out.reserve(count as usize);
    for i in 0..count {
        let d = rx.read(idx.wrapping_add(i));
        let mut f = umem.frame_from_kernel(d.addr, d.len);
        f.set_continued(d.options & libc::XDP_PKT_CONTD != 0);
        out.push(f);
    }
    rx.take(idx, count);
    count
}

/// Takes up to `max` entries from COMPLETION, giving each (decoded) address
/// to `put`.
pub(crate) fn take_completions(
    comp: &mut CompletionRing,
    umem: &Umem,
    max: u32,
    mut put: impl FnMut(u64),
) -> u32 {
    let (idx, count) = comp.ready(max);
    // All checked first, as in `take_rx`: nothing is given on for entries
    // that stay on the ring.
    for i in 0..count {
        umem.decode(comp.read(idx.wrapping_add(i)), 0);
    }
    for i in 0..count {
        put(umem.decode(comp.read(idx.wrapping_add(i)), 0));
    }
    comp.take(idx, count);
    count
}

/// Moves up to `max` entries of COMPLETION straight onto TX with `len`
/// bytes each (see [`Xsk::complete_to_tx`]); stops at a frame with less
/// room than `len`, which stays on COMPLETION.
pub(crate) fn resend_completions(
    comp: &mut CompletionRing,
    tx: &mut TxRing,
    umem: &Umem,
    max: u32,
    len: u32,
) -> u32 {
    let (tidx, room) = tx.room(max);
    let (cidx, ready) = comp.ready(room);
    let mut used = 0;
    // A sender runs this for every frame. Where chunks allow, a tight loop
    // of two compares an address (34 instructions a frame became 22, the
    // rings' included); where they fail, the loop after it looks at that
    // address again with the full decode and room check, and decides.
    if let Some((limit, mask, max_offset)) = room_test(umem, len) {
        while used < ready {
            let addr = comp.read(cidx.wrapping_add(used));
            if addr >= limit || addr & mask > max_offset {
                break;
            }
            put_desc(tx, tidx.wrapping_add(used), addr, len);
            used += 1;
        }
    }
    let frame_size = u64::from(umem.config().frame_size);
    while used < ready && len > 0 {
        let addr = umem.decode(comp.read(cidx.wrapping_add(used)), 0);
        if u64::from(len) > umem.chunk_base(addr) + frame_size - addr {
            break;
        }
        put_desc(tx, tidx.wrapping_add(used), addr, len);
        used += 1;
    }
    tx.publish(tidx, used);
    comp.take(cidx, used);
    used
}

/// Writes TX slot `idx`: `len` bytes at `addr`, no options.
#[inline(always)]
fn put_desc(tx: &mut TxRing, idx: u32, addr: u64, len: u32) {
    let desc = libc::xdp_desc {
        addr,
        len,
        options: 0,
    };
    tx.write(idx, desc);
}

/// For a pass over many kernel addresses: `(limit, mask, max_offset)` such
/// that a raw address `a` lies inside `umem` with `len` bytes of room from
/// it in its chunk exactly when `a < limit` and `a & mask <= max_offset`,
/// as [`Umem::decode`] and the room check would find. Only for aligned
/// chunks of a power-of-two size (None otherwise, or for a `len` of 0 or
/// above a chunk).
pub(crate) fn room_test(umem: &Umem, len: u32) -> Option<(u64, u64, u64)> {
    let c = umem.config();
    let fs = u64::from(c.frame_size);
    if c.unaligned || !fs.is_power_of_two() || len == 0 || u64::from(len) > fs {
        return None;
    }
    // A chunk lies inside when its end does: below the last whole chunk's
    // end (a mask, not a division: this runs at every batch).
    let limit = umem.area_len() as u64 & !(fs - 1);
    Some((limit, fs - 1, fs - u64::from(len)))
}

/// Puts tokens from the front of `frames` on TX (see [`Xsk::send`]).
pub(crate) fn queue_frames(tx: &mut TxRing, umem: &Umem, frames: &mut Vec<Frame>) -> u32 {
    for f in frames.iter() {
        umem.check(f);
    }
    // A zero-length frame is no packet (the kernel counts it invalid,
    // and in zero-copy never completes it): stop before the first.
    let sendable = frames
        .iter()
        .position(Frame::is_empty)
        .unwrap_or(frames.len());
    let want = u32::try_from(sendable).unwrap_or(u32::MAX);
    let room = tx.free(want).min(want);
    // Drain only what fits: a drained token that is not written would
    // be dropped, and so lost.
    let mut descs = frames.drain(..room as usize).map(Frame::into_desc);
    let count = tx.produce(&mut descs, room);
    debug_assert_eq!(count, room);
    count
}

/// Puts one token on TX, or gives it back (see [`Xsk::send_one`]).
pub(crate) fn queue_one(
    tx: &mut TxRing,
    umem: &Umem,
    frame: Frame,
) -> std::result::Result<(), Frame> {
    umem.check(&frame);
    if frame.is_empty() || tx.free(1) == 0 {
        return Err(frame);
    }
    let sent = tx.produce(&mut std::iter::once(frame.into_desc()), 1);
    debug_assert_eq!(sent, 1);
    Ok(())
}

/// Wakes the kernel to send what is on TX (see [`Xsk::flush`]).
pub(crate) fn flush_tx(tx: &TxRing, socket: &Socket, need_wakeup: bool) -> Result<()> {
    let mut before = tx.pending();
    while before > 0 && (!need_wakeup || tx.needs_wakeup()) {
        socket.kick_tx()?;
        let after = tx.pending();
        if after >= before {
            break;
        }
        before = after;
    }
    Ok(())
}

impl Xsk {
    /// Wakes the kernel to transmit what is on the TX ring, if it asked to
    /// be woken (or always without need_wakeup). In copy mode one wake-up
    /// sends a bounded batch, so this repeats while the ring drains; it stops
    /// when a wake-up makes no progress (zero-copy drivers send later, and a
    /// full COMPLETION ring blocks sending until [`Xsk::complete`]). In copy
    /// mode the kernel also stops while the socket's send buffer
    /// (`SO_SNDBUF`) is taken by frames still on their way (seen on 6.1 and
    /// 6.12 over veth: 288 of 300 frames left before the peer read, the rest
    /// once it had read). Frames left
    /// there are not lost: call `flush` again in the loop that waits (or
    /// `poll` for `POLLOUT`, which also drives copy-mode transmission).
    ///
    /// # Errors
    /// [`ErrorKind::InterfaceGone`](crate::ErrorKind::InterfaceGone) once the interface is gone.
    pub fn flush(&mut self) -> Result<()> {
        flush_tx(&self.tx, &self.socket, self.need_wakeup)
    }

    /// Moves up to `max` completed frames to the free list; returns how many.
    pub fn complete(&mut self, max: u32) -> u32 {
        let umem = &self.umem;
        let free = &mut self.free;
        take_completions(&mut self.comp, umem, max, |addr| {
            free.push(umem.frame_from_kernel(addr, 0));
        })
    }

    /// Frames posted for receiving and not received yet: on FILL, or
    /// taken from it into the driver's receive ring. Reads the kernel's RX
    /// producer index; counts only this socket's FILL and RX.
    pub fn rx_posted(&self) -> u32 {
        let lent = self.fill.index().wrapping_sub(self.fill_base);
        let received = self.rx.producer_index().wrapping_sub(self.rx_base);
        // The kernel cannot have received more than was lent; guarded
        // all the same, as a count.
        (lent.wrapping_sub(received) as i32).max(0) as u32
    }

    /// True if the kernel waits for a wake-up before it uses the FILL ring
    /// again (call [`Socket::kick_rx`] or poll in a busy loop).
    pub fn fill_needs_wakeup(&self) -> bool {
        self.need_wakeup && self.fill.needs_wakeup()
    }

    /// True if this socket was bound for multi-buffer packets (XDP_USE_SG).
    pub fn is_multi_buffer(&self) -> bool {
        self.multi_buffer
    }

    /// True if this socket was bound with need_wakeup.
    pub fn uses_need_wakeup(&self) -> bool {
        self.need_wakeup
    }

    /// Sets the TX budget ([`XskConfig::tx_budget`], Linux 6.17) of this
    /// open socket: how many frames one copy-mode TX wake-up may send,
    /// from [`TX_BUDGET_MIN`](crate::TX_BUDGET_MIN) (32) to the TX ring's
    /// size. It takes effect at the next wake-up.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidConfig`](crate::ErrorKind::InvalidConfig),
    /// naming the range, for a budget outside it (checked before the
    /// call); [`ErrorKind::Unsupported`](crate::ErrorKind::Unsupported)
    /// before Linux 6.17.
    pub fn set_tx_budget(&self, budget: u32) -> Result<()> {
        crate::socket::check_tx_budget(budget, self.tx.size())?;
        self.socket.set_tx_budget(budget)
    }

    /// The kernel's counters for this socket.
    ///
    /// # Errors
    /// As [`Socket::statistics`].
    pub fn statistics(&self) -> Result<Statistics> {
        self.socket.statistics()
    }

    /// Checks that the interface still exists ([`Socket::check_bound`]).
    ///
    /// # Errors
    /// [`ErrorKind::InterfaceGone`](crate::ErrorKind::InterfaceGone) when it went away.
    pub fn check_bound(&self) -> Result<()> {
        self.socket.check_bound()
    }

    /// Where every frame is. Exact when the link is idle; while traffic
    /// flows the kernel's indices move between the reads.
    pub fn accounting(&self) -> FrameAccounting {
        let seen = Seen {
            fill: (self.fill.index(), self.fill.consumer_index()),
            rx: (self.rx.producer_index(), self.rx.index()),
            tx: (self.tx.index(), self.tx.consumer_index()),
            comp: (self.comp.producer_index(), self.comp.index()),
        };
        let bases = [self.fill_base, self.rx_base, self.tx_base, self.comp_base];
        tally(
            &seen,
            bases,
            self.total,
            self.free.len(),
            self.handed_out,
            &self.umem,
        )
    }
}

/// The (producer, consumer) indices of the four rings, each read once.
pub(crate) struct Seen {
    pub fill: (u32, u32),
    pub rx: (u32, u32),
    pub tx: (u32, u32),
    pub comp: (u32, u32),
}

/// Where every frame is, from the rings' indices (`bases`: FILL, RX, TX,
/// COMPLETION at bind), the free count and the frames handed out.
pub(crate) fn tally(
    seen: &Seen,
    [fill_base, rx_base, tx_base, comp_base]: [u32; 4],
    total: usize,
    free: usize,
    handed_out: usize,
    umem: &Umem,
) -> FrameAccounting {
    let count = |(later, earlier): (u32, u32)| later.wrapping_sub(earlier) as usize;
    // Taken from FILL by the kernel minus put on RX by it, since bind;
    // the same for TX and COMPLETION. Negative only mid-update.
    let held = |taken: u32, given: u32| (taken.wrapping_sub(given) as i32).max(0) as usize;
    let kernel = held(
        seen.fill.1.wrapping_sub(fill_base),
        seen.rx.0.wrapping_sub(rx_base),
    ) + held(
        seen.tx.1.wrapping_sub(tx_base),
        seen.comp.0.wrapping_sub(comp_base),
    );
    // A kernel may publish what it put on RX or COMPLETION before the
    // consumer index of FILL or TX that it took them from (5.10 stores a
    // consumer index only when it next fetches entries): those frames are
    // on RX or COMPLETION already, not on FILL or TX any more.
    let ahead = |given: u32, taken: u32| (given.wrapping_sub(taken) as i32).max(0) as usize;
    let fill_ahead = ahead(
        seen.rx.0.wrapping_sub(rx_base),
        seen.fill.1.wrapping_sub(fill_base),
    );
    let tx_ahead = ahead(
        seen.comp.0.wrapping_sub(comp_base),
        seen.tx.1.wrapping_sub(tx_base),
    );
    let lost = umem.lost_frames();
    FrameAccounting {
        total,
        free,
        fill: count(seen.fill).saturating_sub(fill_ahead),
        rx: count(seen.rx),
        tx: count(seen.tx).saturating_sub(tx_ahead),
        completion: count(seen.comp),
        kernel,
        application: (handed_out as isize).saturating_sub(lost as isize).max(0) as usize,
        lost,
    }
}

/// The free list of a whole socket. Frames on it go with the socket when
/// it closes: they are not lost (a dropped token would count as lost).
#[derive(Debug, Default)]
pub(crate) struct FreeList(pub Vec<Frame>);

impl From<Vec<Frame>> for FreeList {
    fn from(frames: Vec<Frame>) -> Self {
        FreeList(frames)
    }
}

impl std::ops::Deref for FreeList {
    type Target = Vec<Frame>;
    fn deref(&self) -> &Vec<Frame> {
        &self.0
    }
}

impl std::ops::DerefMut for FreeList {
    fn deref_mut(&mut self) -> &mut Vec<Frame> {
        &mut self.0
    }
}

impl Drop for FreeList {
    fn drop(&mut self) {
        for f in self.0.drain(..) {
            let _ = f.into_addr();
        }
    }
}

impl AsFd for Xsk {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

impl AsRawFd for Xsk {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

#[cfg(test)]
mod tally_tests;
