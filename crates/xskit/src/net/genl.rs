//! Generic netlink, just enough to ask the `netdev` family (Linux 6.3+)
//! what a device's driver says it can do with XDP and AF_XDP.
//!
//! Works in the calling thread's network namespace (the socket is made there).

use anyhow::{bail, Context, Result};
use rustix::net::{netlink, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::io;
use std::os::fd::OwnedFd;

/// `NETDEV_XDP_ACT_*` bits of `NETDEV_A_DEV_XDP_FEATURES` (linux/netdev.h).
pub mod xdp_act {
    /// XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX in the driver: native XDP.
    pub const BASIC: u64 = 1;
    /// XDP_REDIRECT.
    pub const REDIRECT: u64 = 2;
    /// The device can be the target of a redirect (ndo_xdp_xmit).
    pub const NDO_XMIT: u64 = 4;
    /// AF_XDP zero-copy.
    pub const XSK_ZEROCOPY: u64 = 8;
    /// Offload to the NIC.
    pub const HW_OFFLOAD: u64 = 16;
    /// Frags (multi-buffer) XDP programs on receive.
    pub const RX_SG: u64 = 32;
    /// Frags on redirect targets.
    pub const NDO_XMIT_SG: u64 = 64;
}

/// `NETDEV_XDP_RX_METADATA_*` bits: the RX metadata kfuncs the driver
/// implements (linux/netdev.h, 6.8+).
pub mod rx_meta {
    /// `bpf_xdp_metadata_rx_timestamp`.
    pub const TIMESTAMP: u64 = 1;
    /// `bpf_xdp_metadata_rx_hash`.
    pub const HASH: u64 = 2;
    /// `bpf_xdp_metadata_rx_vlan_tag`.
    pub const VLAN_TAG: u64 = 4;
}

/// `NETDEV_XSK_FLAGS_*` bits: the AF_XDP TX metadata requests the driver
/// carries out in zero-copy mode (linux/netdev.h, 6.8+).
pub mod xsk_flags {
    /// A transmit timestamp in the completion.
    pub const TX_TIMESTAMP: u64 = 1;
    /// Checksum offload.
    pub const TX_CHECKSUM: u64 = 2;
    /// Launch time (6.15).
    pub const TX_LAUNCH_TIME_FIFO: u64 = 4;
}

/// What the `netdev` family reports for one device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DevFeatures {
    /// `NETDEV_XDP_ACT_*` bits.
    pub xdp_features: u64,
    /// Largest number of buffers per frame in zero-copy mode (6.6+).
    pub zc_max_segs: Option<u32>,
    /// [`rx_meta`] bits (6.8+; `None` where the kernel does not say).
    pub rx_metadata: Option<u64>,
    /// [`xsk_flags`] bits (6.8+; `None` where the kernel does not say).
    pub xsk_features: Option<u64>,
}

const GENL_ID_CTRL: u16 = 0x10;
const CTRL_CMD_GETFAMILY: u8 = 3;
const CTRL_ATTR_FAMILY_ID: u16 = 1;
const CTRL_ATTR_FAMILY_NAME: u16 = 2;
const NETDEV_CMD_DEV_GET: u8 = 1;
const NETDEV_A_DEV_IFINDEX: u16 = 1;
const NETDEV_A_DEV_XDP_FEATURES: u16 = 3;
const NETDEV_A_DEV_XDP_ZC_MAX_SEGS: u16 = 4;
const NETDEV_A_DEV_XDP_RX_METADATA_FEATURES: u16 = 5;
const NETDEV_A_DEV_XSK_FEATURES: u16 = 6;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

/// One request: nlmsghdr, genlmsghdr, attributes.
fn message(ty: u16, cmd: u8, attrs: &[(u16, &[u8])]) -> Vec<u8> {
    let mut m = vec![0u8; 16];
    m.extend_from_slice(&[cmd, 1, 0, 0]);
    for (t, v) in attrs {
        let len = 4 + v.len();
        m.extend_from_slice(&(len as u16).to_ne_bytes());
        m.extend_from_slice(&t.to_ne_bytes());
        m.extend_from_slice(v);
        m.resize(align4(m.len()), 0);
    }
    let total = m.len() as u32;
    m[0..4].copy_from_slice(&total.to_ne_bytes());
    m[4..6].copy_from_slice(&ty.to_ne_bytes());
    m[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m[8..12].copy_from_slice(&1u32.to_ne_bytes());
    m
}

/// The attributes of a reply's payload after the genlmsghdr, as
/// (type, value) pairs.
pub fn attributes(mut p: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while p.len() >= 4 {
        let len = u16::from_ne_bytes([p[0], p[1]]) as usize;
        let ty = u16::from_ne_bytes([p[2], p[3]]) & 0x3fff;
        if len < 4 || len > p.len() {
            break;
        }
        out.push((ty, &p[4..len]));
        p = &p[align4(len).min(p.len())..];
    }
    out
}

/// Sends one request and returns the reply's attributes, or the kernel's
/// errno (positive) if it answered with an error.
fn request(fd: &OwnedFd, msg: &[u8]) -> Result<std::result::Result<Vec<u8>, i32>> {
    rustix::net::send(fd, msg, SendFlags::empty())
        .map_err(io::Error::from)
        .context("send on a generic netlink socket")?;
    let mut buf = vec![0u8; 8192];
    let (n, _) = rustix::net::recv(fd, &mut buf[..], RecvFlags::empty())
        .map_err(io::Error::from)
        .context("recv on a generic netlink socket")?;
    if n < 20 {
        bail!("short generic netlink reply ({n} bytes)");
    }
    let len = (u32::from_ne_bytes(buf[0..4].try_into().unwrap()) as usize).min(n);
    let ty = u16::from_ne_bytes([buf[4], buf[5]]);
    if ty == NLMSG_ERROR {
        let err = i32::from_ne_bytes(buf[16..20].try_into().unwrap());
        return Ok(Err(-err));
    }
    Ok(Ok(buf[20..len].to_vec()))
}

fn socket() -> Result<OwnedFd> {
    rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        Some(netlink::GENERIC),
    )
    .map_err(io::Error::from)
    .context("socket(AF_NETLINK, NETLINK_GENERIC)")
}

/// What the driver of interface `ifindex` reports through the `netdev`
/// family, or `None` if the kernel has no such family (before 6.3).
pub fn netdev_features(ifindex: u32) -> Result<Option<DevFeatures>> {
    let fd = socket()?;
    let family = match request(
        &fd,
        &message(
            GENL_ID_CTRL,
            CTRL_CMD_GETFAMILY,
            &[(CTRL_ATTR_FAMILY_NAME, b"netdev\0")],
        ),
    )? {
        Ok(p) => attributes(&p)
            .into_iter()
            .find(|(t, v)| *t == CTRL_ATTR_FAMILY_ID && v.len() >= 2)
            .map(|(_, v)| u16::from_ne_bytes([v[0], v[1]]))
            .context("no family id in the reply for \"netdev\"")?,
        Err(libc::ENOENT) => return Ok(None),
        Err(e) => {
            return Err(io::Error::from_raw_os_error(e))
                .context("looking up generic netlink family \"netdev\"")
        }
    };
    let reply = request(
        &fd,
        &message(
            family,
            NETDEV_CMD_DEV_GET,
            &[(NETDEV_A_DEV_IFINDEX, &ifindex.to_ne_bytes())],
        ),
    )?
    .map_err(io::Error::from_raw_os_error)
    .with_context(|| format!("netdev dev-get for ifindex {ifindex}"))?;
    Ok(Some(parse_dev(&reply)))
}

/// Decodes a `netdev` dev-get reply payload.
pub fn parse_dev(payload: &[u8]) -> DevFeatures {
    let mut d = DevFeatures::default();
    for (t, v) in attributes(payload) {
        match (t, v.len()) {
            (NETDEV_A_DEV_XDP_FEATURES, 8) => {
                d.xdp_features = u64::from_ne_bytes(v.try_into().unwrap())
            }
            (NETDEV_A_DEV_XDP_FEATURES, 4) => {
                d.xdp_features = u32::from_ne_bytes(v.try_into().unwrap()) as u64
            }
            (NETDEV_A_DEV_XDP_ZC_MAX_SEGS, 4) => {
                d.zc_max_segs = Some(u32::from_ne_bytes(v.try_into().unwrap()))
            }
            (NETDEV_A_DEV_XDP_RX_METADATA_FEATURES, 8) => {
                d.rx_metadata = Some(u64::from_ne_bytes(v.try_into().unwrap()))
            }
            (NETDEV_A_DEV_XSK_FEATURES, 8) => {
                d.xsk_features = Some(u64::from_ne_bytes(v.try_into().unwrap()))
            }
            _ => {}
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_layout_and_reply_attributes_round_trip() {
        let m = message(
            0x20,
            NETDEV_CMD_DEV_GET,
            &[(NETDEV_A_DEV_IFINDEX, &7u32.to_ne_bytes())],
        );
        assert_eq!(m.len(), 16 + 4 + 8);
        assert_eq!(u32::from_ne_bytes(m[0..4].try_into().unwrap()), 28);
        assert_eq!(u16::from_ne_bytes([m[4], m[5]]), 0x20);
        assert_eq!(m[16], NETDEV_CMD_DEV_GET);
        // A reply payload: ifindex, xdp-features (u64), zc-max-segs (u32).
        let mut p = Vec::new();
        for (t, v) in [
            (NETDEV_A_DEV_IFINDEX, 7u32.to_ne_bytes().to_vec()),
            (
                NETDEV_A_DEV_XDP_FEATURES,
                (xdp_act::BASIC | xdp_act::RX_SG).to_ne_bytes().to_vec(),
            ),
            (NETDEV_A_DEV_XDP_ZC_MAX_SEGS, 1u32.to_ne_bytes().to_vec()),
            (
                NETDEV_A_DEV_XDP_RX_METADATA_FEATURES,
                (rx_meta::HASH | rx_meta::VLAN_TAG).to_ne_bytes().to_vec(),
            ),
            (NETDEV_A_DEV_XSK_FEATURES, 0u64.to_ne_bytes().to_vec()),
        ] {
            p.extend_from_slice(&((4 + v.len()) as u16).to_ne_bytes());
            p.extend_from_slice(&t.to_ne_bytes());
            p.extend_from_slice(&v);
        }
        let d = parse_dev(&p);
        assert_eq!(d.xdp_features, xdp_act::BASIC | xdp_act::RX_SG);
        assert_eq!(d.zc_max_segs, Some(1));
        assert_eq!(d.rx_metadata, Some(rx_meta::HASH | rx_meta::VLAN_TAG));
        assert_eq!(d.xsk_features, Some(0));
        // A truncated attribute ends the walk instead of reading past the end.
        assert_eq!(attributes(&[200, 0, 1, 0, 0, 0]).len(), 0);
    }
}
