//! The echo responder's packet work: check that a frame is a well-formed
//! ICMPv4 or ICMPv6 echo request addressed to us, and turn it into the reply
//! in place (swap MACs and addresses, set the reply type, update the
//! checksum incrementally).

use super::checksum::replace_u16;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, Icmpv4Message, Icmpv4Packet, Icmpv6Message,
    Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet,
};
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
    /// Not addressed to one of our addresses.
    NotForUs,
}

impl Reject {
    /// All reasons, in report order.
    pub const ALL: [Reject; 6] = [
        Reject::Malformed,
        Reject::NotIp,
        Reject::NotEchoRequest,
        Reject::Fragment,
        Reject::BadChecksum,
        Reject::NotForUs,
    ];

    /// Short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            Reject::Malformed => "malformed",
            Reject::NotIp => "not_ip",
            Reject::NotEchoRequest => "not_echo_request",
            Reject::Fragment => "fragment",
            Reject::BadChecksum => "bad_checksum",
            Reject::NotForUs => "not_for_us",
        }
    }
}

/// The addresses the responder answers for.
#[derive(Clone, Debug, Default)]
pub struct Local {
    /// IPv4 addresses.
    pub v4: Vec<Ipv4Addr>,
    /// IPv6 addresses.
    pub v6: Vec<Ipv6Addr>,
}

/// Which protocol was answered.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Answered {
    /// ICMPv4 echo reply.
    V4,
    /// ICMPv6 echo reply.
    V6,
}

/// The reply's hop limit / TTL, as the kernel uses by default.
const REPLY_HOP_LIMIT: u8 = 64;

/// Rewrites `frame` into the echo reply if it is an echo request for us.
/// On `Err` the frame is left as it was received. Never panics.
pub fn answer(frame: &mut [u8], local: &Local) -> Result<Answered, Reject> {
    let eth = EthernetFrame::new_checked(&frame[..]).map_err(|_| Reject::Malformed)?;
    let answered = match eth.ethertype() {
        EthernetProtocol::Ipv6 => {
            answer_v6(&mut frame[EthernetFrame::<&[u8]>::header_len()..], local)?;
            Answered::V6
        }
        EthernetProtocol::Ipv4 => {
            answer_v4(&mut frame[EthernetFrame::<&[u8]>::header_len()..], local)?;
            Answered::V4
        }
        _ => return Err(Reject::NotIp),
    };
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    let (src, dst): (EthernetAddress, EthernetAddress) = (eth.src_addr(), eth.dst_addr());
    eth.set_src_addr(dst);
    eth.set_dst_addr(src);
    Ok(answered)
}

fn answer_v6(buf: &mut [u8], local: &Local) -> Result<(), Reject> {
    let ip = Ipv6Packet::new_checked(&buf[..]).map_err(|_| Reject::Malformed)?;
    if ip.version() != 6 {
        return Err(Reject::Malformed);
    }
    if ip.next_header() != IpProtocol::Icmpv6 {
        return Err(Reject::NotEchoRequest);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = Icmpv6Packet::new_checked(ip.payload()).map_err(|_| Reject::Malformed)?;
    if icmp.msg_type() != Icmpv6Message::EchoRequest || icmp.msg_code() != 0 {
        return Err(Reject::NotEchoRequest);
    }
    if !local.v6.contains(&dst) {
        return Err(Reject::NotForUs);
    }
    if !icmp.verify_checksum(&src, &dst) {
        return Err(Reject::BadChecksum);
    }
    let old = icmp.checksum();
    let mut ip = Ipv6Packet::new_unchecked(&mut buf[..]);
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(REPLY_HOP_LIMIT);
    let mut icmp = Icmpv6Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(Icmpv6Message::EchoReply);
    // Swapping addresses leaves the pseudo-header sum alone; only the
    // type/code word changes.
    icmp.set_checksum(replace_u16(
        old,
        u16::from_be_bytes([128, 0]),
        u16::from_be_bytes([129, 0]),
    ));
    Ok(())
}

fn answer_v4(buf: &mut [u8], local: &Local) -> Result<(), Reject> {
    let ip = Ipv4Packet::new_checked(&buf[..]).map_err(|_| Reject::Malformed)?;
    if ip.version() != 4 || ip.header_len() < 20 {
        return Err(Reject::Malformed);
    }
    if !ip.verify_checksum() {
        return Err(Reject::BadChecksum);
    }
    if ip.more_frags() || ip.frag_offset() != 0 {
        return Err(Reject::Fragment);
    }
    if ip.next_header() != IpProtocol::Icmp {
        return Err(Reject::NotEchoRequest);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = Icmpv4Packet::new_checked(ip.payload()).map_err(|_| Reject::Malformed)?;
    if icmp.msg_type() != Icmpv4Message::EchoRequest || icmp.msg_code() != 0 {
        return Err(Reject::NotEchoRequest);
    }
    if !local.v4.contains(&dst) {
        return Err(Reject::NotForUs);
    }
    if !icmp.verify_checksum() {
        return Err(Reject::BadChecksum);
    }
    let old = icmp.checksum();
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(REPLY_HOP_LIMIT);
    ip.fill_checksum();
    let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(Icmpv4Message::EchoReply);
    icmp.set_checksum(replace_u16(old, u16::from_be_bytes([8, 0]), 0));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build;

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn local() -> Local {
        Local {
            v4: vec![Ipv4Addr::new(198, 18, 0, 1)],
            v6: vec!["fc00::1".parse().unwrap()],
        }
    }

    fn v6_request() -> Vec<u8> {
        build::echo_request_v6(
            B,
            A,
            "fc00::2".parse().unwrap(),
            "fc00::1".parse().unwrap(),
            7,
            3,
            b"hello xskit",
        )
    }

    fn v4_request() -> Vec<u8> {
        build::echo_request_v4(
            B,
            A,
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
            7,
            3,
            b"hello xskit",
        )
    }

    #[test]
    fn v6_reply_has_swapped_addresses_and_a_valid_checksum() {
        let mut f = v6_request();
        assert_eq!(answer(&mut f, &local()), Ok(Answered::V6));
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(eth.src_addr().0, A);
        assert_eq!(eth.dst_addr().0, B);
        let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
        assert_eq!(ip.src_addr(), "fc00::1".parse::<Ipv6Addr>().unwrap());
        let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.msg_type(), Icmpv6Message::EchoReply);
        assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
        assert_eq!((icmp.echo_ident(), icmp.echo_seq_no()), (7, 3));
        assert_eq!(icmp.payload(), b"hello xskit");
    }

    #[test]
    fn v4_reply_has_valid_ip_and_icmp_checksums() {
        let mut f = v4_request();
        assert_eq!(answer(&mut f, &local()), Ok(Answered::V4));
        let eth = EthernetFrame::new_checked(&f[..]).unwrap();
        let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
        assert!(ip.verify_checksum());
        assert_eq!(ip.dst_addr(), Ipv4Addr::new(198, 18, 0, 2));
        let icmp = Icmpv4Packet::new_checked(ip.payload()).unwrap();
        assert_eq!(icmp.msg_type(), Icmpv4Message::EchoReply);
        assert!(icmp.verify_checksum());
        assert_eq!(icmp.data(), b"hello xskit");
    }

    #[test]
    fn every_truncation_is_rejected_unchanged() {
        for full in [v6_request(), v4_request()] {
            for len in 0..full.len() {
                let mut f = full[..len].to_vec();
                let before = f.clone();
                assert!(answer(&mut f, &local()).is_err(), "len {len} answered");
                assert_eq!(f, before, "len {len} modified");
            }
        }
    }

    #[test]
    fn header_field_damage_is_rejected() {
        // IPv6 payload length larger than the frame.
        let mut f = v6_request();
        f[14 + 4..14 + 6].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(answer(&mut f, &local()), Err(Reject::Malformed));
        // IPv6 payload length shorter than an ICMP header.
        let mut f = v6_request();
        f[14 + 4..14 + 6].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(answer(&mut f, &local()), Err(Reject::Malformed));
        // IPv4 IHL below 5, above the packet, total length beyond the frame.
        for (byte, value) in [(14, 0x44u8), (14, 0x4f)] {
            let mut f = v4_request();
            f[byte] = value;
            assert!(answer(&mut f, &local()).is_err());
        }
        let mut f = v4_request();
        f[14 + 2..14 + 4].copy_from_slice(&1000u16.to_be_bytes());
        assert_eq!(answer(&mut f, &local()), Err(Reject::Malformed));
        // A fragment.
        let mut f = v4_request();
        f[14 + 6] |= 0x20;
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.fill_checksum();
        assert_eq!(answer(&mut f, &local()), Err(Reject::Fragment));
        // Wrong ICMP checksum.
        let mut f = v6_request();
        let n = f.len();
        f[n - 1] ^= 0xff;
        assert_eq!(answer(&mut f, &local()), Err(Reject::BadChecksum));
    }

    #[test]
    fn other_traffic_is_not_answered() {
        let mut vlan = v6_request();
        vlan.splice(12..12, [0x81, 0x00, 0x00, 0x07]);
        assert_eq!(answer(&mut vlan, &local()), Err(Reject::NotIp));
        let mut reply = v6_request();
        answer(&mut reply, &local()).unwrap();
        assert_eq!(answer(&mut reply, &local()), Err(Reject::NotEchoRequest));
        let mut other = build::echo_request_v6(
            B,
            A,
            "fc00::2".parse().unwrap(),
            "fc00::9".parse().unwrap(),
            1,
            1,
            b"x",
        );
        assert_eq!(answer(&mut other, &local()), Err(Reject::NotForUs));
        let mut udp = build::udp_v4(
            B,
            A,
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
            1000,
            2000,
            b"data",
        );
        assert_eq!(answer(&mut udp, &local()), Err(Reject::NotEchoRequest));
    }

    #[test]
    fn reasons_index_their_counters() {
        for (i, r) in Reject::ALL.iter().enumerate() {
            assert_eq!(*r as usize, i, "{r:?}");
        }
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let base = v4_request();
        for i in 0..20_000 {
            let mut f = if i % 2 == 0 {
                base.clone()
            } else {
                v6_request()
            };
            for _ in 0..3 {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                let at = (s as usize) % f.len();
                f[at] = (s >> 32) as u8;
            }
            let cut = (s >> 40) as usize % (f.len() + 1);
            f.truncate(cut);
            let _ = answer(&mut f, &local());
        }
    }
}
