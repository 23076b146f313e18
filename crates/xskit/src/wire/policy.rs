//! Which echo requests a host may answer, by address (RFC 1122 3.2.1.3 and
//! 3.2.2.6, RFC 4291 2.5 and 2.7, RFC 4443 4.1 and 4.2), and why one is
//! refused. The rules follow what Linux does by default, checked by the
//! differential test (`tests/echo_diff_kernel.rs`):
//!
//! - never to a multicast, broadcast, unspecified, loopback, IPv4-mapped or
//!   own source address, nor to an Ethernet group (multicast) source;
//! - IPv4 requests to a multicast or broadcast destination are ignored
//!   (`net.ipv4.icmp_echo_ignore_broadcasts=1`);
//! - IPv6 requests to a multicast group the interface has joined are
//!   answered from a unicast address of ours
//!   (`net.ipv6.icmp.echo_ignore_multicast=0`); other groups, and the
//!   reserved and interface-local scopes, are not.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Why a frame was not answered. Each is counted by the responder; the
/// discriminant is the reason's index in [`Reject::ALL`].
#[derive(Clone, Copy, Debug, Eq, PartialEq, Hash)]
pub enum Reject {
    /// Shorter than its headers say, or header fields inconsistent.
    Malformed,
    /// Neither IPv4 nor IPv6 (ARP, VLAN-tagged, anything else).
    NotIp,
    /// IP, but not an ICMP echo request (other ICMP types, UDP, TCP, IPv6
    /// extension headers).
    NotEchoRequest,
    /// An IPv4 fragment.
    Fragment,
    /// A checksum that does not verify.
    BadChecksum,
    /// Not addressed to one of our addresses (IP, or Ethernet unicast).
    NotForUs,
    /// IPv4 with options: left to the kernel, which validates and echoes them.
    Ipv4Options,
    /// Ethernet source is a group address: a reply would reach every station.
    SrcGroupMac,
    /// Multicast source (224.0.0.0/4, ff00::/8).
    SrcMulticast,
    /// Broadcast source (255.255.255.255, a directed broadcast of ours).
    SrcBroadcast,
    /// Unspecified source (0.0.0.0, ::).
    SrcUnspecified,
    /// Loopback source (127.0.0.0/8, ::1).
    SrcLoopback,
    /// One of our own addresses as source.
    SrcOwn,
    /// IPv4-mapped IPv6 source (::ffff:0:0/96).
    SrcMapped,
    /// Multicast destination not answered (IPv4; IPv6 group not joined,
    /// reserved or interface-local scope).
    DstMulticast,
    /// Broadcast destination (255.255.255.255, a directed broadcast of ours).
    DstBroadcast,
    /// Over the per-source rate limit.
    RateLimited,
}

impl Reject {
    /// All reasons, in report order.
    pub const ALL: [Reject; 17] = [
        Reject::Malformed,
        Reject::NotIp,
        Reject::NotEchoRequest,
        Reject::Fragment,
        Reject::BadChecksum,
        Reject::NotForUs,
        Reject::Ipv4Options,
        Reject::SrcGroupMac,
        Reject::SrcMulticast,
        Reject::SrcBroadcast,
        Reject::SrcUnspecified,
        Reject::SrcLoopback,
        Reject::SrcOwn,
        Reject::SrcMapped,
        Reject::DstMulticast,
        Reject::DstBroadcast,
        Reject::RateLimited,
    ];

    /// Number of reasons.
    pub const COUNT: usize = Reject::ALL.len();

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::NotIp => "not_ip",
            Reject::NotEchoRequest => "not_echo_request",
            Reject::Fragment => "fragment",
            Reject::BadChecksum => "bad_checksum",
            Reject::NotForUs => "not_for_us",
            Reject::Ipv4Options => "ipv4_options",
            Reject::SrcGroupMac => "src_group_mac",
            Reject::SrcMulticast => "src_multicast",
            Reject::SrcBroadcast => "src_broadcast",
            Reject::SrcUnspecified => "src_unspecified",
            Reject::SrcLoopback => "src_loopback",
            Reject::SrcOwn => "src_own",
            Reject::SrcMapped => "src_mapped",
            Reject::DstMulticast => "dst_multicast",
            Reject::DstBroadcast => "dst_broadcast",
            Reject::RateLimited => "rate_limited",
        }
    }

    /// True for the refusals of a well-formed request because of its
    /// addresses or the rate limit (the rest are frames that are no
    /// request for us at all).
    pub fn is_refusal(self) -> bool {
        (self as usize) >= Reject::SrcGroupMac as usize
    }
}

/// What the responder answers for, and how its replies look.
#[derive(Clone, Debug)]
pub struct Local {
    /// The interface's Ethernet address.
    pub mac: [u8; 6],
    /// IPv4 addresses.
    pub v4: Vec<Ipv4Addr>,
    /// Directed broadcast addresses of those (from the prefixes).
    pub v4_broadcast: Vec<Ipv4Addr>,
    /// IPv6 addresses.
    pub v6: Vec<Ipv6Addr>,
    /// IPv6 multicast groups the interface has joined, whose echo requests
    /// are answered (empty when `net.ipv6.icmp.echo_ignore_multicast=1`).
    pub v6_groups: Vec<Ipv6Addr>,
    /// TTL of IPv4 replies (`net.ipv4.ip_default_ttl`).
    pub ttl: u8,
    /// Hop limit of IPv6 replies (`net.ipv6.conf.IFACE.hop_limit`).
    pub hop_limit: u8,
}

impl Default for Local {
    fn default() -> Local {
        Local {
            mac: [0; 6],
            v4: Vec::new(),
            v4_broadcast: Vec::new(),
            v6: Vec::new(),
            v6_groups: Vec::new(),
            ttl: 64,
            hop_limit: 64,
        }
    }
}

/// True for an Ethernet group (multicast or broadcast) address.
pub fn is_group_mac(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 1
}

/// True if a frame to Ethernet `dst` is for this interface (ours, or a
/// group address, as the kernel accepts; IP decides then).
pub fn mac_is_for_us(dst: &[u8; 6], local: &Local) -> bool {
    *dst == local.mac || is_group_mac(dst)
}

/// Why an IPv4 request from `src` must not be answered, if it must not.
pub fn v4_source(src: Ipv4Addr, local: &Local) -> Option<Reject> {
    if src.is_multicast() {
        Some(Reject::SrcMulticast)
    } else if src.is_broadcast() || local.v4_broadcast.contains(&src) {
        Some(Reject::SrcBroadcast)
    } else if src.is_unspecified() {
        // Only 0.0.0.0: Linux takes the rest of 0.0.0.0/8 as unicast
        // since 5.3 (the IPv4 unicast extensions) and answers it.
        Some(Reject::SrcUnspecified)
    } else if src.is_loopback() {
        Some(Reject::SrcLoopback)
    } else if local.v4.contains(&src) {
        Some(Reject::SrcOwn)
    } else {
        None
    }
}

/// Why an IPv4 request to `dst` must not be answered, if it must not.
pub fn v4_destination(dst: Ipv4Addr, local: &Local) -> Option<Reject> {
    if local.v4.contains(&dst) {
        None
    } else if dst.is_multicast() {
        Some(Reject::DstMulticast)
    } else if dst.is_broadcast() || local.v4_broadcast.contains(&dst) {
        Some(Reject::DstBroadcast)
    } else {
        Some(Reject::NotForUs)
    }
}

/// Why an IPv6 request from `src` must not be answered, if it must not.
pub fn v6_source(src: Ipv6Addr, local: &Local) -> Option<Reject> {
    if src.is_multicast() {
        Some(Reject::SrcMulticast)
    } else if src.is_unspecified() {
        Some(Reject::SrcUnspecified)
    } else if src.is_loopback() {
        Some(Reject::SrcLoopback)
    } else if src.to_ipv4_mapped().is_some() {
        Some(Reject::SrcMapped)
    } else if local.v6.contains(&src) {
        Some(Reject::SrcOwn)
    } else {
        None
    }
}

/// Whether an IPv6 request to `dst` is answered: `Ok(None)` for one of our
/// unicast addresses (the reply comes from it), `Ok(Some(addr))` for a
/// joined multicast group (the reply comes from our unicast `addr`, chosen
/// for `src`), else why not.
pub fn v6_destination(
    dst: Ipv6Addr,
    src: Ipv6Addr,
    local: &Local,
) -> Result<Option<Ipv6Addr>, Reject> {
    if local.v6.contains(&dst) {
        return Ok(None);
    }
    if !dst.is_multicast() {
        return Err(Reject::NotForUs);
    }
    // Scope 0 is reserved, 1 interface-local: never from the wire (RFC 4291 2.7).
    let scope = dst.octets()[1] & 0x0f;
    if scope <= 1 || !local.v6_groups.contains(&dst) {
        return Err(Reject::DstMulticast);
    }
    reply_source_v6(src, local)
        .map(Some)
        .ok_or(Reject::NotForUs)
}

fn is_link_local_v6(a: &Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

/// Our unicast address to answer `peer` from when the request went to a
/// group: link-local for a link-local peer, else the address sharing the
/// longest prefix with `peer` (RFC 6724's scope and prefix rules, in short).
pub fn reply_source_v6(peer: Ipv6Addr, local: &Local) -> Option<Ipv6Addr> {
    let want_ll = is_link_local_v6(&peer);
    let common = |a: &Ipv6Addr| (u128::from(*a) ^ u128::from(peer)).leading_zeros();
    local
        .v6
        .iter()
        .filter(|a| !a.is_multicast() && !a.is_unspecified() && !a.is_loopback())
        .max_by_key(|a| (is_link_local_v6(a) == want_ll, common(a)))
        .copied()
}

/// The solicited-node group of `a` (ff02::1:ffXX:XXXX).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | o[13] as u16,
        u16::from_be_bytes([o[14], o[15]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Local {
        Local {
            mac: [2, 0, 0, 0, 0, 1],
            v4: vec![Ipv4Addr::new(198, 18, 0, 1)],
            v4_broadcast: vec![Ipv4Addr::new(198, 18, 0, 255)],
            v6: vec!["fc00::1".parse().unwrap(), "fe80::1:2:3:4".parse().unwrap()],
            v6_groups: vec![
                "ff02::1".parse().unwrap(),
                solicited_node("fc00::1".parse().unwrap()),
            ],
            ..Default::default()
        }
    }

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    #[test]
    fn reject_indexes_and_names_are_distinct() {
        for (i, r) in Reject::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
        let mut names: Vec<_> = Reject::ALL.iter().map(|r| r.name()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Reject::COUNT);
        assert!(Reject::SrcMulticast.is_refusal() && !Reject::NotForUs.is_refusal());
    }

    #[test]
    fn v4_source_classes() {
        let l = local();
        for (src, want) in [
            ("224.0.0.1", Some(Reject::SrcMulticast)),
            ("239.255.255.255", Some(Reject::SrcMulticast)),
            ("255.255.255.255", Some(Reject::SrcBroadcast)),
            ("198.18.0.255", Some(Reject::SrcBroadcast)),
            ("0.0.0.0", Some(Reject::SrcUnspecified)),
            ("0.1.2.3", None),
            ("127.0.0.1", Some(Reject::SrcLoopback)),
            ("127.255.255.254", Some(Reject::SrcLoopback)),
            ("198.18.0.1", Some(Reject::SrcOwn)),
            ("198.18.0.2", None),
            ("169.254.1.1", None),
            ("8.8.8.8", None),
            ("223.255.255.255", None),
            ("1.0.0.0", None),
        ] {
            assert_eq!(v4_source(v4(src), &l), want, "{src}");
        }
    }

    #[test]
    fn v4_destination_classes() {
        let l = local();
        for (dst, want) in [
            ("198.18.0.1", None),
            ("224.0.0.1", Some(Reject::DstMulticast)),
            ("239.1.2.3", Some(Reject::DstMulticast)),
            ("255.255.255.255", Some(Reject::DstBroadcast)),
            ("198.18.0.255", Some(Reject::DstBroadcast)),
            ("198.18.0.2", Some(Reject::NotForUs)),
            ("127.0.0.1", Some(Reject::NotForUs)),
            ("0.0.0.0", Some(Reject::NotForUs)),
        ] {
            assert_eq!(v4_destination(v4(dst), &l), want, "{dst}");
        }
    }

    #[test]
    fn v6_source_classes() {
        let l = local();
        for (src, want) in [
            ("ff02::1", Some(Reject::SrcMulticast)),
            ("ff0e::1234", Some(Reject::SrcMulticast)),
            ("::", Some(Reject::SrcUnspecified)),
            ("::1", Some(Reject::SrcLoopback)),
            ("::ffff:198.18.0.2", Some(Reject::SrcMapped)),
            ("::ffff:0.0.0.0", Some(Reject::SrcMapped)),
            ("fc00::1", Some(Reject::SrcOwn)),
            ("fe80::1:2:3:4", Some(Reject::SrcOwn)),
            ("fc00::2", None),
            ("fe80::2", None),
            ("2001:db8::1", None),
            ("::2", None),
        ] {
            assert_eq!(v6_source(v6(src), &l), want, "{src}");
        }
    }

    #[test]
    fn v6_destination_classes() {
        let l = local();
        let peer = v6("fc00::2");
        assert_eq!(v6_destination(v6("fc00::1"), peer, &l), Ok(None));
        assert_eq!(v6_destination(v6("fe80::1:2:3:4"), peer, &l), Ok(None));
        assert_eq!(
            v6_destination(v6("ff02::1"), peer, &l),
            Ok(Some(v6("fc00::1")))
        );
        assert_eq!(
            v6_destination(v6("ff02::1"), v6("fe80::9"), &l),
            Ok(Some(v6("fe80::1:2:3:4")))
        );
        assert_eq!(
            v6_destination(v6("ff02::1:ff00:1"), peer, &l),
            Ok(Some(v6("fc00::1")))
        );
        for (dst, want) in [
            ("ff02::2", Reject::DstMulticast),
            ("ff05::1", Reject::DstMulticast),
            ("ff01::1", Reject::DstMulticast),
            ("ff00::1", Reject::DstMulticast),
            ("fc00::9", Reject::NotForUs),
            ("::1", Reject::NotForUs),
            ("::", Reject::NotForUs),
        ] {
            assert_eq!(v6_destination(v6(dst), peer, &l), Err(want), "{dst}");
        }
        // A group we joined, but scope 1 (interface-local) from the wire.
        let mut l2 = local();
        l2.v6_groups.push(v6("ff01::1"));
        assert_eq!(
            v6_destination(v6("ff01::1"), peer, &l2),
            Err(Reject::DstMulticast)
        );
        // No unicast address to answer from.
        let l3 = Local {
            v6_groups: vec![v6("ff02::1")],
            ..Default::default()
        };
        assert_eq!(
            v6_destination(v6("ff02::1"), peer, &l3),
            Err(Reject::NotForUs)
        );
    }

    #[test]
    fn ethernet_classes() {
        let l = local();
        assert!(mac_is_for_us(&[2, 0, 0, 0, 0, 1], &l));
        assert!(mac_is_for_us(&[0xff; 6], &l));
        assert!(mac_is_for_us(&[0x33, 0x33, 0, 0, 0, 1], &l));
        assert!(!mac_is_for_us(&[2, 0, 0, 0, 0, 9], &l));
        assert!(is_group_mac(&[1, 0, 0x5e, 0, 0, 1]) && !is_group_mac(&[2, 0, 0, 0, 0, 1]));
    }

    #[test]
    fn solicited_node_groups() {
        assert_eq!(
            solicited_node(v6("fc00:dead:beef::1")),
            v6("ff02::1:ff00:1")
        );
        assert_eq!(
            solicited_node(v6("fe80::a8c1:abff:fe12:3456")),
            v6("ff02::1:ff12:3456")
        );
    }
}
