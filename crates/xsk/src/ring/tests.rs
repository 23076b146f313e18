use super::*;
use proptest::prelude::*;
use std::collections::VecDeque;

/// One step of the model test: produce or consume up to `n`.
#[derive(Clone, Debug)]
enum Op {
    Produce(u32),
    Consume(u32),
}

fn op(size: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..size + 4).prop_map(Op::Produce),
        (0..size + 4).prop_map(Op::Consume),
    ]
}

/// Runs `ops` on a loopback ring and on a VecDeque; any difference in
/// what was reserved, read or reported pending fails (and proptest
/// shrinks the sequence to the shortest one that shows it).
fn run_model(size: u32, start: u32, ops: &[Op]) -> std::result::Result<u32, TestCaseError> {
    let (mut prod, mut cons) = loopback_pair::<u64>(size, start).unwrap();
    let mut model = VecDeque::new();
    let mut next_value = 0u64;
    for op in ops {
        match *op {
            Op::Produce(want) => {
                let (idx, got) = prod.reserve(want);
                prop_assert_eq!(got, want.min(size - model.len() as u32));
                for i in 0..got {
                    prod.write(idx.wrapping_add(i), next_value);
                    model.push_back(next_value);
                    next_value += 1;
                }
                prod.submit();
            }
            Op::Consume(want) => {
                let (idx, got) = cons.peek(want);
                prop_assert_eq!(got, want.min(model.len() as u32));
                for i in 0..got {
                    prop_assert_eq!(Some(cons.read(idx.wrapping_add(i))), model.pop_front());
                }
                cons.release();
            }
        }
        prop_assert_eq!(prod.pending(), model.len() as u32);
        prop_assert_eq!(cons.pending(), model.len() as u32);
    }
    // How far the indices moved: callers check the u32 wrap was crossed.
    Ok(cons.cached_cons.wrapping_sub(start))
}

fn cases() -> u32 {
    if cfg!(miri) {
        4
    } else {
        256
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    /// Indices start within a few hundred of `u32::MAX`, so the runs
    /// cross the u32 wrap, and the slot index wraps the ring many times.
    #[test]
    fn ring_matches_a_fifo_across_the_u32_wrap(
        (size, ops) in prop::sample::select(vec![1u32, 2, 8, 64, 256])
            .prop_flat_map(|size| (Just(size), prop::collection::vec(op(size), 1..400))),
        back in 0u32..256,
    ) {
        run_model(size, u32::MAX - back, &ops)?;
    }

    #[test]
    fn ring_matches_a_fifo_from_any_start(
        ops in prop::collection::vec(op(16), 1..200),
        start in any::<u32>(),
    ) {
        run_model(16, start, &ops)?;
    }
}

#[test]
fn a_full_ring_run_crosses_the_u32_wrap_and_the_slot_wrap() {
    // Fill and drain an 8-slot ring 40 times from 100 below the wrap.
    let ops: Vec<Op> = (0..40)
        .flat_map(|_| [Op::Produce(8), Op::Consume(8)])
        .collect();
    let moved = run_model(8, u32::MAX - 100, &ops).unwrap();
    assert_eq!(
        moved, 320,
        "crossed u32::MAX and wrapped the slots 40 times"
    );
}

#[test]
fn producer_and_consumer_on_two_threads_keep_order() {
    let n: u64 = if cfg!(miri) { 300 } else { 200_000 };
    let (mut prod, mut cons) = loopback_pair::<u64>(64, u32::MAX - 10).unwrap();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut items = 0..n;
            while items.start < n {
                let batch = 1 + (items.start % 17) as u32;
                if prod.produce(&mut items, batch) == 0 {
                    std::thread::yield_now();
                }
            }
        });
        s.spawn(move || {
            let mut expect = 0u64;
            while expect < n {
                let got = cons.consume(1 + (expect % 13) as u32, |v| {
                    assert_eq!(v, expect, "out of order or torn");
                    expect += 1;
                });
                if got == 0 {
                    std::thread::yield_now();
                }
            }
        });
    });
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
fn a_panicking_iterator_publishes_nothing_it_did_not_write() {
    let (mut prod, mut cons) = loopback_pair::<u64>(8, 0).unwrap();
    let mut items = (1u64..).map(|v| if v == 3 { panic!("caller's bug") } else { v });
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prod.produce(&mut items, 8)));
    assert!(r.is_err());
    assert_eq!(prod.pending(), 0, "nothing was published by the panic");
    // The next produce must not publish the slots the panic left behind.
    assert_eq!(prod.produce(&mut (10u64..11), 8), 1);
    let mut seen = Vec::new();
    cons.consume(8, |v| seen.push(v));
    assert_eq!(seen, [10]);
}

#[test]
fn cached_indices_are_refreshed_only_when_needed() {
    let (mut prod, mut cons) = loopback_pair::<u64>(4, 0).unwrap();
    assert_eq!(prod.produce(&mut (0u64..4), 4), 4);
    assert_eq!(prod.free(1), 0);
    assert_eq!(cons.consume(2, |_| {}), 2);
    // The release is not seen while the cached count satisfies the ask...
    assert_eq!(prod.free(0), 0, "free(0) must not touch the shared index");
    // ...and is seen as soon as more is asked for.
    assert_eq!(prod.free(1), 2);
    assert_eq!(prod.free(0), 2);
    // The same on the consuming side.
    assert_eq!(cons.available(0), 0);
    assert_eq!(cons.available(2), 2);
    assert_eq!(prod.produce(&mut (4u64..6), 2), 2);
    assert_eq!(cons.available(2), 2, "cached: enough were known ready");
    assert_eq!(
        cons.available(4),
        4,
        "refreshed: the producer published two more"
    );
}

#[test]
fn layouts_outside_the_mapping_are_errors() {
    let map = Arc::new(Mmap::anonymous(4096).unwrap());
    let good = RingOffsets {
        producer: 0,
        consumer: 64,
        flags: 128,
        desc: 192,
    };
    assert!(Producer::<u64>::new(map.clone(), good, 16).is_ok());
    for (off, size) in [
        (good, 1024),
        (good, 3),
        (
            RingOffsets {
                producer: 4094,
                ..good
            },
            16,
        ),
        (
            RingOffsets {
                consumer: 66,
                ..good
            },
            16,
        ),
        (RingOffsets { desc: 196, ..good }, 16),
        (
            RingOffsets {
                desc: usize::MAX - 8,
                ..good
            },
            16,
        ),
        (
            RingOffsets {
                flags: usize::MAX - 2,
                ..good
            },
            16,
        ),
    ] {
        let e = Consumer::<u64>::new(map.clone(), off, size)
            .err()
            .expect("accepted");
        assert!(e.to_string().contains("ring layout"), "{e}");
    }
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
