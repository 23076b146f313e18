//! Keeping a busy responder's reply path warm while it waits.
//!
//! At a low request rate each reply runs code that last ran milliseconds
//! before, and on a shared host that code and its data have left the
//! caches by then: measured in the responder (see BENCHMARKS.md, "Keeping
//! the path warm"), rewriting one request into its reply took 4–8 µs cold
//! against 1–2 µs warm, and the `sendto` that transmits it was faster too
//! when the loop had entered the kernel's transmit path recently. A loop
//! that spins anyway can spend its idle turns on that: each idle turn
//! answers a built-in echo request of each family in a private buffer
//! (never a UMEM frame, never counted, nothing sent), and in copy mode makes
//! an empty `sendto`, which runs the socket's transmit entry with nothing on
//! the TX ring (the kernel counts it in `tx_ring_empty_descs`).
//!
//! The empty `sendto` stops where the reply's transmit begins: building the
//! skb, the device's direct transmit and `netif_rx` on the far side stay
//! cold. So in copy mode one idle turn in [`LOOP_EVERY`] instead sends one
//! small frame through `lo` of the responder's network namespace (an
//! AF_PACKET socket, bypassing the queueing discipline as the AF_XDP copy
//! path does): the core the reply's transmit shares with it (the skb's
//! allocation, `__dev_direct_xmit`, `netif_rx`) runs on the responder's CPU
//! (`lo`'s own transmit is not veth's), and the frame cannot leave the
//! host. It carries the IEEE's local experimental EtherType, which no
//! protocol of the kernel handles; the socket itself takes it back and its
//! filter consumes it, so no interface counts a drop. What watches `lo`
//! sees these frames: captures on `lo` or `any`, user-space sockets of
//! that EtherType, tc or XDP programs on `lo` (in the host's namespace, the
//! host's `lo`); each busy responder sends its own, and every responder's
//! socket in the namespace takes every one back. A responder on `lo`
//! itself loops nothing.

use crate::sys;
use crate::wire::build;
use crate::wire::echo::{self, Local};
use anyhow::Result;
use rustix::net::{AddressFamily, SendFlags, SocketFlags, SocketType};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// A source no interface of ours has: documentation addresses and a
/// locally administered MAC address.
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PEER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// How often an idle turn sends a frame through `lo` (copy mode): about
/// 6,700 small frames a second at most, and only while idle. 150 µs gave
/// shorter tails than 50 µs (BENCHMARKS.md): a request that arrives while
/// a frame is being looped waits for it.
pub const LOOP_EVERY: Duration = Duration::from_micros(150);

/// How long a failed loop send waits before the next try.
const LOOP_RETRY: Duration = Duration::from_secs(1);

/// IEEE 802 local experimental EtherType 1: no protocol of the kernel's
/// handles it.
const ETH_P_LOCAL_EXP1: u16 = 0x88B5;

/// The looped frame: to lo's all-zero address, from [`PEER_MAC`], the local
/// experimental EtherType, a word saying who sent it, padded to Ethernet's
/// minimum.
fn loop_frame() -> [u8; 60] {
    let mut f = [0u8; 60];
    f[6..12].copy_from_slice(&PEER_MAC);
    f[12..14].copy_from_slice(&ETH_P_LOCAL_EXP1.to_be_bytes());
    f[14..33].copy_from_slice(b"xskit echo: warm-up");
    f
}

/// An AF_PACKET socket on `lo` that sends the looped frames and takes them
/// back (its filter consumes them).
#[derive(Debug)]
struct Loopback {
    fd: OwnedFd,
    frame: [u8; 60],
    last: Instant,
}

impl Loopback {
    /// Opens it in this thread's network namespace; `None` when that
    /// cannot be done (no `lo`, no CAP_NET_RAW): the idle turns then keep
    /// to the empty `sendto`.
    fn open() -> Option<Loopback> {
        let ifindex = xsk::netdev::ifindex("lo").ok()?;
        let fd = rustix::net::socket_with(
            AddressFamily::PACKET,
            SocketType::RAW,
            SocketFlags::CLOEXEC,
            None,
        )
        .ok()?;
        // The filter before the bind: from the bind on, the kernel hands
        // this socket every frame of the EtherType on lo.
        sys::filter_out_everything(fd.as_fd()).ok()?;
        sys::packet_qdisc_bypass(fd.as_fd()).ok()?;
        sys::bind_packet(fd.as_fd(), ifindex, ETH_P_LOCAL_EXP1).ok()?;
        Some(Loopback {
            fd,
            frame: loop_frame(),
            last: Instant::now(),
        })
    }

    /// Sends one frame if [`LOOP_EVERY`] has passed since the last; false
    /// if it was not time. A failed send (`lo` down, no memory) is tried
    /// again after [`LOOP_RETRY`].
    fn send_due(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.last) < LOOP_EVERY {
            return false;
        }
        match rustix::net::send(&self.fd, &self.frame, SendFlags::DONTWAIT) {
            Ok(_) => {
                self.last = now;
                true
            }
            Err(_) => {
                self.last = now + LOOP_RETRY;
                false
            }
        }
    }
}

/// The built-in requests and the buffer they are answered in.
#[derive(Debug)]
pub struct Warm {
    /// One echo request to each family's first local address.
    requests: Vec<Vec<u8>>,
    scratch: Vec<u8>,
    /// Whether idle turns make an empty `sendto` (copy mode).
    kick: bool,
    /// Where frames are looped (copy mode, once [`Warm::loop_frames`]).
    lo: Option<Loopback>,
}

impl Warm {
    /// Requests to `local`'s first address of each family; `kick` for the
    /// empty `sendto` (copy mode: in zero-copy it would make the driver
    /// schedule its NAPI for nothing).
    pub fn new(local: &Local, kick: bool) -> Warm {
        let mut w = Warm {
            requests: Vec::new(),
            scratch: Vec::new(),
            kick,
            lo: None,
        };
        w.refresh(local);
        w
    }

    /// Also loops a frame through `lo` every [`LOOP_EVERY`] of idle turns
    /// when the empty `sendto`s are on (copy mode) and the responder is on
    /// `iface`, not `lo` itself, if a packet socket can be opened on `lo`
    /// of this thread's network namespace; without one the turns are as
    /// before.
    pub fn loop_frames(mut self, iface: &str) -> Warm {
        if self.kick && iface != "lo" {
            self.lo = Loopback::open();
        }
        self
    }

    /// Rebuilds the requests for `local`'s addresses now.
    pub fn refresh(&mut self, local: &Local) {
        let data = [0u8; 56];
        self.requests.clear();
        if let Some(&a) = local.v4.first() {
            self.requests.push(build::echo_request_v4(
                PEER_MAC, local.mac, PEER_V4, a, 1, 1, &data,
            ));
        }
        if let Some(&a) = local.v6.first() {
            self.requests.push(build::echo_request_v6(
                PEER_MAC, local.mac, PEER_V6, a, 1, 1, &data,
            ));
        }
        let longest = self.requests.iter().map(Vec::len).max().unwrap_or(0);
        self.scratch.resize(longest, 0);
    }

    /// One idle turn at `now`: answer each request in the private buffer,
    /// then, if asked for, loop a frame through `lo` when one is due or
    /// else kick TX (`kick_tx` is the socket's). Returns whether a frame
    /// was looped.
    ///
    /// # Errors
    /// `kick_tx`'s (the interface is gone).
    pub fn turn(
        &mut self,
        local: &Local,
        now: Instant,
        kick_tx: impl FnOnce() -> xsk::Result<()>,
    ) -> Result<bool> {
        for r in &self.requests {
            let buf = &mut self.scratch[..r.len()];
            buf.copy_from_slice(r);
            // The answer is thrown away; black_box keeps the work.
            std::hint::black_box(echo::answer_with(buf, local, |_| true).is_ok());
        }
        if !self.kick {
            return Ok(false);
        }
        if self.lo.as_mut().is_some_and(|lo| lo.send_due(now)) {
            return Ok(true);
        }
        kick_tx()?;
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> Local {
        Local {
            mac: [0x02, 0, 0, 0, 0, 0x09],
            v4: vec![Ipv4Addr::new(198, 18, 0, 2)],
            v6: vec!["fc00::2".parse().unwrap()],
            ttl: 64,
            hop_limit: 64,
            ..Default::default()
        }
    }

    #[test]
    fn the_built_in_requests_are_answered_in_the_private_buffer() {
        let l = local();
        let mut w = Warm::new(&l, true);
        assert_eq!(w.requests.len(), 2);
        let mut kicks = 0;
        let looped = w
            .turn(&l, Instant::now(), || {
                kicks += 1;
                Ok(())
            })
            .unwrap();
        assert!(!looped, "no loop socket unless asked for");
        assert_eq!(kicks, 1);
        // The same work as a real request: each is answerable...
        for r in &w.requests {
            let mut f = r.clone();
            assert!(echo::answer_with(&mut f, &l, |_| true).is_ok());
        }
        // ...and the requests themselves stay requests for the next turn.
        let before = w.requests.clone();
        w.turn(&l, Instant::now(), || Ok(())).unwrap();
        assert_eq!(w.requests, before);
        // No addresses, no requests; no kick in zero-copy.
        let mut none = Warm::new(&Local::default(), false);
        assert!(none.requests.is_empty());
        none.turn(&Local::default(), Instant::now(), || panic!("kicked"))
            .unwrap();
    }

    #[test]
    fn the_looped_frame_is_a_minimal_frame_of_the_local_experimental_type() {
        let f = loop_frame();
        assert_eq!(f.len(), 60);
        assert_eq!(&f[..6], &[0; 6], "to lo's address");
        assert_eq!(&f[6..12], &PEER_MAC);
        assert_eq!(&f[12..14], &[0x88, 0xB5]);
        assert!(f[14..].starts_with(b"xskit echo: warm-up"));
    }
}
