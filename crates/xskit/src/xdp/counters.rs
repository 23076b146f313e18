//! Per-action counters as the programs keep them.

use super::abi::Counter;

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
