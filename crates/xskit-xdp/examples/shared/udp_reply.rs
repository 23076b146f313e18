//! The reply of the UDP echo examples: a datagram to the service port
//! turned into its answer in place, its checksum computed in full (see
//! `udp_echo.rs` for why).

use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, Ipv6Packet, UdpPacket,
};

/// Turns a datagram to `port` into its reply in place: Ethernet, IP and
/// UDP source and destination swapped, the UDP checksum computed in full.
/// False for anything else (the program only sends this port, but the
/// frame is checked all the same).
pub fn echo(frame: &mut [u8], port: u16) -> bool {
    let Ok(mut eth) = EthernetFrame::new_checked(frame) else {
        return false;
    };
    let (src, dst) = (eth.src_addr(), eth.dst_addr());
    eth.set_src_addr(dst);
    eth.set_dst_addr(src);
    match eth.ethertype() {
        EthernetProtocol::Ipv4 => {
            let Ok(mut ip) = Ipv4Packet::new_checked(eth.payload_mut()) else {
                return false;
            };
            if ip.next_header() != IpProtocol::Udp || ip.more_frags() || ip.frag_offset() != 0 {
                return false;
            }
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            // Swapping the addresses leaves the header checksum as it was.
            ip.set_src_addr(dst);
            ip.set_dst_addr(src);
            udp_reply(ip.payload_mut(), dst.into(), src.into(), port)
        }
        EthernetProtocol::Ipv6 => {
            let Ok(mut ip) = Ipv6Packet::new_checked(eth.payload_mut()) else {
                return false;
            };
            if ip.next_header() != IpProtocol::Udp {
                return false;
            }
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            ip.set_src_addr(dst);
            ip.set_dst_addr(src);
            udp_reply(ip.payload_mut(), dst.into(), src.into(), port)
        }
        _ => false,
    }
}

/// Swaps the ports of the datagram in `bytes` (to `port`) and computes its
/// checksum for the reply from `src` to `dst`.
fn udp_reply(bytes: &mut [u8], src: IpAddress, dst: IpAddress, port: u16) -> bool {
    let Ok(mut udp) = UdpPacket::new_checked(bytes) else {
        return false;
    };
    if udp.dst_port() != port {
        return false;
    }
    let client = udp.src_port();
    udp.set_src_port(port);
    udp.set_dst_port(client);
    udp.fill_checksum(&src, &dst);
    true
}
