//! The small loopback socket the batch and split tests run on (Miri runs
//! them): 32 frames of 2048 bytes, FILL, COMPLETION and RX of 16, TX of 8.

use crate::loopback::{loopback, FakeKernel};
use crate::{Frame, RxHalf, TxHalf, UmemConfig, Xsk, XskConfig};

/// The tests' socket configuration.
pub(crate) fn config() -> XskConfig {
    XskConfig {
        umem: UmemConfig {
            frame_count: 32,
            frame_size: 2048,
            ..Default::default()
        },
        fill_size: 16,
        comp_size: 16,
        rx_size: 16,
        tx_size: 8,
        ..Default::default()
    }
}

/// A loopback socket of [`config`] with FILL full (16 frames).
pub(crate) fn setup() -> (Xsk, FakeKernel) {
    let (mut xsk, k) = loopback(&config()).unwrap();
    assert_eq!(xsk.refill(u32::MAX), 16);
    (xsk, k)
}

/// Every chunk of a split socket, wherever it is: the pool, the four
/// rings, and the tokens `held`; sorted (each chunk once if none is lost
/// or doubled).
pub(crate) fn census(rx: &RxHalf, tx: &TxHalf, held: &[&[Frame]]) -> Vec<u64> {
    let umem = rx.umem();
    let (fill, rxd) = rx.ring_views();
    let (txd, comp) = tx.ring_views();
    let mut all = rx.pool_snapshot();
    all.extend(held.iter().flat_map(|h| h.iter().map(Frame::addr)));
    all.extend(fill);
    all.extend(rxd.iter().map(|d| umem.decode(d.addr, d.len)));
    all.extend(txd.iter().map(|d| d.addr));
    all.extend(comp);
    let mut all: Vec<u64> = all.into_iter().map(|a| umem.chunk_base(a)).collect();
    all.sort_unstable();
    all
}

/// Which of the frames the fake kernel sent say more buffers of their
/// packet follow (`XDP_PKT_CONTD`).
pub(crate) fn continued(k: &FakeKernel) -> Vec<bool> {
    k.sent
        .iter()
        .map(|d| d.options & libc::XDP_PKT_CONTD != 0)
        .collect()
}
