//! The user-space cost of each application path, per frame, token API
//! against the ring-to-ring batch API, at batches of 1, 16 and 64. The far
//! side of the rings is `xsk::loopback`'s fake kernel (its cost is in both
//! columns alike). Run with `cargo bench -p xsk --bench paths`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use xsk::loopback::loopback;
use xsk::{UmemConfig, Verdict, XskConfig};

fn config() -> XskConfig {
    XskConfig::default()
        .umem(UmemConfig::default().frame_count(4096).frame_size(2048))
        .fill_size(4096)
        .comp_size(2048)
        .rx_size(2048)
        .tx_size(2048)
}

fn swap_macs(d: &mut [u8]) {
    if d.len() >= 12 {
        let (dst, src) = d.split_at_mut(6);
        dst.swap_with_slice(&mut src[..6]);
    }
}

fn paths(c: &mut Criterion) {
    let mut g = c.benchmark_group("path");
    for batch in [1u32, 16, 64] {
        g.throughput(Throughput::Elements(u64::from(batch)));

        g.bench_with_input(BenchmarkId::new("rxdrop/token", batch), &batch, |b, &n| {
            let (mut xsk, mut k) = loopback(&config()).unwrap();
            xsk.refill(u32::MAX);
            let mut v = Vec::with_capacity(n as usize);
            b.iter(|| {
                k.receive(n, 60);
                xsk.recv(&mut v, n);
                for f in v.drain(..) {
                    black_box(f.len());
                    xsk.release(f);
                }
                xsk.refill(u32::MAX);
            });
        });
        g.bench_with_input(BenchmarkId::new("rxdrop/batch", batch), &batch, |b, &n| {
            let (mut xsk, mut k) = loopback(&config()).unwrap();
            xsk.refill(u32::MAX);
            b.iter(|| {
                k.receive(n, 60);
                black_box(xsk.rx_batch(n).recycle());
            });
        });

        g.bench_with_input(BenchmarkId::new("l2fwd/token", batch), &batch, |b, &n| {
            let (mut xsk, mut k) = loopback(&config()).unwrap();
            xsk.refill(u32::MAX);
            let mut v = Vec::with_capacity(n as usize);
            b.iter(|| {
                k.receive(n, 60);
                xsk.complete(u32::MAX);
                xsk.recv(&mut v, n);
                for f in v.iter_mut() {
                    swap_macs(xsk.umem().data_mut(f));
                }
                xsk.send(&mut v);
                k.transmit(n);
                xsk.refill(u32::MAX);
            });
        });
        g.bench_with_input(BenchmarkId::new("l2fwd/batch", batch), &batch, |b, &n| {
            let (mut xsk, mut k) = loopback(&config()).unwrap();
            xsk.refill(u32::MAX);
            b.iter(|| {
                k.receive(n, 60);
                xsk.complete_to_fill(u32::MAX);
                black_box(xsk.rx_batch(n).dispatch(|f| {
                    swap_macs(f.data_mut());
                    Verdict::Transmit
                }));
                k.transmit(n);
            });
        });

        g.bench_with_input(BenchmarkId::new("txonly/token", batch), &batch, |b, &n| {
            let (mut xsk, mut k) = loopback(&config()).unwrap();
            let mut v = Vec::with_capacity(n as usize);
            b.iter(|| {
                for _ in 0..n {
                    let Some(mut f) = xsk.alloc() else { break };
                    xsk.umem().set_len(&mut f, 60).unwrap();
                    v.push(f);
                }
                xsk.send(&mut v);
                k.transmit(n);
                xsk.complete(u32::MAX);
            });
        });
        g.bench_with_input(BenchmarkId::new("txonly/batch", batch), &batch, |b, &n| {
            let (mut xsk, mut k) = loopback(&config()).unwrap();
            b.iter(|| {
                black_box(xsk.transmit_new(n, |_| 60));
                k.transmit(n);
                xsk.complete(u32::MAX);
            });
        });
        // What txonly does now: completed frames straight back onto TX,
        // the free list only for the rest.
        g.bench_with_input(BenchmarkId::new("txonly/again", batch), &batch, |b, &n| {
            let (mut xsk, mut k) = loopback(&config()).unwrap();
            b.iter(|| {
                let again = xsk.complete_to_tx(n, 60);
                xsk.complete(u32::MAX);
                black_box(xsk.transmit_new(n - again, |_| 60));
                k.transmit(n);
            });
        });
    }
    g.finish();
}

criterion_group!(benches, paths);
criterion_main!(benches);
