//! EBUSY on bind: a queue held by a live socket, or one being released.
//!
//! The kernel frees a closed AF_XDP socket's queue only after its in-flight
//! TX buffers are back and an RCU grace period has passed (then a work
//! item), so a bind right after another socket's close — in this process or
//! another — can see EBUSY for some milliseconds. A queue held by a live
//! socket stays busy. Every EBUSY is waited for, at most two seconds; where
//! the kernel can say which sockets are bound (`xsk_diag`), the error then
//! names the holder, and otherwise says the kernel cannot tell.

use crate::diag;
use std::time::{Duration, Instant};

/// How long a bind waits for a queue that is being released.
pub(crate) const RELEASE_GRACE: Duration = Duration::from_secs(2);

/// What the kernel says about a busy queue.
#[derive(Debug)]
pub(crate) enum Busy {
    /// A live socket is bound to it: `(inode, "pid N (comm)"...)`.
    Held(u32, Vec<String>),
    /// No live socket is bound: a closed one is being released.
    Releasing,
    /// The kernel cannot say (no `xsk_diag`).
    Unknown,
}

/// Asks the kernel who holds `queue` of `ifindex`.
pub(crate) fn diagnose(ifindex: u32, queue: u32) -> Busy {
    match diag::holders() {
        None => Busy::Unknown,
        Some(list) => match list
            .iter()
            .find(|h| h.ifindex == ifindex && h.queue == queue)
        {
            Some(h) => Busy::Held(h.inode, diag::owners(h.inode)),
            None => Busy::Releasing,
        },
    }
}

/// Retries `attempt` while it fails with EBUSY, for at most
/// [`RELEASE_GRACE`]. Returns the
/// last result and, if it is still EBUSY, what the kernel said.
pub(crate) fn retry_while_releasing<T>(
    ifindex: u32,
    queue: u32,
    mut attempt: impl FnMut() -> std::io::Result<T>,
) -> (std::io::Result<T>, Option<Busy>) {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        let r = attempt();
        match &r {
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
            _ => return (r, None),
        }
        // Every EBUSY is waited for, at most RELEASE_GRACE; what the kernel
        // says about the holder only names it in the error. Failing at once
        // on a reported live holder was tried: in Debian's 6.12 (emulated)
        // xsk_diag reported a socket bound to the same ifindex and queue in
        // another network namespace of the same process, so its answer
        // cannot decide alone.
        if start.elapsed() >= RELEASE_GRACE {
            return (r, Some(diagnose(ifindex, queue)));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

/// The hint for a bind that stayed busy.
pub(crate) fn hint(why: &Busy) -> String {
    match why {
        Busy::Held(inode, owners) if owners.is_empty() => format!(
            "a live AF_XDP socket (inode {inode}) holds this queue: stop it or pick another queue"
        ),
        Busy::Held(inode, owners) => format!(
            "held by a live AF_XDP socket (inode {inode}) of {}: stop it or pick another queue",
            owners.join(", ")
        ),
        Busy::Releasing => format!(
            "no live socket holds it, but the kernel had not released it after {} s: try again",
            RELEASE_GRACE.as_secs()
        ),
        Busy::Unknown => format!(
            "still busy after {} s: another AF_XDP socket holds this queue (this kernel cannot say \
             which: no xsk_diag); stop it or pick another queue",
            RELEASE_GRACE.as_secs()
        ),
    }
}
