//! Interface lookups through ethtool and the socket layer: index by name,
//! rx queue count, driver name.
//!
//! Both work in the calling thread's network namespace (they go through a
//! socket, not /sys, whose view belongs to whoever mounted it).

use crate::error::{Error, ErrorKind, Result};
use crate::syscall;
use std::ffi::CString;
use std::os::fd::AsFd;

fn no_such_interface(name: &str) -> Error {
    Error::new(
        ErrorKind::NoSuchInterface,
        format!("no network interface named {name:?} in this network namespace"),
    )
    .with_hint("list them with `ip link`")
}

/// Index of the interface called `name`, with a clear error if there is none.
///
/// # Errors
/// [`ErrorKind::NoSuchInterface`] if the name is invalid or unknown here.
pub fn ifindex(name: &str) -> Result<u32> {
    let c = CString::new(name)
        .map_err(|_| Error::config(format!("interface name {name:?} contains a NUL byte")))?;
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(Error::new(
            ErrorKind::NoSuchInterface,
            format!("{name:?} is not a valid interface name"),
        ));
    }
    match syscall::if_nametoindex(&c) {
        0 => Err(no_such_interface(name)),
        idx => Ok(idx),
    }
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

const ETHTOOL_GCHANNELS: u32 = 0x3c;

/// Number of rx queues of `name` as ethtool reports them (rx-only channels
/// plus combined channels, each of which has an rx queue), or `None` if the
/// driver does not say.
///
/// # Errors
/// [`ErrorKind::NoSuchInterface`] if there is no such interface; an OS
/// error if the ethtool request fails otherwise.
pub fn rx_queue_count(name: &str) -> Result<Option<u32>> {
    let fd = syscall::socket(libc::AF_INET, libc::SOCK_DGRAM, 0)
        .map_err(|e| Error::os("socket(AF_INET) for ethtool", e))?;
    let mut ch = EthtoolChannels {
        cmd: ETHTOOL_GCHANNELS,
        ..Default::default()
    };
    if let Err(e) = syscall::ethtool(fd.as_fd(), name, &mut ch) {
        return match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => Ok(None),
            Some(libc::ENODEV) => Err(no_such_interface(name)),
            _ => Err(Error::os(format!("ethtool channels of {name}"), e)),
        };
    }
    Ok(channels_to_rx_queues(
        ch.rx_count,
        ch.tx_count,
        ch.combined_count,
    ))
}

/// `struct ethtool_drvinfo` from linux/ethtool.h.
#[repr(C)]
#[derive(Default)]
struct EthtoolDrvInfo {
    cmd: u32,
    driver: [u8; 32],
    version: [u8; 32],
    fw_version: [u8; 32],
    bus_info: [u8; 32],
    erom_version: [u8; 32],
    reserved2: [u8; 12],
    n_priv_flags: u32,
    n_stats: u32,
    testinfo_len: u32,
    eedump_len: u32,
    regdump_len: u32,
}

const ETHTOOL_GDRVINFO: u32 = 0x3;

/// Name of the driver of `name` as ethtool reports it (`veth`,
/// `virtio_net`, `mlx5_core`), or `None` if the device does not answer
/// ethtool (loopback, some virtual ones).
///
/// # Errors
/// An OS error if the ethtool request fails otherwise (no such interface
/// included).
pub fn driver(name: &str) -> Result<Option<String>> {
    let fd = syscall::socket(libc::AF_INET, libc::SOCK_DGRAM, 0)
        .map_err(|e| Error::os("socket(AF_INET) for ethtool", e))?;
    let mut info = EthtoolDrvInfo {
        cmd: ETHTOOL_GDRVINFO,
        ..Default::default()
    };
    if let Err(e) = syscall::ethtool(fd.as_fd(), name, &mut info) {
        return match e.raw_os_error() {
            Some(libc::EOPNOTSUPP) => Ok(None),
            _ => Err(Error::os(format!("ethtool driver info of {name}"), e)),
        };
    }
    let end = info.driver.iter().position(|&c| c == 0).unwrap_or(32);
    let driver = String::from_utf8_lossy(&info.driver[..end]).into_owned();
    Ok((!driver.is_empty()).then_some(driver))
}

/// VIRTIO_F_ACCESS_PLATFORM, the virtio feature bit a virtio-net device
/// needs for AF_XDP zero-copy: without it the driver maps no DMA and
/// refuses a zero-copy bind (EINVAL). QEMU offers it with
/// `iommu_platform=on`.
pub const VIRTIO_F_ACCESS_PLATFORM: usize = 33;

/// Whether the virtio device under `name` negotiated feature bit `bit`
/// (its sysfs `features` file: one '0'/'1' per bit, bit 0 first); `None`
/// where `name` is not a virtio device or the file is unreadable.
pub fn virtio_feature(name: &str, bit: usize) -> Option<bool> {
    let f = std::fs::read_to_string(format!("/sys/class/net/{name}/device/features")).ok()?;
    virtio_bit(&f, bit)
}

/// Whether bit `bit` is set in a virtio device's sysfs `features` string
/// (as [`virtio_feature`] reads it); `None` if the string is not one or
/// is too short to say.
pub fn virtio_bit(features: &str, bit: usize) -> Option<bool> {
    let f = features.trim();
    if f.is_empty() || !f.bytes().all(|c| c == b'0' || c == b'1') {
        return None;
    }
    f.as_bytes().get(bit).map(|&c| c == b'1')
}

/// By ethtool's definition rx-only and combined channels are disjoint, so
/// the rx queues are their sum. veth (and drivers modelled on it) instead
/// report every queue pair in all three counts (rx = tx = combined); that
/// shape is read as `combined` queues, which is what such a device has.
fn channels_to_rx_queues(rx: u32, tx: u32, combined: u32) -> Option<u32> {
    let n = if combined > 0 && rx == combined && tx == combined {
        combined
    } else {
        rx.saturating_add(combined)
    };
    (n > 0).then_some(n)
}

#[cfg(test)]
mod tests {
    #[test]
    fn virtio_feature_bits_are_read_from_the_left() {
        use super::virtio_bit;
        let mut f = "0".repeat(64);
        assert_eq!(virtio_bit(&f, 33), Some(false));
        f.replace_range(33..34, "1");
        assert_eq!(virtio_bit(&format!("{f}\n"), 33), Some(true));
        assert_eq!(virtio_bit(&f, 32), Some(false));
        assert_eq!(virtio_bit("0101", 40), None, "too short to say");
        assert_eq!(virtio_bit("", 1), None);
        assert_eq!(virtio_bit("01x", 1), None);
    }

    #[test]
    fn rx_queues_are_rx_plus_combined_channels() {
        use super::channels_to_rx_queues as f;
        assert_eq!(f(0, 0, 0), None);
        assert_eq!(f(0, 0, 4), Some(4), "a NIC with combined channels");
        assert_eq!(f(2, 2, 0), Some(2), "separate rx and tx channels");
        assert_eq!(f(2, 0, 3), Some(5), "rx-only plus combined");
        assert_eq!(f(1, 1, 1), Some(1), "veth with one queue");
        assert_eq!(f(4, 4, 4), Some(4), "veth with four queues");
    }
}
