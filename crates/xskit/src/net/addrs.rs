//! The interfaces of this network namespace and their IP addresses, from
//! if_nameindex(3) and getifaddrs(3) (answered over netlink in the calling
//! thread's network namespace).

use crate::sys::{self, IfAddr};
use crate::wire::policy::Local;
use std::net::{Ipv4Addr, Ipv6Addr};

/// Names of the interfaces in this thread's network namespace.
pub fn interfaces() -> Vec<String> {
    xskit_xdp::netif::interfaces()
}

/// IPv4 and IPv6 addresses configured on `iface`.
pub fn of_interface(iface: &str) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for a in sys::interface_addresses(iface) {
        match a {
            IfAddr::V4(a, _) => v4.push(a),
            IfAddr::V6(a) => v6.push(a),
            IfAddr::Mac(_) => {}
        }
    }
    (v4, v6)
}

/// Everything the echo responder needs to know about `iface` in the
/// calling thread's namespace: its Ethernet and IP addresses, directed
/// broadcasts, joined IPv6 groups (unless
/// `net.ipv6.icmp.echo_ignore_multicast` is set) and the default TTL and
/// hop limit.
pub fn echo_local(iface: &str) -> Local {
    let mut local = Local::default();
    for a in sys::interface_addresses(iface) {
        match a {
            IfAddr::V4(a, mask) => {
                local.v4.push(a);
                // /31 and /32 have no broadcast address (RFC 3021).
                if let Some(mask) = mask.map(u32::from).filter(|m| m.leading_ones() < 31) {
                    local
                        .v4_broadcast
                        .push(Ipv4Addr::from(u32::from(a) | !mask));
                }
            }
            IfAddr::V6(a) => local.v6.push(a),
            IfAddr::Mac(mac) => local.mac = mac,
        }
    }
    if sysctl("net/ipv6/icmp/echo_ignore_multicast") != Some(1) {
        local.v6_groups = joined_v6_groups(iface);
    }
    local.ttl = sysctl("net/ipv4/ip_default_ttl")
        .and_then(|v| u8::try_from(v).ok())
        .unwrap_or(64);
    local.hop_limit = sysctl(&format!("net/ipv6/conf/{iface}/hop_limit"))
        .and_then(|v| u8::try_from(v).ok())
        .unwrap_or(64);
    local
}

/// A numeric sysctl of this thread's network namespace.
fn sysctl(path: &str) -> Option<i64> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The IPv6 groups `iface` has joined, from this thread's
/// `/proc/net/igmp6` (lines: index, name, address in hex, ...).
fn joined_v6_groups(iface: &str) -> Vec<Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/thread-self/net/igmp6").unwrap_or_default();
    parse_igmp6(&text, iface)
}

fn parse_igmp6(text: &str, iface: &str) -> Vec<Ipv6Addr> {
    text.lines()
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            let (_, name, hex) = (w.next()?, w.next()?, w.next()?);
            if name != iface || hex.len() != 32 {
                return None;
            }
            u128::from_str_radix(hex, 16).ok().map(Ipv6Addr::from)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn igmp6_lines() {
        let text = "1    lo              ff020000000000000000000000000001     1 0000000C 0\n\
                    5    xsk0            ff0200000000000000000001ff000001     1 00000004 0\n\
                    5    xsk0            ff020000000000000000000000000001     1 0000000C 0\n\
                    5    xsk0            garbage\n";
        assert_eq!(
            parse_igmp6(text, "xsk0"),
            vec![
                "ff02::1:ff00:1".parse::<Ipv6Addr>().unwrap(),
                "ff02::1".parse().unwrap()
            ]
        );
    }

    #[test]
    fn loopback_addresses() {
        // Read only: every namespace has `lo` with 127.0.0.1/8.
        let l = echo_local("lo");
        assert!(l.v4.contains(&Ipv4Addr::LOCALHOST), "{l:?}");
        assert!(
            l.v4_broadcast.contains(&Ipv4Addr::new(127, 255, 255, 255)),
            "{l:?}"
        );
        assert!(l.ttl > 0 && l.hop_limit > 0);
    }
}
