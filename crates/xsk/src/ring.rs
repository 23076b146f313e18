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
    fn new(map: Arc<Mmap>, off: RingOffsets, size: u32) -> Self {
        assert!(size.is_power_of_two(), "ring size must be a power of two");
        let need = off.desc + size as usize * std::mem::size_of::<T>();
        for o in [off.producer, off.consumer, off.flags] {
            assert!(
                o + 4 <= map.len() && o.is_multiple_of(4),
                "ring index outside its mapping"
            );
        }
        assert!(need <= map.len(), "ring descriptors outside their mapping");
        assert!(
            off.desc.is_multiple_of(std::mem::align_of::<T>()),
            "misaligned ring descriptors"
        );
        let base = map.as_ptr();
        // SAFETY: every offset was checked above to lie inside the mapping,
        // with the alignment its type needs (the mapping is page aligned).
        unsafe {
            RingMem {
                producer: base.add(off.producer).cast(),
                consumer: base.add(off.consumer).cast(),
                flags: base.add(off.flags).cast(),
                descs: base.add(off.desc).cast(),
                mask: size - 1,
                size,
                _map: map,
                _t: PhantomData,
            }
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
    pub(crate) fn new(map: Arc<Mmap>, off: RingOffsets, size: u32) -> Self {
        let mem = RingMem::new(map, off, size);
        let cached_prod = mem.producer().load(Ordering::Relaxed);
        let cached_cons = mem.consumer().load(Ordering::Acquire).wrapping_add(size);
        Producer {
            mem,
            cached_prod,
            cached_cons,
        }
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
    pub(crate) fn reserve(&mut self, n: u32) -> (u32, u32) {
        let count = self.free(n).min(n);
        let idx = self.cached_prod;
        self.cached_prod = self.cached_prod.wrapping_add(count);
        (idx, count)
    }

    pub(crate) fn write(&mut self, idx: u32, value: T) {
        self.mem.write(idx, value);
    }

    /// Publishes every reserved slot to the consumer.
    pub(crate) fn submit(&mut self) {
        self.mem
            .producer()
            .store(self.cached_prod, Ordering::Release);
    }

    /// Writes as many items as fit (at most `max`) and publishes them.
    /// Returns how many were written; the rest stay in the iterator.
    pub fn produce<I: Iterator<Item = T>>(&mut self, items: &mut I, max: u32) -> u32 {
        let (idx, count) = self.reserve(max);
        let mut done = 0;
        while done < count {
            match items.next() {
                Some(v) => self.mem.write(idx.wrapping_add(done), v),
                None => break,
            }
            done += 1;
        }
        // Give back what the iterator could not fill.
        self.cached_prod = idx.wrapping_add(done);
        if done > 0 {
            self.submit();
        }
        done
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
    pub(crate) fn new(map: Arc<Mmap>, off: RingOffsets, size: u32) -> Self {
        let mem = RingMem::new(map, off, size);
        let cached_cons = mem.consumer().load(Ordering::Relaxed);
        let cached_prod = mem.producer().load(Ordering::Acquire);
        Consumer {
            mem,
            cached_prod,
            cached_cons,
        }
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
/// a kernel on the other side.
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
    let prod = Producer::new(map.clone(), off, size);
    let cons = Consumer::new(map, off, size);
    Ok((prod, cons))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// xorshift64*: deterministic, no dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: u32) -> u32 {
            (self.next() % n as u64) as u32
        }
    }

    /// Random batches of reserve/write/submit and peek/read/release, checked
    /// against a VecDeque, with indices starting just below u32::MAX so the
    /// run crosses the wrap many times over.
    fn model_check(size: u32, start: u32, seed: u64, steps: usize) {
        let (mut prod, mut cons) = loopback_pair::<u64>(size, start).unwrap();
        let mut model = VecDeque::new();
        let mut rng = Rng(seed);
        let mut next_value = 0u64;
        for _ in 0..steps {
            if rng.below(2) == 0 {
                let want = rng.below(size + 4);
                let (idx, got) = prod.reserve(want);
                assert_eq!(got, want.min(size - model.len() as u32));
                for i in 0..got {
                    prod.write(idx.wrapping_add(i), next_value);
                    model.push_back(next_value);
                    next_value += 1;
                }
                prod.submit();
            } else {
                let want = rng.below(size + 4);
                let (idx, got) = cons.peek(want);
                assert_eq!(got, want.min(model.len() as u32));
                for i in 0..got {
                    assert_eq!(cons.read(idx.wrapping_add(i)), model.pop_front().unwrap());
                }
                cons.release();
            }
            assert_eq!(prod.pending(), model.len() as u32);
            assert_eq!(cons.pending(), model.len() as u32);
        }
    }

    #[test]
    fn fifo_model_across_u32_wrap() {
        for (size, start) in [
            (1, u32::MAX),
            (2, u32::MAX - 1),
            (8, u32::MAX - 3),
            (64, u32::MAX - 100),
            (2048, u32::MAX - 5000),
        ] {
            for seed in 1..=4 {
                model_check(size, start, seed, 20_000);
            }
        }
    }

    #[test]
    fn fifo_model_from_zero() {
        model_check(16, 0, 99, 10_000);
    }

    #[test]
    fn produce_and_consume_keep_order_and_leave_overflow() {
        let (mut prod, mut cons) = loopback_pair::<u64>(8, u32::MAX - 2).unwrap();
        let mut items = 0u64..12;
        assert_eq!(prod.produce(&mut items, 100), 8);
        assert_eq!(
            items.next(),
            Some(8),
            "items that did not fit stay in the iterator"
        );
        assert_eq!(
            prod.produce(&mut (100u64..101), 1),
            0,
            "full ring takes nothing"
        );
        let mut seen = Vec::new();
        assert_eq!(cons.consume(5, |v| seen.push(v)), 5);
        assert_eq!(prod.produce(&mut (20u64..30), 100), 5);
        assert_eq!(cons.consume(100, |v| seen.push(v)), 8);
        assert_eq!(seen, [0, 1, 2, 3, 4, 5, 6, 7, 20, 21, 22, 23, 24]);
        assert_eq!(cons.consume(100, |_| unreachable!()), 0);
    }

    #[test]
    fn cached_consumer_index_is_refreshed_only_when_needed() {
        let (mut prod, mut cons) = loopback_pair::<u64>(4, 0).unwrap();
        assert_eq!(prod.produce(&mut (0u64..4), 4), 4);
        assert_eq!(prod.free(1), 0);
        assert_eq!(cons.consume(2, |_| {}), 2);
        // free() sees the consumer's release only when it needs more slots.
        assert_eq!(prod.free(1), 2);
        assert_eq!(prod.free(0), 2);
    }

    #[test]
    fn wakeup_flag_is_read_from_ring() {
        let (prod, _cons) = loopback_pair::<u64>(4, 0).unwrap();
        assert!(!prod.needs_wakeup());
        prod.mem
            .flags()
            .store(libc::XDP_RING_NEED_WAKEUP, Ordering::Relaxed);
        assert!(prod.needs_wakeup());
    }
}
