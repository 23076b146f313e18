//! An [`Xsk`] split into an RX half and a TX half, one per thread or task.
//!
//! The kernel's four rings are single-producer, single-consumer: user space
//! produces FILL and TX and consumes RX and COMPLETION, and each must be
//! driven by one thread at a time. [`Xsk::split`] gives FILL and RX to
//! [`RxHalf`] and TX and COMPLETION to [`TxHalf`]. Each half owns its two
//! rings outright (they move into it; neither half can be cloned, and ring
//! calls take `&mut self`), so safe code cannot reach a ring from two
//! threads; each half is `Send`, so it can move to a thread or task of its
//! own, and no lock is needed.
//!
//! What the halves share is behind an `Arc`: the socket, the UMEM, a
//! lock-free pool of free frames, and a counter of the frames handed to the
//! application. The pool is the whole socket's free list: either half takes
//! frames from it (`refill`, `alloc`, `transmit_new`) and gives frames back
//! to it (`release`, `complete`, an RX batch that finds FILL full), so
//! frames the TX half completes are the ones the RX half puts on FILL next.
//! A received frame goes to the TX half as a [`Frame`] token, moved through
//! whatever channel the application uses; the token is the frame, so it is
//! still in exactly one place.
//!
//! [`accounting`](RxHalf::accounting) on either half reports the whole
//! socket: the pool's length, the shared counter, and the four rings'
//! indices as published in their mappings. Exact when neither half is inside
//! a call and the link is idle, as [`Xsk::accounting`] is when the link is.
//!
//! [`Xsk::unsplit`] puts the halves back together; the ring-to-ring
//! forwarding of [`Xsk::rx_batch`] (`transmit`, `dispatch` with
//! [`Verdict::Transmit`](crate::Verdict::Transmit)) and
//! [`Xsk::complete_to_fill`] move entries between rings of both halves in
//! one pass, so they are whole-socket calls that stay on [`Xsk`].

use super::{take_rx, tally, Seen, Xsk};
use crate::error::Result;
use crate::if_xdp::Statistics;
use crate::pool::FreePool;
use crate::ring::{CompletionRing, FillRing, Indices, RxRing, TxRing};
use crate::socket::Socket;
use crate::umem::{Frame, Umem};
use crate::FrameAccounting;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// What both halves share. Field order is drop order: the last half to go
/// drops the index views (its rings are gone already), so every ring is
/// unmapped before the socket closes, as [`Xsk`] does.
struct Shared {
    /// FILL, RX, TX, COMPLETION.
    views: [Indices; 4],
    socket: Socket,
    umem: Arc<Umem>,
    pool: FreePool,
    /// Frames handed to the application minus those given back (wrapping,
    /// as [`Xsk`]'s): received by one half and sent by the other nets out.
    handed_out: AtomicUsize,
    total: usize,
    /// FILL, RX, TX, COMPLETION indices at bind.
    bases: [u32; 4],
    ifindex: u32,
    queue: u32,
    zero_copy: bool,
    need_wakeup: bool,
    multi_buffer: bool,
}

impl Shared {
    fn accounting(&self) -> FrameAccounting {
        let [fill, rx, tx, comp] = &self.views;
        let pair = |v: &Indices| (v.producer(), v.consumer());
        let seen = Seen {
            fill: pair(fill),
            rx: pair(rx),
            tx: pair(tx),
            comp: pair(comp),
        };
        let handed_out = self.handed_out.load(Ordering::Relaxed);
        let free = self.pool.len();
        tally(&seen, self.bases, self.total, free, handed_out, &self.umem)
    }

    fn hand_out(&self, n: usize) {
        self.handed_out.fetch_add(n, Ordering::Relaxed);
    }

    fn take_back(&self, n: usize) {
        self.handed_out.fetch_sub(n, Ordering::Relaxed);
    }

    /// Gives a token's frame to the pool.
    fn put(&self, frame: Frame) {
        self.umem.check(&frame);
        self.pool.push(self.umem.chunk_base(frame.into_addr()));
    }

    /// A free frame from the pool, reset to an empty buffer.
    fn take(&self) -> Option<Frame> {
        let mut f = self.umem.frame_from_kernel(self.pool.pop()?, 0);
        self.umem.reset(&mut f);
        Some(f)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("ifindex", &self.ifindex)
            .field("queue", &self.queue)
            .field("pool", &self.pool)
            .finish()
    }
}

/// The receiving half of a split [`Xsk`]: the FILL and RX rings.
///
/// # Examples
/// A thread per direction: the RX half answers what it receives by handing
/// the frames to the TX half, which sends them and returns the completed
/// frames to the shared pool the RX half refills FILL from.
/// ```no_run
/// use std::sync::mpsc;
/// use std::time::Duration;
/// let xsk = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default())?;
/// let (mut rx, mut tx) = xsk.split();
/// let (to_tx, from_rx) = mpsc::sync_channel::<Vec<xsk::Frame>>(64);
/// std::thread::spawn(move || -> xsk::Result<()> {
///     let mut frames = Vec::new();
///     loop {
///         tx.complete(u32::MAX);
///         if frames.is_empty() {
///             frames = from_rx.recv().expect("RX thread ended");
///         }
///         tx.send(&mut frames);
///         tx.flush()?;
///     }
/// });
/// rx.refill(u32::MAX);
/// loop {
///     rx.socket().poll_rx(Some(Duration::from_secs(1)))?;
///     let mut frames = Vec::new();
///     rx.recv(&mut frames, 64);
///     if !frames.is_empty() {
///         to_tx.send(frames).expect("TX thread ended");
///     }
///     rx.refill(u32::MAX);
/// }
/// # Ok::<(), xsk::Error>(())
/// ```
///
/// The halves are `Send` but each ring has one owner, so one half cannot be
/// used from two threads at once:
/// ```compile_fail,E0499
/// fn share(rx: &mut xsk::RxHalf) {
///     std::thread::scope(|s| {
///         s.spawn(|| rx.refill(64));
///         s.spawn(|| rx.refill(64)); // error: `rx` is borrowed mutably twice
///     });
/// }
/// ```
pub struct RxHalf {
    // Rings first: dropped before the shared state (see `Shared`).
    rx: RxRing,
    fill: FillRing,
    /// A batch's frames that found FILL full (capacity: the RX ring).
    overflow: Vec<u64>,
    /// A batch's frames handed out as tokens, made at commit.
    staged: Vec<libc::xdp_desc>,
    shared: Arc<Shared>,
}

/// The sending half of a split [`Xsk`]: the TX and COMPLETION rings.
///
/// # Examples
/// A sender on a thread of its own, its completed frames going back to the
/// pool it allocates from (and the RX half refills from):
/// ```no_run
/// let xsk = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default())?;
/// let (_rx, mut tx) = xsk.split();
/// let sender = std::thread::spawn(move || -> xsk::Result<u32> {
///     let mut sent = 0;
///     while sent < 1000 {
///         tx.complete(u32::MAX);
///         sent += tx.transmit_new(64, |buf| {
///             buf[..60].fill(0xff);
///             60
///         });
///         tx.flush()?;
///     }
///     Ok(sent)
/// });
/// # let _ = sender;
/// # Ok::<(), xsk::Error>(())
/// ```
pub struct TxHalf {
    tx: TxRing,
    comp: CompletionRing,
    shared: Arc<Shared>,
}

/// Calls both halves have, on the shared state.
macro_rules! common {
    ($half:ident) => {
        impl std::fmt::Debug for $half {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($half))
                    .field("shared", &self.shared)
                    .finish()
            }
        }

        impl $half {
            /// The socket, for wake-ups, polling and registering in an XSKMAP.
            pub fn socket(&self) -> &Socket {
                &self.shared.socket
            }

            /// The packet memory; frame data is read and written through it.
            pub fn umem(&self) -> &Umem {
                &self.shared.umem
            }

            /// The interface index the socket is bound to.
            pub fn ifindex(&self) -> u32 {
                self.shared.ifindex
            }

            /// The queue the socket is bound to.
            pub fn queue(&self) -> u32 {
                self.shared.queue
            }

            /// True if bound in zero-copy mode.
            pub fn is_zero_copy(&self) -> bool {
                self.shared.zero_copy
            }

            /// True if bound for multi-buffer packets (XDP_USE_SG).
            pub fn is_multi_buffer(&self) -> bool {
                self.shared.multi_buffer
            }

            /// True if bound with need_wakeup.
            pub fn uses_need_wakeup(&self) -> bool {
                self.shared.need_wakeup
            }

            /// The kernel's counters for the socket.
            ///
            /// # Errors
            /// As [`Socket::statistics`].
            pub fn statistics(&self) -> Result<Statistics> {
                self.shared.socket.statistics()
            }

            /// Checks that the interface still exists ([`Socket::check_bound`]).
            ///
            /// # Errors
            /// [`ErrorKind::InterfaceGone`](crate::ErrorKind::InterfaceGone) when it went away.
            pub fn check_bound(&self) -> Result<()> {
                self.shared.socket.check_bound()
            }

            /// Where every frame of the whole socket is (both halves):
            /// `free` is the shared pool. Exact when neither half is inside
            /// a call and the link is idle.
            pub fn accounting(&self) -> FrameAccounting {
                self.shared.accounting()
            }

            /// Frames in the shared free pool.
            pub fn free_frames(&self) -> usize {
                self.shared.pool.len()
            }

            /// Takes a free frame from the shared pool (reset to an empty
            /// buffer), or `None` if the pool is empty.
            pub fn alloc(&mut self) -> Option<Frame> {
                let f = self.shared.take()?;
                self.shared.hand_out(1);
                Some(f)
            }

            /// Gives a frame back to the shared pool, where either half can
            /// take it (whichever half it came from).
            ///
            /// # Panics
            /// If `frame` belongs to another UMEM.
            pub fn release(&mut self, frame: Frame) {
                self.shared.put(frame);
                self.shared.take_back(1);
            }
        }

        impl AsFd for $half {
            fn as_fd(&self) -> BorrowedFd<'_> {
                self.shared.socket.as_fd()
            }
        }

        impl AsRawFd for $half {
            fn as_raw_fd(&self) -> RawFd {
                self.shared.socket.as_raw_fd()
            }
        }
    };
}

common!(RxHalf);
common!(TxHalf);

/// Disjoint views of an [`RxHalf`], for its batch in `batch/half.rs`.
pub(crate) struct RxParts<'a> {
    pub rx: &'a mut RxRing,
    pub fill: &'a mut FillRing,
    pub umem: &'a Umem,
    pub pool: &'a FreePool,
    pub overflow: &'a mut Vec<u64>,
    pub staged: &'a mut Vec<libc::xdp_desc>,
    pub handed_out: &'a AtomicUsize,
}

impl RxHalf {
    pub(crate) fn parts(&mut self) -> RxParts<'_> {
        let shared = &*self.shared;
        RxParts {
            rx: &mut self.rx,
            fill: &mut self.fill,
            umem: &shared.umem,
            pool: &shared.pool,
            overflow: &mut self.overflow,
            staged: &mut self.staged,
            handed_out: &shared.handed_out,
        }
    }

    /// True if `tx` is the other half of the same split.
    pub fn is_pair_of(&self, tx: &TxHalf) -> bool {
        Arc::ptr_eq(&self.shared, &tx.shared)
    }

    /// Frames waiting on RX.
    pub fn rx_pending(&mut self) -> u32 {
        self.rx.available(u32::MAX)
    }

    /// True if the kernel waits for a wake-up before it uses the FILL ring
    /// again (call [`Socket::kick_rx`] or poll).
    pub fn fill_needs_wakeup(&self) -> bool {
        self.shared.need_wakeup && self.fill.needs_wakeup()
    }

    /// Moves frames from the shared pool onto FILL, as many as fit (at most
    /// `max`); returns how many. The pool holds what either half gave back:
    /// the TX half's completions and releases, this half's releases.
    pub fn refill(&mut self, max: u32) -> u32 {
        let (idx, room) = self.fill.room(max);
        let (umem, pool) = (&self.shared.umem, &self.shared.pool);
        let mut used = 0;
        while used < room {
            let Some(addr) = pool.pop() else { break };
            self.fill
                .write(idx.wrapping_add(used), umem.chunk_base(addr));
            used += 1;
        }
        self.fill.publish(idx, used);
        used
    }

    /// Appends up to `max` received frames to `out`; returns how many. Give
    /// each back with [`RxHalf::release`] or [`TxHalf::release`], or send it
    /// with [`TxHalf::send`].
    pub fn recv(&mut self, out: &mut Vec<Frame>, max: u32) -> u32 {
        let count = take_rx(&mut self.rx, &self.shared.umem, out, max);
        self.shared.hand_out(count as usize);
        count
    }

    /// The pending entries of FILL and RX, for tests.
    #[cfg(test)]
    pub(crate) fn ring_views(&self) -> (Vec<u64>, Vec<libc::xdp_desc>) {
        (self.fill.peek_all(), self.rx.peek_all())
    }

    /// The shared pool's addresses, for tests (both halves idle).
    #[cfg(test)]
    pub(crate) fn pool_snapshot(&self) -> Vec<u64> {
        self.shared.pool.snapshot()
    }
}

impl Xsk {
    /// Splits the socket into an RX half (FILL and RX) and a TX half (TX and
    /// COMPLETION), each `Send`, for a thread or task per direction without
    /// a lock. The free list becomes a pool both halves share; see
    /// [`RxHalf`] and [`TxHalf`], and [`Xsk::unsplit`] to put them back.
    ///
    /// # Examples
    /// A receiving thread and a sending one, then the socket put back
    /// together:
    /// ```no_run
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// let xsk = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default())?;
    /// let (mut rx, mut tx) = xsk.split();
    /// rx.refill(u32::MAX);
    /// let stop = Arc::new(AtomicBool::new(false));
    /// let receiver = std::thread::spawn({
    ///     let stop = stop.clone();
    ///     move || -> xsk::Result<xsk::RxHalf> {
    ///         while !stop.load(Ordering::Relaxed) {
    ///             rx.socket().poll_rx(Some(Duration::from_millis(100)))?;
    ///             rx.rx_batch(64).recycle(); // RX -> FILL in one pass
    ///             rx.refill(u32::MAX); // what the TX half completed
    ///         }
    ///         Ok(rx)
    ///     }
    /// });
    /// for _ in 0..1000 {
    ///     tx.transmit_packets(64, &[0xff; 60]);
    ///     tx.flush()?;
    ///     tx.complete(u32::MAX); // back to the pool, for either half
    /// }
    /// stop.store(true, Ordering::Relaxed);
    /// let rx = receiver.join().expect("the RX thread panicked")?;
    /// let xsk = xsk::Xsk::unsplit(rx, tx);
    /// println!("{:?}", xsk.accounting());
    /// # Ok::<(), xsk::Error>(())
    /// ```
    pub fn split(self) -> (RxHalf, TxHalf) {
        let Xsk {
            rx,
            tx,
            fill,
            comp,
            socket,
            umem,
            mut free,
            overflow,
            total,
            handed_out,
            fill_base,
            rx_base,
            tx_base,
            comp_base,
            ifindex,
            queue,
            zero_copy,
            need_wakeup,
            multi_buffer,
        } = self;
        // Room for every frame of the UMEM, so a frame of another socket on
        // the same UMEM can be released here too.
        let pool = FreePool::new(umem.config().frame_count);
        for f in free.drain(..) {
            pool.push(umem.chunk_base(f.into_addr()));
        }
        let views = [fill.indices(), rx.indices(), tx.indices(), comp.indices()];
        let staged = Vec::with_capacity(rx.size() as usize);
        let shared = Arc::new(Shared {
            views,
            socket,
            umem,
            pool,
            handed_out: AtomicUsize::new(handed_out),
            total,
            bases: [fill_base, rx_base, tx_base, comp_base],
            ifindex,
            queue,
            zero_copy,
            need_wakeup,
            multi_buffer,
        });
        let rx = RxHalf {
            rx,
            fill,
            overflow,
            staged,
            shared: shared.clone(),
        };
        (rx, TxHalf { tx, comp, shared })
    }

    /// Puts the halves of one [`Xsk::split`] back together; the shared pool
    /// becomes the free list again.
    ///
    /// # Panics
    /// If `rx` and `tx` come from different splits ([`RxHalf::is_pair_of`]).
    pub fn unsplit(rx: RxHalf, tx: TxHalf) -> Xsk {
        assert!(
            rx.is_pair_of(&tx),
            "Xsk::unsplit: the halves come from different sockets"
        );
        let RxHalf {
            rx,
            fill,
            overflow,
            staged: _,
            shared,
        } = rx;
        let TxHalf {
            tx,
            comp,
            shared: other,
        } = tx;
        drop(other);
        let Ok(shared) = Arc::try_unwrap(shared) else {
            unreachable!("only the two halves hold the shared state");
        };
        let Shared {
            views: _,
            socket,
            umem,
            pool,
            handed_out,
            total,
            bases: [fill_base, rx_base, tx_base, comp_base],
            ifindex,
            queue,
            zero_copy,
            need_wakeup,
            multi_buffer,
        } = shared;
        let mut free = Vec::with_capacity(pool.len());
        while let Some(addr) = pool.pop() {
            free.push(umem.frame_from_kernel(addr, 0));
        }
        Xsk {
            rx,
            tx,
            fill,
            comp,
            socket,
            umem,
            free: free.into(),
            overflow,
            total,
            handed_out: handed_out.into_inner(),
            fill_base,
            rx_base,
            tx_base,
            comp_base,
            ifindex,
            queue,
            zero_copy,
            need_wakeup,
            multi_buffer,
        }
    }
}

#[cfg(test)]
mod tests;
mod tx;
