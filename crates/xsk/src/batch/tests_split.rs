//! The oracle of `tests.rs` on a split socket: random rounds in which the
//! RX half, the TX half and the fake kernel each run their own operations
//! on a thread of their own, at once; after every round each chunk must be
//! in exactly one place and the accounting must add up.

use super::fixture::census;
use crate::loopback::{loopback, FakeKernel};
use crate::{Frame, RxHalf, TxHalf, Verdict, XskConfig};
use proptest::prelude::*;
use std::sync::Mutex;

/// The tests' socket ([`super::fixture::config`]), multi-buffer.
fn config() -> XskConfig {
    XskConfig {
        multi_buffer: true,
        ..super::fixture::config()
    }
}

#[derive(Clone, Debug)]
enum RxOp {
    Refill(u32),
    Recycle(u32),
    /// Every other frame out as a token, to the TX half.
    Dispatch(u32),
    Recv(u32),
    Release(usize),
    /// Held tokens to the TX half.
    Forward(usize),
    Alloc(u32),
}

#[derive(Clone, Debug)]
enum TxOp {
    /// What the RX half forwarded.
    Take,
    Send(usize),
    SendOne,
    Complete(u32),
    TransmitNew(u32),
    /// Packets of two buffers each.
    TransmitPackets(u32),
    Release(usize),
    Alloc(u32),
}

#[derive(Clone, Debug)]
enum KernelOp {
    Receive(u32),
    ReceivePacket(u32),
    Transmit(u32),
}

#[derive(Clone, Debug)]
struct Round {
    rx: Vec<RxOp>,
    tx: Vec<TxOp>,
    kernel: Vec<KernelOp>,
}

fn round() -> impl Strategy<Value = Round> {
    let n = 0u32..20;
    let k = 0usize..20;
    let rx = prop_oneof![
        n.clone().prop_map(RxOp::Refill),
        n.clone().prop_map(RxOp::Recycle),
        n.clone().prop_map(RxOp::Dispatch),
        n.clone().prop_map(RxOp::Recv),
        k.clone().prop_map(RxOp::Release),
        k.clone().prop_map(RxOp::Forward),
        (0u32..4).prop_map(RxOp::Alloc),
    ];
    let tx = prop_oneof![
        Just(TxOp::Take),
        k.clone().prop_map(TxOp::Send),
        Just(TxOp::SendOne),
        n.clone().prop_map(TxOp::Complete),
        n.clone().prop_map(TxOp::TransmitNew),
        (0u32..5).prop_map(TxOp::TransmitPackets),
        k.prop_map(TxOp::Release),
        (0u32..4).prop_map(TxOp::Alloc),
    ];
    let kernel = prop_oneof![
        n.clone().prop_map(KernelOp::Receive),
        (1u32..4).prop_map(KernelOp::ReceivePacket),
        n.prop_map(KernelOp::Transmit),
    ];
    let ops = if cfg!(miri) { 1..4 } else { 1..10 };
    (
        prop::collection::vec(rx, ops.clone()),
        prop::collection::vec(tx, ops.clone()),
        prop::collection::vec(kernel, ops),
    )
        .prop_map(|(rx, tx, kernel)| Round { rx, tx, kernel })
}

fn run_rx(rx: &mut RxHalf, ops: &[RxOp], held: &mut Vec<Frame>, handover: &Mutex<Vec<Frame>>) {
    let mut flip = false;
    for op in ops {
        match *op {
            RxOp::Refill(n) => {
                rx.refill(n);
            }
            RxOp::Recycle(n) => {
                rx.rx_batch(n).recycle();
            }
            RxOp::Dispatch(n) => {
                let mut out = Vec::new();
                rx.rx_batch(n).dispatch(&mut out, |f| {
                    if f.starts_packet() {
                        flip = !flip;
                    }
                    if flip {
                        Verdict::Transmit
                    } else {
                        Verdict::Recycle
                    }
                });
                handover.lock().unwrap().extend(out);
            }
            RxOp::Recv(n) => {
                rx.recv(held, n);
            }
            RxOp::Release(n) => {
                for f in held.drain(..n.min(held.len())) {
                    rx.release(f);
                }
            }
            RxOp::Forward(n) => {
                let n = n.min(held.len());
                handover.lock().unwrap().extend(held.drain(..n));
            }
            RxOp::Alloc(n) => held.extend((0..n).map_while(|_| rx.alloc())),
        }
    }
}

fn run_tx(tx: &mut TxHalf, ops: &[TxOp], held: &mut Vec<Frame>, handover: &Mutex<Vec<Frame>>) {
    for op in ops {
        match *op {
            TxOp::Take => held.append(&mut handover.lock().unwrap()),
            TxOp::Send(n) => {
                // Frames from `alloc` are empty: give them a length first.
                let mut out: Vec<Frame> = held.drain(..n.min(held.len())).collect();
                for f in &mut out {
                    if f.is_empty() {
                        tx.umem().set_len(f, 60).unwrap();
                    }
                }
                tx.send(&mut out);
                held.extend(out);
            }
            TxOp::SendOne => {
                if let Some(mut f) = held.pop() {
                    tx.umem().set_len(&mut f, 60).unwrap();
                    if let Err(f) = tx.send_one(f) {
                        held.push(f);
                    }
                }
            }
            TxOp::Complete(n) => {
                tx.complete(n);
            }
            TxOp::TransmitNew(n) => {
                tx.transmit_new(n, |_| 60);
            }
            TxOp::TransmitPackets(n) => {
                tx.transmit_packets(n, &[7; 3000]);
            }
            TxOp::Release(n) => {
                for f in held.drain(..n.min(held.len())) {
                    tx.release(f);
                }
            }
            TxOp::Alloc(n) => held.extend((0..n).map_while(|_| tx.alloc())),
        }
    }
}

fn run_kernel(k: &mut FakeKernel, ops: &[KernelOp]) {
    for op in ops {
        match *op {
            KernelOp::Receive(n) => {
                k.receive(n, 60);
            }
            KernelOp::ReceivePacket(n) => {
                k.receive_packet(n, 60);
            }
            KernelOp::Transmit(n) => {
                k.transmit(n);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 100 }))]

    /// Whatever the two halves and the kernel do at once, after each round
    /// every chunk is in exactly one place and the accounting, read from
    /// either half, adds up.
    #[test]
    fn two_threads_keep_every_chunk_in_exactly_one_place(
        rounds in prop::collection::vec(round(), 1..if cfg!(miri) { 4 } else { 12 })
    ) {
        let (xsk, mut k) = loopback(&config()).unwrap();
        let (mut rx, mut tx) = xsk.split();
        let every: Vec<u64> = (0..32u64).map(|i| i * 2048).collect();
        let (mut rx_held, mut tx_held) = (Vec::new(), Vec::new());
        let handover = Mutex::new(Vec::new());
        for r in &rounds {
            std::thread::scope(|s| {
                s.spawn(|| run_rx(&mut rx, &r.rx, &mut rx_held, &handover));
                s.spawn(|| run_tx(&mut tx, &r.tx, &mut tx_held, &handover));
                s.spawn(|| run_kernel(&mut k, &r.kernel));
            });
            let passed = handover.lock().unwrap();
            let held: [&[Frame]; 3] = [&rx_held, &tx_held, &passed];
            prop_assert_eq!(census(&rx, &tx, &held), every.clone(), "after {:?}", r);
            let a = rx.accounting();
            prop_assert_eq!(a, tx.accounting());
            prop_assert!(a.is_consistent(), "after {:?}: {:?}", r, a);
            prop_assert_eq!(a.application, rx_held.len() + tx_held.len() + passed.len());
            prop_assert_eq!(a.kernel, 0, "the fake kernel holds nothing between calls");
        }
        for f in rx_held.drain(..).chain(tx_held.drain(..)) {
            rx.release(f);
        }
        for f in handover.into_inner().unwrap() {
            tx.release(f);
        }
        let xsk = crate::Xsk::unsplit(rx, tx);
        let a = xsk.accounting();
        prop_assert!(a.is_consistent() && a.application == 0, "{:?}", a);
    }
}
