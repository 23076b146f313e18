//! Where `xskit load` keeps attachments that outlive the command: BPF links
//! and counter maps pinned in bpffs, per network namespace and interface.
//!
//!   /sys/fs/bpf/xskit/ns<INODE>/if-<IFACE>/link    the attachment
//!   /sys/fs/bpf/xskit/ns<INODE>/if-<IFACE>/stats   its per-action counters
//!   /sys/fs/bpf/xskit/ns<INODE>/filter/*           the filter's rule maps
//!   /run/xskit/loaded/ns<INODE>/<IFACE>.json       what was loaded, and when
//!
//! The namespace's inode keeps interfaces of the same name in different
//! namespaces apart (bpffs is shared by all of them).

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where bpffs is mounted.
pub const BPFFS: &str = "/sys/fs/bpf";

/// Mounts bpffs at /sys/fs/bpf unless it is there; true if it mounted it.
/// Refuses to work from a private mount namespace (as under `ip netns
/// exec`), where pins would vanish with the process.
pub fn ensure_bpffs() -> Result<bool> {
    // `ip netns exec` unshares the mount namespace and then runs us in the
    // same process, so our parent (the shell) is in the namespace we left.
    // SAFETY: getppid has no preconditions.
    let ppid = unsafe { libc::getppid() };
    let ours = std::fs::read_link("/proc/self/ns/mnt").ok();
    let parent = std::fs::read_link(format!("/proc/{ppid}/ns/mnt")).ok();
    if ours.is_some() && parent.is_some() && ours != parent {
        bail!(
            "this process runs in a mount namespace of its own (as under `ip netns exec`), where pinned programs \
             would vanish when it exits: enter only the network namespace instead, e.g. `nsenter --net=/run/netns/NAME xskit ...`"
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
    let src = c"bpf";
    let dst = c"/sys/fs/bpf";
    // SAFETY: all pointers are valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        let e = std::io::Error::last_os_error();
        // Another xskit may have mounted it in the meantime.
        if e.raw_os_error() == Some(libc::EBUSY) {
            return Ok(false);
        }
        bail!("cannot mount bpffs at {BPFFS}: {e} (needs CAP_SYS_ADMIN: run as root)");
    }
    Ok(true)
}

/// Identity of the calling thread's network namespace (its inode).
pub fn netns_id() -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/thread-self/ns/net")
        .context("reading /proc/thread-self/ns/net")?
        .ino())
}

/// xskit's bpffs directory for this network namespace.
pub fn root() -> Result<PathBuf> {
    Ok(PathBuf::from(BPFFS)
        .join("xskit")
        .join(format!("ns{}", netns_id()?)))
}

/// The directory of one interface's pins.
pub fn iface_dir(iface: &str) -> Result<PathBuf> {
    Ok(root()?.join(format!("if-{iface}")))
}

/// The directory of the filter's rule maps.
pub fn filter_dir() -> Result<PathBuf> {
    Ok(root()?.join("filter"))
}

fn meta_path(iface: &str) -> Result<PathBuf> {
    Ok(PathBuf::from("/run/xskit/loaded")
        .join(format!("ns{}", netns_id()?))
        .join(format!("{iface}.json")))
}

/// What `xskit load` recorded about one attachment.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Loaded {
    /// Program name (`xdp_drop`, `xdp_pass`, `xdp_filter`).
    pub program: String,
    /// Kernel program id.
    pub prog_id: u32,
    /// Mode it was attached in.
    pub mode: String,
    /// Unix time of the load.
    pub loaded_at: u64,
}

/// Records a load.
pub fn save_meta(iface: &str, meta: &Loaded) -> Result<()> {
    let p = meta_path(iface)?;
    std::fs::create_dir_all(p.parent().expect("has a parent"))?;
    std::fs::write(&p, serde_json::to_string(meta)?)
        .with_context(|| format!("writing {}", p.display()))
}

/// The record of a load, if any.
pub fn load_meta(iface: &str) -> Result<Option<Loaded>> {
    match std::fs::read_to_string(meta_path(iface)?) {
        Ok(t) => Ok(serde_json::from_str(&t).ok()),
        Err(_) => Ok(None),
    }
}

/// Interfaces with an xskit pin in this namespace (including ones that no
/// longer exist).
pub fn pinned_ifaces() -> Result<Vec<String>> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root()?) {
        for e in rd.flatten() {
            if let Some(name) = e.file_name().to_str().and_then(|n| n.strip_prefix("if-")) {
                out.push(name.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Detaches what xskit pinned on `iface`: removes the link pin (the kernel
/// detaches when the last reference goes), the counters and the record.
/// Returns false if nothing was pinned there.
pub fn unpin(iface: &str) -> Result<bool> {
    let dir = iface_dir(iface)?;
    if !dir.exists() {
        return Ok(false);
    }
    let link = dir.join("link");
    if link.exists() {
        let pinned = aya::programs::links::PinnedLink::from_pin(&link)
            .with_context(|| format!("opening {}", link.display()))?;
        let fd_link = pinned
            .unpin()
            .with_context(|| format!("removing {}", link.display()))?;
        drop(fd_link);
    }
    let _ = std::fs::remove_file(dir.join("stats"));
    std::fs::remove_dir(&dir).with_context(|| format!("removing {}", dir.display()))?;
    let _ = std::fs::remove_file(meta_path(iface)?);
    Ok(true)
}

/// Per-action counters of the program pinned on `iface`.
pub fn read_stats(iface: &str) -> Result<Option<super::ActionCounters>> {
    let path = iface_dir(iface)?.join("stats");
    if !path.exists() {
        return Ok(None);
    }
    let data = aya::maps::MapData::from_pin(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let map = aya::maps::Map::from_map_data(data)?;
    let arr: aya::maps::PerCpuArray<aya::maps::MapData, super::Counter> =
        aya::maps::PerCpuArray::try_from(map)?;
    let mut sums = [super::Counter::default(); 5];
    for (i, slot) in sums.iter_mut().enumerate() {
        for c in arr.get(&(i as u32), 0)?.iter() {
            slot.packets += c.packets;
            slot.bytes += c.bytes;
        }
    }
    Ok(Some(super::ActionCounters {
        aborted: sums[0],
        dropped: sums[1],
        passed: sums[2],
        tx: sums[3],
        redirected: sums[4],
    }))
}

/// Removes every pin and record xskit keeps for the namespace whose
/// identity is `ns_inode` (for `sandbox down` and tests): its programs are
/// detached and its filter rules dropped.
pub fn forget_namespace(ns_inode: u64) -> Result<()> {
    let dir = PathBuf::from(BPFFS)
        .join("xskit")
        .join(format!("ns{ns_inode}"));
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
    }
    let meta = PathBuf::from("/run/xskit/loaded").join(format!("ns{ns_inode}"));
    if meta.exists() {
        std::fs::remove_dir_all(&meta).with_context(|| format!("removing {}", meta.display()))?;
    }
    Ok(())
}
