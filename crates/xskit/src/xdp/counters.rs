//! Per-action counters as the programs keep them, and the interfaces of
//! this namespace.

use aya::Pod;

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

/// Packets and bytes, as the programs count them (`struct xskit_counter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
pub struct Counter {
    /// Frames.
    pub packets: u64,
    /// Bytes of those frames.
    pub bytes: u64,
}

// SAFETY: two u64s with no padding: any bit pattern is a valid value.
unsafe impl Pod for Counter {}

/// Names of the interfaces in this thread's network namespace.
pub fn interfaces() -> Vec<String> {
    // if_nameindex(3) asks the kernel through a socket of this thread's
    // namespace, unlike /sys/class/net.
    let mut out = Vec::new();
    // SAFETY: if_nameindex returns an array terminated by a zero entry, which
    // we read before freeing it with if_freenameindex.
    unsafe {
        let list = libc::if_nameindex();
        if list.is_null() {
            return out;
        }
        let mut p = list;
        while (*p).if_index != 0 {
            out.push(
                std::ffi::CStr::from_ptr((*p).if_name)
                    .to_string_lossy()
                    .into_owned(),
            );
            p = p.add(1);
        }
        libc::if_freenameindex(list);
    }
    out
}
