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

use crate::wire::build;
use crate::wire::echo::{self, Local};
use anyhow::Result;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A source no interface of ours has: documentation addresses and a
/// locally administered MAC address.
const PEER_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const PEER_V4: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
const PEER_V6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

/// The built-in requests and the buffer they are answered in.
#[derive(Debug)]
pub struct Warm {
    /// One echo request to each family's first local address.
    requests: Vec<Vec<u8>>,
    scratch: Vec<u8>,
    /// Whether idle turns make an empty `sendto` (copy mode).
    kick: bool,
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
        };
        w.refresh(local);
        w
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

    /// One idle turn: answer each request in the private buffer, and kick
    /// TX if asked for (`kick_tx` is the socket's).
    ///
    /// # Errors
    /// `kick_tx`'s (the interface is gone).
    pub fn turn(&mut self, local: &Local, kick_tx: impl FnOnce() -> xsk::Result<()>) -> Result<()> {
        for r in &self.requests {
            let buf = &mut self.scratch[..r.len()];
            buf.copy_from_slice(r);
            // The answer is thrown away; black_box keeps the work.
            std::hint::black_box(echo::answer_with(buf, local, |_| true).is_ok());
        }
        if self.kick {
            kick_tx()?;
        }
        Ok(())
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
        w.turn(&l, || {
            kicks += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(kicks, 1);
        // The same work as a real request: each is answerable...
        for r in &w.requests {
            let mut f = r.clone();
            assert!(echo::answer_with(&mut f, &l, |_| true).is_ok());
        }
        // ...and the requests themselves stay requests for the next turn.
        let before = w.requests.clone();
        w.turn(&l, || Ok(())).unwrap();
        assert_eq!(w.requests, before);
        // No addresses, no requests; no kick in zero-copy.
        let mut none = Warm::new(&Local::default(), false);
        assert!(none.requests.is_empty());
        none.turn(&Local::default(), || panic!("kicked")).unwrap();
    }
}
