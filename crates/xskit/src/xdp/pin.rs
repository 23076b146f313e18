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
    let path = iface_dir_of(ns, iface).join("guard");
    if !path.exists() {
        return Ok(None);
    }
    let arr = guard_map(&path)?;
    Ok(Some((arr.get(&0, 0)?, arr.get(&1, 0)?)))
}

fn guard_map(path: &std::path::Path) -> Result<aya::maps::Array<aya::maps::MapData, u64>> {
    let data = aya::maps::MapData::from_pin(path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(aya::maps::Array::try_from(aya::maps::Map::from_map_data(
        data,
    )?)?)
}

/// The host's CLOCK_MONOTONIC now, in nanoseconds: the clock of
/// `bpf_ktime_get_ns`, which the guard's and the taps' deadlines are on.
///
/// In a time namespace (time_namespaces(7)) this process's CLOCK_MONOTONIC
/// runs shifted by the namespace's offset, and BPF's does not; the offset,
/// read once from `/proc/self/timens_offsets` (the namespace this process's
/// children get, which is its own unless it unshared one without entering
/// it), is taken back out.
pub fn monotonic_ns() -> u64 {
    static OFFSET_NS: std::sync::OnceLock<i128> = std::sync::OnceLock::new();
    let offset = *OFFSET_NS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/timens_offsets")
            .map(|t| timens_monotonic_offset_ns(&t))
            .unwrap_or(0)
    });
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let ns = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
    u64::try_from(ns - offset).unwrap_or(0)
}

/// The monotonic offset in the text of `/proc/PID/timens_offsets` (lines
/// of clock, seconds, nanoseconds: `monotonic -5 250000000`), in ns; 0 if
/// the text has none.
fn timens_monotonic_offset_ns(text: &str) -> i128 {
    text.lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            // The kernel names the clock; a clock id (1) is accepted too.
            if !matches!(f.next(), Some("monotonic" | "1")) {
                return None;
            }
            let secs: i128 = f.next()?.parse().ok()?;
            let nanos: i128 = f.next()?.parse().ok()?;
            Some(secs * 1_000_000_000 + nanos)
        })
        .unwrap_or(0)
}

/// What confirming a guarded attachment found.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Confirmed {
    /// The deadline is cleared: the program keeps working.
    Kept,
    /// Too late: the program has passed everything since this
    /// CLOCK_MONOTONIC time.
    Reverted(u64),
    /// Nothing to confirm (no guard pinned, or confirmed already).
    NotWaiting,
}

/// Clears the deadline of the attachment on `iface` in namespace `ns`,
/// unless it has passed. A frame that saw the deadline pass latched the
/// revert in the map; that is read after clearing, so a confirmation that
/// races the deadline never brings a reverted program back unnoticed.
pub fn confirm_guard_of(ns: u64, iface: &str) -> Result<Confirmed> {
    let path = iface_dir_of(ns, iface).join("guard");
    if !path.exists() {
        return Ok(Confirmed::NotWaiting);
    }
    let mut arr = guard_map(&path)?;
    let (deadline, reverted) = (arr.get(&0, 0)?, arr.get(&1, 0)?);
    if reverted != 0 {
        return Ok(Confirmed::Reverted(reverted));
    }
    if deadline == 0 {
        return Ok(Confirmed::NotWaiting);
    }
    if monotonic_ns() >= deadline {
        return Ok(Confirmed::Reverted(deadline));
    }
    arr.set(0, 0, 0)?;
    match arr.get(&1, 0)? {
        0 => Ok(Confirmed::Kept),
        t => Ok(Confirmed::Reverted(t)),
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
    let link = dir.join("link");
    if link.exists() {
        match aya::programs::links::PinnedLink::from_pin(&link) {
            Ok(pinned) => match pinned.unpin() {
                Ok(fd_link) => drop(fd_link),
                Err(_) if !link.exists() => {}
                Err(e) => bail!("removing {}: {e}", link.display()),
            },
            Err(_) if !link.exists() => {}
            Err(e) => bail!("opening {}: {e}", link.display()),
        }
    }
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
    Ok(Some(super::ActionCounters::read(&arr)?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_namespace_offset_is_read_from_its_proc_file() {
        let t = "monotonic        1000         0\nboottime            0         0\n";
        assert_eq!(timens_monotonic_offset_ns(t), 1_000_000_000_000);
        let t = "boottime 7 0\nmonotonic -5 250000000\n";
        assert_eq!(timens_monotonic_offset_ns(t), -4_750_000_000);
        assert_eq!(timens_monotonic_offset_ns("1 2 3"), 2_000_000_003);
        for none in ["", "boottime 3 0", "monotonic x 0", "monotonic 3"] {
            assert_eq!(timens_monotonic_offset_ns(none), 0, "{none:?}");
        }
    }
}
