//! Readiness for async runtimes (feature `tokio`): wait for frames on RX or
//! room on TX without a thread per socket.
//!
//! The kernel reports an AF_XDP socket readable while its RX ring holds
//! frames and writable while its TX ring has room; tokio's `AsyncFd` turns
//! that into futures. The rings are still used through [`Xsk`]'s methods.

use crate::error::{Error, Result};
use crate::xsk::Xsk;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// How often a wait checks that the interface still exists.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// An [`Xsk`] registered with the tokio reactor.
///
/// # Examples
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let xsk = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default())?;
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

    /// Waits until RX holds at least one frame. On a socket that waits for
    /// FILL wake-ups (zero-copy with need_wakeup) it kicks RX first. It
    /// checks the interface at least once a second: the kernel never
    /// reports an unbound socket ready, so a vanished interface would
    /// otherwise leave this pending for ever.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InterfaceGone`] when the interface went away; the
    /// socket inside was swapped for another (see [`AsyncXsk::get_mut`]);
    /// the reactor failed.
    pub async fn rx_ready(&mut self) -> Result<()> {
        loop {
            if self.xsk.rx_pending() > 0 {
                return Ok(());
            }
            if self.xsk.fill_needs_wakeup() {
                self.xsk.socket().kick_rx()?;
            }
            self.check_same_socket()?;
            match tokio::time::timeout(CHECK_EVERY, self.fd.readable()).await {
                Ok(guard) => {
                    let mut guard = guard.map_err(|e| Error::os("waiting for RX", e))?;
                    // Checked again after the wake-up: readiness is
                    // edge-triggered, so it is cleared only when the ring
                    // is really empty.
                    if self.xsk.rx_pending() > 0 {
                        return Ok(());
                    }
                    guard.clear_ready();
                }
                Err(_) => self.xsk.check_bound()?,
            }
        }
    }

    /// Waits until TX has room for at least one descriptor (checking the
    /// interface at least once a second, as [`AsyncXsk::rx_ready`]).
    ///
    /// # Errors
    /// As [`AsyncXsk::rx_ready`].
    pub async fn tx_ready(&mut self) -> Result<()> {
        loop {
            if self.xsk.tx_room() > 0 {
                return Ok(());
            }
            self.check_same_socket()?;
            match tokio::time::timeout(CHECK_EVERY, self.fd.writable()).await {
                Ok(guard) => {
                    let mut guard = guard.map_err(|e| Error::os("waiting for TX room", e))?;
                    if self.xsk.tx_room() > 0 {
                        return Ok(());
                    }
                    guard.clear_ready();
                }
                Err(_) => self.xsk.check_bound()?,
            }
        }
    }

    /// The registered descriptor must still name the socket inside (a
    /// caller could have swapped the `Xsk` through `get_mut`).
    fn check_same_socket(&self) -> Result<()> {
        let inode = |fd: BorrowedFd<'_>| -> Option<u64> {
            let f = std::fs::File::from(fd.try_clone_to_owned().ok()?);
            f.metadata()
                .ok()
                .map(|m| std::os::unix::fs::MetadataExt::ino(&m))
        };
        if inode(self.fd.get_ref().as_fd()) != inode(self.xsk.as_fd()) {
            return Err(Error::config(
                "the socket inside this AsyncXsk was replaced: make a new AsyncXsk for it",
            ));
        }
        Ok(())
    }
}
