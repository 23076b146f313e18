//! Per-action counters as the programs keep them, and their one reader.

use super::abi::Counter;
use aya::maps::{MapData, MapError, PerCpuArray};
use std::borrow::Borrow;

/// Per-action counters of an xskit program, summed over CPUs.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct ActionCounters {
    /// Frames the program aborted on (XDP_ABORTED).
    pub aborted: Counter,
    /// Frames dropped (XDP_DROP).
    pub dropped: Counter,
    /// Frames passed to the kernel (XDP_PASS).
    pub passed: Counter,
    /// Frames bounced back out (XDP_TX).
    pub tx: Counter,
    /// Frames redirected to an AF_XDP socket (XDP_REDIRECT).
    pub redirected: Counter,
}

impl ActionCounters {
    /// Reads a program's `stats` map (one [`Counter`] per action, per CPU)
    /// and sums over CPUs; for a loaded program and a pinned one alike.
    pub fn read<T: Borrow<MapData>>(map: &PerCpuArray<T, Counter>) -> Result<Self, MapError> {
        let mut sums = [Counter::default(); 5];
        for (i, slot) in sums.iter_mut().enumerate() {
            for c in map.get(&(i as u32), 0)?.iter() {
                *slot += *c;
            }
        }
        Ok(ActionCounters {
            aborted: sums[0],
            dropped: sums[1],
            passed: sums[2],
            tx: sums[3],
            redirected: sums[4],
        })
    }
}
