use super::fixture::{config, continued, setup};
use super::*;
use crate::loopback::loopback;
use crate::Frame;
use proptest::prelude::*;

#[test]
fn recycle_moves_rx_straight_to_fill() {
    let (mut xsk, mut k) = setup();
    assert_eq!(k.receive(10, 60), 10);
    let a = xsk.accounting();
    assert_eq!((a.rx, a.fill, a.free), (10, 6, 16), "{a:?}");
    let m = xsk.rx_batch(64).recycle();
    assert_eq!((m.recycled, m.bytes), (10, 600));
    let a = xsk.accounting();
    assert_eq!(
        (a.rx, a.fill, a.free, a.application),
        (0, 16, 16, 0),
        "{a:?}"
    );
    assert!(a.is_consistent(), "{a:?}");
}

#[test]
fn dispatch_sends_each_frame_where_its_verdict_says() {
    let (mut xsk, mut k) = setup();
    k.record = true;
    k.receive(12, 64);
    let mut n = 0;
    let m = xsk.rx_batch(64).dispatch(|f| {
        n += 1;
        f.data_mut()[0] = n;
        if n % 2 == 0 {
            Verdict::Transmit
        } else {
            Verdict::Recycle
        }
    });
    // 6 for TX, which holds 8: all fit; 6 back to FILL.
    assert_eq!((m.transmitted, m.recycled, m.tx_full), (6, 6, 0), "{m:?}");
    assert_eq!(k.transmit(64), 6);
    let first: Vec<u8> = k
        .sent
        .iter()
        .map(|d| xsk.umem().decode(d.addr, d.len))
        // SAFETY: the frames sit on COMPLETION of the fake kernel, which
        // touches nothing; this test reads one byte of each, one at a time.
        .map(|a| unsafe { xsk.umem().chunk_from(a) }[0])
        .collect();
    assert_eq!(first, [2, 4, 6, 8, 10, 12], "rewritten bytes went out");
    assert_eq!(xsk.complete_to_fill(64), 6);
    assert!(xsk.accounting().is_consistent(), "{:?}", xsk.accounting());
}

#[test]
fn complete_to_tx_sends_completed_frames_again_as_they_are() {
    let (mut xsk, mut k) = setup();
    k.record = true;
    // Six frames written and sent once.
    let mut n = 0u8;
    assert_eq!(
        xsk.transmit_new(6, |b| {
            n += 1;
            b[..60].fill(n);
            60
        }),
        6
    );
    assert_eq!(k.transmit(64), 6);
    let first: Vec<u64> = k.sent.iter().map(|d| d.addr).collect();
    // A length beyond the frame's room moves nothing; 0 neither.
    assert_eq!(xsk.complete_to_tx(64, 4096), 0);
    assert_eq!(xsk.complete_to_tx(64, 0), 0);
    // Four of them again, without the free list: same frames, same bytes.
    let free = xsk.free_frames();
    assert_eq!(xsk.complete_to_tx(4, 60), 4);
    assert_eq!(xsk.free_frames(), free);
    let a = xsk.accounting();
    assert_eq!((a.tx, a.completion), (4, 2), "{a:?}");
    assert!(a.is_consistent(), "{a:?}");
    k.sent.clear();
    assert_eq!(k.transmit(64), 4);
    assert_eq!(
        k.sent.iter().map(|d| d.addr).collect::<Vec<_>>(),
        first[..4]
    );
    for (i, d) in k.sent.iter().enumerate() {
        assert_eq!((d.len, d.options), (60, 0));
        let a = xsk.umem().decode(d.addr, d.len);
        // SAFETY: the frame sits on COMPLETION of the fake kernel, which
        // touches nothing; one byte is read, nothing else holds a slice.
        assert_eq!(unsafe { xsk.umem().chunk_from(a) }[59], i as u8 + 1);
    }
    // The rest (2 + 4) to the free list as usual.
    assert_eq!(xsk.complete(64), 6);
    assert!(xsk.accounting().is_consistent());
}

#[test]
fn complete_to_tx_sends_a_frame_again_only_if_its_room_holds_the_length() {
    // Frames with 256 bytes of headroom: 1,792 bytes of room each.
    let mut c = config();
    c.umem.headroom = 256;
    let (mut xsk, mut k) = loopback(&c).unwrap();
    assert_eq!(xsk.transmit_new(3, |_| 60), 3);
    assert_eq!(k.transmit(64), 3);
    assert_eq!(xsk.complete_to_tx(64, 1793), 0, "one byte beyond the room");
    assert_eq!(xsk.complete_to_tx(64, 2048), 0, "a whole chunk");
    assert_eq!(xsk.complete_to_tx(2, 1792), 2, "exactly the room");
    let a = xsk.accounting();
    assert_eq!((a.tx, a.completion), (2, 1), "{a:?}");
    k.sent.clear();
    k.record = true;
    assert_eq!(k.transmit(64), 2);
    assert!(k.sent.iter().all(|d| d.len == 1792 && d.addr % 2048 == 256));
    assert_eq!(xsk.complete(64), 3);
    assert!(xsk.accounting().is_consistent());
}

#[test]
#[should_panic(expected = "outside the UMEM")]
fn complete_to_tx_stops_at_a_completion_outside_the_umem() {
    let (mut xsk, mut k) = setup();
    // Just past the fixture's 32 chunks of 2048 bytes: a kernel bug.
    assert_eq!(k.complete_raw(&[32 * 2048]), 1);
    xsk.complete_to_tx(64, 60);
}

#[test]
fn a_full_tx_ring_sends_the_rest_back_to_fill() {
    let (mut xsk, mut k) = setup();
    k.receive(12, 64);
    let m = xsk.rx_batch(64).transmit();
    assert_eq!((m.transmitted, m.tx_full, m.recycled), (8, 4, 4), "{m:?}");
    assert!(xsk.accounting().is_consistent());
}

#[test]
fn a_panic_with_fill_full_leaves_no_second_token() {
    // FILL of 16 holds all it can; 20 more frames are received; the
    // closure panics after FILL filled up, so some frames had no room.
    let (mut xsk, mut k) = setup();
    k.receive(16, 64);
    assert_eq!(xsk.refill(u32::MAX), 16);
    let before = xsk.accounting();
    let mut n = 0;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        xsk.rx_batch(64).dispatch(|_| {
            n += 1;
            assert!(n < 16, "caller's bug");
            Verdict::Recycle
        })
    }));
    assert!(r.is_err());
    let a = xsk.accounting();
    assert_eq!(a, before, "nothing moved");
    assert!(a.is_consistent(), "{a:?}");
    assert_eq!(
        xsk.rx_batch(64).recycle().freed,
        16,
        "FILL full: all to the free list"
    );
    assert!(xsk.accounting().is_consistent(), "{:?}", xsk.accounting());
}

#[test]
fn a_dropped_batch_rolls_back_and_a_panicking_one_moves_nothing() {
    let (mut xsk, mut k) = setup();
    k.receive(5, 64);
    let b = xsk.rx_batch(64);
    assert_eq!(b.len(), 5);
    drop(b);
    assert_eq!(xsk.accounting().rx, 5, "still on RX");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        xsk.rx_batch(64).dispatch(|_| panic!("caller's bug"))
    }));
    assert!(r.is_err());
    let a = xsk.accounting();
    assert_eq!((a.rx, a.fill, a.tx), (5, 11, 0), "{a:?}");
    assert_eq!(xsk.rx_batch(64).recycle().recycled, 5);
}

#[test]
fn transmit_packets_chains_a_packet_larger_than_a_frame() {
    let mut cfg = config();
    cfg.multi_buffer = true;
    let (mut xsk, mut k) = loopback(&cfg).unwrap();
    k.record = true;
    let data: Vec<u8> = (0..5000u32).map(|i| i as u8).collect();
    // 2048-byte frames: 3 buffers a packet; TX holds 8, so 2 packets.
    assert_eq!(xsk.transmit_packets(5, &data), 2);
    assert_eq!(k.transmit(64), 6);
    let lens: Vec<u32> = k.sent.iter().map(|d| d.len).collect();
    assert_eq!(lens, [2048, 2048, 904, 2048, 2048, 904]);
    assert_eq!(continued(&k), [true, true, false, true, true, false]);
    // Without multi-buffer a packet larger than a frame is refused.
    let (mut plain, _k) = loopback(&config()).unwrap();
    assert_eq!(plain.transmit_packets(5, &data), 0);
    assert_eq!(plain.transmit_packets(5, &data[..100]), 5);
    assert!(plain.accounting().is_consistent());
}

#[test]
fn transmit_new_writes_then_queues_and_stops_at_a_bad_length() {
    let (mut xsk, mut k) = setup();
    k.record = true;
    let mut i = 0u8;
    let n = xsk.transmit_new(4, |buf| {
        i += 1;
        buf[..3].fill(i);
        3
    });
    assert_eq!(n, 4);
    assert_eq!(
        xsk.transmit_new(4, |buf| buf.len() + 1),
        0,
        "too long: nothing queued"
    );
    assert_eq!(xsk.transmit_new(4, |_| 0), 0, "empty: nothing queued");
    assert_eq!(xsk.transmit_packets(4, &[]), 0, "empty: nothing queued");
    let empty = xsk.alloc().unwrap();
    let empty = xsk.send_one(empty).unwrap_err();
    let mut v = vec![empty];
    assert_eq!(xsk.send(&mut v), 0, "an empty frame is not sent");
    xsk.release(v.pop().unwrap());
    assert_eq!(k.transmit(64), 4);
    assert!(k.sent.iter().all(|d| d.len == 3));
    assert_eq!(xsk.complete(64), 4);
    let a = xsk.accounting();
    assert!(a.is_consistent(), "{a:?}");
    assert_eq!(a.free, 16);
}

/// Every chunk address, wherever it is: the free list, each ring's
/// pending entries, and the tokens the test holds.
fn census(xsk: &Xsk, held: &[Frame]) -> Vec<u64> {
    let umem = xsk.umem();
    let mut all: Vec<u64> = xsk
        .free_list()
        .iter()
        .map(|f| umem.chunk_base(f.addr()))
        .collect();
    all.extend(held.iter().map(|f| umem.chunk_base(f.addr())));
    let (fill, rx, tx, comp) = xsk.ring_views();
    all.extend(fill.iter().map(|&a| umem.chunk_base(a)));
    all.extend(
        rx.iter()
            .map(|d| umem.chunk_base(umem.decode(d.addr, d.len))),
    );
    all.extend(tx.iter().map(|d| umem.chunk_base(d.addr)));
    all.extend(comp.iter().map(|&a| umem.chunk_base(a)));
    all.sort_unstable();
    all
}

#[derive(Clone, Debug)]
enum Op {
    Receive(u32),
    ReceivePacket(u32),
    KernelSend(u32),
    Refill(u32),
    Recycle(u32),
    Forward(u32),
    Mixed(u32),
    CompleteToFill(u32),
    CompleteToTx(u32),
    Complete(u32),
    TransmitNew(u32),
    Recv(u32),
    Release(usize),
    Send(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u32..20).prop_map(Op::Receive),
        (1u32..5).prop_map(Op::ReceivePacket),
        (0u32..20).prop_map(Op::KernelSend),
        (0u32..20).prop_map(Op::Refill),
        (0u32..20).prop_map(Op::Recycle),
        (0u32..20).prop_map(Op::Forward),
        (0u32..20).prop_map(Op::Mixed),
        (0u32..20).prop_map(Op::CompleteToFill),
        (0u32..20).prop_map(Op::CompleteToTx),
        (0u32..20).prop_map(Op::Complete),
        (0u32..20).prop_map(Op::TransmitNew),
        (0u32..20).prop_map(Op::Recv),
        (0usize..20).prop_map(Op::Release),
        (0usize..20).prop_map(Op::Send),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 200 }))]

    /// Whatever the sequence of batch and token operations, every chunk
    /// is in exactly one place and the accounting adds up.
    #[test]
    fn every_chunk_is_in_exactly_one_place(ops in prop::collection::vec(op(), 1..if cfg!(miri) { 25 } else { 60 })) {
        let (mut xsk, mut k) = loopback(&config()).unwrap();
        k.record = true;
        let every: Vec<u64> = (0..32u64).map(|i| i * 2048).collect();
        // Chunk -> the packet (its chunks, in order) it arrived in.
        let mut packets: std::collections::HashMap<u64, Vec<u64>> = Default::default();
        let mut held: Vec<Frame> = Vec::new();
        let mut flip = false;
        for op in &ops {
            match *op {
                Op::Receive(n) => {
                    k.receive(n, 60);
                    for a in &k.received { packets.remove(&(a & !2047)); }
                }
                Op::ReceivePacket(n) => {
                    if let Some(chain) = k.receive_packet(n, 60) {
                        for &a in &chain { packets.insert(a & !2047, chain.iter().map(|c| c & !2047).collect()); }
                    }
                }
                Op::KernelSend(n) => { k.transmit(n); }
                Op::Refill(n) => { xsk.refill(n); }
                Op::Recycle(n) => { xsk.rx_batch(n).recycle(); }
                Op::Forward(n) => { xsk.rx_batch(n).transmit(); }
                Op::Mixed(n) => {
                    xsk.rx_batch(n).dispatch(|_| {
                        flip = !flip;
                        if flip { Verdict::Transmit } else { Verdict::Recycle }
                    });
                }
                Op::CompleteToFill(n) => { xsk.complete_to_fill(n); }
                Op::CompleteToTx(n) => {
                    let before = xsk.ring_views().2.len();
                    xsk.complete_to_tx(n, 60);
                    // Each goes again as a packet of its own.
                    for d in &xsk.ring_views().2[before..] { packets.remove(&(d.addr & !2047)); }
                }
                Op::Complete(n) => { xsk.complete(n); }
                Op::TransmitNew(n) => {
                    let before = xsk.ring_views().2.len();
                    xsk.transmit_new(n, |_| 60);
                    // New single-buffer packets, whatever their chunks carried before.
                    for d in &xsk.ring_views().2[before..] { packets.remove(&(d.addr & !2047)); }
                }
                Op::Recv(n) => {
                    let from = held.len();
                    xsk.recv(&mut held, n);
                    // The token path here treats every buffer as a packet.
                    for f in &mut held[from..] {
                        packets.remove(&(f.addr() & !2047));
                        f.set_continued(false);
                    }
                }
                Op::Release(n) => {
                    for f in held.drain(..n.min(held.len())) { xsk.release(f); }
                }
                Op::Send(n) => {
                    let mut out: Vec<Frame> = held.drain(..n.min(held.len())).collect();
                    xsk.send(&mut out);
                    held.extend(out);
                }
            }
            prop_assert_eq!(census(&xsk, &held), every.clone(), "after {:?}", op);
            let a = xsk.accounting();
            prop_assert!(a.is_consistent(), "after {:?}: {:?}", op, a);
            prop_assert_eq!(a.application, held.len());
            prop_assert_eq!(a.kernel, 0, "the fake kernel holds nothing between calls");
            // What waits on TX is made of packets as they arrived: each
            // buffer of a multi-buffer packet follows its predecessor,
            // flagged "more follows" unless it is the last, and TX never
            // ends inside a packet (its head may: the rest was sent).
            let (_, _, tx, _) = xsk.ring_views();
            let mut prev: Option<u64> = None;
            for d in &tx {
                let chunk = d.addr & !2047;
                let more = d.options & libc::XDP_PKT_CONTD != 0;
                match packets.get(&chunk).filter(|p| p.len() > 1) {
                    Some(p) => {
                        let at = p.iter().position(|&c| c == chunk).unwrap();
                        prop_assert_eq!(more, at + 1 < p.len(), "after {:?}", op);
                        if at > 0 && prev.is_some() {
                            prop_assert_eq!(prev, Some(p[at - 1]), "after {:?}", op);
                        }
                    }
                    None => prop_assert!(!more, "after {:?}", op),
                }
                prev = more.then_some(chunk);
            }
            prop_assert!(prev.is_none(), "TX ends inside a packet after {:?}", op);
        }
        for f in held.drain(..) { xsk.release(f); }
    }
}

#[test]
fn transmit_new_with_writes_the_metadata_before_queueing_and_marks_it() {
    use crate::{TxChecksum, TxMetadata};
    let mut config = super::fixture::config();
    config.umem = config.umem.tx_metadata(true);
    let (mut xsk, mut k) = crate::loopback::loopback(&config).unwrap();
    k.record = true;
    let meta = TxMetadata::default().checksum(Some(TxChecksum::new(34, 6)));
    assert_eq!(xsk.transmit_new_with(2, &meta, |_| 60).unwrap(), 2);
    assert_eq!(
        xsk.transmit_new_with(2, &meta, |_| 41).unwrap(),
        0,
        "the checksum field past the frame stops the batch"
    );
    assert_eq!(k.transmit(64), 2);
    for d in &k.sent {
        assert_eq!(d.options, libc::XDP_TX_METADATA);
        let f = xsk.umem().frame_from_kernel(d.addr, d.len);
        assert_eq!(
            xsk.umem().tx_metadata(&f),
            None,
            "a kernel's frame is unmarked"
        );
        // SAFETY: the test holds the chunk (sent, not yet completed).
        let head = unsafe { xsk.umem().head_before(d.addr) };
        assert_eq!(head.len(), crate::TX_METADATA_LEN);
        assert_eq!(TxMetadata::decode(head.try_into().unwrap()), meta);
        let _ = f.into_addr();
    }
    assert_eq!(xsk.transmit_new(1, |_| 60), 1, "without: options 0");
    assert_eq!(k.transmit(64), 1);
    assert_eq!(k.sent.last().unwrap().options, 0);
    assert_eq!(xsk.complete(64), 3);
    assert!(xsk.accounting().is_consistent());

    let (mut plain, _k) = setup();
    let e = plain.transmit_new_with(1, &meta, |_| 60).unwrap_err();
    assert!(e.to_string().contains("no TX metadata area"), "{e}");
}

#[test]
fn the_tx_halfs_transmit_new_with_marks_and_writes_the_metadata_too() {
    use crate::{TxChecksum, TxMetadata};
    let mut config = super::fixture::config();
    config.umem = config.umem.tx_metadata(true);
    let (xsk, mut k) = crate::loopback::loopback(&config).unwrap();
    k.record = true;
    let (_rx, mut tx) = xsk.split();
    let meta = TxMetadata::default()
        .checksum(Some(TxChecksum::new(14, 10)))
        .timestamp(true);
    assert_eq!(tx.transmit_new_with(3, &meta, |_| 60).unwrap(), 3);
    assert_eq!(
        tx.transmit_new_with(1, &meta, |_| 25).unwrap(),
        0,
        "14 + 10 + 2 > 25"
    );
    assert_eq!(k.transmit(64), 3);
    for d in &k.sent {
        assert_eq!(d.options, libc::XDP_TX_METADATA);
        // SAFETY: the test holds the chunk (sent, not yet completed).
        let head = unsafe { tx.umem().head_before(d.addr) };
        assert_eq!(TxMetadata::decode(head.try_into().unwrap()), meta);
    }
    assert_eq!(tx.complete(64), 3);
    assert!(tx.accounting().is_consistent());
}

#[test]
fn keep_posted_sends_packets_back_to_fill_below_the_floor() {
    let (mut xsk, mut k) = setup();
    k.record = true;
    assert_eq!(xsk.rx_posted(), 16);
    assert_eq!(k.receive(12, 60), 12);
    assert_eq!(xsk.rx_posted(), 4);
    // 4 posted, a floor of 10: the first 6 go back to FILL, the other 6
    // to TX (which holds 8).
    let m = xsk.rx_batch(64).keep_posted(10).transmit();
    assert_eq!(
        (m.kept, m.recycled, m.transmitted, m.tx_full),
        (6, 6, 6, 0),
        "{m:?}"
    );
    assert_eq!(xsk.rx_posted(), 10);
    assert_eq!(k.transmit(64), 6);
    // At the floor (6 posted, a floor of 6) nothing is kept.
    assert_eq!(k.receive(4, 60), 4);
    let m = xsk.rx_batch(64).keep_posted(6).transmit();
    assert_eq!((m.kept, m.transmitted), (0, 4), "{m:?}");
    assert!(xsk.accounting().is_consistent(), "{:?}", xsk.accounting());
}

#[test]
fn keep_posted_keeps_a_multi_buffer_packet_whole() {
    let mut cfg = config();
    cfg.multi_buffer = true;
    let (mut xsk, mut k) = loopback(&cfg).unwrap();
    assert_eq!(xsk.refill(u32::MAX), 16);
    // 3 single frames, then a packet of 3 buffers: 10 posted.
    assert_eq!(k.receive(3, 60), 3);
    assert!(k.receive_packet(3, 60).is_some());
    assert_eq!(xsk.rx_posted(), 10);
    // A floor of 12: two singles go back to FILL (10 + 2 posted); the
    // third single and the whole packet then go to TX.
    let m = xsk.rx_batch(64).keep_posted(12).transmit();
    assert_eq!((m.kept, m.transmitted, m.tx_packets), (2, 4, 2), "{m:?}");
    assert_eq!(xsk.rx_posted(), 12);
    // 9 posted, a floor of 10: the packet's first buffer decides for all
    // three, though the floor is reached after one.
    assert!(k.receive_packet(3, 60).is_some());
    assert_eq!(xsk.rx_posted(), 9);
    let m = xsk.rx_batch(64).keep_posted(10).transmit();
    assert_eq!((m.kept, m.recycled, m.transmitted), (3, 3, 0), "{m:?}");
    assert_eq!(xsk.rx_posted(), 12);
    assert!(xsk.accounting().is_consistent(), "{:?}", xsk.accounting());
}
