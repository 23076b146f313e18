//! Every system call of this crate, each a thin safe wrapper that turns the
//! C return convention into `io::Result` through one errno helper.
//!
//! Only this file (plus the mapping and ring memory in `mmap.rs`, `ring.rs`
//! and `umem.rs`) holds `unsafe`.

use crate::if_xdp::SockaddrXdp;
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The one errno helper: a negative return becomes the thread's errno.
fn cvt<T: Copy + PartialOrd + Default>(rc: T) -> io::Result<T> {
    if rc < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// `socket(2)`, close-on-exec.
pub(crate) fn socket(domain: i32, ty: i32, protocol: i32) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked before use.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(2)` with a plain-data value.
pub(crate) fn setsockopt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: i32,
    opt: i32,
    value: &T,
) -> io::Result<()> {
    // SAFETY: `value` points to a live, initialised T of the size passed.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            (value as *const T).cast(),
            size_of::<T>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// `getsockopt(2)` into a byte buffer; returns how many bytes the kernel
/// wrote (older kernels write shorter, older layouts: see `if_xdp`).
pub(crate) fn getsockopt(
    fd: BorrowedFd<'_>,
    level: i32,
    opt: i32,
    buf: &mut [u8],
) -> io::Result<usize> {
    let mut len = libc::socklen_t::try_from(buf.len())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: the kernel writes at most `len` bytes into `buf`.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            opt,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    })?;
    // The kernel never reports more than it was given; clamp anyway.
    Ok((len as usize).min(buf.len()))
}

/// A `c_int` socket option.
pub(crate) fn getsockopt_int(fd: BorrowedFd<'_>, level: i32, opt: i32) -> io::Result<i32> {
    let mut b = [0u8; 4];
    let n = getsockopt(fd, level, opt, &mut b)?;
    if n != 4 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(i32::from_ne_bytes(b))
}

/// `bind(2)` of an AF_XDP socket.
pub(crate) fn bind_xdp(fd: BorrowedFd<'_>, sa: &SockaddrXdp) -> io::Result<()> {
    // SAFETY: `sa` is a valid sockaddr_xdp of the size passed.
    cvt(unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (sa as *const SockaddrXdp).cast(),
            size_of::<SockaddrXdp>() as libc::socklen_t,
        )
    })
    .map(drop)
}

/// Zero-length `sendto(2)`: the TX wake-up.
pub(crate) fn send_empty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no buffer and no address are passed (lengths zero).
    cvt(unsafe {
        libc::sendto(
            fd.as_raw_fd(),
            std::ptr::null(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null(),
            0,
        )
    })
    .map(drop)
}

/// Zero-length `recvfrom(2)`: the RX wake-up (AF_XDP supports it from 5.11).
pub(crate) fn recv_empty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: no buffer and no address are passed (lengths zero).
    cvt(unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            std::ptr::null_mut(),
            0,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    })
    .map(drop)
}

/// `poll(2)` on one descriptor; returns its `revents` (0 on time-out).
pub(crate) fn poll_one(fd: BorrowedFd<'_>, events: i16, timeout_ms: i32) -> io::Result<i16> {
    let mut pfd = libc::pollfd {
        fd: fd.as_raw_fd(),
        events,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let n = cvt(unsafe { libc::poll(&mut pfd, 1, timeout_ms) })?;
    Ok(if n == 0 { 0 } else { pfd.revents })
}

/// `if_nametoindex(3)`; 0 means no such interface.
pub(crate) fn if_nametoindex(name: &std::ffi::CStr) -> u32 {
    // SAFETY: `name` is a valid NUL-terminated string for the call.
    unsafe { libc::if_nametoindex(name.as_ptr()) }
}

/// `ioctl(SIOCETHTOOL)` with `data` as the command buffer.
pub(crate) fn ethtool<T>(fd: BorrowedFd<'_>, name: &str, data: &mut T) -> io::Result<()> {
    /// `struct ifreq` with the `ifr_data` member of its union.
    #[repr(C)]
    struct IfreqData {
        name: [libc::c_char; libc::IFNAMSIZ],
        data: *mut libc::c_void,
        _pad: [u8; 16],
    }
    let mut req = IfreqData {
        name: [0; libc::IFNAMSIZ],
        data: (data as *mut T).cast(),
        _pad: [0; 16],
    };
    for (d, s) in req
        .name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    // The request's type differs between C libraries (an unsigned long in
    // glibc, an int in musl); the value fits either.
    #[allow(clippy::unnecessary_cast)]
    let request = libc::SIOCETHTOOL as _;
    // SAFETY: SIOCETHTOOL reads the name and reads/writes the command struct
    // through `data`, which points at a live T the caller sized for the
    // command it put in it.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), request, &mut req) }).map(drop)
}

/// `send(2)` of one message; returns bytes sent.
pub(crate) fn send(fd: BorrowedFd<'_>, msg: &[u8]) -> io::Result<usize> {
    // SAFETY: `msg` is a live byte slice of the length passed.
    cvt(unsafe { libc::send(fd.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) })
        .map(|n| n as usize)
}

/// `recv(2)` into `buf`; returns bytes read.
pub(crate) fn recv(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`.
    cvt(unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) })
        .map(|n| n as usize)
}
