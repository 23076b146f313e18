//! bpffs, where BPF objects are pinned so that they outlive the process
//! that made them.

use anyhow::{bail, Context, Result};
use std::path::Path;

/// Where bpffs is mounted.
pub const BPFFS: &str = "/sys/fs/bpf";

/// Mounts bpffs at /sys/fs/bpf unless it is there; true if it mounted it.
/// Refuses to work from a private mount namespace (as under `ip netns
/// exec`), where pins would vanish with the process.
pub fn ensure_bpffs() -> Result<bool> {
    // `ip netns exec` unshares the mount namespace and then runs us in the
    // same process, so our parent (the shell) is in the namespace we left.
    let ppid = rustix::process::Pid::as_raw(rustix::process::getppid());
    let ours = std::fs::read_link("/proc/self/ns/mnt").ok();
    let parent = std::fs::read_link(format!("/proc/{ppid}/ns/mnt")).ok();
    if ours.is_some() && parent.is_some() && ours != parent {
        bail!(
            "this process runs in a mount namespace of its own (as under `ip netns exec`), where pinned programs \
             would vanish when it exits: let xskit enter only the network namespace instead: `xskit ... --netns NAME` (or `--sandbox NAME`)"
        );
    }
    let mounts =
        std::fs::read_to_string("/proc/self/mounts").context("reading /proc/self/mounts")?;
    if mounts.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.len() > 2 && f[1] == BPFFS && f[2] == "bpf"
    }) {
        return Ok(false);
    }
    std::fs::create_dir_all(BPFFS).with_context(|| format!("creating {BPFFS}"))?;
    if let Err(e) = rustix::mount::mount(
        "bpf",
        BPFFS,
        "bpf",
        rustix::mount::MountFlags::empty(),
        None::<&std::ffi::CStr>,
    ) {
        let e = std::io::Error::from(e);
        // Another xskit may have mounted it in the meantime.
        if e.raw_os_error() == Some(libc::EBUSY) {
            return Ok(false);
        }
        bail!("cannot mount bpffs at {BPFFS}: {e} (needs CAP_SYS_ADMIN: run as root)");
    }
    Ok(true)
}

/// Removes the BPF link pinned at `path`: the kernel detaches the program
/// when its last reference goes. False if nothing was pinned there (or
/// another process removed it first).
pub fn unpin_link(path: &Path) -> Result<bool> {
    if !path.exists() {
        return Ok(false);
    }
    match aya::programs::links::PinnedLink::from_pin(path) {
        Ok(pinned) => match pinned.unpin() {
            Ok(fd_link) => drop(fd_link),
            Err(_) if !path.exists() => return Ok(false),
            Err(e) => bail!("removing {}: {e}", path.display()),
        },
        Err(_) if !path.exists() => return Ok(false),
        Err(e) => bail!("opening {}: {e}", path.display()),
    }
    Ok(true)
}
