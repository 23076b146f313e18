//! The TX half's own calls: TX and COMPLETION, completions into the pool.

use super::TxHalf;
use crate::error::Result;
use crate::pool::FreePool;
use crate::ring::TxRing;
use crate::umem::{Frame, Umem};
use crate::xsk::{flush_tx, queue_frames, queue_one, resend_completions, take_completions};

/// Disjoint views of a [`TxHalf`], for its batches in `batch/half.rs`.
pub(crate) struct TxParts<'a> {
    pub tx: &'a mut TxRing,
    pub umem: &'a Umem,
    pub pool: &'a FreePool,
    pub multi_buffer: bool,
}

impl TxHalf {
    pub(crate) fn parts(&mut self) -> TxParts<'_> {
        TxParts {
            tx: &mut self.tx,
            umem: &self.shared.umem,
            pool: &self.shared.pool,
            multi_buffer: self.shared.multi_buffer,
        }
    }

    /// Free slots on TX.
    pub fn tx_room(&mut self) -> u32 {
        self.tx.free(u32::MAX)
    }

    /// Entries waiting on COMPLETION.
    pub fn completions_pending(&mut self) -> u32 {
        self.comp.available(u32::MAX)
    }

    /// Frames put on TX and not yet back on COMPLETION: waiting on TX or
    /// taken by the kernel. Zero means nothing will complete.
    pub fn in_flight(&self) -> u32 {
        let [.., tx_base, comp_base] = self.shared.bases;
        let queued = self.tx.index().wrapping_sub(tx_base);
        let completed = self.comp.producer_index().wrapping_sub(comp_base);
        queued.wrapping_sub(completed)
    }

    /// Puts frames from the front of `frames` on TX, as many as fit, and
    /// removes them from the vector; returns how many. As [`Xsk::send`](crate::Xsk::send): it
    /// stops before an empty frame; follow with [`TxHalf::flush`].
    ///
    /// # Panics
    /// If a frame belongs to another UMEM (checked before any is queued).
    pub fn send(&mut self, frames: &mut Vec<Frame>) -> u32 {
        let count = queue_frames(&mut self.tx, &self.shared.umem, frames);
        self.shared.take_back(count as usize);
        count
    }

    /// Queues one frame, or gives it back if TX is full or the frame empty.
    ///
    /// # Panics
    /// If `frame` belongs to another UMEM.
    pub fn send_one(&mut self, frame: Frame) -> std::result::Result<(), Frame> {
        queue_one(&mut self.tx, &self.shared.umem, frame)?;
        self.shared.take_back(1);
        Ok(())
    }

    /// Wakes the kernel to send what is on TX, as [`Xsk::flush`](crate::Xsk::flush).
    ///
    /// # Errors
    /// [`ErrorKind::InterfaceGone`](crate::ErrorKind::InterfaceGone) once the interface is gone.
    pub fn flush(&mut self) -> Result<()> {
        let s = &self.shared;
        flush_tx(&self.tx, &s.socket, s.need_wakeup)
    }

    /// Moves up to `max` completed frames to the shared pool (where the RX
    /// half refills FILL from, and `alloc` takes from); returns how many.
    pub fn complete(&mut self, max: u32) -> u32 {
        let (umem, pool) = (&self.shared.umem, &self.shared.pool);
        take_completions(&mut self.comp, umem, max, |addr| {
            pool.push(umem.chunk_base(addr));
        })
    }

    /// Sends up to `max` completed frames again, straight from COMPLETION
    /// to TX with `len` bytes each, as [`Xsk::complete_to_tx`](crate::Xsk::complete_to_tx); returns
    /// how many. Follow with [`TxHalf::flush`].
    pub fn complete_to_tx(&mut self, max: u32, len: u32) -> u32 {
        resend_completions(&mut self.comp, &mut self.tx, &self.shared.umem, max, len)
    }

    /// The pending entries of TX and COMPLETION, for tests.
    #[cfg(test)]
    pub(crate) fn ring_views(&self) -> (Vec<libc::xdp_desc>, Vec<u64>) {
        (self.tx.peek_all(), self.comp.peek_all())
    }
}
