//! The free frames the two halves of a split socket share: a bounded,
//! lock-free queue of chunk addresses that either half may put into or take
//! from at any time.
//!
//! It is Dmitry Vyukov's bounded multi-producer multi-consumer queue: each
//! slot carries a sequence number saying whose turn it is. A producer that
//! finds the slot at the tail free claims the position by moving the tail
//! (compare-and-swap), writes the address, then publishes the slot with a
//! release store of its sequence; a consumer does the same at the head and
//! hands the slot back to the producers of the next lap. Only atomics: no
//! lock, no `unsafe`.
//!
//! A push never fails: the capacity is at least the UMEM's frame count and
//! a frame is in at most one place. It may wait, though. A take claims its
//! slot (moves the head) and then hands it back (stores the next lap's
//! sequence number); if the half taking is preempted between the two, the
//! other half can go on taking and returning frames past it, and a lap
//! later its push reaches the slot not yet handed back. That push then
//! waits for the other half to run again (spinning, then yielding); it
//! panics only if the pool is really full, the head a whole lap behind,
//! which takes a frame given back twice. A take never waits: it reports an
//! empty pool while the next slot is still being written.
//!
//! Every access to the indices and the sequence numbers is `SeqCst`, so the
//! halves' steps fall in one total order and "the head is a lap behind" is
//! read as it is, not from a stale value. The push compares the head with
//! a tail it read before: only if a second read of the tail gives the same
//! position, or the other half may have pushed and taken past it meanwhile
//! (the difference then wraps, and read as "full" it once panicked a run
//! under emulation). On x86 a `SeqCst` load is a plain
//! load; stores and compare-and-swaps take a locked instruction.
//!
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

/// One slot: its turn (`seq`) and the address it holds.
struct Slot {
    seq: AtomicUsize,
    addr: AtomicU64,
}

/// An index on a cache line of its own, so the halves' pushes and pops do
/// not share one.
#[repr(align(64))]
struct Padded(AtomicUsize);

/// A lock-free pool of free chunk addresses shared by the halves.
pub(crate) struct FreePool {
    slots: Box<[Slot]>,
    mask: usize,
    /// Next position to take from.
    head: Padded,
    /// Next position to put into.
    tail: Padded,
}

impl std::fmt::Debug for FreePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreePool")
            .field("len", &self.len())
            .field("capacity", &self.slots.len())
            .finish()
    }
}

impl FreePool {
    /// A pool for up to `frames` addresses (rounded up to a power of two).
    pub(crate) fn new(frames: u32) -> FreePool {
        let cap = (frames.max(1) as usize).next_power_of_two();
        let slots = (0..cap)
            .map(|i| Slot {
                seq: AtomicUsize::new(i),
                addr: AtomicU64::new(0),
            })
            .collect();
        FreePool {
            slots,
            mask: cap - 1,
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
        }
    }

    /// Puts `addr` in the pool; waits while its slot is still being handed
    /// back by the other half (see the module documentation).
    ///
    /// # Panics
    /// If the pool is full, which takes more addresses than it has slots
    /// (at least its UMEM's frame count): a frame given back twice.
    pub(crate) fn push(&self, addr: u64) {
        let mut pos = self.tail.0.load(Ordering::SeqCst);
        let mut spins = 0u32;
        loop {
            let slot = &self.slots[pos & self.mask];
            let seq = slot.seq.load(Ordering::SeqCst);
            let lag = seq.wrapping_sub(pos) as isize;
            if lag == 0 {
                match self.tail.0.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(_) => {
                        slot.addr.store(addr, Ordering::Relaxed);
                        // Publishes the address (and the frame's bytes,
                        // written before it came here) to the taker.
                        slot.seq.store(pos.wrapping_add(1), Ordering::SeqCst);
                        return;
                    }
                    Err(now) => pos = now,
                }
            } else if lag < 0 {
                // The slot's previous lap is not handed back: really full
                // only if no take has even claimed it.
                match self.lap_behind(pos) {
                    Some(true) => panic!(
                        "free pool full ({} slots): a frame was given back twice",
                        self.slots.len()
                    ),
                    // `pos` is stale: the other half pushed (and maybe took)
                    // past it meanwhile. Start again from the tail.
                    None => {
                        pos = self.tail.0.load(Ordering::SeqCst);
                        continue;
                    }
                    Some(false) => {}
                }
                // Claimed by the other half, which is about to hand it back.
                spins += 1;
                if spins.is_multiple_of(64) {
                    std::thread::yield_now();
                } else {
                    std::hint::spin_loop();
                }
                pos = self.tail.0.load(Ordering::SeqCst);
            } else {
                pos = self.tail.0.load(Ordering::SeqCst);
            }
        }
    }

    /// Whether the head is a whole lap behind position `pos`, read from
    /// the tail earlier: `None` if the tail has moved since, when the head
    /// may already be past `pos` and the difference means nothing.
    ///
    /// The head is read between two reads of the tail; the tail only grows,
    /// so if both give `pos` it was `pos` all along and the head, never past
    /// the tail, is at most `pos`.
    fn lap_behind(&self, pos: usize) -> Option<bool> {
        let head = self.head.0.load(Ordering::SeqCst);
        if self.tail.0.load(Ordering::SeqCst) != pos {
            return None;
        }
        Some(pos.wrapping_sub(head) >= self.slots.len())
    }

    /// Takes an address, or `None` if the pool is empty (or its only
    /// addresses are still being put in by the other half).
    pub(crate) fn pop(&self) -> Option<u64> {
        let mut pos = self.head.0.load(Ordering::SeqCst);
        loop {
            let slot = &self.slots[pos & self.mask];
            let seq = slot.seq.load(Ordering::SeqCst);
            let lag = seq.wrapping_sub(pos.wrapping_add(1)) as isize;
            if lag == 0 {
                match self.head.0.compare_exchange_weak(
                    pos,
                    pos.wrapping_add(1),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                ) {
                    Ok(_) => {
                        let addr = slot.addr.load(Ordering::Relaxed);
                        // Hands the slot to the producer of the next lap.
                        slot.seq
                            .store(pos.wrapping_add(self.mask + 1), Ordering::SeqCst);
                        return Some(addr);
                    }
                    Err(now) => pos = now,
                }
            } else if lag < 0 {
                return None;
            } else {
                pos = self.head.0.load(Ordering::SeqCst);
            }
        }
    }

    /// Addresses in the pool (counting those being put in or taken out
    /// right now; exact when neither half is inside a call).
    pub(crate) fn len(&self) -> usize {
        // Head first: the tail only grows, so the difference is never
        // negative.
        let head = self.head.0.load(Ordering::SeqCst);
        let tail = self.tail.0.load(Ordering::SeqCst);
        tail.wrapping_sub(head)
    }

    /// The addresses in the pool, oldest first, for tests (only while no
    /// half is inside a call).
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> Vec<u64> {
        let head = self.head.0.load(Ordering::SeqCst);
        (0..self.len())
            .map(|i| {
                let pos = head.wrapping_add(i);
                let slot = &self.slots[pos & self.mask];
                assert_eq!(slot.seq.load(Ordering::SeqCst), pos.wrapping_add(1));
                slot.addr.load(Ordering::Relaxed)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_through_many_laps() {
        let pool = FreePool::new(3);
        assert_eq!(pool.slots.len(), 4);
        assert_eq!(pool.pop(), None);
        let mut next = 0u64;
        let mut want = std::collections::VecDeque::new();
        for round in 0..50u64 {
            for _ in 0..(round % 5).min(4 - want.len() as u64) {
                pool.push(next);
                want.push_back(next);
                next += 1;
            }
            for _ in 0..(round % 3) {
                assert_eq!(pool.pop(), want.pop_front());
            }
            assert_eq!(pool.len(), want.len());
            assert_eq!(pool.snapshot(), Vec::from(want.clone()));
        }
    }

    #[test]
    #[should_panic(expected = "given back twice")]
    fn a_fifth_address_in_four_slots_is_refused() {
        let pool = FreePool::new(4);
        for a in 0..5 {
            pool.push(a);
        }
    }

    #[test]
    fn positions_wrap_at_usize_max() {
        let pool = FreePool::new(4);
        let start = usize::MAX - 5;
        pool.head.0.store(start, Ordering::Relaxed);
        pool.tail.0.store(start, Ordering::Relaxed);
        for (i, s) in pool.slots.iter().enumerate() {
            // The slot of position p expects p: set up the lap at `start`.
            let pos = (0..4).map(|k| start.wrapping_add(k)).find(|p| p & 3 == i);
            s.seq.store(pos.unwrap(), Ordering::Relaxed);
        }
        for a in 0..40 {
            pool.push(a);
            pool.push(a + 100);
            assert_eq!(pool.pop(), Some(a));
            assert_eq!(pool.pop(), Some(a + 100));
        }
        assert_eq!(pool.len(), 0);
    }

    /// A push that read the tail, was preempted, and came back after the
    /// other half had pushed and taken past that position (head beyond it)
    /// must start again, not call the pool full: under emulation the
    /// difference `pos - head` wrapped and the push panicked.
    #[test]
    fn a_stale_tail_is_not_a_full_pool() {
        let pool = FreePool::new(4);
        for a in 0..3 {
            pool.push(a);
        }
        assert_eq!(pool.pop(), Some(0));
        assert_eq!(pool.pop(), Some(1));
        // A push that read the tail at 1: the head (2) is now past it.
        assert_eq!(pool.lap_behind(1), None);
        assert_eq!(pool.lap_behind(3), Some(false));
        for a in 3..6 {
            pool.push(a);
        }
        // Four in four slots: a push at the tail (6) finds the head at 2.
        assert_eq!(pool.lap_behind(6), Some(true));
    }

    /// Two threads, each putting back what it took, as the halves do: no
    /// address is ever taken by both, none is lost, whatever the
    /// interleaving. Each address has an owner flag that a take sets and a
    /// put clears, so a doubled take is seen when it happens.
    #[test]
    fn two_threads_keep_every_address_once() {
        use std::sync::atomic::AtomicBool;
        const FRAMES: usize = 16;
        let pool = FreePool::new(FRAMES as u32);
        for a in 0..FRAMES as u64 {
            pool.push(a);
        }
        let taken: Vec<AtomicBool> = (0..FRAMES).map(|_| AtomicBool::new(false)).collect();
        let rounds = if cfg!(miri) { 200 } else { 200_000 };
        let start = std::sync::Barrier::new(2);
        std::thread::scope(|s| {
            for t in 0..2 {
                let (pool, taken, start) = (&pool, &taken, &start);
                s.spawn(move || {
                    let mut held = Vec::new();
                    start.wait();
                    for i in 0..rounds {
                        // Mostly takes, so both threads are in `pop` at once.
                        if (i + t) % 4 == 0 || held.len() == FRAMES / 2 {
                            if let Some(a) = held.pop() {
                                taken[a as usize].store(false, Ordering::SeqCst);
                                pool.push(a);
                            }
                        } else if let Some(a) = pool.pop() {
                            let twice = taken[a as usize].swap(true, Ordering::SeqCst);
                            assert!(!twice, "address {a} taken by both threads");
                            held.push(a);
                        }
                    }
                    for a in held {
                        taken[a as usize].store(false, Ordering::SeqCst);
                        pool.push(a);
                    }
                });
            }
        });
        let mut all = pool.snapshot();
        all.sort_unstable();
        assert_eq!(all, (0..FRAMES as u64).collect::<Vec<_>>());
    }
}
