//! The IP addresses of an interface, from getifaddrs(3) (answered over
//! netlink in the calling thread's network namespace).

use crate::wire::policy::Local;
use std::ffi::CStr;
use std::net::{Ipv4Addr, Ipv6Addr};

/// IPv4 and IPv6 addresses configured on `iface`.
pub fn of_interface(iface: &str) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below; every node
    // and address is read only while the list is alive, and each sockaddr is
    // read as the type its family names.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return (v4, v6);
        }
        let mut p = head;
        while !p.is_null() {
            let ifa = &*p;
            p = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || CStr::from_ptr(ifa.ifa_name).to_bytes() != iface.as_bytes()
            {
                continue;
            }
            match (*ifa.ifa_addr).sa_family as i32 {
                libc::AF_INET => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    v4.push(Ipv4Addr::from(u32::from_be(sa.sin_addr.s_addr)));
                }
                libc::AF_INET6 => {
                    let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    v6.push(Ipv6Addr::from(sa.sin6_addr.s6_addr));
                }
                _ => {}
            }
        }
        libc::freeifaddrs(head);
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
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: as in `of_interface`; AF_PACKET entries carry a sockaddr_ll,
    // and netmasks are read as the family of their address.
    unsafe {
        if libc::getifaddrs(&mut head) == 0 {
            let mut p = head;
            while !p.is_null() {
                let ifa = &*p;
                p = ifa.ifa_next;
                if ifa.ifa_addr.is_null()
                    || CStr::from_ptr(ifa.ifa_name).to_bytes() != iface.as_bytes()
                {
                    continue;
                }
                match (*ifa.ifa_addr).sa_family as i32 {
                    libc::AF_INET => {
                        let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                        let a = u32::from_be(sa.sin_addr.s_addr);
                        local.v4.push(Ipv4Addr::from(a));
                        if !ifa.ifa_netmask.is_null() {
                            let m = &*(ifa.ifa_netmask as *const libc::sockaddr_in);
                            let mask = u32::from_be(m.sin_addr.s_addr);
                            // /31 and /32 have no broadcast address (RFC 3021).
                            if mask.leading_ones() < 31 {
                                local.v4_broadcast.push(Ipv4Addr::from(a | !mask));
                            }
                        }
                    }
                    libc::AF_INET6 => {
                        let sa = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                        local.v6.push(Ipv6Addr::from(sa.sin6_addr.s6_addr));
                    }
                    libc::AF_PACKET => {
                        let sa = &*(ifa.ifa_addr as *const libc::sockaddr_ll);
                        if sa.sll_halen == 6 {
                            local.mac.copy_from_slice(&sa.sll_addr[..6]);
                        }
                    }
                    _ => {}
                }
            }
            libc::freeifaddrs(head);
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
