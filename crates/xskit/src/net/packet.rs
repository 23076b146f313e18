//! AF_PACKET sockets: raw frames in and out of one interface. The tests and
//! the sandbox use them on the far end of a link, where xskit is not running.

use crate::sys;
use anyhow::{bail, Result};
use rustix::net::{eth, AddressFamily, SendFlags, SocketFlags, SocketType};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// A raw socket bound to one interface, seeing every Ethernet frame.
#[derive(Debug)]
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

const ETH_P_ALL: u16 = 0x0003;

impl PacketSocket {
    /// Opens and binds to `iface` in this thread's network namespace.
    pub fn bind(iface: &str) -> Result<PacketSocket> {
        let ifindex = xsk::netdev::ifindex(iface)?;
        let fd = rustix::net::socket_with(
            AddressFamily::PACKET,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            Some(eth::ALL),
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "AF_PACKET socket: {} (needs CAP_NET_RAW: run as root)",
                std::io::Error::from(e)
            )
        })?;
        if let Err(e) = sys::bind_packet(fd.as_fd(), ifindex, ETH_P_ALL) {
            bail!("binding AF_PACKET to {iface}: {e}");
        }
        // Room for bursts: the tests send thousands of frames before reading.
        // Failure only means a smaller buffer.
        let _ = rustix::net::sockopt::set_socket_recv_buffer_size_force(&fd, 16 << 20);
        Ok(PacketSocket { fd, ifindex })
    }

    /// Sends one whole Ethernet frame.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        if let Err(e) = rustix::net::send(&self.fd, frame, SendFlags::empty()) {
            bail!(
                "AF_PACKET send on ifindex {}: {}",
                self.ifindex,
                std::io::Error::from(e)
            );
        }
        Ok(())
    }

    /// Receives the next frame within `timeout`, outgoing ones included
    /// (AF_PACKET sees both directions); `None` on timeout.
    pub fn recv(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        self.recv_where(timeout, |_, _| true)
    }

    /// Receives the next frame that came in from the wire (not one this
    /// host sent) within `timeout`.
    pub fn recv_incoming(&self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        self.recv_where(timeout, |pkttype, _| pkttype != libc::PACKET_OUTGOING)
    }

    fn recv_where(
        &self,
        timeout: Duration,
        keep: impl Fn(u8, &[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        let mut buf = vec![0u8; 65536];
        while super::readable_before(&self.fd, deadline) {
            let Ok((n, pkttype)) = sys::recv_packet(self.fd.as_fd(), &mut buf) else {
                continue;
            };
            let frame = &buf[..n];
            if keep(pkttype, frame) {
                return Ok(Some(frame.to_vec()));
            }
        }
        Ok(None)
    }
}
