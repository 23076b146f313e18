//! Waiting for a descriptor to become readable (poll(2) through rustix).

use rustix::event::{PollFd, PollFlags, Timespec};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

/// Waits until `fd` is readable (true) or `deadline` passes (false).
pub fn readable_before(fd: &impl AsFd, deadline: Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if wait_readable(fd, left) {
            return true;
        }
    }
}

/// Waits up to `timeout` (at least a millisecond) for `fd` to become
/// readable; true if it did. (An interrupted wait counts as not readable;
/// callers loop.)
pub fn wait_readable(fd: &impl AsFd, timeout: Duration) -> bool {
    poll_readable(fd, timeout).unwrap_or(false)
}

/// As [`wait_readable`], but a failing poll(2) is an error (an interrupted
/// one is not: it reads as not readable).
pub fn poll_readable(fd: &impl AsFd, timeout: Duration) -> std::io::Result<bool> {
    let timeout = timeout.max(Duration::from_millis(1));
    let ts = Timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as _,
        tv_nsec: timeout.subsec_nanos() as _,
    };
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    match rustix::event::poll(&mut fds, Some(&ts)) {
        Ok(n) => Ok(n > 0),
        Err(rustix::io::Errno::INTR) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
