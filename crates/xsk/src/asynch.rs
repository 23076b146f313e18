//! Readiness for async runtimes (feature `tokio`): wait for frames on RX or
//! room on TX without a thread per socket.
//!
//! The kernel reports an AF_XDP socket readable while its RX ring holds
//! frames and writable while its TX ring has room; tokio's `AsyncFd` turns
//! that into futures. The rings are still used through [`Xsk`]'s methods.

use crate::xsk::Xsk;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// An [`Xsk`] registered with the tokio reactor.
///
/// # Examples
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let xsk = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default()).unwrap();
/// let mut xsk = xsk::AsyncXsk::new(xsk)?;
/// xsk.get_mut().refill(u32::MAX);
/// loop {
///     xsk.rx_ready().await?;
///     let moved = xsk.get_mut().rx_batch(64).recycle();
///     println!("{} frames", moved.recycled);
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncXsk {
    xsk: Xsk,
    /// A private duplicate of the socket's descriptor, registered with the
    /// reactor: readiness belongs to the socket, and no caller can close or
    /// replace this descriptor while it is registered, whatever they do
    /// with the `&mut Xsk` they get.
    fd: AsyncFd<OwnedFd>,
}

impl AsyncXsk {
    /// Registers the socket with the current tokio reactor.
    ///
    /// # Errors
    /// Outside a tokio runtime, or if the reactor refuses the descriptor.
    pub fn new(xsk: Xsk) -> io::Result<AsyncXsk> {
        let dup = xsk.as_fd().try_clone_to_owned()?;
        // SAFETY: `dup` is owned by the AsyncFd and never exposed, so it
        // stays open and names the same socket until the AsyncFd is dropped.
        let fd = unsafe {
            AsyncFd::register_with_interest(dup, Interest::READABLE | Interest::WRITABLE)
        }?;
        Ok(AsyncXsk { xsk, fd })
    }

    /// The socket.
    pub fn get_ref(&self) -> &Xsk {
        &self.xsk
    }

    /// The socket, for its ring methods.
    pub fn get_mut(&mut self) -> &mut Xsk {
        &mut self.xsk
    }

    /// Deregisters and returns the socket.
    pub fn into_inner(self) -> Xsk {
        self.xsk
    }

    /// Waits until RX holds at least one frame.
    ///
    /// # Errors
    /// The reactor failed.
    pub async fn rx_ready(&mut self) -> io::Result<()> {
        loop {
            if self.xsk.rx_pending() > 0 {
                return Ok(());
            }
            let mut guard = self.fd.readable().await?;
            // Checked again after the wake-up: readiness is edge-triggered,
            // so it is cleared only when the ring is really empty.
            if self.xsk.rx_pending() > 0 {
                return Ok(());
            }
            guard.clear_ready();
        }
    }

    /// Waits until TX has room for at least one descriptor.
    ///
    /// # Errors
    /// The reactor failed.
    pub async fn tx_ready(&mut self) -> io::Result<()> {
        loop {
            if self.xsk.tx_room() > 0 {
                return Ok(());
            }
            let mut guard = self.fd.writable().await?;
            if self.xsk.tx_room() > 0 {
                return Ok(());
            }
            guard.clear_ready();
        }
    }
}
