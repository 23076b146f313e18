//! Where `xskit load` keeps attachments that outlive the command: BPF links
//! and counter maps pinned in bpffs, per network namespace and interface.
//!
//! ```text
//!   /sys/fs/bpf/xskit/ns<INODE>/if-<IFACE>/link    the attachment
//!   /sys/fs/bpf/xskit/ns<INODE>/if-<IFACE>/stats   its per-action counters
//!   /sys/fs/bpf/xskit/ns<INODE>/if-<IFACE>/guard   its confirmation deadline (bpf/guard.h)
//!   /sys/fs/bpf/xskit/ns<INODE>/filter/*           the filter's rule maps
//!   /run/xskit/loaded/ns<INODE>/<IFACE>.json       what was loaded, and when
//! ```
//!
//! The namespace's inode keeps interfaces of the same name in different
//! namespaces apart (bpffs is shared by all of them).

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
pub use xskit_xdp::bpffs::ensure_bpffs;
pub use xskit_xdp::bpffs::BPFFS;
use xskit_xdp::filter::Rules;
use xskit_xdp::guard;
pub use xskit_xdp::guard::{monotonic_ns, Confirmed};

/// Identity of the calling thread's network namespace (its inode).
pub fn netns_id() -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/thread-self/ns/net")
        .context("reading /proc/thread-self/ns/net")?
        .ino())
}

/// xskit's bpffs directory for this network namespace.
pub fn root() -> Result<PathBuf> {
    Ok(root_of(netns_id()?))
}

fn root_of(ns: u64) -> PathBuf {
    PathBuf::from(BPFFS).join("xskit").join(format!("ns{ns}"))
}

/// The directory of one interface's pins.
pub fn iface_dir(iface: &str) -> Result<PathBuf> {
    Ok(iface_dir_of(netns_id()?, iface))
}

/// The directory of one interface's pins in namespace `ns` (an inode).
pub fn iface_dir_of(ns: u64, iface: &str) -> PathBuf {
    root_of(ns).join(format!("if-{iface}"))
}

/// The directory of the filter's rule maps.
pub fn filter_dir() -> Result<PathBuf> {
    Ok(root()?.join("filter"))
}

/// The filter's rule maps of this namespace, created if there are none.
pub fn rules() -> Result<Rules> {
    Rules::open(&filter_dir()?)
}

/// The filter's rule maps of this namespace, if they exist.
pub fn existing_rules() -> Result<Option<Rules>> {
    Ok(Rules::existing(&filter_dir()?))
}

fn meta_path(iface: &str) -> Result<PathBuf> {
    Ok(meta_path_of(netns_id()?, iface))
}

fn meta_path_of(ns: u64, iface: &str) -> PathBuf {
    PathBuf::from("/run/xskit/loaded")
        .join(format!("ns{ns}"))
        .join(format!("{iface}.json"))
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
    /// While unconfirmed: the deadline, CLOCK_MONOTONIC nanoseconds (as
    /// the program's guard map holds it) and Unix time in seconds.
    #[serde(default)]
    pub deadline: Option<(u64, f64)>,
    /// The process that loaded it and waits for confirmation.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Unix time at which the guard reverted it, never confirmed (the
    /// attachment is then gone; the record stays to say so).
    #[serde(default)]
    pub reverted_at: Option<f64>,
}

/// Records a load.
pub fn save_meta(iface: &str, meta: &Loaded) -> Result<()> {
    save_meta_of(netns_id()?, iface, meta)
}

/// Records a load in namespace `ns`.
pub fn save_meta_of(ns: u64, iface: &str, meta: &Loaded) -> Result<()> {
    let p = meta_path_of(ns, iface);
    std::fs::create_dir_all(p.parent().expect("has a parent"))?;
    std::fs::write(&p, serde_json::to_string(meta)?)
        .with_context(|| format!("writing {}", p.display()))
}

/// The record of a load, if any.
pub fn load_meta(iface: &str) -> Result<Option<Loaded>> {
    Ok(load_meta_of(netns_id()?, iface))
}

/// The record of a load in namespace `ns`, if any.
pub fn load_meta_of(ns: u64, iface: &str) -> Option<Loaded> {
    let t = std::fs::read_to_string(meta_path_of(ns, iface)).ok()?;
    serde_json::from_str(&t).ok()
}

/// Forgets the record of a load.
pub fn remove_meta(iface: &str) -> Result<()> {
    let _ = std::fs::remove_file(meta_path(iface)?);
    Ok(())
}

/// Interfaces with a load record in this namespace, with the record.
pub fn metas() -> Result<Vec<(String, Loaded)>> {
    let ns = netns_id()?;
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(PathBuf::from("/run/xskit/loaded").join(format!("ns{ns}"))) {
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if let Some(iface) = name.strip_suffix(".json") {
                if let Some(m) = load_meta_of(ns, iface) {
                    out.push((iface.to_string(), m));
                }
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// The guard of a pinned attachment: (deadline, reverted), both
/// CLOCK_MONOTONIC nanoseconds, 0 for none (bpf/guard.h).
pub fn read_guard_of(ns: u64, iface: &str) -> Result<Option<(u64, u64)>> {
    guard::read(&iface_dir_of(ns, iface).join("guard"))
}

/// Clears the deadline of the attachment on `iface` in namespace `ns`,
/// unless it has passed ([`guard::confirm`]).
pub fn confirm_guard_of(ns: u64, iface: &str) -> Result<Confirmed> {
    guard::confirm(&iface_dir_of(ns, iface).join("guard"))
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
    let ns = netns_id()?;
    let r = unpin_pins_of(ns, iface)?;
    let _ = std::fs::remove_file(meta_path_of(ns, iface));
    Ok(r)
}

/// Like [`unpin`] in namespace `ns`, but keeps the record.
pub fn unpin_pins_of(ns: u64, iface: &str) -> Result<bool> {
    let dir = iface_dir_of(ns, iface);
    if !dir.exists() {
        return Ok(false);
    }
    xskit_xdp::bpffs::unpin_link(&dir.join("link"))?;
    let _ = std::fs::remove_file(dir.join("stats"));
    let _ = std::fs::remove_file(dir.join("guard"));
    match std::fs::remove_dir(&dir) {
        // Another xskit (status tidying a revert) may have been first.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        r => r.with_context(|| format!("removing {}", dir.display()))?,
    }
    Ok(true)
}

/// Per-action counters of the program pinned on `iface`.
pub fn read_stats(iface: &str) -> Result<Option<xskit_xdp::ActionCounters>> {
    let path = iface_dir(iface)?.join("stats");
    if !path.exists() {
        return Ok(None);
    }
    let data = aya::maps::MapData::from_pin(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    let map = aya::maps::Map::from_map_data(data)?;
    let arr: aya::maps::PerCpuArray<aya::maps::MapData, xskit_xdp::Counter> =
        aya::maps::PerCpuArray::try_from(map)?;
    Ok(Some(xskit_xdp::ActionCounters::read(&arr)?))
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
