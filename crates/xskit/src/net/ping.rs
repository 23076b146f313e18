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
            let Some(reply) = parse_reply(&buf[..n], self.v6, rtt) else {
                continue;
            };
            if reply.seq != seq {
                continue;
            }
            return Ok(Some(reply));
        }
        Ok(None)
    }
}

/// An echo reply as a ping socket hands it over (ICMP header and data, no
/// IP header), read through smoltcp's ICMP views; `None` for anything else.
fn parse_reply(m: &[u8], v6: bool, rtt: Duration) -> Option<Reply> {
    use smoltcp::wire::{Icmpv4Message, Icmpv4Packet, Icmpv6Message, Icmpv6Packet};
    if m.len() < 8 {
        return None; // shorter than an echo header
    }
    let (ident, seq, payload) = if v6 {
        let p = Icmpv6Packet::new_checked(m).ok()?;
        if p.msg_type() != Icmpv6Message::EchoReply {
            return None;
        }
        (p.echo_ident(), p.echo_seq_no(), p.payload())
    } else {
        let p = Icmpv4Packet::new_checked(m).ok()?;
        if p.msg_type() != Icmpv4Message::EchoReply {
            return None;
        }
        (p.echo_ident(), p.echo_seq_no(), p.data())
    };
    Some(Reply {
        ident,
        seq,
        payload: payload.to_vec(),
        rtt,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_by_type_ident_and_sequence() {
        let rtt = Duration::from_millis(1);
        let v4 = [0, 0, 0, 0, 0x12, 0x34, 0, 7, b'h', b'i'];
        let r = parse_reply(&v4, false, rtt).unwrap();
        assert_eq!((r.ident, r.seq, &r.payload[..]), (0x1234, 7, &b"hi"[..]));
        let v6 = [129, 0, 0, 0, 0, 9, 1, 0];
        let r = parse_reply(&v6, true, rtt).unwrap();
        assert_eq!((r.ident, r.seq, r.payload.len()), (9, 256, 0));
        assert!(
            parse_reply(&[8, 0, 0, 0, 0, 1, 0, 1], false, rtt).is_none(),
            "a request"
        );
        assert!(
            parse_reply(&[0, 0, 0, 0, 0, 1], false, rtt).is_none(),
            "too short"
        );
    }
}
