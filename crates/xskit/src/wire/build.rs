//! Frames built from scratch with smoltcp's emitters: echo requests and UDP
//! datagrams, with correct checksums. Used by tests, the demo and txonly.

use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr,
    Icmpv6Packet, Icmpv6Repr, IpProtocol, IpRepr, Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr,
    UdpPacket, UdpRepr,
};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

const ETH: usize = 14;

fn ethernet(src: [u8; 6], dst: [u8; 6], proto: EthernetProtocol, payload_len: usize) -> Vec<u8> {
    let mut f = vec![0u8; ETH + payload_len];
    EthernetRepr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        ethertype: proto,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut f[..]));
    f
}

/// An ICMPv6 echo request from `src` to `dst`.
pub fn echo_request_v6(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Vec<u8> {
    let icmp = Icmpv6Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    let ip = Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmpv6,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    let mut f = ethernet(
        src_mac,
        dst_mac,
        EthernetProtocol::Ipv6,
        ip.buffer_len() + ip.payload_len,
    );
    let mut pkt = Ipv6Packet::new_unchecked(&mut f[ETH..]);
    ip.emit(&mut pkt);
    icmp.emit(
        &src,
        &dst,
        &mut Icmpv6Packet::new_unchecked(pkt.payload_mut()),
        &ChecksumCapabilities::default(),
    );
    f
}

/// An ICMPv4 echo request from `src` to `dst`.
pub fn echo_request_v4(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    seq_no: u16,
    data: &[u8],
) -> Vec<u8> {
    let icmp = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: 64,
    };
    let mut f = ethernet(
        src_mac,
        dst_mac,
        EthernetProtocol::Ipv4,
        ip.buffer_len() + ip.payload_len,
    );
    let caps = ChecksumCapabilities::default();
    let mut pkt = Ipv4Packet::new_unchecked(&mut f[ETH..]);
    ip.emit(&mut pkt, &caps);
    icmp.emit(&mut Icmpv4Packet::new_unchecked(pkt.payload_mut()), &caps);
    f
}

/// A UDP datagram over IPv4 or IPv6 (both addresses of one family).
pub fn udp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: IpAddr,
    dst: IpAddr,
    sport: u16,
    dport: u16,
    data: &[u8],
) -> Vec<u8> {
    assert_eq!(src.is_ipv4(), dst.is_ipv4(), "UDP between two IP families");
    let udp = UdpRepr {
        src_port: sport,
        dst_port: dport,
    };
    let ip = IpRepr::new(
        src.into(),
        dst.into(),
        IpProtocol::Udp,
        udp.header_len() + data.len(),
        64,
    );
    let proto = if src.is_ipv4() {
        EthernetProtocol::Ipv4
    } else {
        EthernetProtocol::Ipv6
    };
    let mut f = ethernet(src_mac, dst_mac, proto, ip.buffer_len());
    let caps = ChecksumCapabilities::default();
    ip.emit(&mut f[ETH..], &caps);
    let l4 = ETH + ip.header_len();
    udp.emit(
        &mut UdpPacket::new_unchecked(&mut f[l4..]),
        &ip.src_addr(),
        &ip.dst_addr(),
        data.len(),
        |buf| buf.copy_from_slice(data),
        &caps,
    );
    f
}

/// A UDP datagram over IPv4.
pub fn udp_v4(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    data: &[u8],
) -> Vec<u8> {
    udp(src_mac, dst_mac, src.into(), dst.into(), sport, dport, data)
}

/// A UDP datagram over IPv6.
pub fn udp_v6(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    sport: u16,
    dport: u16,
    data: &[u8],
) -> Vec<u8> {
    udp(src_mac, dst_mac, src.into(), dst.into(), sport, dport, data)
}
