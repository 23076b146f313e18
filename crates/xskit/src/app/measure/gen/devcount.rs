//! The sending interface's own transmit counter, read over rtnetlink
//! (RTM_GETLINK, `IFLA_STATS64`) in the calling thread's network namespace:
//! `/sys/class/net` would show the namespace sysfs was mounted in, not the
//! one `gen --sandbox` entered.
//!
//! This is what the device took: on veth, `tx_packets` counts the frames
//! the peer's XDP processed (veth delivers XDP frames only to a peer with an
//! XDP program); on NICs, the frames the driver's rings completed.

use crate::net::genl::attributes;
use anyhow::{bail, Context, Result};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::io;
use std::time::{Duration, Instant};

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const NLMSG_ERROR: u16 = 2;
const NLM_F_REQUEST: u16 = 1;
const IFLA_STATS64: u16 = 23;

/// The RTM_GETLINK request for interface `ifindex`.
fn request(ifindex: u32) -> Vec<u8> {
    let mut m = vec![0u8; 32];
    m[0..4].copy_from_slice(&32u32.to_ne_bytes());
    m[4..6].copy_from_slice(&RTM_GETLINK.to_ne_bytes());
    m[6..8].copy_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    m[8..12].copy_from_slice(&1u32.to_ne_bytes());
    // ifinfomsg: family, pad, type, index, flags, change.
    m[20..24].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    m
}

/// `tx_packets` of an RTM_NEWLINK reply (nlmsghdr included), or why not.
pub fn parse_tx_packets(reply: &[u8]) -> Result<u64> {
    if reply.len() < 20 {
        bail!("short rtnetlink reply ({} bytes)", reply.len());
    }
    let len = (u32::from_ne_bytes(reply[0..4].try_into().unwrap()) as usize).min(reply.len());
    let ty = u16::from_ne_bytes([reply[4], reply[5]]);
    if ty == NLMSG_ERROR {
        let err = i32::from_ne_bytes(reply[16..20].try_into().unwrap());
        return Err(io::Error::from_raw_os_error(-err)).context("RTM_GETLINK");
    }
    if ty != RTM_NEWLINK || len < 32 {
        bail!("unexpected rtnetlink reply (type {ty}, {len} bytes)");
    }
    attributes(&reply[32..len])
        .into_iter()
        .find(|(t, v)| *t == IFLA_STATS64 && v.len() >= 16)
        .map(|(_, v)| u64::from_ne_bytes(v[8..16].try_into().unwrap()))
        .context("the interface reports no IFLA_STATS64")
}

/// The interface's `tx_packets` now.
pub fn tx_packets(ifindex: u32) -> Result<u64> {
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        // Protocol 0: NETLINK_ROUTE.
        None,
    )
    .map_err(io::Error::from)
    .context("socket(AF_NETLINK, NETLINK_ROUTE)")?;
    rustix::net::send(&fd, &request(ifindex), SendFlags::empty())
        .map_err(io::Error::from)
        .context("send on an rtnetlink socket")?;
    let mut buf = vec![0u8; 65536];
    let (n, _) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::empty())
        .map_err(io::Error::from)
        .context("recv on an rtnetlink socket")?;
    parse_tx_packets(&buf[..n.min(buf.len())])
}

/// `tx_packets` once it has stopped moving: drivers count a frame when its
/// transmission completes (and veth when the peer's NAPI has run it), a
/// little after BPF_PROG_RUN returned. Waits at most `max`.
pub fn settled_tx_packets(ifindex: u32, max: Duration) -> Result<u64> {
    let t0 = Instant::now();
    let mut last = tx_packets(ifindex)?;
    loop {
        std::thread::sleep(Duration::from_millis(30));
        let now = tx_packets(ifindex)?;
        if now == last || t0.elapsed() >= max {
            return Ok(now);
        }
        last = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tx_packets_is_read_from_stats64_and_errors_are_named() {
        let mut r = request(7);
        assert_eq!(u32::from_ne_bytes(r[20..24].try_into().unwrap()), 7);
        // A reply: nlmsghdr + ifinfomsg, an IFLA_MTU, then IFLA_STATS64.
        r[4..6].copy_from_slice(&RTM_NEWLINK.to_ne_bytes());
        r.extend_from_slice(&8u16.to_ne_bytes());
        r.extend_from_slice(&4u16.to_ne_bytes());
        r.extend_from_slice(&1500u32.to_ne_bytes());
        let mut stats = vec![0u8; 4 + 24 * 8];
        stats[0..2].copy_from_slice(&((4 + 24 * 8) as u16).to_ne_bytes());
        stats[2..4].copy_from_slice(&IFLA_STATS64.to_ne_bytes());
        stats[4..12].copy_from_slice(&11u64.to_ne_bytes());
        stats[12..20].copy_from_slice(&1_234_567u64.to_ne_bytes());
        r.extend_from_slice(&stats);
        let len = r.len() as u32;
        r[0..4].copy_from_slice(&len.to_ne_bytes());
        assert_eq!(parse_tx_packets(&r).unwrap(), 1_234_567);
        let mut e = vec![0u8; 36];
        e[0..4].copy_from_slice(&36u32.to_ne_bytes());
        e[4..6].copy_from_slice(&NLMSG_ERROR.to_ne_bytes());
        e[16..20].copy_from_slice(&(-libc::ENODEV).to_ne_bytes());
        let msg = format!("{:#}", parse_tx_packets(&e).unwrap_err());
        assert!(msg.contains("RTM_GETLINK"), "{msg}");
    }
}
