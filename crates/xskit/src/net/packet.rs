//! AF_PACKET sockets: raw frames in and out of one interface. The tests and
//! the sandbox use them on the far end of a link, where xskit is not running.

use anyhow::{bail, Result};
use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
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
        // SAFETY: plain socket(2); checked below.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                (ETH_P_ALL.to_be()) as i32,
            )
        };
        if fd < 0 {
            bail!(
                "AF_PACKET socket: {} (needs CAP_NET_RAW: run as root)",
                io::Error::last_os_error()
            );
        }
        // SAFETY: fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: all-zero is a valid sockaddr_ll; fields are set below.
        let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        sa.sll_family = libc::AF_PACKET as u16;
        sa.sll_protocol = ETH_P_ALL.to_be();
        sa.sll_ifindex = ifindex as i32;
        // SAFETY: `sa` is a valid sockaddr_ll of the size passed.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_ll).cast(),
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            bail!(
                "binding AF_PACKET to {iface}: {}",
                io::Error::last_os_error()
            );
        }
        // Room for bursts: the tests send thousands of frames before reading.
        let size: libc::c_int = 16 << 20;
        // SAFETY: SO_RCVBUFFORCE reads one c_int; failure only means a smaller buffer.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUFFORCE,
                (&size as *const libc::c_int).cast(),
                size_of::<libc::c_int>() as u32,
            );
        }
        Ok(PacketSocket { fd, ifindex })
    }

    /// Sends one whole Ethernet frame.
    pub fn send(&self, frame: &[u8]) -> Result<()> {
        // SAFETY: `frame` is a valid buffer of the length passed.
        let rc = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if rc < 0 {
            bail!(
                "AF_PACKET send on ifindex {}: {}",
                self.ifindex,
                io::Error::last_os_error()
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
            // SAFETY: zeroed sockaddr_ll is valid; recvfrom writes at most `len` bytes.
            let mut sa: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
            let mut len = size_of::<libc::sockaddr_ll>() as u32;
            // SAFETY: `buf` is writable for its length; `sa`/`len` as above.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                    (&mut sa as *mut libc::sockaddr_ll).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                continue;
            }
            let frame = &buf[..n as usize];
            if keep(sa.sll_pkttype, frame) {
                return Ok(Some(frame.to_vec()));
            }
        }
        Ok(None)
    }
}
