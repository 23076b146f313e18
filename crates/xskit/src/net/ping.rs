//! Echo requests through the kernel's ICMP "ping" sockets (SOCK_DGRAM,
//! IPPROTO_ICMP / IPPROTO_ICMPV6): the kernel sets the identifier, fills in
//! and checks the checksums, and hands back only replies for this socket.

use anyhow::{bail, Result};
use rustix::net::{ipproto, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// One ping socket, IPv4 or IPv6.
pub struct Pinger {
    fd: OwnedFd,
    v6: bool,
    ident: u16,
}

impl std::os::fd::AsFd for Pinger {
    fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A reply as received.
#[derive(Clone, Debug)]
pub struct Reply {
    /// Identifier in the reply.
    pub ident: u16,
    /// Sequence number in the reply.
    pub seq: u16,
    /// Data after the ICMP header.
    pub payload: Vec<u8>,
    /// Time from send to receive.
    pub rtt: Duration,
}

impl Pinger {
    /// Opens a ping socket for IPv6 (`v6`) or IPv4.
    pub fn new(v6: bool) -> Result<Pinger> {
        let (dom, proto) = if v6 {
            (AddressFamily::INET6, ipproto::ICMPV6)
        } else {
            (AddressFamily::INET, ipproto::ICMP)
        };
        let fd = rustix::net::socket_with(dom, SocketType::DGRAM, SocketFlags::CLOEXEC, Some(proto))
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open an ICMP ping socket: {} (is net.ipv4.ping_group_range open to this group?)",
                    io::Error::from(e)
                )
            })?;
        // Bind to port 0: the kernel picks the identifier, which getsockname shows.
        let any = if v6 {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        if let Err(e) = rustix::net::bind(&fd, &SocketAddr::new(any, 0)) {
            bail!("binding the ping socket: {}", io::Error::from(e));
        }
        let ident = match rustix::net::getsockname(&fd).map(SocketAddr::try_from) {
            Ok(Ok(a)) => a.port(),
            Ok(Err(_)) => bail!("getsockname on the ping socket: not an IP address"),
            Err(e) => bail!("getsockname on the ping socket: {}", io::Error::from(e)),
        };
        Ok(Pinger { fd, v6, ident })
    }

    /// The identifier the kernel gave this socket.
    pub fn ident(&self) -> u16 {
        self.ident
    }

    /// Sends one echo request (no wait for the reply).
    pub fn send(&self, dst: IpAddr, seq: u16, payload: &[u8]) -> Result<()> {
        if dst.is_ipv6() != self.v6 {
            bail!("address family of {dst} does not match this ping socket");
        }
        let mut msg = Vec::with_capacity(8 + payload.len());
        msg.extend_from_slice(&[if self.v6 { 128 } else { 8 }, 0, 0, 0, 0, 0]);
        msg.extend_from_slice(&seq.to_be_bytes());
        msg.extend_from_slice(payload);
        let to = SocketAddr::new(dst, 0);
        if let Err(e) = rustix::net::sendto(&self.fd, &msg, SendFlags::empty(), &to) {
            bail!("sending an echo request to {dst}: {}", io::Error::from(e));
        }
        Ok(())
    }

    /// Sends one echo request and waits up to `timeout` for its reply.
    /// `None` on timeout; replies with other sequence numbers are skipped.
    pub fn ping(
        &self,
        dst: IpAddr,
        seq: u16,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<Option<Reply>> {
        let sent_at = Instant::now();
        self.send(dst, seq, payload)?;
        let deadline = sent_at + timeout;
        let mut buf = vec![0u8; 65536];
        while super::readable_before(&self.fd, deadline) {
            let n = rustix::net::recv(&self.fd, &mut buf[..], RecvFlags::DONTWAIT)
                .map_or(0, |(n, _)| n);
            let rtt = sent_at.elapsed();
            if n < 8 {
                continue;
            }
            let m = &buf[..n];
            let want_type = if self.v6 { 129 } else { 0 };
            let rseq = u16::from_be_bytes([m[6], m[7]]);
            if m[0] != want_type || rseq != seq {
                continue;
            }
            return Ok(Some(Reply {
                ident: u16::from_be_bytes([m[4], m[5]]),
                seq: rseq,
                payload: m[8..].to_vec(),
                rtt,
            }));
        }
        Ok(None)
    }
}
