//! The single-producer / single-consumer rings AF_XDP shares with the kernel.
//!
//! Each ring is a power-of-two array of descriptors plus a producer and a
//! consumer index that only ever increase (wrapping at `u32::MAX`). One side
//! writes descriptors then publishes the producer index with release ordering;
//! the other side reads the producer index with acquire ordering, reads the
//! descriptors, then publishes its consumer index with release ordering.
//! Both sides keep cached copies of the other side's index so that the shared
//! cache line is touched once per batch, not once per descriptor.
//!
//! FILL and TX are rings user space produces into; RX and COMPLETION are rings
//! it consumes from. The same code drives both roles, which is what the unit
//! tests use to check the protocol against a plain FIFO.

use crate::error::{Error, Result};
use crate::mmap::Mmap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// Where the parts of one ring sit in its mapping (from `XDP_MMAP_OFFSETS`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RingOffsets {
    pub producer: usize,
    pub consumer: usize,
    pub flags: usize,
    pub desc: usize,
}

/// Pointers into a mapped ring; owns the mapping.
struct RingMem<T> {
    producer: *const AtomicU32,
    consumer: *const AtomicU32,
    flags: *const AtomicU32,
    descs: *mut T,
    mask: u32,
    size: u32,
    _map: Arc<Mmap>,
    _t: PhantomData<T>,
}

// SAFETY: the ring memory is owned by this value and reached only through
// `&mut self` methods of the one producer or consumer that holds it; the
// indices shared with the other side are atomics.
unsafe impl<T: Send> Send for RingMem<T> {}

impl<T: Copy> RingMem<T> {
    /// Checks that the kernel's layout fits the mapping, then points into it.
    fn new(map: Arc<Mmap>, off: RingOffsets, size: u32) -> Result<Self> {
        let bad = |what: &str| {
            Err(Error::config(format!(
                "unexpected AF_XDP ring layout from the kernel: {what} \
                 (offsets {off:?}, {size} entries, {} bytes mapped)",
                map.len()
            )))
        };
        if !size.is_power_of_two() {
            return bad("size is not a power of two");
        }
        let need = (size as usize)
            .checked_mul(std::mem::size_of::<T>())
            .and_then(|n| n.checked_add(off.desc));
        if need.is_none_or(|n| n > map.len()) {
            return bad("descriptors outside the mapping");
        }
        for o in [off.producer, off.consumer, off.flags] {
            if o.checked_add(4).is_none_or(|e| e > map.len()) || !o.is_multiple_of(4) {
                return bad("index outside the mapping or misaligned");
            }
        }
        if !off.desc.is_multiple_of(std::mem::align_of::<T>()) {
            return bad("misaligned descriptors");
        }
        let base = map.as_ptr();
        // SAFETY: every offset was checked above to lie inside the mapping,
        // with the alignment its type needs (the mapping is page aligned).
        unsafe {
            Ok(RingMem {
                producer: base.add(off.producer).cast(),
                consumer: base.add(off.consumer).cast(),
                flags: base.add(off.flags).cast(),
                descs: base.add(off.desc).cast(),
                mask: size - 1,
                size,
                _map: map,
                _t: PhantomData,
            })
        }
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into `_map`, which lives as long as `self`.
        unsafe { &*self.producer }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.consumer }
    }

    fn flags(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { &*self.flags }
    }

    /// Writes slot `idx & mask`. Only called on slots the caller reserved.
    fn write(&mut self, idx: u32, value: T) {
        // SAFETY: the masked index is < size, inside the descriptor array.
        unsafe { self.descs.add((idx & self.mask) as usize).write(value) }
    }

    /// Reads slot `idx & mask`. Only called on slots the caller peeked.
    fn read(&self, idx: u32) -> T {
        // SAFETY: the masked index is < size, inside the descriptor array.
        unsafe { self.descs.add((idx & self.mask) as usize).read() }
    }

    /// A read-only view of the two indices, for another thread.
    fn indices(&self) -> Indices {
        let base = self._map.as_ptr() as usize;
        Indices {
            producer: self.producer as usize - base,
            consumer: self.consumer as usize - base,
            map: self._map.clone(),
        }
    }
}

/// The producer and consumer indices of a ring as published in its
/// mapping, readable from any thread (the accounting of a split socket
/// reads all four rings while each half owns two). It reads only: the
/// ring's owner alone writes user space's index.
#[derive(Clone, Debug)]
pub(crate) struct Indices {
    /// Offsets in `map`, checked by `RingMem::new` (inside, 4-aligned).
    producer: usize,
    consumer: usize,
    map: Arc<Mmap>,
}

impl Indices {
    fn load(&self, off: usize) -> u32 {
        // SAFETY: `RingMem::new` checked that `off..off + 4` lies inside the
        // mapping and is 4-aligned (the mapping is page aligned); the Arc
        // keeps it mapped; the word is only ever accessed atomically.
        unsafe { (*self.map.as_ptr().add(off).cast::<AtomicU32>()).load(Ordering::Acquire) }
    }

    /// The producer index as last published.
    pub(crate) fn producer(&self) -> u32 {
        self.load(self.producer)
    }

    /// The consumer index as last published.
    pub(crate) fn consumer(&self) -> u32 {
        self.load(self.consumer)
    }
}

/// The producing end of a ring (FILL and TX for user space).
pub struct Producer<T> {
    mem: RingMem<T>,
    /// Next index to write; published by `submit`.
    cached_prod: u32,
    /// Last seen consumer index plus the ring size: the first index we may
    /// not write yet.
    cached_cons: u32,
}

impl<T: Copy> Producer<T> {
    pub(crate) fn new(map: Arc<Mmap>, off: RingOffsets, size: u32) -> Result<Self> {
        let mem = RingMem::new(map, off, size)?;
        let cached_prod = mem.producer().load(Ordering::Relaxed);
        let cached_cons = mem.consumer().load(Ordering::Acquire).wrapping_add(size);
        Ok(Producer {
            mem,
            cached_prod,
            cached_cons,
        })
    }

    /// Number of slots in the ring.
    pub fn size(&self) -> u32 {
        self.mem.size
    }

    /// Free slots, looking at the consumer index again only if fewer than
    /// `want` are known to be free.
    pub fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= want {
            return free;
        }
        self.cached_cons = self
            .mem
            .consumer()
            .load(Ordering::Acquire)
            .wrapping_add(self.mem.size);
        self.cached_cons.wrapping_sub(self.cached_prod)
    }

    /// Reserves up to `n` slots; returns the first index and how many.
    #[cfg(test)]
    pub(crate) fn reserve(&mut self, n: u32) -> (u32, u32) {
        let count = self.free(n).min(n);
        let idx = self.cached_prod;
        self.cached_prod = self.cached_prod.wrapping_add(count);
        (idx, count)
    }

    pub(crate) fn write(&mut self, idx: u32, value: T) {
        self.mem.write(idx, value);
    }

    /// Reads back a slot we wrote and have not published yet.
    pub(crate) fn read_own(&self, idx: u32) -> T {
        self.mem.read(idx)
    }

    /// Up to `n` free slots, from our producer index, without claiming
    /// them: write some, then [`Producer::publish`] the first `used`.
    pub(crate) fn room(&mut self, n: u32) -> (u32, u32) {
        (self.cached_prod, self.free(n).min(n))
    }

    /// Publishes the `used` slots from `idx` (as returned by `room`).
    pub(crate) fn publish(&mut self, idx: u32, used: u32) {
        if used > 0 {
            self.cached_prod = idx.wrapping_add(used);
            self.submit();
        }
    }

    /// Publishes every reserved slot to the consumer.
    pub(crate) fn submit(&mut self) {
        self.mem
            .producer()
            .store(self.cached_prod, Ordering::Release);
    }

    /// Writes as many items as fit (at most `max`) and publishes them.
    /// Returns how many were written; the rest stay in the iterator.
    ///
    /// Panic-safe: slots are claimed only after they are written, so if the
    /// iterator panics nothing unwritten is ever published.
    pub fn produce<I: Iterator<Item = T>>(&mut self, items: &mut I, max: u32) -> u32 {
        let count = self.free(max).min(max);
        let idx = self.cached_prod;
        let mut done = 0;
        while done < count {
            match items.next() {
                Some(v) => self.mem.write(idx.wrapping_add(done), v),
                None => break,
            }
            done += 1;
        }
        self.cached_prod = idx.wrapping_add(done);
        if done > 0 {
            self.submit();
        }
        done
    }

    /// Entries written and not yet taken, for tests.
    #[cfg(test)]
    pub(crate) fn peek_all(&self) -> Vec<T> {
        let from = self.consumer_index();
        (0..self.pending())
            .map(|i| self.mem.read(from.wrapping_add(i)))
            .collect()
    }

    /// Our producer index: every entry below it was written.
    pub fn index(&self) -> u32 {
        self.cached_prod
    }

    /// The consumer's index as it last published it.
    pub fn consumer_index(&self) -> u32 {
        self.mem.consumer().load(Ordering::Acquire)
    }

    /// Entries written and not yet taken by the consumer.
    pub fn pending(&self) -> u32 {
        self.cached_prod
            .wrapping_sub(self.mem.consumer().load(Ordering::Acquire))
    }

    /// True when the kernel asks to be woken up for this ring.
    pub fn needs_wakeup(&self) -> bool {
        self.mem.flags().load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Both indices, readable from another thread.
    pub(crate) fn indices(&self) -> Indices {
        self.mem.indices()
    }
}

/// The consuming end of a ring (RX and COMPLETION for user space).
pub struct Consumer<T> {
    mem: RingMem<T>,
    /// Last seen producer index: entries below it are ready.
    cached_prod: u32,
    /// Next index to read; published by `release`.
    cached_cons: u32,
}

impl<T: Copy> Consumer<T> {
    pub(crate) fn new(map: Arc<Mmap>, off: RingOffsets, size: u32) -> Result<Self> {
        let mem = RingMem::new(map, off, size)?;
        let cached_cons = mem.consumer().load(Ordering::Relaxed);
        let cached_prod = mem.producer().load(Ordering::Acquire);
        Ok(Consumer {
            mem,
            cached_prod,
            cached_cons,
        })
    }

    /// Number of slots in the ring.
    pub fn size(&self) -> u32 {
        self.mem.size
    }

    /// Ready entries, up to `want`, looking at the producer index again only
    /// if fewer than `want` are known to be ready.
    pub fn available(&mut self, want: u32) -> u32 {
        let mut ready = self.cached_prod.wrapping_sub(self.cached_cons);
        if ready < want {
            self.cached_prod = self.mem.producer().load(Ordering::Acquire);
            ready = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        ready.min(want)
    }

    /// Claims up to `n` ready entries; returns the first index and how many.
    pub(crate) fn peek(&mut self, n: u32) -> (u32, u32) {
        let count = self.available(n);
        let idx = self.cached_cons;
        self.cached_cons = self.cached_cons.wrapping_add(count);
        (idx, count)
    }

    pub(crate) fn read(&self, idx: u32) -> T {
        self.mem.read(idx)
    }

    /// Up to `n` ready entries from our consumer index, without taking
    /// them: read them, then [`Consumer::take`] the first `used`.
    pub(crate) fn ready(&mut self, n: u32) -> (u32, u32) {
        (self.cached_cons, self.available(n))
    }

    /// Takes and releases the `used` entries from `idx` (as from `ready`).
    pub(crate) fn take(&mut self, idx: u32, used: u32) {
        if used > 0 {
            self.cached_cons = idx.wrapping_add(used);
            self.release();
        }
    }

    /// Hands every peeked slot back to the producer.
    pub(crate) fn release(&mut self) {
        self.mem
            .consumer()
            .store(self.cached_cons, Ordering::Release);
    }

    /// Takes up to `max` entries, calling `f` on each, then releases them.
    pub fn consume(&mut self, max: u32, mut f: impl FnMut(T)) -> u32 {
        let (idx, count) = self.peek(max);
        for i in 0..count {
            f(self.mem.read(idx.wrapping_add(i)));
        }
        if count > 0 {
            self.release();
        }
        count
    }

    /// Entries published and not yet taken, for tests.
    #[cfg(test)]
    pub(crate) fn peek_all(&self) -> Vec<T> {
        (0..self.pending())
            .map(|i| self.mem.read(self.cached_cons.wrapping_add(i)))
            .collect()
    }

    /// Our consumer index: every entry below it was taken.
    pub fn index(&self) -> u32 {
        self.cached_cons
    }

    /// The producer's index as it last published it.
    pub fn producer_index(&self) -> u32 {
        self.mem.producer().load(Ordering::Acquire)
    }

    /// Entries published by the producer and not yet taken.
    pub fn pending(&self) -> u32 {
        self.mem
            .producer()
            .load(Ordering::Acquire)
            .wrapping_sub(self.cached_cons)
    }

    /// True when the kernel asks to be woken up for this ring.
    pub fn needs_wakeup(&self) -> bool {
        self.mem.flags().load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    /// Both indices, readable from another thread.
    pub(crate) fn indices(&self) -> Indices {
        self.mem.indices()
    }
}

/// A FILL ring: frame addresses user space lends the kernel for receiving.
pub type FillRing = Producer<u64>;
/// A COMPLETION ring: frame addresses the kernel has finished sending.
pub type CompletionRing = Consumer<u64>;
/// An RX ring: descriptors of received frames.
pub type RxRing = Consumer<libc::xdp_desc>;
/// A TX ring: descriptors of frames to send.
pub type TxRing = Producer<libc::xdp_desc>;

/// A producer and a consumer over one anonymous ring, with both indices
/// starting at `start`: for tests and benchmarks of the ring protocol without
/// a kernel on the other side (feature `test-util`).
#[cfg(any(test, feature = "test-util"))]
pub fn loopback_pair<T: Copy>(
    size: u32,
    start: u32,
) -> std::io::Result<(Producer<T>, Consumer<T>)> {
    // Layout: producer, consumer, flags each on its own cache line, then the
    // descriptors, as the kernel lays out its rings.
    let off = RingOffsets {
        producer: 0,
        consumer: 64,
        flags: 128,
        desc: 192,
    };
    let len = off.desc + size as usize * std::mem::size_of::<T>();
    let map = Mmap::anonymous(len)?;
    // SAFETY: offsets 0 and 64 lie inside the fresh, page-aligned mapping.
    unsafe {
        (*(map.as_ptr().add(off.producer) as *const AtomicU32)).store(start, Ordering::Relaxed);
        (*(map.as_ptr().add(off.consumer) as *const AtomicU32)).store(start, Ordering::Relaxed);
    }
    let map = Arc::new(map);
    let invalid = |e: Error| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string());
    let prod = Producer::new(map.clone(), off, size).map_err(invalid)?;
    let cons = Consumer::new(map, off, size).map_err(invalid)?;
    Ok((prod, cons))
}

#[cfg(test)]
mod tests;
