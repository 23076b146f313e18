//! `tally` against ring indices as kernels publish them.

use super::{tally, Seen};
use crate::umem::{Umem, UmemConfig};

/// A UMEM of 64 frames, with its tokens (held: a dropped one counts lost).
fn umem() -> (std::sync::Arc<Umem>, Vec<crate::Frame>) {
    Umem::new(UmemConfig::default().frame_count(64).frame_size(2048)).unwrap()
}

/// The kernel took 16 frames from TX and completed them, and published
/// COMPLETION's producer index but not yet TX's consumer index (5.10):
/// the 16 are on COMPLETION only, and nothing is counted twice.
#[test]
fn frames_completed_before_tx_is_released_count_once() {
    let (u, _frames) = umem();
    // From bases of 0: 32 written to TX, TX's consumer still at 0,
    // COMPLETION's producer at 16, none taken from it.
    let seen = Seen {
        fill: (0, 0),
        rx: (0, 0),
        tx: (32, 0),
        comp: (16, 0),
    };
    let a = tally(&seen, [0; 4], 64, 32, 0, &u);
    assert_eq!((a.tx, a.completion, a.kernel), (16, 16, 0), "{a:?}");
    assert!(a.is_consistent(), "{a:?}");
    // Once the consumer index is published, the same frames, same count.
    let seen = Seen {
        tx: (32, 16),
        ..seen
    };
    let b = tally(&seen, [0; 4], 64, 32, 0, &u);
    assert_eq!((b.tx, b.completion, b.kernel), (16, 16, 0), "{b:?}");
}

/// The same on the receive side: frames on RX whose FILL entries the
/// kernel has not released yet are counted on RX only.
#[test]
fn frames_received_before_fill_is_released_count_once() {
    let (u, _frames) = umem();
    let seen = Seen {
        fill: (40, 0),
        rx: (8, 0),
        tx: (0, 0),
        comp: (0, 0),
    };
    let a = tally(&seen, [0; 4], 64, 24, 0, &u);
    assert_eq!((a.fill, a.rx, a.kernel), (32, 8, 0), "{a:?}");
    assert!(a.is_consistent(), "{a:?}");
}

/// Frames in flight (taken and published as taken, not yet given back)
/// are the kernel's, as before.
#[test]
fn frames_in_flight_are_the_kernels() {
    let (u, _frames) = umem();
    let seen = Seen {
        fill: (40, 10),
        rx: (8, 0),
        tx: (20, 12),
        comp: (4, 0),
    };
    let a = tally(&seen, [0; 4], 64, 4, 0, &u);
    assert_eq!(
        (a.fill, a.rx, a.tx, a.completion, a.kernel),
        (30, 8, 8, 4, 10),
        "{a:?}"
    );
    assert!(a.is_consistent(), "{a:?}");
}
