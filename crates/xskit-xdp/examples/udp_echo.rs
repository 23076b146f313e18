//! A UDP echo service (RFC 862) on one port over AF_XDP, beside the
//! kernel: only UDP to that port reaches the socket
//! ([`Program::RedirectPort`]); ARP, neighbour discovery, ping and every
//! other port stay with the kernel.
//!
//!     sudo ip netns exec NS cargo run --example udp_echo -- IFACE [PORT]
//!
//! (The default port is 7; the example answers on rx queue 0 only, so give
//! the interface one queue, e.g. a veth.) It prints `ready` once frames
//! flow, and runs until killed; the kernel then detaches the program.
//!
//! **The checksum.** A sender on the same host (a veth peer, a container)
//! usually leaves the UDP checksum for the device to finish
//! (CHECKSUM_PARTIAL): the field then holds only the pseudo-header's sum,
//! and the frame reaches AF_XDP that way. An echo that only swaps
//! addresses and ports would send that unfinished value back, and the
//! client's kernel would drop the reply as a bad checksum (it counts
//! `UdpInCsumErrors`). So the reply's checksum is computed in full here.

use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, IpAddress, IpProtocol, Ipv4Packet, Ipv6Packet, UdpPacket,
};
use std::error::Error;
use xsk::{Xsk, XskConfig};
use xskit_xdp::{filter::Proto, HookChoice, Program, XdpProgram};

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let iface = args.next().ok_or("usage: udp_echo IFACE [PORT]")?;
    let port: u16 = match args.next() {
        Some(p) => p.parse().map_err(|_| format!("{p:?} is not a port"))?,
        None => 7,
    };

    // The socket first, its FILL ring full, registered; then the program:
    // no frame of the port reaches the kernel in between.
    let mut xsk = Xsk::new(&iface, 0, &XskConfig::default())?;
    xsk.refill(u32::MAX);
    let mut prog = XdpProgram::load(Program::RedirectPort, 1)?;
    prog.redirect_port(Proto::Udp, port)?;
    prog.register(0, &xsk)?;
    let mode = prog.attach(&iface, HookChoice::Auto, false)?.mode;
    println!("ready: UDP echo on {iface} port {port} ({mode} mode)");

    let mut batch = Vec::with_capacity(64);
    loop {
        xsk.socket().poll_rx(1000)?;
        xsk.recv(&mut batch, 64);
        for mut frame in batch.drain(..) {
            let umem = xsk.umem().clone();
            if echo(umem.data_mut(&mut frame), port) {
                if let Err(frame) = xsk.send_one(frame) {
                    xsk.release(frame); // TX ring full: drop the reply
                }
            } else {
                xsk.release(frame);
            }
        }
        xsk.flush()?;
        xsk.complete(u32::MAX);
        xsk.refill(u32::MAX);
    }
}

/// Turns a datagram to `port` into its reply in place: Ethernet, IP and
/// UDP source and destination swapped, the UDP checksum computed in full.
/// False for anything else (the program only sends this port, but the
/// frame is checked all the same).
fn echo(frame: &mut [u8], port: u16) -> bool {
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
