//! Pinning the calling thread to a CPU.

use anyhow::{bail, Context, Result};

/// Pins the calling thread to `cpu`.
pub fn pin(cpu: u32) -> Result<()> {
    let n = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1) as u32;
    if cpu >= n.max(1024) {
        bail!("CPU {cpu} does not exist");
    }
    let mut set = rustix::thread::CpuSet::new();
    set.set(cpu as usize);
    if let Err(e) = rustix::thread::sched_setaffinity(None, &set) {
        return Err(std::io::Error::from(e))
            .with_context(|| format!("pinning a thread to CPU {cpu} (is it online? see nproc)"));
    }
    Ok(())
}

/// The first and the last CPU the calling thread may run on, if they
/// differ: places for two busy threads that must not take turns.
pub fn two_apart() -> Option<(u32, u32)> {
    let set = rustix::thread::sched_getaffinity(None).ok()?;
    let allowed: Vec<u32> = (0..rustix::thread::CpuSet::MAX_CPU)
        .filter(|&c| set.is_set(c))
        .map(|c| c as u32)
        .collect();
    match (allowed.first(), allowed.last()) {
        (Some(&a), Some(&b)) if a != b => Some((a, b)),
        _ => None,
    }
}
