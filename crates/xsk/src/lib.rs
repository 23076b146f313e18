//! AF_XDP sockets for Rust, on `libc` alone.
//!
//! - [`Umem`]: page-aligned packet memory, cut into frames.
//! - The FILL, COMPLETION, RX and TX rings and their producer/consumer
//!   protocol stay inside: [`Xsk`] and its halves own them (the `ring`
//!   module is public only with the `test-util` feature, for benchmarks).
//! - [`Frame`]: a token that owns one frame; it moves between the free list,
//!   the rings and the application, so a frame is never in two places.
//! - [`Xsk`]: a bound socket with its rings and frames; [`Socket`] for the
//!   raw descriptor (wake-ups, statistics, options).
//! - [`RxHalf`] and [`TxHalf`]: an [`Xsk`] split by [`Xsk::split`] for a
//!   thread or task per direction, without a lock.
//! - [`AsyncXsk`] (feature `tokio`): waits for RX, TX room or completions.
//! - [`RxMetadata`]: the RX hash, hardware timestamp and VLAN tag an XDP
//!   program (xskit-xdp's `RxMetaProgram`) wrote in front of a frame
//!   ([`RxFrame::metadata`], [`Umem::rx_metadata`]).
//!
//! An XDP program must redirect frames to the socket (through an XSKMAP) for
//! anything to arrive on RX; loading one is not this crate's business.
//!
//! # Frames as tokens
//! ```no_run
//! use std::time::Duration;
//! use xsk::{Xsk, XskConfig};
//! let mut xsk = Xsk::new("veth0", 0, &XskConfig::default())?;
//! xsk.refill(u32::MAX);
//! let mut batch = Vec::with_capacity(64);
//! loop {
//!     xsk.socket().poll_rx(Some(Duration::from_secs(1)))?;
//!     xsk.recv(&mut batch, 64);
//!     for frame in batch.drain(..) {
//!         println!("{} bytes", xsk.umem().data(&frame).len());
//!         xsk.release(frame);
//!     }
//!     xsk.refill(u32::MAX);
//! }
//! # Ok::<(), xsk::Error>(())
//! ```
//!
//! # Ring to ring: the batch path
//! [`Xsk::rx_batch`] is the fast path: it reads RX entries in place and
//! moves them to FILL or TX in one pass, with no token per frame
//! ([`RxBatch`]); a dropped or panicking batch moves nothing.
//! ```no_run
//! # use std::time::Duration;
//! # let mut xsk = xsk::Xsk::new("veth0", 0, &xsk::XskConfig::default())?;
//! xsk.refill(u32::MAX);
//! loop {
//!     xsk.socket().poll_rx(Some(Duration::from_secs(1)))?;
//!     // Swap the MAC addresses and send each frame back out.
//!     let moved = xsk.rx_batch(64).dispatch(|f| {
//!         let d = f.data_mut();
//!         if d.len() >= 12 {
//!             let (dst, src) = d.split_at_mut(6);
//!             dst.swap_with_slice(&mut src[..6]);
//!         }
//!         xsk::Verdict::Transmit
//!     });
//!     xsk.flush()?;
//!     xsk.complete_to_fill(u32::MAX);
//!     if moved.freed > 0 {
//!         xsk.refill(u32::MAX);
//!     }
//! }
//! # Ok::<(), xsk::Error>(())
//! ```
//!
//! # Which call when
//! - `refill`: free frames onto FILL, so the kernel has buffers to receive
//!   into. Call it once at the start, and after anything that put frames
//!   on the free list (`release`, `complete`, a batch whose
//!   [`Moved::freed`] is not zero). A batch's `recycle` and `dispatch` put
//!   frames back on FILL themselves.
//! - `complete`: sent frames from COMPLETION to the free list, to `alloc`
//!   or `transmit_new` them again (on a split socket: to the shared pool,
//!   where the RX half's `refill` finds them too).
//! - `complete_to_fill`: sent frames from COMPLETION straight to FILL, in
//!   one pass: for a forwarder whose TX frames came from RX. A whole-socket
//!   call; split, it is [`TxHalf::complete`] then [`RxHalf::refill`].
//! - `complete_to_tx`: sent frames from COMPLETION straight back onto TX,
//!   unchanged: for a sender that repeats its frames (a generator).
//! - `release`: a [`Frame`] token you hold back to the free list (a
//!   received frame you do not send, an allocated one you did not fill).
//! - `flush`: after putting frames on TX (`send`, `transmit_*`, a batch's
//!   `transmit`), to wake the kernel to send them; in copy mode call it
//!   again in any loop that waits for completions.
//!
//! # A thread or task per direction
//! [`Xsk::split`] gives FILL and RX to an [`RxHalf`] and TX and COMPLETION
//! to a [`TxHalf`]; each ring has one owner, so the kernel's
//! single-producer, single-consumer rule holds by construction. The free
//! list becomes a lock-free pool both halves take from and give back to,
//! and [`RxHalf::accounting`] or [`TxHalf::accounting`] reads the whole
//! socket. The RX half batches RX to FILL ([`RxHalfBatch`]), handing chosen
//! frames out as tokens for the TX half; the TX half writes new frames
//! (`transmit_new`, `transmit_packets`). Moving frames from RX to TX in one
//! pass ([`RxBatch::transmit`], [`Xsk::complete_to_fill`]) touches rings of
//! both halves: those stay on [`Xsk`] ([`Xsk::unsplit`] puts it back).
//!
//! # Async (feature `tokio`)
//! [`AsyncXsk`] registers an [`Xsk`], or each half of a split one, with the
//! tokio reactor: `rx_ready` on a socket or an RX half, `tx_ready` and
//! `completions` on a TX half.
//!
#![cfg_attr(not(feature = "tokio"), doc = "[`AsyncXsk`]: #async-feature-tokio")]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![warn(missing_docs)]

#[cfg(feature = "tokio")]
mod asynch;
mod batch;
mod busy;
pub mod diag;
mod error;
mod if_xdp;
#[cfg(any(test, feature = "test-util"))]
pub mod loopback;
mod mmap;
pub mod netdev;
mod pool;
#[cfg(any(test, feature = "test-util"))]
pub mod ring;
// Without test-util some ring methods serve only the tests and benchmarks.
#[cfg(not(any(test, feature = "test-util")))]
#[allow(dead_code)]
mod ring;
mod rx_meta;
mod socket;
mod syscall;
mod tx_meta;
mod umem;
mod xsk;

#[cfg(feature = "tokio")]
pub use asynch::AsyncXsk;
pub use batch::{Moved, RxBatch, RxFrame, RxHalfBatch, Verdict};
pub use error::{Error, ErrorKind, Result};
pub use if_xdp::{Statistics, TX_BUDGET_MIN};
pub use rx_meta::{RssHashType, RxHash, RxMetadata, Vlan, RX_META_LEN};
pub use socket::Socket;
pub use tx_meta::{TxChecksum, TxMetadata, TX_METADATA_LEN};
pub use umem::{Frame, Umem, UmemConfig, XDP_PACKET_HEADROOM};
pub use xsk::{FrameAccounting, FrameCopy, RxHalf, TxHalf, Xsk, XskConfig};
