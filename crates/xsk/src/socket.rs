//! The AF_XDP socket descriptor: options, wake-ups, statistics, and telling
//! a vanished interface from an idle one.

use crate::error::{Error, ErrorKind, Result};
use crate::if_xdp::{self, Statistics};
use crate::syscall;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// An AF_XDP socket file descriptor.
#[derive(Debug)]
pub struct Socket {
    fd: OwnedFd,
    /// Set once the kernel has said recvfrom is not supported (before 5.11):
    /// RX wake-ups then use `poll`.
    no_recv: AtomicBool,
    /// Set once the interface is known gone; the socket stays unbound.
    gone: AtomicBool,
}

fn interface_gone() -> Error {
    Error::new(
        ErrorKind::InterfaceGone,
        "the interface this AF_XDP socket was bound to is gone (deleted or moved to another namespace)",
    )
    .with_hint("the socket cannot receive or send any more: open a new one on an existing interface")
}

/// What an `XDP_MAX_TX_SKB_BUDGET` refused as unknown means.
const TX_BUDGET_NEEDS_6_17: &str =
    "the TX budget (XDP_MAX_TX_SKB_BUDGET) needs Linux 6.17 or later";

/// A TX budget outside what the kernel takes: [`if_xdp::TX_BUDGET_MIN`] to
/// the TX ring's size (`tx_size`, where known).
pub(crate) fn tx_budget_out_of_range(budget: u32, tx_size: Option<u32>) -> Error {
    let min = if_xdp::TX_BUDGET_MIN;
    Error::config(match tx_size {
        Some(n) => format!(
            "TX budget {budget} is out of range: the kernel takes {min} to the TX ring size ({n})"
        ),
        None => format!(
            "TX budget {budget} is out of range: the kernel takes {min} to the size of the \
             socket's TX ring"
        ),
    })
}

/// Refuses a TX budget the kernel would, where the TX ring's size is known.
pub(crate) fn check_tx_budget(budget: u32, tx_size: u32) -> Result<()> {
    if !(if_xdp::TX_BUDGET_MIN..=tx_size).contains(&budget) {
        return Err(tx_budget_out_of_range(budget, Some(tx_size)));
    }
    Ok(())
}

impl Socket {
    /// Creates an unbound AF_XDP socket.
    ///
    /// # Errors
    /// No AF_XDP in this kernel, or missing privileges (both with a hint).
    pub fn new() -> Result<Socket> {
        let fd = syscall::socket(libc::AF_XDP, libc::SOCK_RAW, 0).map_err(|e| {
            let code = e.raw_os_error();
            let err = Error::os("cannot create an AF_XDP socket", e);
            match code {
                Some(libc::EAFNOSUPPORT) => err
                    .with_kind(ErrorKind::Unsupported)
                    .with_hint("this kernel lacks CONFIG_XDP_SOCKETS (AF_XDP needs Linux 4.18)"),
                Some(libc::EPERM) | Some(libc::EACCES) => {
                    err.with_hint("AF_XDP sockets need CAP_NET_RAW: run as root")
                }
                _ => err,
            }
        })?;
        Ok(Socket {
            fd,
            no_recv: AtomicBool::new(false),
            gone: AtomicBool::new(false),
        })
    }

    /// A stand-in socket for loopback tests: one end of a Unix socket pair.
    #[cfg(any(test, feature = "test-util"))]
    pub(crate) fn stand_in() -> std::io::Result<Socket> {
        let (a, _b) = std::os::unix::net::UnixStream::pair()?;
        Ok(Socket {
            fd: a.into(),
            no_recv: AtomicBool::new(false),
            gone: AtomicBool::new(false),
        })
    }

    pub(crate) fn set<T: Copy>(&self, level: i32, opt: i32, value: &T) -> io::Result<()> {
        syscall::setsockopt(self.fd.as_fd(), level, opt, value)
    }

    pub(crate) fn set_xdp<T: Copy>(&self, opt: i32, value: &T, what: &str) -> Result<()> {
        self.set(libc::SOL_XDP, opt, value)
            .map_err(|e| Error::os(what.to_string(), e))
    }

    /// Reads an `SOL_XDP` option into `buf`; returns the length written.
    pub(crate) fn get_xdp(&self, opt: i32, buf: &mut [u8], what: &str) -> Result<usize> {
        syscall::getsockopt(self.fd.as_fd(), libc::SOL_XDP, opt, buf)
            .map_err(|e| Error::os(what.to_string(), e))
    }

    /// A second descriptor for the same socket (for reading statistics from
    /// another thread while the owner runs its loop).
    ///
    /// # Errors
    /// `dup` failed (descriptor limit).
    pub fn try_clone(&self) -> Result<Socket> {
        Ok(Socket {
            fd: self
                .fd
                .try_clone()
                .map_err(|e| Error::os("dup of the AF_XDP socket", e))?,
            no_recv: AtomicBool::new(self.no_recv.load(Ordering::Relaxed)),
            gone: AtomicBool::new(self.gone.load(Ordering::Relaxed)),
        })
    }

    /// Reads the kernel's counters for this socket. Kernels before 5.9
    /// return three of the six; the others read as `None`.
    ///
    /// # Errors
    /// The `getsockopt` failed, or returned a layout this crate does not know.
    pub fn statistics(&self) -> Result<Statistics> {
        let mut buf = [0u8; if_xdp::STATISTICS_LEN];
        let n = self.get_xdp(libc::XDP_STATISTICS, &mut buf, "getsockopt(XDP_STATISTICS)")?;
        Statistics::decode(&buf, n)
    }

    /// True if the socket is bound in zero-copy mode (XDP_OPTIONS).
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] before Linux 5.3, which cannot say.
    pub fn zero_copy(&self) -> Result<bool> {
        let mut buf = [0u8; 4];
        let n = self
            .get_xdp(libc::XDP_OPTIONS, &mut buf, "getsockopt(XDP_OPTIONS)")
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOPROTOOPT) => e
                    .with_kind(ErrorKind::Unsupported)
                    .with_hint("XDP_OPTIONS needs Linux 5.3"),
                _ => e,
            })?;
        Ok(n == 4 && u32::from_ne_bytes(buf) & if_xdp::XDP_OPTIONS_ZEROCOPY != 0)
    }

    /// Sets the TX budget (`XDP_MAX_TX_SKB_BUDGET`, Linux 6.17): how many
    /// frames one copy-mode TX wake-up (`sendto`, as [`Socket::kick_tx`]
    /// makes) may send before it returns, so that fewer wake-ups send as
    /// many frames. The kernel's default is [`TX_BUDGET_MIN`] (32). Only
    /// copy mode uses it; a zero-copy socket takes it and sends as its
    /// driver does. The kernel takes it at any time once the socket has a
    /// TX ring, before or after the bind, so a bound socket can change it.
    ///
    /// [`XskConfig::tx_budget`](crate::XskConfig::tx_budget) sets it when
    /// the socket is opened, and [`Xsk::set_tx_budget`](crate::Xsk::set_tx_budget)
    /// checks the value against the socket's TX ring first.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] before Linux 6.17, which has no such
    /// option; [`ErrorKind::InvalidConfig`], naming the range, for a budget
    /// below [`TX_BUDGET_MIN`] (checked here, before the call) or above
    /// the TX ring's size (refused by the kernel, which knows the size:
    /// this socket does not), or on a socket without a TX ring.
    ///
    /// [`TX_BUDGET_MIN`]: crate::TX_BUDGET_MIN
    pub fn set_tx_budget(&self, budget: u32) -> Result<()> {
        if budget < if_xdp::TX_BUDGET_MIN {
            return Err(tx_budget_out_of_range(budget, None));
        }
        self.set(libc::SOL_XDP, if_xdp::XDP_MAX_TX_SKB_BUDGET, &budget)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOPROTOOPT) => Error::os(TX_BUDGET_NEEDS_6_17, e)
                    .with_kind(ErrorKind::Unsupported)
                    .with_hint(
                        "run without a TX budget: older kernels send a fixed batch per wake-up",
                    ),
                // The kernel's answer to a value out of range, or to a
                // socket without a TX ring: not a missing privilege.
                Some(libc::EACCES) => tx_budget_out_of_range(budget, None),
                _ => Error::os("setsockopt(XDP_MAX_TX_SKB_BUDGET)", e),
            })
    }

    /// Asks the kernel to transmit what is on the TX ring.
    ///
    /// # Errors
    /// [`ErrorKind::InterfaceGone`] once the interface is gone; other
    /// failures than the transient ones (busy, no buffers, link down).
    pub fn kick_tx(&self) -> Result<()> {
        match syscall::send_empty(self.fd.as_fd()) {
            Ok(()) => Ok(()),
            // Transient: the kernel is busy, the ring is being drained, or
            // the link is down for now.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::EBUSY | libc::ENOBUFS | libc::ENETDOWN)
                ) =>
            {
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Err(self.mark_gone()),
            Err(e) => Err(Error::os("sendto (TX wake-up)", e)),
        }
    }

    /// Asks the kernel to take buffers from the FILL ring and receive.
    /// Uses `recvfrom` (5.11+) and falls back to `poll` on older kernels.
    ///
    /// # Errors
    /// [`ErrorKind::InterfaceGone`] once the interface is gone.
    pub fn kick_rx(&self) -> Result<()> {
        if self.no_recv.load(Ordering::Relaxed) {
            return self.poll_rx(Some(Duration::ZERO)).map(drop);
        }
        match syscall::recv_empty(self.fd.as_fd()) {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EAGAIN | libc::EBUSY | libc::ENETDOWN)
                ) =>
            {
                Ok(())
            }
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                self.no_recv.store(true, Ordering::Relaxed);
                self.poll_rx(Some(Duration::ZERO)).map(drop)
            }
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Err(self.mark_gone()),
            Err(e) => Err(Error::os("recvfrom (RX wake-up)", e)),
        }
    }

    /// The NAPI instance busy polling would run for this socket
    /// (SO_INCOMING_NAPI_ID), or `None` when the kernel gave it none.
    ///
    /// Busy polling (see [`Socket::set_busy_poll`]) needs one. Linux 6.13
    /// and later give it at bind time, from the NAPI the driver reports for
    /// the queue (`netif_queue_set_napi`; 6.13 to 6.14.8 only to zero-copy
    /// sockets), so a socket on a driver that reports none, such as veth,
    /// has none; earlier kernels took it from the first received frame's
    /// queue (none in SKB mode).
    ///
    /// # Errors
    /// The getsockopt failed (Linux before 4.12 has no SO_INCOMING_NAPI_ID).
    pub fn napi_id(&self) -> Result<Option<u32>> {
        let id =
            syscall::getsockopt_int(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_INCOMING_NAPI_ID)
                .map_err(|e| Error::os("getsockopt(SO_INCOMING_NAPI_ID)", e))?;
        // An unsigned int in the kernel; 0: none.
        let id = u32::from_ne_bytes(id.to_ne_bytes());
        Ok((id != 0).then_some(id))
    }

    /// Whether this kernel has preferred busy polling (SO_PREFER_BUSY_POLL,
    /// Linux 5.11), asked of a fresh AF_XDP socket with the option off.
    ///
    /// # Errors
    /// An OS error if no AF_XDP socket can be made (no privileges, no
    /// AF_XDP in the kernel).
    pub fn supports_busy_poll() -> Result<bool> {
        let probe = Socket::new()?;
        match probe.set(libc::SOL_SOCKET, libc::SO_PREFER_BUSY_POLL, &0i32) {
            Ok(()) => Ok(true),
            Err(e) if e.raw_os_error() == Some(libc::ENOPROTOOPT) => Ok(false),
            Err(e) => Err(Error::os("setsockopt(SO_PREFER_BUSY_POLL)", e)),
        }
    }

    /// Turns on preferred busy polling (SO_PREFER_BUSY_POLL, SO_BUSY_POLL
    /// of `usecs`, SO_BUSY_POLL_BUDGET of `budget`): the application then
    /// drives the driver's NAPI loop from its own wake-ups.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] before Linux 5.11; a budget above the
    /// default without CAP_NET_ADMIN.
    pub fn set_busy_poll(&self, usecs: u32, budget: u32) -> Result<()> {
        let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        for (opt, value, name) in [
            (libc::SO_PREFER_BUSY_POLL, 1i32, "SO_PREFER_BUSY_POLL"),
            (libc::SO_BUSY_POLL, clamp(usecs), "SO_BUSY_POLL"),
            (
                libc::SO_BUSY_POLL_BUDGET,
                clamp(budget),
                "SO_BUSY_POLL_BUDGET",
            ),
        ] {
            if let Err(e) = self.set(libc::SOL_SOCKET, opt, &value) {
                let code = e.raw_os_error();
                let e = Error::os(format!("setsockopt({name})"), e);
                return Err(match code {
                    Some(libc::ENOPROTOOPT) => e.with_kind(ErrorKind::Unsupported).with_hint(
                        "preferred busy polling needs Linux 5.11: run without busy polling",
                    ),
                    _ if e.kind() == ErrorKind::Permission => e.with_hint(
                        "SO_BUSY_POLL_BUDGET above the default needs CAP_NET_ADMIN: run as root",
                    ),
                    _ => e,
                });
            }
        }
        Ok(())
    }

    /// Waits for frames on RX, up to `timeout` (`None`: no timeout, wait
    /// until frames arrive; `Some(Duration::ZERO)`: only look); true if
    /// frames are ready, false when the time ran out or a signal
    /// interrupted the wait. A timeout is rounded up to whole milliseconds
    /// (the resolution of `poll(2)`).
    ///
    /// The interface is checked at least once a second while it waits (the
    /// kernel unbinds a socket whose interface goes away and then never
    /// reports it ready), so no wait hides a vanished interface.
    ///
    /// # Errors
    /// [`ErrorKind::InterfaceGone`] when the interface went away.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # fn main() -> xsk::Result<()> {
    /// use std::time::Duration;
    /// use xsk::{Xsk, XskConfig};
    ///
    /// let mut xsk = Xsk::new("eth0", 0, &XskConfig::default())?;
    /// xsk.refill(u32::MAX);
    /// // Up to 100 ms, then look at something else ...
    /// if !xsk.socket().poll_rx(Some(Duration::from_millis(100)))? {
    ///     // nothing arrived
    /// }
    /// // ... or until frames arrive (or the interface goes away).
    /// xsk.socket().poll_rx(None)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn poll_rx(&self, timeout: Option<Duration>) -> Result<bool> {
        // An unbound socket's poll reports nothing, ever (the kernel wakes
        // the waiter once and then finds no events): wait in slices of at
        // most a second so that a long or endless wait still checks.
        const SLICE: Duration = Duration::from_secs(1);
        let mut left = timeout;
        loop {
            let slice = left.map_or(SLICE, |l| l.min(SLICE));
            match syscall::poll_one(self.fd.as_fd(), libc::POLLIN, ceil_millis(slice)) {
                Ok(revents) if revents & libc::POLLIN != 0 => return Ok(true),
                Ok(_) => {
                    self.check_bound()?;
                    if let Some(l) = left.as_mut() {
                        *l = l.saturating_sub(slice);
                        if l.is_zero() {
                            return Ok(false);
                        }
                    }
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => return Ok(false),
                Err(e) => return Err(Error::os("poll", e)),
            }
        }
    }

    /// Checks that the socket is still bound to a live interface: the
    /// kernel leaves ENETDOWN in `SO_ERROR` when the interface is
    /// unregistered, and refuses `sendto` with ENXIO on an unbound socket.
    /// Long busy loops that never wait in [`Socket::poll_rx`] should call
    /// this now and then (say once a second).
    ///
    /// # Errors
    /// [`ErrorKind::InterfaceGone`] when the interface went away.
    pub fn check_bound(&self) -> Result<()> {
        if self.gone.load(Ordering::Relaxed) {
            return Err(interface_gone());
        }
        let so_error = syscall::getsockopt_int(self.fd.as_fd(), libc::SOL_SOCKET, libc::SO_ERROR)
            .map_err(|e| Error::os("getsockopt(SO_ERROR)", e))?;
        if so_error == libc::ENETDOWN {
            return Err(self.mark_gone());
        }
        match syscall::send_empty(self.fd.as_fd()) {
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => Err(self.mark_gone()),
            _ => Ok(()),
        }
    }

    fn mark_gone(&self) -> Error {
        self.gone.store(true, Ordering::Relaxed);
        interface_gone()
    }
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Socket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Milliseconds for `poll(2)`, rounded up (a wait of 0.5 ms waits 1 ms, not
/// 0); at most a second is ever asked for.
fn ceil_millis(d: Duration) -> i32 {
    let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    i32::try_from(ms).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::{ceil_millis, check_tx_budget};
    use crate::error::ErrorKind;
    use std::time::Duration;

    #[test]
    fn tx_budgets_from_32_to_the_ring_size_pass_and_others_name_the_range() {
        for ok in [32, 100, 512] {
            check_tx_budget(ok, 512).unwrap();
        }
        for bad in [0, 31, 513, u32::MAX] {
            let e = check_tx_budget(bad, 512).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidConfig);
            assert_eq!(
                e.to_string(),
                format!(
                    "TX budget {bad} is out of range: the kernel takes 32 to the TX ring size (512)"
                )
            );
        }
        // A ring smaller than the kernel's minimum takes no budget at all.
        assert!(check_tx_budget(32, 16).is_err());
    }

    #[test]
    fn poll_timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(ceil_millis(Duration::ZERO), 0);
        assert_eq!(ceil_millis(Duration::from_micros(1)), 1);
        assert_eq!(ceil_millis(Duration::from_micros(500)), 1);
        assert_eq!(ceil_millis(Duration::from_millis(100)), 100);
        assert_eq!(ceil_millis(Duration::from_micros(100_001)), 101);
        assert_eq!(ceil_millis(Duration::from_secs(1)), 1000);
        assert_eq!(ceil_millis(Duration::MAX), i32::MAX);
    }
}
