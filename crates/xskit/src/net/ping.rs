//! Echo requests through the kernel's ICMP "ping" sockets (SOCK_DGRAM,
//! IPPROTO_ICMP / IPPROTO_ICMPV6): the kernel sets the identifier, fills in
//! and checks the checksums, and hands back only replies for this socket.

use anyhow::{bail, Result};
use std::io;
use std::mem::size_of;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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

fn sockaddr(addr: IpAddr) -> (libc::sockaddr_storage, u32) {
    // SAFETY: all-zero is a valid sockaddr_storage.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        IpAddr::V4(a) => {
            // SAFETY: sockaddr_storage is large and aligned enough for sockaddr_in.
            let sin = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as u16;
            sin.sin_addr.s_addr = u32::from(a).to_be();
            size_of::<libc::sockaddr_in>()
        }
        IpAddr::V6(a) => {
            // SAFETY: as above, for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut ss as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as u16;
            sin6.sin6_addr.s6_addr = a.octets();
            size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as u32)
}

impl Pinger {
    /// Opens a ping socket for IPv6 (`v6`) or IPv4.
    pub fn new(v6: bool) -> Result<Pinger> {
        let (dom, proto) = if v6 {
            (libc::AF_INET6, libc::IPPROTO_ICMPV6)
        } else {
            (libc::AF_INET, libc::IPPROTO_ICMP)
        };
        // SAFETY: plain socket(2); checked below.
        let fd = unsafe { libc::socket(dom, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, proto) };
        if fd < 0 {
            bail!(
                "cannot open an ICMP ping socket: {} (is net.ipv4.ping_group_range open to this group?)",
                io::Error::last_os_error()
            );
        }
        // SAFETY: fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Bind to port 0: the kernel picks the identifier, which getsockname shows.
        let any = if v6 {
            IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
        };
        let (ss, len) = sockaddr(any);
        // SAFETY: `ss` holds a valid sockaddr of `len` bytes.
        if unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        } < 0
        {
            bail!("binding the ping socket: {}", io::Error::last_os_error());
        }
        // SAFETY: getsockname writes at most `len` bytes into `out`.
        let mut out: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = size_of::<libc::sockaddr_storage>() as u32;
        // SAFETY: as above.
        if unsafe {
            libc::getsockname(
                fd.as_raw_fd(),
                (&mut out as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        } < 0
        {
            bail!(
                "getsockname on the ping socket: {}",
                io::Error::last_os_error()
            );
        }
        // The port sits at the same offset in sockaddr_in and sockaddr_in6.
        // SAFETY: reading sin_port of a sockaddr the kernel filled in.
        let ident =
            u16::from_be(unsafe { (*(&out as *const _ as *const libc::sockaddr_in)).sin_port });
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
        let (ss, len) = sockaddr(dst);
        // SAFETY: `msg` and `ss` are valid for the lengths passed.
        let rc = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&ss as *const libc::sockaddr_storage).cast(),
                len,
            )
        };
        if rc < 0 {
            bail!(
                "sending an echo request to {dst}: {}",
                io::Error::last_os_error()
            );
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
            // SAFETY: `buf` is writable for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            let rtt = sent_at.elapsed();
            if n < 8 {
                continue;
            }
            let m = &buf[..n as usize];
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
