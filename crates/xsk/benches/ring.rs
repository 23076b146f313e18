//! The ring fast path: ns per descriptor for produce (reserve + write +
//! submit) and consume (peek + read + release) in batches of 1, 16 and 64.
//! Run with `cargo bench -p xsk --bench ring`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::{Duration, Instant};
use xsk::ring::loopback_pair;

fn ring_fast_path(c: &mut Criterion) {
    let mut g = c.benchmark_group("ring");
    for batch in [1u32, 16, 64] {
        g.throughput(Throughput::Elements(batch as u64));
        // One iteration = produce a batch and consume it again, as FILL/RX
        // or TX/COMPLETION see it; the ring starts near the u32 wrap.
        g.bench_with_input(
            BenchmarkId::new("produce+consume", batch),
            &batch,
            |b, &batch| {
                let (mut prod, mut cons) = loopback_pair::<u64>(2048, u32::MAX - 1000).unwrap();
                let mut next = 0u64;
                b.iter(|| {
                    let mut items = next..next + batch as u64;
                    let n = prod.produce(&mut items, batch);
                    next += n as u64;
                    let mut sum = 0u64;
                    cons.consume(batch, |v| sum = sum.wrapping_add(v));
                    black_box(sum)
                });
            },
        );
        // Producer side alone: fill the ring batch by batch (timed), then
        // drain it (not timed).
        g.bench_with_input(BenchmarkId::new("produce", batch), &batch, |b, &batch| {
            let (mut prod, mut cons) = loopback_pair::<u64>(4096, u32::MAX - 1000).unwrap();
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let k = left.min((4096 / batch) as u64);
                    let t = Instant::now();
                    for i in 0..k {
                        black_box(prod.produce(&mut (i..i + batch as u64), batch));
                    }
                    spent += t.elapsed();
                    cons.consume(u32::MAX, |v| {
                        black_box(v);
                    });
                    left -= k;
                }
                spent
            });
        });
        // Consumer side alone: fill the ring (not timed), drain it batch by
        // batch (timed).
        g.bench_with_input(BenchmarkId::new("consume", batch), &batch, |b, &batch| {
            let (mut prod, mut cons) = loopback_pair::<u64>(4096, u32::MAX - 1000).unwrap();
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let k = left.min((4096 / batch) as u64);
                    prod.produce(&mut (0..k * batch as u64), (k * batch as u64) as u32);
                    let t = Instant::now();
                    for _ in 0..k {
                        let mut sum = 0u64;
                        cons.consume(batch, |v| sum = sum.wrapping_add(v));
                        black_box(sum);
                    }
                    spent += t.elapsed();
                    left -= k;
                }
                spent
            });
        });
    }
    g.finish();
}

criterion_group!(benches, ring_fast_path);
criterion_main!(benches);
