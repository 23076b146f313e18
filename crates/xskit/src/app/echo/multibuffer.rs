//! Echo requests larger than a frame (`echo -F`, multi-buffer sockets): the
//! request arrives as a chain of frames; its bytes are gathered so that the
//! whole packet is validated (checksums cover all of it), the headers are
//! rewritten in the first frame, and the chain goes back out as it came.

use crate::app::echo::ratelimit::Limiter;
use crate::app::echo::report::EchoSummary;
use crate::wire::echo::{self, Answered};
use crate::wire::policy::Local;
use anyhow::Result;
use std::time::Instant;
use xsk::{Frame, Xsk};

/// Buffers reused across batches: no allocation per packet once warm.
pub struct MultiBuffer {
    rx: Vec<Frame>,
    chain: Vec<Frame>,
    packet: Vec<u8>,
}

impl MultiBuffer {
    /// Room for `batch` frames and a 64 KiB packet.
    pub fn new(batch: u32) -> MultiBuffer {
        MultiBuffer {
            rx: Vec::with_capacity(batch as usize),
            chain: Vec::with_capacity(32),
            packet: Vec::with_capacity(1 << 16),
        }
    }

    /// Receives up to `batch` frames and answers every complete request.
    pub fn step(
        &mut self,
        xsk: &mut Xsk,
        batch: u32,
        local: &Local,
        limiter: &mut Limiter,
        sum: &mut EchoSummary,
    ) -> Result<u32> {
        xsk.complete(u32::MAX);
        let n = xsk.recv(&mut self.rx, batch);
        let now = Instant::now();
        for f in self.rx.drain(..) {
            let more = f.is_continued();
            self.chain.push(f);
            if more {
                continue; // the rest of the packet follows
            }
            self.packet.clear();
            for f in &self.chain {
                self.packet.extend_from_slice(xsk.umem().data(f));
            }
            let len = self.packet.len() as u64;
            sum.totals.rx_packets += 1;
            sum.totals.rx_bytes += len;
            let admit = |src| limiter.admit(src, now);
            match echo::answer_with(&mut self.packet, local, admit) {
                Ok(kind) => {
                    match kind {
                        Answered::V4 => sum.answered_v4 += 1,
                        Answered::V6 => sum.answered_v6 += 1,
                    }
                    // The rewrite touches the headers only, which lie in
                    // the first frame: copy that frame's share back.
                    let first = &mut self.chain[0];
                    let head = xsk.umem().data_mut(first);
                    let k = head.len();
                    head.copy_from_slice(&self.packet[..k]);
                    // All of the chain or none of it: a partial chain on
                    // TX would join the next packet's frames.
                    if xsk.tx_room() as usize >= self.chain.len() {
                        xsk.send(&mut self.chain);
                        sum.totals.tx_packets += 1;
                        sum.totals.tx_bytes += len;
                    } else {
                        sum.tx_ring_full += 1;
                    }
                }
                Err(r) => sum.rejected[r as usize] += 1,
            }
            for f in self.chain.drain(..) {
                xsk.release(f);
            }
        }
        xsk.flush()?;
        xsk.refill(u32::MAX);
        Ok(n)
    }
}
