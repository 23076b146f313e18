//! The host's network as xskit sees it: namespaces, routes, test links.

pub mod addrs;
pub mod ethtool;
pub mod genl;
pub mod netns;
pub mod packet;
pub mod ping;
pub mod probe;
pub mod route;
pub mod veth;

/// Waits until `fd` is readable (true) or `deadline` passes (false).
pub fn readable_before(fd: &impl std::os::fd::AsFd, deadline: std::time::Instant) -> bool {
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        if wait_readable(fd, left) {
            return true;
        }
    }
}

/// Waits up to `timeout` for `fd` to become readable; true if it did.
/// (An interrupted wait counts as not readable; callers loop.)
pub fn wait_readable(fd: &impl std::os::fd::AsFd, timeout: std::time::Duration) -> bool {
    use std::os::fd::AsRawFd;
    let mut pfd = libc::pollfd {
        fd: fd.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
    // SAFETY: one valid pollfd for the duration of the call.
    unsafe { libc::poll(&mut pfd, 1, ms) > 0 }
}

/// Parses a MAC address written `aa:bb:cc:dd:ee:ff`.
pub fn parse_mac(s: &str) -> anyhow::Result<[u8; 6]> {
    use anyhow::Context;
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        anyhow::bail!("{s:?} is not a MAC address (aa:bb:cc:dd:ee:ff)");
    }
    let mut m = [0u8; 6];
    for (d, p) in m.iter_mut().zip(parts) {
        *d = u8::from_str_radix(p, 16).with_context(|| format!("{s:?} is not a MAC address"))?;
    }
    Ok(m)
}
