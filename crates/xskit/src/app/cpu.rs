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
