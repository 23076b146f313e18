//! The fast path of `recycle`: RX straight to FILL in one tight loop.
//!
//! rxdrop runs this for every frame. `dispatch` does the general work per
//! frame (the full decode, a slice of the chunk, a verdict, TX room, the
//! free list when FILL is full); recycling a whole window whose FILL room
//! is there needs none of it. Where the UMEM's chunks are aligned and of a
//! power-of-two size, each address is checked with two compares and masked
//! to its chunk's base; anything else (unaligned chunks, FILL without room
//! for the whole window) returns `None` with nothing moved, and the caller
//! takes `dispatch`'s path.

use super::Moved;
use crate::ring::{FillRing, RxRing};
use crate::umem::Umem;

/// Moves the `count` RX entries from `idx` (a window from `window`) onto
/// FILL, each at its chunk's base, and takes them from RX; `None`, with
/// nothing moved, where the tight loop does not apply.
///
/// # Panics
/// If the kernel returned a descriptor outside the UMEM, as
/// [`Umem::decode`] does (nothing is moved then).
#[inline(always)]
pub(super) fn rx_to_fill(
    rx: &mut RxRing,
    fill: &mut FillRing,
    umem: &Umem,
    idx: u32,
    count: u32,
) -> Option<Moved> {
    // `room_test`'s limit and mask do not depend on the length asked for.
    let (limit, mask, _) = crate::xsk::room_test(umem, 1)?;
    let (fidx, froom) = fill.room(count);
    if froom < count {
        return None;
    }
    let chunk = mask + 1;
    let (mut bytes, mut starts) = (0u64, 0u32);
    for i in 0..count {
        let d = rx.read(idx.wrapping_add(i));
        let len = u64::from(d.len);
        // The decode's check, in two compares: the chunk lies inside the
        // mapping and the frame inside its chunk. A failure stops before
        // anything is published (the kernel checks every address it takes
        // from FILL, so it fires only on a kernel bug).
        assert!(
            d.addr < limit && (d.addr & mask) + len <= chunk,
            "kernel returned a descriptor outside the UMEM (addr {:#x}, len {})",
            d.addr,
            d.len
        );
        fill.write(fidx.wrapping_add(i), d.addr & !mask);
        bytes += len;
        starts += u32::from(d.options & libc::XDP_PKT_CONTD == 0);
    }
    fill.publish(fidx, count);
    rx.take(idx, count);
    // A window ends on a packet's last buffer, so each packet has one
    // buffer without XDP_PKT_CONTD.
    Some(Moved {
        packets: starts,
        recycled: count,
        bytes,
        ..Moved::default()
    })
}

#[cfg(test)]
mod tests {
    use super::rx_to_fill;
    use crate::batch::fixture::{config, setup};
    use crate::loopback::{loopback, FakeKernel};
    use crate::{Moved, UmemConfig, Verdict, Xsk};
    use proptest::prelude::*;

    /// The tight loop on `xsk`'s ready RX entries (up to 64).
    fn tight(xsk: &mut Xsk) -> Option<Moved> {
        let p = xsk.parts();
        let (idx, n) = p.rx.ready(64);
        rx_to_fill(p.rx, p.fill, p.umem, idx, n)
    }

    type Descs = Vec<(u64, u32, u32)>;

    /// The four rings' pending entries, comparable.
    fn views(xsk: &Xsk) -> (Vec<u64>, Descs, Descs, Vec<u64>) {
        let d = |v: Vec<libc::xdp_desc>| v.iter().map(|d| (d.addr, d.len, d.options)).collect();
        let (fill, rx, tx, comp) = xsk.ring_views();
        (fill, d(rx), d(tx), comp)
    }

    #[test]
    fn a_window_with_fill_room_takes_the_tight_loop() {
        let (mut xsk, mut k) = setup();
        assert_eq!(k.receive(10, 60), 10);
        let m = tight(&mut xsk).expect("aligned chunks and FILL room: the tight loop");
        assert_eq!((m.packets, m.recycled, m.bytes, m.freed), (10, 10, 600, 0));
        let a = xsk.accounting();
        assert_eq!((a.rx, a.fill, a.free), (0, 16, 16), "{a:?}");
        assert!(a.is_consistent(), "{a:?}");
        // Each at its chunk's base, in RX's order.
        let (fill, ..) = xsk.ring_views();
        assert!(fill.iter().all(|a| a % 2048 == 0), "{fill:?}");
    }

    #[test]
    fn a_multi_buffer_packet_counts_once() {
        let (mut xsk, mut k) = setup();
        k.receive_packet(3, 100).unwrap();
        assert_eq!(k.receive(2, 60), 2);
        let m = tight(&mut xsk).unwrap();
        assert_eq!((m.packets, m.recycled, m.bytes), (3, 5, 420), "{m:?}");
    }

    #[test]
    fn without_fill_room_for_all_nothing_moves_and_dispatch_frees_the_rest() {
        let (mut xsk, mut k) = setup();
        assert_eq!(k.receive(10, 60), 10);
        assert_eq!(xsk.refill(u32::MAX), 10, "FILL full again");
        let before = views(&xsk);
        assert_eq!(tight(&mut xsk), None);
        assert_eq!(views(&xsk), before, "nothing moved");
        let m = xsk.rx_batch(64).recycle();
        assert_eq!((m.recycled, m.freed, m.packets), (0, 10, 10), "{m:?}");
        assert!(xsk.accounting().is_consistent(), "{:?}", xsk.accounting());
    }

    #[test]
    fn unaligned_chunks_take_dispatchs_path() {
        let mut c = config();
        c.umem = UmemConfig {
            unaligned: true,
            ..c.umem
        };
        let (mut xsk, mut k) = loopback(&c).unwrap();
        xsk.refill(u32::MAX);
        k.receive(4, 60);
        assert_eq!(tight(&mut xsk), None);
        let m = xsk.rx_batch(64).recycle();
        assert_eq!((m.recycled, m.bytes), (4, 240), "{m:?}");
        assert!(xsk.accounting().is_consistent(), "{:?}", xsk.accounting());
    }

    /// An RX descriptor `(addr, len)` the fake kernel made up.
    fn raw(k: &mut FakeKernel, addr: u64, len: u32) {
        let d = libc::xdp_desc {
            addr,
            len,
            options: 0,
        };
        assert_eq!(k.receive_raw(&[d]), 1);
    }

    #[test]
    fn a_frame_that_ends_at_its_chunks_end_is_inside() {
        // FILL empty, so that it has room for what the fake kernel makes up.
        let (mut xsk, mut k) = loopback(&config()).unwrap();
        // The last chunk (32 of 2048 bytes), its last 60 bytes.
        raw(&mut k, 31 * 2048 + 2048 - 60, 60);
        let m = tight(&mut xsk).unwrap();
        assert_eq!((m.recycled, m.bytes), (1, 60));
        assert_eq!(xsk.ring_views().0.last(), Some(&(31 * 2048)));
    }

    #[test]
    fn a_descriptor_outside_the_umem_panics_and_moves_nothing() {
        // Past the last chunk; one byte past its chunk's end.
        for (addr, len) in [(32 * 2048, 60), (31 * 2048 + 2048 - 59, 60)] {
            let (mut xsk, mut k) = loopback(&config()).unwrap();
            raw(&mut k, 0, 60);
            raw(&mut k, addr, len);
            let before = views(&xsk);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| tight(&mut xsk)));
            assert!(r.is_err(), "({addr:#x}, {len}) passed");
            assert_eq!(views(&xsk), before, "({addr:#x}, {len}) moved");
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Receive(u32, u32),
        ReceivePacket(u32, u32),
        Refill(u32),
        Recycle(u32),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u32..20, 0u32..2049).prop_map(|(n, l)| Op::Receive(n, l)),
            (1u32..5, 1u32..2049).prop_map(|(n, l)| Op::ReceivePacket(n, l)),
            (0u32..20).prop_map(Op::Refill),
            (0u32..20).prop_map(Op::Recycle),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(if cfg!(miri) { 2 } else { 200 }))]

        /// `recycle` (the tight loop where it applies) leaves the rings and
        /// the free list as the general `dispatch` does, and says the same.
        #[test]
        fn recycle_agrees_with_dispatch(ops in prop::collection::vec(op(), 1..40)) {
            let (mut fast, mut kf) = setup();
            let (mut slow, mut ks) = setup();
            for op in ops {
                match op {
                    Op::Receive(n, len) => {
                        kf.receive(n, len.saturating_sub(256).max(1));
                        ks.receive(n, len.saturating_sub(256).max(1));
                    }
                    Op::ReceivePacket(n, len) => {
                        kf.receive_packet(n, len.saturating_sub(256).max(1));
                        ks.receive_packet(n, len.saturating_sub(256).max(1));
                    }
                    Op::Refill(n) => {
                        prop_assert_eq!(fast.refill(n), slow.refill(n));
                    }
                    Op::Recycle(n) => {
                        let a = fast.rx_batch(n).recycle();
                        let b = slow.rx_batch(n).dispatch(|_| Verdict::Recycle);
                        prop_assert_eq!(a, b);
                    }
                }
                prop_assert_eq!(views(&fast), views(&slow));
                let free = |x: &Xsk| x.free_list().iter().map(|f| f.addr()).collect::<Vec<_>>();
                prop_assert_eq!(free(&fast), free(&slow));
                prop_assert!(fast.accounting().is_consistent());
            }
        }
    }
}
