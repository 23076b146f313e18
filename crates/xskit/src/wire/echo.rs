//! The echo responder's packet work: check that a frame is a well-formed
//! ICMPv4 or ICMPv6 echo request that a host may answer (addresses by the
//! rules of [`super::policy`]), and turn it into the reply in place: to the
//! requester's MAC and address, from ours, with the host's TTL or hop
//! limit, the checksums updated incrementally (RFC 1624).

use super::checksum::{replace_bytes, replace_u16};
use super::policy::{
    is_group_mac, mac_is_for_us, v4_destination, v4_source, v6_destination, v6_source,
};
pub use super::policy::{Local, Reject};
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, Icmpv4Packet, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet,
};
use std::net::IpAddr;

/// Which protocol was answered.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Answered {
    /// ICMPv4 echo reply.
    V4,
    /// ICMPv6 echo reply.
    V6,
}

const ICMPV4_ECHO_REQUEST: u8 = 8;
const ICMPV4_ECHO_REPLY: u8 = 0;
const ICMPV6_ECHO_REQUEST: u8 = 128;
const ICMPV6_ECHO_REPLY: u8 = 129;
const ETH: usize = 14;

/// Rewrites `frame` into the echo reply if it is an echo request for us
/// that a host may answer. On `Err` the frame is left as it was received.
/// Never panics.
pub fn answer(frame: &mut [u8], local: &Local) -> Result<Answered, Reject> {
    answer_with(frame, local, |_| true)
}

/// Like [`answer`], but asks `admit` with the request's source (after every
/// other check passed) whether to answer it now; a `false` is
/// [`Reject::RateLimited`].
pub fn answer_with(
    frame: &mut [u8],
    local: &Local,
    admit: impl FnOnce(IpAddr) -> bool,
) -> Result<Answered, Reject> {
    let eth = EthernetFrame::new_checked(&frame[..]).map_err(|_| Reject::Malformed)?;
    let (src_mac, dst_mac) = (eth.src_addr().0, eth.dst_addr().0);
    let answered = match eth.ethertype() {
        EthernetProtocol::Ipv6 => Answered::V6,
        EthernetProtocol::Ipv4 => Answered::V4,
        _ => return Err(Reject::NotIp),
    };
    if !mac_is_for_us(&dst_mac, local) {
        return Err(Reject::NotForUs);
    }
    let ip = &mut frame[ETH..];
    match answered {
        Answered::V6 => answer_v6(ip, local, src_mac, admit)?,
        Answered::V4 => answer_v4(ip, local, src_mac, admit)?,
    }
    // The reply leaves from our own address even when the request went to
    // a group address.
    frame[0..6].copy_from_slice(&src_mac);
    frame[6..12].copy_from_slice(&local.mac);
    Ok(answered)
}

fn answer_v6(
    buf: &mut [u8],
    local: &Local,
    src_mac: [u8; 6],
    admit: impl FnOnce(IpAddr) -> bool,
) -> Result<(), Reject> {
    let ip = Ipv6Packet::new_checked(&buf[..]).map_err(|_| Reject::Malformed)?;
    if ip.version() != 6 {
        return Err(Reject::Malformed);
    }
    if ip.next_header() != IpProtocol::Icmpv6 {
        return Err(Reject::NotEchoRequest);
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let icmp = Icmpv6Packet::new_checked(ip.payload()).map_err(|_| Reject::Malformed)?;
    let (msg_type, code) = (u8::from(icmp.msg_type()), icmp.msg_code());
    if msg_type != ICMPV6_ECHO_REQUEST {
        return Err(Reject::NotEchoRequest);
    }
    // The kernel drops these before ICMPv6 looks at them (ip6_rcv_core).
    if let Some(r) = v6_source(src, local) {
        return Err(r);
    }
    let from = v6_destination(dst, src, local)?.unwrap_or(dst);
    if !icmp.verify_checksum(&src, &dst) {
        return Err(Reject::BadChecksum);
    }
    if is_group_mac(&src_mac) {
        return Err(Reject::SrcGroupMac);
    }
    if !admit(IpAddr::V6(src)) {
        return Err(Reject::RateLimited);
    }
    let old = icmp.checksum();
    let mut ip = Ipv6Packet::new_unchecked(&mut buf[..]);
    ip.set_src_addr(from);
    ip.set_dst_addr(src);
    ip.set_hop_limit(local.hop_limit);
    let mut icmp = Icmpv6Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(ICMPV6_ECHO_REPLY.into());
    // The pseudo-header sum changes only if the reply comes from another
    // address than the request went to (a group); then the type word.
    let sum = replace_bytes(old, &dst.octets(), &from.octets());
    icmp.set_checksum(replace_u16(
        sum,
        u16::from_be_bytes([ICMPV6_ECHO_REQUEST, code]),
        u16::from_be_bytes([ICMPV6_ECHO_REPLY, code]),
    ));
    Ok(())
}

fn answer_v4(
    buf: &mut [u8],
    local: &Local,
    src_mac: [u8; 6],
    admit: impl FnOnce(IpAddr) -> bool,
) -> Result<(), Reject> {
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
    if let Some(r) = v4_source(src, local) {
        return Err(r);
    }
    if let Some(r) = v4_destination(dst, local) {
        return Err(r);
    }
    let icmp = Icmpv4Packet::new_checked(ip.payload()).map_err(|_| Reject::Malformed)?;
    let (msg_type, code) = (u8::from(icmp.msg_type()), icmp.msg_code());
    if msg_type != ICMPV4_ECHO_REQUEST {
        return Err(Reject::NotEchoRequest);
    }
    if !icmp.verify_checksum() {
        return Err(Reject::BadChecksum);
    }
    if ip.header_len() != 20 {
        return Err(Reject::Ipv4Options);
    }
    if is_group_mac(&src_mac) {
        return Err(Reject::SrcGroupMac);
    }
    if !admit(IpAddr::V4(src)) {
        return Err(Reject::RateLimited);
    }
    let (old_ip_sum, old_ttl, proto) = (ip.checksum(), ip.hop_limit(), buf[9]);
    let old = icmp.checksum();
    let mut ip = Ipv4Packet::new_unchecked(&mut buf[..]);
    // Swapping the addresses leaves the header sum alone; the TTL is in
    // the word it shares with the protocol.
    ip.set_src_addr(dst);
    ip.set_dst_addr(src);
    ip.set_hop_limit(local.ttl);
    ip.set_checksum(replace_u16(
        old_ip_sum,
        u16::from_be_bytes([old_ttl, proto]),
        u16::from_be_bytes([local.ttl, proto]),
    ));
    let mut icmp = Icmpv4Packet::new_unchecked(ip.payload_mut());
    icmp.set_msg_type(ICMPV4_ECHO_REPLY.into());
    icmp.set_checksum(replace_u16(
        old,
        u16::from_be_bytes([ICMPV4_ECHO_REQUEST, code]),
        u16::from_be_bytes([ICMPV4_ECHO_REPLY, code]),
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build;
    use crate::wire::policy::solicited_node;
    use smoltcp::wire::{Icmpv4Message, Icmpv6Message};
    use std::net::{Ipv4Addr, Ipv6Addr};

    const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn local() -> Local {
        Local {
            mac: A,
            v4: vec![Ipv4Addr::new(198, 18, 0, 1)],
            v4_broadcast: vec![Ipv4Addr::new(198, 18, 0, 255)],
            v6: vec!["fc00::1".parse().unwrap(), "fe80::1".parse().unwrap()],
            v6_groups: vec![
                "ff02::1".parse().unwrap(),
                solicited_node("fc00::1".parse().unwrap()),
            ],
            ttl: 61,
            hop_limit: 62,
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
        assert_eq!(answer(&mut reply, &local()), Err(Reject::NotForUs));
        reply[0..6].copy_from_slice(&A);
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

    fn v6_from(src: &str, dst: &str) -> Vec<u8> {
        build::echo_request_v6(
            B,
            A,
            src.parse().unwrap(),
            dst.parse().unwrap(),
            7,
            3,
            b"hi",
        )
    }

    fn v4_from(src: &str, dst: &str) -> Vec<u8> {
        build::echo_request_v4(
            B,
            A,
            src.parse().unwrap(),
            dst.parse().unwrap(),
            7,
            3,
            b"hi",
        )
    }

    #[test]
    fn replies_carry_the_host_default_ttl_and_hop_limit() {
        let mut f = v4_request();
        f[14 + 8] = 1; // TTL of the request
        let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
        ip.fill_checksum();
        answer(&mut f, &local()).unwrap();
        let ip = Ipv4Packet::new_checked(&f[14..]).unwrap();
        assert_eq!(ip.hop_limit(), 61);
        assert!(ip.verify_checksum(), "incremental header checksum");
        let mut f = v6_request();
        f[14 + 7] = 255;
        answer(&mut f, &local()).unwrap();
        assert_eq!(Ipv6Packet::new_checked(&f[14..]).unwrap().hop_limit(), 62);
    }

    #[test]
    fn a_nonzero_code_is_answered_and_kept_as_the_kernel_does() {
        for mut f in [v4_request(), v6_request()] {
            let at = if f[12] == 0x08 { 14 + 20 } else { 14 + 40 };
            f[at + 1] = 5;
            // Fix the ICMP checksum for the changed code byte.
            let sum = u16::from_be_bytes([f[at + 2], f[at + 3]]);
            let new = replace_u16(
                sum,
                u16::from_be_bytes([f[at], 0]),
                u16::from_be_bytes([f[at], 5]),
            );
            f[at + 2..at + 4].copy_from_slice(&new.to_be_bytes());
            assert!(answer(&mut f, &local()).is_ok());
            assert_eq!(f[at + 1], 5);
            if f[12] == 0x08 {
                assert!(Icmpv4Packet::new_checked(&f[at..])
                    .unwrap()
                    .verify_checksum());
            } else {
                let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
                let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
                assert!(icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()));
            }
        }
    }

    #[test]
    fn v6_group_requests_are_answered_from_a_unicast_address() {
        for (src, group, from) in [
            ("fc00::2", "ff02::1", "fc00::1"),
            ("fe80::2", "ff02::1", "fe80::1"),
            ("fc00::2", "ff02::1:ff00:1", "fc00::1"),
        ] {
            let mut f = v6_from(src, group);
            f[0..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
            assert_eq!(answer(&mut f, &local()), Ok(Answered::V6), "{group}");
            let eth = EthernetFrame::new_checked(&f[..]).unwrap();
            assert_eq!((eth.src_addr().0, eth.dst_addr().0), (A, B));
            let ip = Ipv6Packet::new_checked(eth.payload()).unwrap();
            assert_eq!(ip.src_addr(), from.parse::<Ipv6Addr>().unwrap());
            assert_eq!(ip.dst_addr(), src.parse::<Ipv6Addr>().unwrap());
            let icmp = Icmpv6Packet::new_checked(ip.payload()).unwrap();
            assert!(
                icmp.verify_checksum(&ip.src_addr(), &ip.dst_addr()),
                "{group}"
            );
        }
        for group in ["ff02::2", "ff05::1", "ff01::1", "ff00::1"] {
            let mut f = v6_from("fc00::2", group);
            assert_eq!(
                answer(&mut f, &local()),
                Err(Reject::DstMulticast),
                "{group}"
            );
        }
    }

    #[test]
    fn every_forbidden_source_is_refused_in_both_families() {
        let cases4 = [
            ("224.0.0.1", Reject::SrcMulticast),
            ("255.255.255.255", Reject::SrcBroadcast),
            ("198.18.0.255", Reject::SrcBroadcast),
            ("0.0.0.0", Reject::SrcUnspecified),
            ("127.0.0.1", Reject::SrcLoopback),
            ("198.18.0.1", Reject::SrcOwn),
        ];
        for (src, why) in cases4 {
            let mut f = v4_from(src, "198.18.0.1");
            let before = f.clone();
            assert_eq!(answer(&mut f, &local()), Err(why), "{src}");
            assert_eq!(f, before);
        }
        let cases6 = [
            ("ff02::1", Reject::SrcMulticast),
            ("::", Reject::SrcUnspecified),
            ("::1", Reject::SrcLoopback),
            ("::ffff:198.18.0.2", Reject::SrcMapped),
            ("fc00::1", Reject::SrcOwn),
        ];
        for (src, why) in cases6 {
            let mut f = v6_from(src, "fc00::1");
            let before = f.clone();
            assert_eq!(answer(&mut f, &local()), Err(why), "{src}");
            assert_eq!(f, before);
        }
        // Allowed unicast sources, link-local included.
        for src in ["169.254.1.1", "8.8.8.8", "198.18.0.2"] {
            assert!(
                answer(&mut v4_from(src, "198.18.0.1"), &local()).is_ok(),
                "{src}"
            );
        }
        for src in ["fe80::2", "2001:db8::1", "fc00::2"] {
            assert!(
                answer(&mut v6_from(src, "fc00::1"), &local()).is_ok(),
                "{src}"
            );
        }
    }

    #[test]
    fn broadcast_and_multicast_v4_destinations_are_ignored() {
        for (dst, why) in [
            ("255.255.255.255", Reject::DstBroadcast),
            ("198.18.0.255", Reject::DstBroadcast),
            ("224.0.0.1", Reject::DstMulticast),
        ] {
            let mut f = v4_from("198.18.0.2", dst);
            f[0..6].copy_from_slice(&[0xff; 6]);
            assert_eq!(answer(&mut f, &local()), Err(why), "{dst}");
        }
    }

    #[test]
    fn ethernet_addresses_are_checked() {
        let mut f = v4_request();
        f[0..6].copy_from_slice(&[2, 9, 9, 9, 9, 9]);
        assert_eq!(answer(&mut f, &local()), Err(Reject::NotForUs));
        let mut f = v6_request();
        f[6] |= 1;
        assert_eq!(answer(&mut f, &local()), Err(Reject::SrcGroupMac));
        // A unicast IP request in an Ethernet broadcast is answered, as the
        // kernel does (net.ipv4.conf.*.drop_unicast_in_l2_multicast=0).
        let mut f = v4_request();
        f[0..6].copy_from_slice(&[0xff; 6]);
        assert_eq!(answer(&mut f, &local()), Ok(Answered::V4));
        assert_eq!(&f[6..12], &A);
    }

    #[test]
    fn ipv4_options_are_left_to_the_kernel_and_admit_limits() {
        let mut f = v4_request();
        // One NOP word of options: IHL 6.
        f.splice(34..34, [1, 1, 1, 1]);
        f[14] = 0x46;
        let total = u16::from_be_bytes([f[16], f[17]]) + 4;
        f[16..18].copy_from_slice(&total.to_be_bytes());
        Ipv4Packet::new_unchecked(&mut f[14..]).fill_checksum();
        assert_eq!(answer(&mut f, &local()), Err(Reject::Ipv4Options));
        let mut f = v6_request();
        let before = f.clone();
        let mut asked = None;
        let r = answer_with(&mut f, &local(), |src| {
            asked = Some(src);
            false
        });
        assert_eq!(r, Err(Reject::RateLimited));
        assert_eq!(asked, Some("fc00::2".parse().unwrap()));
        assert_eq!(f, before);
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
