//! Interface lookups the socket needs: index by name, rx queue count.
//!
//! Both work in the calling thread's network namespace (they go through a
//! socket, not /sys, whose view belongs to whoever mounted it).

use crate::error::{Error, ErrorKind, Result};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Index of the interface called `name`, with a clear error if there is none.
pub fn ifindex(name: &str) -> Result<u32> {
    let c = CString::new(name)
        .map_err(|_| Error::config(format!("interface name {name:?} contains a NUL byte")))?;
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(Error::new(
            ErrorKind::NoSuchInterface,
            format!("{name:?} is not a valid interface name"),
        ));
    }
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(Error::new(
            ErrorKind::NoSuchInterface,
            format!("no network interface named {name:?} in this network namespace"),
        )
        .with_hint("list them with `ip link`"));
    }
    Ok(idx)
}

/// `struct ethtool_channels` from linux/ethtool.h.
#[repr(C)]
#[derive(Default)]
struct EthtoolChannels {
    cmd: u32,
    max_rx: u32,
    max_tx: u32,
    max_other: u32,
    max_combined: u32,
    rx_count: u32,
    tx_count: u32,
    other_count: u32,
    combined_count: u32,
}

/// `struct ifreq` with the `ifr_data` member of its union.
#[repr(C)]
struct IfreqData {
    name: [libc::c_char; libc::IFNAMSIZ],
    data: *mut libc::c_void,
    _pad: [u8; 16],
}

const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// Number of rx queues of `name` as ethtool reports them (the larger of the
/// rx and combined channel counts), or `None` if the driver does not say.
pub fn rx_queue_count(name: &str) -> Result<Option<u32>> {
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::os(
            "socket(AF_INET) for ethtool",
            io::Error::last_os_error(),
        ));
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    let mut req = IfreqData {
        name: [0; libc::IFNAMSIZ],
        data: (&mut ch as *mut EthtoolChannels).cast(),
        _pad: [0; 16],
    };
    for (d, s) in req
        .name
        .iter_mut()
        .zip(name.bytes().take(libc::IFNAMSIZ - 1))
    {
        *d = s as libc::c_char;
    }
    // SAFETY: SIOCETHTOOL reads the name and writes at most
    // size_of::<EthtoolChannels>() bytes through `data`, which points at `ch`.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SIOCETHTOOL, &mut req) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => Ok(None),
            Some(libc::ENODEV) => Err(Error::new(
                ErrorKind::NoSuchInterface,
                format!("no network interface named {name:?} in this network namespace"),
            )
            .with_hint("list them with `ip link`")),
            _ => Err(Error::os(format!("ethtool channels of {name}"), e)),
        };
    }
    let n = ch.rx_count.max(ch.combined_count);
    Ok((n > 0).then_some(n))
}
