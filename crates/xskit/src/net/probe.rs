//! Echo requests with kernel timestamps, for round-trip measurements close
//! to the wire: a ping socket with `SO_TIMESTAMPING`, software stamps taken
//! by the kernel when the request leaves (`dev_queue_xmit`, reported on the
//! error queue) and when the reply arrives (`netif_receive_skb`), so the
//! sender's own scheduling and system calls are outside the measurement.
//! Where the kernel gives no transmit stamp the time before `sendto` is
//! used, and [`Prober::tx_stamps`] says so.

use anyhow::{bail, Result};
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use super::ping::Pinger;

const SOF_TIMESTAMPING_TX_SOFTWARE: u32 = 1 << 1;
const SOF_TIMESTAMPING_RX_SOFTWARE: u32 = 1 << 3;
const SOF_TIMESTAMPING_SOFTWARE: u32 = 1 << 4;
const SOF_TIMESTAMPING_OPT_ID: u32 = 1 << 7;
const SOF_TIMESTAMPING_OPT_TSONLY: u32 = 1 << 11;

/// Something the socket reported.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Event {
    /// A reply with this sequence number arrived at this time (ns, CLOCK_REALTIME).
    Reply { seq: u16, at_ns: u64 },
    /// The `id`-th request (counting from 0) left at this time.
    Sent { id: u32, at_ns: u64 },
}

/// One `recvmsg`: bytes, the kernel's software stamp, the stamp's id (error queue).
type Received = (usize, Option<u64>, Option<u32>);

/// A ping socket that reports kernel timestamps.
pub struct Prober {
    pinger: Pinger,
    fd: OwnedFd,
    v6: bool,
    /// Transmit stamps have been seen from the kernel.
    pub tx_stamps: bool,
}

/// CLOCK_REALTIME now, in ns (the clock the kernel's software stamps use).
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

impl Prober {
    /// Opens a prober for IPv6 (`v6`) or IPv4.
    pub fn new(v6: bool) -> Result<Prober> {
        let pinger = Pinger::new(v6)?;
        let fd = pinger.as_fd().try_clone_to_owned()?;
        let flags: u32 = SOF_TIMESTAMPING_TX_SOFTWARE
            | SOF_TIMESTAMPING_RX_SOFTWARE
            | SOF_TIMESTAMPING_SOFTWARE
            | SOF_TIMESTAMPING_OPT_ID
            | SOF_TIMESTAMPING_OPT_TSONLY;
        // SAFETY: `flags` is a live u32 of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPING,
                (&flags as *const u32).cast(),
                4,
            )
        };
        if rc < 0 {
            bail!(
                "SO_TIMESTAMPING on the ping socket: {}",
                io::Error::last_os_error()
            );
        }
        Ok(Prober {
            pinger,
            fd,
            v6,
            tx_stamps: false,
        })
    }

    /// Sends request `seq` with `payload` (no wait).
    pub fn send(&self, dst: IpAddr, seq: u16, payload: &[u8]) -> Result<()> {
        self.pinger.send(dst, seq, payload)
    }

    /// Waits up to `timeout` for the socket to have something, then appends
    /// every reply and transmit stamp that is ready to `out`.
    pub fn collect(&mut self, timeout: Duration, out: &mut Vec<Event>) -> Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            return Ok(());
        }
        let reply_type = if self.v6 { 129 } else { 0 };
        for errqueue in [true, false] {
            loop {
                let mut data = [0u8; 2048];
                let mut control = [0u64; 64];
                let Some((n, stamp, ee_data)) = self.recv(errqueue, &mut data, &mut control)?
                else {
                    break;
                };
                match (errqueue, stamp) {
                    (true, Some(at_ns)) => {
                        if let Some(id) = ee_data {
                            self.tx_stamps = true;
                            out.push(Event::Sent { id, at_ns });
                        }
                    }
                    (false, stamp) if n >= 8 && data[0] == reply_type => {
                        let seq = u16::from_be_bytes([data[6], data[7]]);
                        out.push(Event::Reply {
                            seq,
                            at_ns: stamp.unwrap_or_else(now_ns),
                        });
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    /// One non-blocking `recvmsg`: bytes, the software timestamp of its
    /// SCM_TIMESTAMPING message, and for the error queue the stamp's id.
    fn recv(
        &self,
        errqueue: bool,
        data: &mut [u8],
        control: &mut [u64],
    ) -> Result<Option<Received>> {
        let mut iov = libc::iovec {
            iov_base: data.as_mut_ptr().cast(),
            iov_len: data.len(),
        };
        // SAFETY: all-zero is a valid msghdr; the fields used are set below.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        // A size_t in glibc, a u32 in musl; the buffer is far smaller than either.
        msg.msg_controllen = std::mem::size_of_val(control) as _;
        let flags = libc::MSG_DONTWAIT | if errqueue { libc::MSG_ERRQUEUE } else { 0 };
        // SAFETY: `msg` points at `iov` and `control`, which outlive the call
        // and are writable for the lengths given.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, flags) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::WouldBlock {
                return Ok(None);
            }
            bail!("receiving on the ping socket: {e}");
        }
        let (mut stamp, mut id) = (None, None);
        // SAFETY: the CMSG_* macros walk the control buffer the kernel
        // filled in, within msg_controllen.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                let (level, ty) = ((*c).cmsg_level, (*c).cmsg_type);
                let p = libc::CMSG_DATA(c);
                if level == libc::SOL_SOCKET && ty == libc::SCM_TIMESTAMPING {
                    let ts = std::ptr::read_unaligned(p.cast::<libc::timespec>());
                    if ts.tv_sec != 0 || ts.tv_nsec != 0 {
                        stamp = Some(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64);
                    }
                } else if (level == libc::SOL_IP && ty == libc::IP_RECVERR)
                    || (level == libc::SOL_IPV6 && ty == libc::IPV6_RECVERR)
                {
                    let ee = std::ptr::read_unaligned(p.cast::<libc::sock_extended_err>());
                    if ee.ee_origin == libc::SO_EE_ORIGIN_TIMESTAMPING {
                        id = Some(ee.ee_data);
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok(Some((n as usize, stamp, id)))
    }
}
