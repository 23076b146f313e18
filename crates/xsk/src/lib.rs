//! AF_XDP sockets for Rust, on `libc` alone.
//!
//! - [`Umem`]: page-aligned packet memory, cut into frames.
//! - [`ring`]: the FILL, COMPLETION, RX and TX rings and their
//!   producer/consumer protocol.
//! - [`Frame`]: a token that owns one frame; it moves between the free list,
//!   the rings and the application, so a frame is never in two places.
//! - [`Xsk`]: a bound socket with its rings and frames; [`Socket`] for the
//!   raw descriptor (wake-ups, statistics, options).
//!
//! An XDP program must redirect frames to the socket (through an XSKMAP) for
//! anything to arrive on RX; loading one is not this crate's business.
//!
//! ```no_run
//! use xsk::{Xsk, XskConfig};
//! let mut xsk = Xsk::new("veth0", 0, &XskConfig::default())?;
//! xsk.refill(u32::MAX);
//! let mut batch = Vec::with_capacity(64);
//! loop {
//!     xsk.socket().poll_rx(1000)?;
//!     xsk.recv(&mut batch, 64);
//!     for frame in batch.drain(..) {
//!         println!("{} bytes", xsk.umem().data(&frame).len());
//!         xsk.release(frame);
//!     }
//!     xsk.refill(u32::MAX);
//! }
//! # Ok::<(), xsk::Error>(())
//! ```
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
pub mod ring;
mod socket;
mod syscall;
mod umem;
mod xsk;

#[cfg(feature = "tokio")]
pub use asynch::AsyncXsk;
pub use batch::{Moved, RxBatch, RxFrame, Verdict};
pub use error::{Error, ErrorKind, Result};
pub use if_xdp::Statistics;
pub use socket::Socket;
pub use umem::{Frame, Umem, UmemConfig, XDP_PACKET_HEADROOM};
pub use xsk::{FrameAccounting, FrameCopy, Xsk, XskConfig};
