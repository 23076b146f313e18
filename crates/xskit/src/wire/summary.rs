//! One line that says what a frame is, for `xskit dump`.

use smoltcp::wire::{
    ArpOperation, ArpPacket, EthernetFrame, EthernetProtocol, Icmpv4Message, Icmpv4Packet,
    Icmpv6Message, Icmpv6Packet, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket, UdpPacket,
};
use std::fmt::Write;
use std::net::Ipv4Addr;

/// Describes `frame` in one line; damaged frames say where they break.
pub fn summarize(frame: &[u8]) -> String {
    let mut s = String::new();
    let Ok(eth) = EthernetFrame::new_checked(frame) else {
        return format!("truncated Ethernet frame ({} bytes)", frame.len());
    };
    match eth.ethertype() {
        EthernetProtocol::Ipv6 => ipv6(eth.payload(), &mut s),
        EthernetProtocol::Ipv4 => ipv4(eth.payload(), &mut s),
        EthernetProtocol::Arp => arp(eth.payload(), &mut s),
        EthernetProtocol::Unknown(0x8100) => {
            let p = eth.payload();
            if p.len() < 4 {
                s.push_str("802.1Q (truncated)");
            } else {
                let vid = u16::from_be_bytes([p[0], p[1]]) & 0x0fff;
                let inner = u16::from_be_bytes([p[2], p[3]]);
                let _ = write!(s, "802.1Q vlan {vid}, ethertype {inner:#06x}");
            }
        }
        other => {
            let _ = write!(
                s,
                "ethertype {:#06x} {} > {}",
                u16::from(other),
                eth.src_addr(),
                eth.dst_addr()
            );
        }
    }
    s
}

fn ipv6(buf: &[u8], s: &mut String) {
    let Ok(ip) = Ipv6Packet::new_checked(buf) else {
        s.push_str("IPv6 (truncated)");
        return;
    };
    let _ = write!(s, "IPv6 {} > {} ", ip.src_addr(), ip.dst_addr());
    match ip.next_header() {
        IpProtocol::Icmpv6 => match Icmpv6Packet::new_checked(ip.payload()) {
            Ok(icmp) => {
                let what = match icmp.msg_type() {
                    Icmpv6Message::EchoRequest => "echo request",
                    Icmpv6Message::EchoReply => "echo reply",
                    Icmpv6Message::NeighborSolicit => "neighbor solicitation",
                    Icmpv6Message::NeighborAdvert => "neighbor advertisement",
                    Icmpv6Message::RouterSolicit => "router solicitation",
                    Icmpv6Message::RouterAdvert => "router advertisement",
                    Icmpv6Message::MldReport => "multicast listener report",
                    Icmpv6Message::DstUnreachable => "destination unreachable",
                    _ => "",
                };
                if what.is_empty() {
                    let _ = write!(s, "ICMPv6 type {}", u8::from(icmp.msg_type()));
                } else {
                    let _ = write!(s, "ICMPv6 {what}");
                }
                if matches!(
                    icmp.msg_type(),
                    Icmpv6Message::EchoRequest | Icmpv6Message::EchoReply
                ) {
                    let _ = write!(s, " id {} seq {}", icmp.echo_ident(), icmp.echo_seq_no());
                }
            }
            Err(_) => s.push_str("ICMPv6 (truncated)"),
        },
        p => transport(p, ip.payload(), s),
    }
}

fn ipv4(buf: &[u8], s: &mut String) {
    let ip = match Ipv4Packet::new_checked(buf) {
        Ok(ip) if ip.version() == 4 && ip.header_len() >= 20 => ip,
        _ => {
            s.push_str("IPv4 (truncated or bad header)");
            return;
        }
    };
    let _ = write!(s, "IPv4 {} > {} ", ip.src_addr(), ip.dst_addr());
    if ip.frag_offset() != 0 {
        let _ = write!(s, "fragment offset {}", ip.frag_offset());
        return;
    }
    match ip.next_header() {
        IpProtocol::Icmp => match Icmpv4Packet::new_checked(ip.payload()) {
            Ok(icmp) => match icmp.msg_type() {
                Icmpv4Message::EchoRequest | Icmpv4Message::EchoReply => {
                    let what = if icmp.msg_type() == Icmpv4Message::EchoRequest {
                        "request"
                    } else {
                        "reply"
                    };
                    let _ = write!(
                        s,
                        "ICMP echo {what} id {} seq {}",
                        icmp.echo_ident(),
                        icmp.echo_seq_no()
                    );
                }
                t => {
                    let _ = write!(s, "ICMP type {}", u8::from(t));
                }
            },
            Err(_) => s.push_str("ICMP (truncated)"),
        },
        p => transport(p, ip.payload(), s),
    }
}

fn transport(proto: IpProtocol, payload: &[u8], s: &mut String) {
    match proto {
        IpProtocol::Udp => match UdpPacket::new_checked(payload) {
            Ok(u) => {
                let _ = write!(
                    s,
                    "UDP {} > {} len {}",
                    u.src_port(),
                    u.dst_port(),
                    u.payload().len()
                );
            }
            Err(_) => s.push_str("UDP (truncated)"),
        },
        IpProtocol::Tcp => match TcpPacket::new_checked(payload) {
            Ok(t) => {
                let flags: String = [
                    (t.syn(), 'S'),
                    (t.fin(), 'F'),
                    (t.rst(), 'R'),
                    (t.psh(), 'P'),
                    (t.ack(), '.'),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, c)| *c)
                .collect();
                let _ = write!(
                    s,
                    "TCP {} > {} [{flags}] len {}",
                    t.src_port(),
                    t.dst_port(),
                    t.payload().len()
                );
            }
            Err(_) => s.push_str("TCP (truncated)"),
        },
        IpProtocol::HopByHop => s.push_str("hop-by-hop options"),
        p => {
            let _ = write!(s, "protocol {}", u8::from(p));
        }
    }
}

fn arp(buf: &[u8], s: &mut String) {
    let Ok(a) = ArpPacket::new_checked(buf) else {
        s.push_str("ARP (truncated)");
        return;
    };
    let ip = |b: &[u8]| match <[u8; 4]>::try_from(b) {
        Ok(v) => Ipv4Addr::from(v).to_string(),
        Err(_) => "?".into(),
    };
    match a.operation() {
        ArpOperation::Request => {
            let _ = write!(
                s,
                "ARP who-has {} tell {}",
                ip(a.target_protocol_addr()),
                ip(a.source_protocol_addr())
            );
        }
        ArpOperation::Reply => {
            let mac: Vec<String> = a
                .source_hardware_addr()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let _ = write!(
                s,
                "ARP reply {} is-at {}",
                ip(a.source_protocol_addr()),
                mac.join(":")
            );
        }
        _ => s.push_str("ARP"),
    }
}

/// Classic hex dump: offset, 16 bytes in hex, printable ASCII.
pub fn hexdump(frame: &[u8]) -> String {
    let mut s = String::new();
    for (i, chunk) in frame.chunks(16).enumerate() {
        let _ = write!(s, "  {:04x}  ", i * 16);
        for j in 0..16 {
            match chunk.get(j) {
                Some(b) => {
                    let _ = write!(s, "{b:02x} ");
                }
                None => s.push_str("   "),
            }
            if j == 7 {
                s.push(' ');
            }
        }
        s.push(' ');
        s.extend(chunk.iter().map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        }));
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::build;

    #[test]
    fn echo_request_line_matches_the_issue_example() {
        let f = build::echo_request_v6(
            [2; 6],
            [4; 6],
            "fc00::2".parse().unwrap(),
            "fc00::1".parse().unwrap(),
            7,
            3,
            b"x",
        );
        assert_eq!(
            summarize(&f),
            "IPv6 fc00::2 > fc00::1 ICMPv6 echo request id 7 seq 3"
        );
        let f = build::udp_v4(
            [2; 6],
            [4; 6],
            Ipv4Addr::new(198, 18, 0, 2),
            Ipv4Addr::new(198, 18, 0, 1),
            5,
            53,
            b"abc",
        );
        assert_eq!(
            summarize(&f),
            "IPv4 198.18.0.2 > 198.18.0.1 UDP 5 > 53 len 3"
        );
    }

    #[test]
    fn damaged_frames_are_described_not_panicked_on() {
        let f = build::echo_request_v4(
            [2; 6],
            [4; 6],
            Ipv4Addr::new(1, 2, 3, 4),
            Ipv4Addr::new(5, 6, 7, 8),
            1,
            1,
            b"abcdef",
        );
        for len in 0..f.len() {
            let line = summarize(&f[..len]);
            assert!(!line.is_empty());
        }
        assert!(hexdump(&f).contains("0010"));
    }
}
