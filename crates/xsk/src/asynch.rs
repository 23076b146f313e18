//! Readiness for async runtimes (feature `tokio`): wait for frames on RX,
//! room on TX or completions, without a thread per socket.
//!
//! The kernel reports an AF_XDP socket readable while its RX ring holds
//! frames and writable while its TX ring has room; tokio's `AsyncFd` turns
//! that into futures. The rings are still used through the methods of the
//! socket inside: an [`Xsk`], or one half of a split socket ([`RxHalf`],
//! [`TxHalf`]), each registered on its own so that a task per direction
//! waits for its own events.

use crate::error::{Error, Result};
use crate::xsk::{RxHalf, TxHalf, Xsk};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// How often a wait checks that the interface still exists.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How often a wait for completions looks at the ring when no event came:
/// zero-copy drivers complete frames without waking the socket.
const COMPLETION_POLL: Duration = Duration::from_millis(1);

/// An [`Xsk`], or a half of a split one, registered with the tokio reactor.
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
///
/// A task per direction: split the socket, then register each half.
/// ```no_run
/// use xsk::{AsyncXsk, RxHalf, TxHalf};
///
/// async fn receive(mut rx: AsyncXsk<RxHalf>) -> xsk::Result<()> {
///     rx.get_mut().refill(u32::MAX);
///     loop {
///         rx.rx_ready().await?;
///         rx.get_mut().rx_batch(64).recycle();
///         rx.get_mut().refill(u32::MAX); // what the TX task completed
///     }
/// }
///
/// async fn send(mut tx: AsyncXsk<TxHalf>, packet: Vec<u8>) -> xsk::Result<()> {
///     loop {
///         tx.tx_ready().await?;
///         tx.get_mut().transmit_packets(64, &packet);
///         tx.get_mut().flush()?;
///         let done = tx.completions().await?;
///         tx.get_mut().complete(done); // back to the pool for RX
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let xsk = xsk::Xsk::new("eth1", 0, &xsk::XskConfig::default())?;
/// let (rx, tx) = xsk.split();
/// // Inside a tokio runtime: each future on a task of its own
/// // (tokio::spawn), or both joined on one.
/// let rx_task = receive(AsyncXsk::new(rx)?);
/// let tx_task = send(AsyncXsk::new(tx)?, vec![0xff; 60]);
/// # let _ = (rx_task, tx_task);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct AsyncXsk<S = Xsk> {
    xsk: S,
    /// A private duplicate of the socket's descriptor, registered with the
    /// reactor: readiness belongs to the socket, and no caller can close or
    /// replace this descriptor while it is registered, whatever they do
    /// with the `&mut` they get. Each half of a split socket has its own.
    fd: AsyncFd<OwnedFd>,
}

impl<S: AsFd> AsyncXsk<S> {
    /// Registers the socket (or half) with the current tokio reactor.
    ///
    /// # Errors
    /// Outside a tokio runtime, or if the reactor refuses the descriptor.
    pub fn new(xsk: S) -> io::Result<AsyncXsk<S>> {
        let dup = xsk.as_fd().try_clone_to_owned()?;
        // SAFETY: `dup` is owned by the AsyncFd and never exposed, so it
        // stays open and names the same socket until the AsyncFd is dropped.
        let fd = unsafe {
            AsyncFd::register_with_interest(dup, Interest::READABLE | Interest::WRITABLE)
        }?;
        Ok(AsyncXsk { xsk, fd })
    }

    /// The socket or half.
    pub fn get_ref(&self) -> &S {
        &self.xsk
    }

    /// The socket or half, for its ring methods.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.xsk
    }

    /// Deregisters and returns the socket or half.
    pub fn into_inner(self) -> S {
        self.xsk
    }

    /// The registered descriptor must still name the socket inside (a
    /// caller could have swapped it through `get_mut`).
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

    /// Waits until `done` says so. `done` is asked first, then after each
    /// readiness event (readable, or writable if `write`) and each `every`
    /// without one; the interface is checked (`check`) at least once a
    /// second: the kernel never reports an unbound socket ready, so a
    /// vanished interface would otherwise leave the wait pending for ever.
    async fn wait(
        &mut self,
        write: bool,
        every: Duration,
        mut done: impl FnMut(&mut S) -> Result<bool>,
        check: impl Fn(&S) -> Result<()>,
    ) -> Result<()> {
        let mut quiet = Duration::ZERO;
        loop {
            if done(&mut self.xsk)? {
                return Ok(());
            }
            self.check_same_socket()?;
            let fd = &self.fd;
            let event = async {
                if write {
                    fd.writable().await
                } else {
                    fd.readable().await
                }
            };
            match tokio::time::timeout(every, event).await {
                Ok(guard) => {
                    let what = if write {
                        "waiting for TX"
                    } else {
                        "waiting for RX"
                    };
                    let mut guard = guard.map_err(|e| Error::os(what, e))?;
                    // Checked again after the wake-up: readiness is
                    // edge-triggered, so it is cleared only when the
                    // condition really does not hold.
                    if done(&mut self.xsk)? {
                        return Ok(());
                    }
                    guard.clear_ready();
                }
                Err(_) => {
                    quiet += every;
                    if quiet >= CHECK_EVERY {
                        quiet = Duration::ZERO;
                        check(&self.xsk)?;
                    }
                }
            }
        }
    }
}

impl AsyncXsk<Xsk> {
    /// Waits until RX holds at least one frame. On a socket that waits for
    /// FILL wake-ups (zero-copy with need_wakeup) it kicks RX first. It
    /// checks the interface at least once a second.
    ///
    /// # Errors
    /// [`crate::ErrorKind::InterfaceGone`] when the interface went away; the
    /// socket inside was swapped for another (see [`AsyncXsk::get_mut`]);
    /// the reactor failed.
    pub async fn rx_ready(&mut self) -> Result<()> {
        let done = |x: &mut Xsk| rx_done(x.rx_pending(), x.fill_needs_wakeup(), x.socket());
        self.wait(false, CHECK_EVERY, done, Xsk::check_bound).await
    }

    /// Waits until TX has room for at least one descriptor (checking the
    /// interface at least once a second, as [`AsyncXsk::rx_ready`]).
    ///
    /// # Errors
    /// As [`AsyncXsk::rx_ready`].
    pub async fn tx_ready(&mut self) -> Result<()> {
        let done = |x: &mut Xsk| Ok(x.tx_room() > 0);
        self.wait(true, CHECK_EVERY, done, Xsk::check_bound).await
    }
}

/// RX is ready when it holds frames; if not, kick the kernel when it waits
/// for a FILL wake-up.
fn rx_done(pending: u32, kick: bool, socket: &crate::Socket) -> Result<bool> {
    if pending > 0 {
        return Ok(true);
    }
    if kick {
        socket.kick_rx()?;
    }
    Ok(false)
}

impl AsyncXsk<RxHalf> {
    /// Waits until RX holds at least one frame, as
    /// [`AsyncXsk::<Xsk>::rx_ready`](AsyncXsk::rx_ready).
    ///
    /// # Errors
    /// As [`AsyncXsk::<Xsk>::rx_ready`](AsyncXsk::rx_ready).
    pub async fn rx_ready(&mut self) -> Result<()> {
        let done = |x: &mut RxHalf| rx_done(x.rx_pending(), x.fill_needs_wakeup(), x.socket());
        self.wait(false, CHECK_EVERY, done, RxHalf::check_bound)
            .await
    }
}

impl AsyncXsk<TxHalf> {
    /// Waits until TX has room for at least one descriptor. While TX is
    /// full it wakes the kernel ([`TxHalf::flush`]), which in copy mode is
    /// what empties it.
    ///
    /// # Errors
    /// As [`AsyncXsk::<Xsk>::rx_ready`](AsyncXsk::rx_ready).
    pub async fn tx_ready(&mut self) -> Result<()> {
        let done = |x: &mut TxHalf| {
            if x.tx_room() > 0 {
                return Ok(true);
            }
            x.flush().map(|()| false)
        };
        self.wait(true, CHECK_EVERY, done, TxHalf::check_bound)
            .await
    }

    /// Waits until COMPLETION holds frames and returns how many (pass it to
    /// [`TxHalf::complete`]), or 0 at once when nothing is in flight
    /// ([`TxHalf::in_flight`]), which would never complete. While it waits
    /// it wakes the kernel to send ([`TxHalf::flush`]). Copy mode signals
    /// completions as the socket's send buffer drains; zero-copy drivers do
    /// not, so it also looks every millisecond.
    ///
    /// # Errors
    /// As [`AsyncXsk::<Xsk>::rx_ready`](AsyncXsk::rx_ready).
    pub async fn completions(&mut self) -> Result<u32> {
        let mut ready = 0;
        let done = |x: &mut TxHalf| {
            ready = x.completions_pending();
            if ready > 0 || x.in_flight() == 0 {
                return Ok(true);
            }
            x.flush().map(|()| false)
        };
        self.wait(true, COMPLETION_POLL, done, TxHalf::check_bound)
            .await?;
        Ok(ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn send<T: Send>(_: &T) {}

    /// Each half and its waits can go to a task of its own (`tokio::spawn`
    /// needs `Send` futures). Checked when compiled; never run.
    #[allow(dead_code)]
    fn futures_are_send(mut rx: AsyncXsk<RxHalf>, mut tx: AsyncXsk<TxHalf>) {
        send(&rx.rx_ready());
        send(&tx.tx_ready());
        send(&tx.completions());
    }
}
