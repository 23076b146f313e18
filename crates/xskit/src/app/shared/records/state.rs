//! Where `xskit load` keeps attachments that outlive the command: BPF links
//! and counter maps pinned in bpffs, per network namespace and interface.
//!
//! ```text
//!   /sys/fs/bpf/xskit/netns-<COOKIE>/if-<IFACE>/link    the attachment
//!   /sys/fs/bpf/xskit/netns-<COOKIE>/if-<IFACE>/stats   its per-action counters
//!   /sys/fs/bpf/xskit/netns-<COOKIE>/if-<IFACE>/guard   its confirmation deadline (bpf/guard.h)
//!   /sys/fs/bpf/xskit/netns-<COOKIE>/filter/*           the filter's rule maps
//!   /run/xskit/loaded/netns-<COOKIE>/<IFACE>.json       what was loaded, and when
//!   /run/xskit/loaded/netns-<COOKIE>/identity           the namespace's cookie and inode
//!   /run/xskit/loaded/netns-<COOKIE>/filter-change      a rule change waiting for confirmation
//! ```
//!
//! bpffs is shared by every network namespace; the namespace cookie keeps
//! interfaces of the same name in different namespaces apart, and a new
//! namespace from a deleted one's state: the kernel never gives a cookie
//! twice, while it reuses the inode numbers of deleted namespaces at once
//! ([`super::identity`]). The `identity` record is written before anything
//! else of a namespace's state, so that any xskit command can tell later
//! whether the namespace still exists: every persistent command first
//! removes the state of namespaces that are gone ([`check`]; it says so
//! on stderr, one line each). A state directory without its record is
//! kept (it cannot be told apart from one being made).
//!
//! Older xskit versions keyed the same layout by inode (`ns<INODE>`); such
//! directories are never read. Where their inode is the calling namespace's
//! the command refuses, naming them, as they may hold a deleted namespace's
//! rules; where no namespace has their inode any more they are removed.

use super::identity::{self, Fate, Netns};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
pub use xskit_xdp::bpffs::ensure_bpffs;
pub use xskit_xdp::bpffs::BPFFS;
use xskit_xdp::filter::{Rules, Verdict};
pub use xskit_xdp::guard::{monotonic_ns, Confirmed};

/// Where every namespace's records are.
const RUN: &str = "/run/xskit/loaded";

/// Identity of the calling thread's network namespace: its cookie
/// (`SO_NETNS_COOKIE`). Fails, in one line naming Linux 5.14, where the
/// kernel has none.
pub fn netns_id() -> Result<u64> {
    identity::cookie()
}

fn bpf_root() -> PathBuf {
    PathBuf::from(BPFFS).join("xskit")
}

fn root_of(cookie: u64) -> PathBuf {
    bpf_root().join(format!("netns-{cookie}"))
}

pub(crate) fn run_of(cookie: u64) -> PathBuf {
    PathBuf::from(RUN).join(format!("netns-{cookie}"))
}

fn identity_path(cookie: u64) -> PathBuf {
    run_of(cookie).join("identity")
}

/// xskit's bpffs directory for this network namespace.
pub fn root() -> Result<PathBuf> {
    Ok(root_of(netns_id()?))
}

/// The directory of one interface's pins.
pub fn iface_dir(iface: &str) -> Result<PathBuf> {
    Ok(iface_dir_of(netns_id()?, iface))
}

/// The directory of one interface's pins in the namespace of cookie `ns`.
pub fn iface_dir_of(ns: u64, iface: &str) -> PathBuf {
    root_of(ns).join(format!("if-{iface}"))
}

/// The directory of the filter's rule maps.
pub fn filter_dir() -> Result<PathBuf> {
    Ok(root()?.join("filter"))
}

/// Records which namespace the state about to be made belongs to (once).
pub fn claim() -> Result<()> {
    let me = identity::current()?;
    let path = identity_path(me.cookie);
    if path.exists() {
        return Ok(());
    }
    let dir = run_of(me.cookie);
    // Whole or not at all: another xskit may read it at any moment.
    let tmp = dir.join(format!(".identity.{}", std::process::id()));
    let text = serde_json::to_string(&me)?;
    super::made::make_and_fill(&dir, || {
        std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))
    })?;
    std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))
}

fn read_identity(cookie: u64) -> Option<Netns> {
    let t = std::fs::read_to_string(identity_path(cookie)).ok()?;
    serde_json::from_str::<Netns>(&t)
        .ok()
        .filter(|n| n.cookie == cookie)
}

/// The filter's rule maps of this namespace, created if there are none.
pub fn rules() -> Result<Rules> {
    claim()?;
    let dir = filter_dir()?;
    // Mounted before the directory is made in it.
    ensure_bpffs()?;
    super::made::make_and_fill(&dir, || Rules::open(&dir))
}

/// The filter's rule maps of this namespace, if they exist.
pub fn existing_rules() -> Result<Option<Rules>> {
    Ok(Rules::existing(&filter_dir()?))
}

/// Removes the rule maps `rules` if they hold nothing anyone set: no rule
/// and the default policy `allow` (as a command that made them left them).
/// True if removed.
pub fn remove_rules_if_untouched(rules: Rules) -> Result<bool> {
    if !rules.list()?.is_empty() || rules.default_verdict()? != Verdict::Allow {
        return Ok(false);
    }
    rules.remove()?;
    Ok(true)
}

fn meta_path(iface: &str) -> Result<PathBuf> {
    Ok(meta_path_of(netns_id()?, iface))
}

fn meta_path_of(ns: u64, iface: &str) -> PathBuf {
    run_of(ns).join(format!("{iface}.json"))
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
    /// That process's start time (/proc/PID/stat), so that a process
    /// that later got the same pid is not taken for it.
    #[serde(default)]
    pub pid_start: Option<u64>,
    /// Unix time at which the guard reverted it, never confirmed (the
    /// attachment is then gone; the record stays to say so).
    #[serde(default)]
    pub reverted_at: Option<f64>,
    /// While a change of the filter's rules waits for confirmation (the
    /// deadline, pid and start time above are the change's, not the
    /// load's): the change, e.g. `default deny`. Undone, not detached, if
    /// not confirmed (the change itself: `ops::guard::FilterChange`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

impl Loaded {
    /// True while the process that waits for its confirmation runs.
    pub fn waiter_alive(&self) -> bool {
        match (self.pid, self.pid_start) {
            (Some(pid), Some(start)) => super::process::start_time(pid) == Some(start),
            _ => false,
        }
    }
}

/// Records a load.
pub fn save_meta(iface: &str, meta: &Loaded) -> Result<()> {
    save_meta_of(netns_id()?, iface, meta)
}

/// Records a load in the namespace of cookie `ns`.
pub fn save_meta_of(ns: u64, iface: &str, meta: &Loaded) -> Result<()> {
    let p = meta_path_of(ns, iface);
    let text = serde_json::to_string(meta)?;
    super::made::make_and_fill(p.parent().expect("has a parent"), || {
        std::fs::write(&p, &text).with_context(|| format!("writing {}", p.display()))
    })
}

/// The record of a load, if any (none where the kernel has no namespace
/// cookie: no xskit load can have been made there; `doctor` asks too).
pub fn load_meta(iface: &str) -> Result<Option<Loaded>> {
    Ok(netns_id().ok().and_then(|ns| load_meta_of(ns, iface)))
}

/// The record of a load in the namespace of cookie `ns`, if any.
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
    if let Ok(rd) = std::fs::read_dir(run_of(ns)) {
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

/// The id of the program whose link is pinned for `iface` in the
/// namespace of cookie `ns`, as the kernel reports the link; `None` if no
/// link is pinned there.
pub fn pinned_prog_id_of(ns: u64, iface: &str) -> Option<u32> {
    let dir = iface_dir_of(ns, iface);
    // A component of a dispatcher: its program is pinned, not a link.
    if let Ok(p) = aya::programs::ProgramInfo::from_pin(dir.join("prog")) {
        return Some(p.id());
    }
    let path = dir.join("link");
    let pinned = aya::programs::links::PinnedLink::from_pin(&path).ok()?;
    // Dropping the descriptor leaves the pin (and the attachment) alone.
    let link: aya::programs::links::FdLink = pinned.into();
    link.info().ok().map(|i| i.program_id())
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

/// Like [`unpin`] in the namespace of cookie `ns`, but keeps the record.
pub fn unpin_pins_of(ns: u64, iface: &str) -> Result<bool> {
    let dir = iface_dir_of(ns, iface);
    if !dir.exists() {
        return Ok(false);
    }
    let prog = dir.join("prog");
    if let Ok(p) = aya::programs::ProgramInfo::from_pin(&prog) {
        // A component: out of the dispatcher that runs it, found by its
        // program id in libxdp's pins (the interface may have been renamed;
        // if it is gone, so is its dispatcher, and the pins go).
        let id = p.id();
        xskit_xdp::multiprog::detach_program(id, iface)
            .with_context(|| format!("taking program id {id} out of the dispatcher on {iface}"))?;
        let _ = std::fs::remove_file(&prog);
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

fn remove_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        r => r.with_context(|| format!("removing {}", dir.display())),
    }
}

/// Removes every pin and record xskit keeps for the namespace of cookie
/// `ns` (for `sandbox down` and tests): its programs are detached and its
/// filter rules dropped.
pub fn forget_namespace(ns: u64) -> Result<()> {
    remove_tree(&root_of(ns))?;
    remove_tree(&run_of(ns))
}

/// Removes this namespace's state directories if nothing is left in them
/// but the identity record.
pub fn forget_if_empty() -> Result<()> {
    let ns = netns_id()?;
    let empty = |d: &Path, but: &[&str]| {
        std::fs::read_dir(d).map_or(true, |rd| {
            rd.flatten()
                .all(|e| but.iter().any(|b| e.file_name().to_str() == Some(b)))
        })
    };
    if empty(&root_of(ns), &[]) && empty(&run_of(ns), &["identity"]) {
        // Nothing recursive: another xskit may be pinning or recording in
        // this namespace right now, and what it made must stay. Each
        // removal takes only an empty folder or the identity record.
        let _ = std::fs::remove_dir(root_of(ns));
        let _ = std::fs::remove_file(run_of(ns).join("identity"));
        let raced = std::fs::remove_dir(run_of(ns))
            .is_err_and(|e| e.kind() != std::io::ErrorKind::NotFound)
            || root_of(ns).exists();
        if raced {
            // Its state needs its identity record back.
            claim()?;
        }
    }
    remove_empty_roots();
    Ok(())
}

/// Where the records of loads and rule changes waiting for confirmation
/// are, one file per waiting process.
pub fn pending_dir() -> PathBuf {
    PathBuf::from("/run/xskit/pending")
}

/// Removes xskit's top folders (`/sys/fs/bpf/xskit`, `/run/xskit/loaded`,
/// `/run/xskit/pending`, `/run/xskit`) where nothing is left in them (a
/// folder another xskit fills meanwhile is not empty and stays).
pub fn remove_empty_roots() {
    for d in [
        bpf_root(),
        PathBuf::from(RUN),
        pending_dir(),
        PathBuf::from("/run/xskit"),
    ] {
        let _ = std::fs::remove_dir(d);
    }
}

/// Cookies with a state directory, with the directories.
fn cookie_dirs() -> std::collections::BTreeMap<u64, Vec<PathBuf>> {
    let mut out: std::collections::BTreeMap<u64, Vec<PathBuf>> = Default::default();
    for root in [bpf_root(), PathBuf::from(RUN)] {
        let Ok(rd) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in rd.flatten() {
            if let Some(c) = e
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("netns-"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                out.entry(c).or_default().push(e.path());
            }
        }
    }
    out
}

/// Directories of older xskit versions (`ns<INODE>`), by inode.
fn legacy_dirs() -> std::collections::BTreeMap<u64, Vec<PathBuf>> {
    let mut out: std::collections::BTreeMap<u64, Vec<PathBuf>> = Default::default();
    for root in [bpf_root(), PathBuf::from(RUN)] {
        let Ok(rd) = std::fs::read_dir(&root) else {
            continue;
        };
        for e in rd.flatten() {
            if let Some(i) = e
                .file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("ns"))
                .and_then(|n| n.parse::<u64>().ok())
            {
                out.entry(i).or_default().push(e.path());
            }
        }
    }
    out
}

fn paths(v: &[PathBuf]) -> String {
    v.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Run first by every persistent command (`load`, `unload`, `status`,
/// `filter`, `confirm`) in its namespace: refuses where the kernel has no
/// namespace cookie, or where an older xskit left state keyed by this
/// namespace's inode; removes the state of namespaces that are gone and
/// older xskit's state of inodes no namespace has (one line on stderr
/// each).
pub fn check() -> Result<()> {
    let me = identity::current()?;
    let mut scan = identity::Scan::new();
    for (inode, dirs) in legacy_dirs() {
        if inode == me.inode {
            bail!(
                "{} hold state of an older xskit, keyed by the inode of this network namespace ({inode}), which the kernel \
                 also gives to new namespaces: it may be a deleted namespace's, so xskit does not use it; remove it with \
                 `rm -r {}` (this detaches the programs pinned there) and load again",
                paths(&dirs),
                paths(&dirs)
            );
        }
        // Cleaning another namespace's leftovers is a courtesy: a failure
        // is said, never in the way of this command.
        if scan.inode_unused(inode) {
            match dirs.iter().try_for_each(|d| remove_tree(d)) {
                Ok(()) => eprintln!(
                    "xskit: removed {}: state of an older xskit for network namespace inode {inode}, which no namespace has any more",
                    paths(&dirs)
                ),
                Err(e) => eprintln!(
                    "xskit: warning: cannot remove {} (state of a namespace that no longer exists): {e:#}",
                    paths(&dirs)
                ),
            }
        }
    }
    for (cookie, dirs) in cookie_dirs() {
        if cookie == me.cookie {
            continue;
        }
        // No record: being made, or its record was removed by hand; kept.
        let Some(ns) = read_identity(cookie) else {
            continue;
        };
        if let Fate::Gone(why) = scan.fate(ns) {
            match forget_namespace(cookie) {
                Ok(()) => eprintln!(
                    "xskit: removed {}: state of the network namespace of cookie {cookie}, which no longer exists ({why}); \
                     programs pinned there are detached",
                    paths(&dirs)
                ),
                Err(e) => eprintln!(
                    "xskit: warning: cannot remove {} (state of a namespace that no longer exists: {why}): {e:#}",
                    paths(&dirs)
                ),
            }
        }
    }
    Ok(())
}
