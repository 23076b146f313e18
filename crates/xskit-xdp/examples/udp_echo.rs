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

#[path = "shared/udp_reply.rs"]
mod udp_reply;
#[path = "shared/udp_service.rs"]
mod udp_service;

use std::error::Error;
use std::time::Duration;
use udp_reply::echo;
use udp_service::Service;

fn main() -> Result<(), Box<dyn Error>> {
    // The program is detached when `_prog` is dropped: kept to the end.
    let Service {
        mut xsk,
        prog: _prog,
        port,
    } = udp_service::start("udp_echo", "")?;

    let mut batch = Vec::with_capacity(64);
    loop {
        xsk.socket().poll_rx(Some(Duration::from_secs(1)))?;
        xsk.recv(&mut batch, 64);
        for mut frame in batch.drain(..) {
            if echo(xsk.umem().data_mut(&mut frame), port) {
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
