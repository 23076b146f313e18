//! Which network namespace xskit's state belongs to, and whether that
//! namespace still exists.
//!
//! **Identity.** A namespace is known by its cookie (`SO_NETNS_COOKIE`,
//! Linux 5.14): a 64-bit number the kernel gives each network namespace
//! when it makes it and never gives another one until the machine reboots
//! (after which bpffs and /run start empty too). The inode number of
//! `/proc/thread-self/ns/net` is no identity: the kernel hands a deleted
//! namespace's number to the next namespace made, usually at once. The
//! cookie is read from a socket made in the calling thread's namespace.
//! Without it (ENOPROTOOPT, kernels before 5.14) xskit's persistent
//! commands refuse ([`cookie`]) rather than risk applying another
//! namespace's state.
//!
//! **Liveness.** The state of a namespace records its cookie and inode
//! ([`Netns`]). It belongs to a namespace that is gone when
//! - a live network namespace has that inode but another cookie (the
//!   number was reused: two live namespaces never share one), or
//! - no live network namespace has that inode, and this process can see
//!   every process: it runs in the initial PID namespace with
//!   CAP_SYS_PTRACE in its effective set, /proc is mounted without
//!   `hidepid=` (which hides other users' processes without an error),
//!   and nothing it looked at was refused to it; and two scans, the second
//!   started after the first ended, both found no holder.
//!
//! What the proof of absence survives: processes this process may not
//! see (hidepid, no CAP_SYS_PTRACE, another PID namespace, a refused
//! link): no conclusion; a holder that moves while a scan runs (forks and
//! exits, hands its descriptor on, a new mount or setns after the scan
//! passed it): the other scan finds it, as the namespace is held
//! throughout. It does not survive a holder that dodges both scans (moves
//! again during the second one to a place that scan has passed), nor a
//! namespace held only by a socket (below).
//!
//! A process whose namespace links this process may not read (root may be
//! refused some, as a PID 1 shielded by its supervisor) could hold any
//! namespace: then no namespace is taken to be gone for want of a holder,
//! only for a reused inode.
//!
//! Live namespaces are looked for where something holds them: nsfs bind
//! mounts (`/run/netns/NAME`, container runtimes' own) in the mount table
//! of every mount namespace in use, every thread's `/proc/PID/task/TID/ns/net`,
//! and, when those do not show the inode, every open file descriptor
//! (`/proc/PID/fd/*`). A namespace kept alive only by a socket that a
//! process took out of it and nothing else is not seen: it has no process
//! and no name left, so nothing xskit runs can reach it either. When a
//! process or mount with the inode is found, the namespace is entered to
//! read its cookie. Anything not certain ([`Fate::Unknown`]) is kept.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};

/// `SO_NETNS_COOKIE` (include/uapi/asm-generic/socket.h; Linux 5.14).
const SO_NETNS_COOKIE: libc::c_int = libc::SO_NETNS_COOKIE;

/// Inode of the initial PID namespace (`PROC_PID_INIT_INO`).
const INIT_PID_NS: &str = "pid:[4026531836]";

/// `CAP_SYS_PTRACE` (include/uapi/linux/capability.h): without it, other
/// users' namespace links are refused, or their processes hidden.
const CAP_SYS_PTRACE: u32 = 19;

/// What xskit's state records about its namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Netns {
    /// `SO_NETNS_COOKIE`: never reused while the machine runs.
    pub cookie: u64,
    /// The inode of its nsfs file, reused at once: kept to find it again.
    pub inode: u64,
}

/// The message when the kernel has no namespace cookie.
pub(crate) const NO_COOKIE: &str = "this kernel has no network namespace cookie (SO_NETNS_COOKIE, Linux 5.14 and later), \
     without which xskit cannot tell a namespace from a deleted one whose number the kernel reused: load, unload, status, \
     filter and confirm refuse (echo, dump and the benchmarks, whose programs end with their process, still work)";

/// The cookie of the calling thread's network namespace.
pub fn cookie() -> Result<u64> {
    let sock = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::DGRAM,
        None,
    )
    .map_err(std::io::Error::from)
    .context("creating a socket to read the network namespace cookie")?;
    cookie_of(sock.as_fd()).map_err(cookie_error)
}

/// The error of a failed `SO_NETNS_COOKIE` read, in one line.
fn cookie_error(e: std::io::Error) -> anyhow::Error {
    match e.raw_os_error() {
        Some(libc::ENOPROTOOPT) => anyhow::anyhow!(NO_COOKIE),
        _ => anyhow::anyhow!("reading the network namespace cookie (SO_NETNS_COOKIE): {e}"),
    }
}

/// `getsockopt(SOL_SOCKET, SO_NETNS_COOKIE)` of `sock`.
fn cookie_of(sock: BorrowedFd<'_>) -> std::io::Result<u64> {
    let mut cookie: u64 = 0;
    let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` (8) bytes to `cookie`, a u64
    // that lives on this stack for the whole call, and the length it wrote
    // to `len`, also ours; `sock` is an open socket borrowed for the call.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            SO_NETNS_COOKIE,
            (&mut cookie as *mut u64).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if len as usize != std::mem::size_of::<u64>() {
        return Err(std::io::Error::other(format!(
            "SO_NETNS_COOKIE returned {len} bytes, not 8"
        )));
    }
    Ok(cookie)
}

/// The inode of the calling thread's network namespace.
pub fn inode() -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/thread-self/ns/net")
        .context("reading /proc/thread-self/ns/net")?
        .ino())
}

/// The calling thread's network namespace.
pub fn current() -> Result<Netns> {
    Ok(Netns {
        cookie: cookie()?,
        inode: inode()?,
    })
}

/// Runs `f` on a thread of its own inside the network namespace of the
/// nsfs file `ns` (or a `/proc/PID/ns/net` link opened by the caller).
pub fn run_in_fd<R: Send>(ns: BorrowedFd<'_>, f: impl FnOnce() -> R + Send) -> Result<R> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<R> {
            rustix::thread::move_into_link_name_space(
                ns,
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .map_err(std::io::Error::from)
            .context("entering a network namespace")?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// The cookie of the network namespace held at `path` (an nsfs file),
/// provided the file opened is still the namespace of inode `inode`: a
/// holder found by a scan may have moved since (a thread's setns or
/// unshare, a reused pid, tid or fd number, a replaced mount), and the
/// cookie of whatever namespace it holds now proves nothing about `inode`.
fn cookie_at(path: &Path, inode: u64) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let f = std::fs::File::open(path).ok()?;
    if f.metadata().ok()?.ino() != inode {
        return None;
    }
    run_in_fd(f.as_fd(), cookie).ok()?.ok()
}

/// Opens the network namespace of process `pid`, provided it is still the
/// process that started at `start` (`/proc/PID/stat`) and its namespace
/// has `cookie`; then runs `f` inside it.
pub fn run_in_process_netns<R: Send>(
    pid: u32,
    start: u64,
    cookie: u64,
    f: impl FnOnce() -> R + Send,
) -> Result<R> {
    let f_ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))
        .with_context(|| format!("process {pid} is gone"))?;
    // Checked after the open: a process that still runs with this start
    // time is the one whose namespace was opened (a pid is not reused
    // while its process lives).
    if super::process::start_time(pid) != Some(start) {
        bail!("process {pid} is gone");
    }
    run_in_fd(f_ns.as_fd(), || -> Result<R> {
        let here = self::cookie()?;
        if here != cookie {
            bail!("process {pid} is no longer in the network namespace it loaded in");
        }
        Ok(f())
    })?
}

/// Whether the namespace a state was recorded for is gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fate {
    /// It exists.
    Alive,
    /// It is gone, for this reason.
    Gone(String),
    /// Cannot be told (kept).
    Unknown,
}

/// Where live network namespaces are held, found once per command.
#[derive(Default)]
pub struct Scan {
    /// Holders by namespace inode: paths to open to enter them.
    holders: Option<BTreeMap<u64, Vec<PathBuf>>>,
    /// Open file descriptors scanned too.
    fds: bool,
    /// Something could not be read for want of permission: the scan
    /// cannot prove that a namespace is gone.
    incomplete: bool,
    /// The second scan that an absence is confirmed by, started once this
    /// one ended ([`Scan::absent`]).
    again: Option<Box<Scan>>,
}

/// The `net:[N]` inode a namespace link points to; notes a link this
/// process may not read (one that vanished meanwhile does not count).
fn read_net_link(link: &Path, incomplete: &mut bool) -> Option<u64> {
    match std::fs::read_link(link) {
        Ok(l) => net_inode(l.to_str()?),
        Err(e) => {
            if e.kind() == std::io::ErrorKind::PermissionDenied {
                *incomplete = true;
            }
            None
        }
    }
}

/// `net:[4026532174]` → 4026532174.
fn net_inode(link: &str) -> Option<u64> {
    link.strip_prefix("net:[")?.strip_suffix(']')?.parse().ok()
}

fn numbered(dir: &Path) -> Vec<(u32, PathBuf)> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .collect()
}

/// A mountinfo path with its octal escapes (`\040` for a space) undone.
fn unescape(p: &str) -> String {
    let b = p.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Network namespace bind mounts in one `mountinfo`: (inode, mount point).
fn nsfs_mounts(mountinfo: &str) -> Vec<(u64, String)> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            if right.split_whitespace().next()? != "nsfs" {
                return None;
            }
            let f: Vec<&str> = left.split_whitespace().collect();
            Some((net_inode(f.get(3)?)?, unescape(f.get(4)?)))
        })
        .collect()
}

/// The effective capabilities (`CapEff:`) in a `/proc/PID/status` text.
fn cap_eff(status: &str) -> Option<u64> {
    let v = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(v.trim(), 16).ok()
}

/// True if the calling thread has `CAP_SYS_PTRACE` in its effective set.
fn can_ptrace() -> bool {
    std::fs::read_to_string("/proc/thread-self/status")
        .ok()
        .and_then(|s| cap_eff(&s))
        .is_some_and(|c| c & (1 << CAP_SYS_PTRACE) != 0)
}

/// True if the `proc` mounted at /proc in `mountinfo` shows every process:
/// every such mount is without `hidepid=` (or with `hidepid=0`/`off`) in
/// its mount and superblock options. False where none is found.
fn proc_shows_every_process(mountinfo: &str) -> bool {
    let mut found = false;
    for l in mountinfo.lines() {
        let Some((left, right)) = l.split_once(" - ") else {
            continue;
        };
        let f: Vec<&str> = left.split_whitespace().collect();
        let r: Vec<&str> = right.split_whitespace().collect();
        if r.first() != Some(&"proc") || f.get(4).map(|p| unescape(p)).as_deref() != Some("/proc") {
            continue;
        }
        found = true;
        let options = f
            .get(5)
            .into_iter()
            .chain(r.get(2))
            .flat_map(|o| o.split(','));
        for o in options {
            if o.strip_prefix("hidepid=")
                .is_some_and(|v| v != "0" && v != "off")
            {
                return false;
            }
        }
    }
    found
}

impl Scan {
    /// A scan that has looked at nothing yet.
    pub fn new() -> Scan {
        Scan::default()
    }

    /// True if this process sees every process of the machine (and the
    /// scan could read all it looked at): the initial PID namespace,
    /// CAP_SYS_PTRACE, and a /proc without `hidepid=`.
    fn sees_everything(&self) -> bool {
        !self.incomplete
            && std::fs::read_link("/proc/self/ns/pid")
                .is_ok_and(|l| l.to_str() == Some(INIT_PID_NS))
            && can_ptrace()
            && std::fs::read_to_string("/proc/self/mountinfo")
                .is_ok_and(|m| proc_shows_every_process(&m))
    }

    /// True if, for certain, no holder of inode `inode` is left: this scan
    /// found none and saw everything, and so did a second scan started
    /// after this one ended (a holder that moved while this one ran, as a
    /// process that forked and exited, is found by the second).
    fn absent(&mut self, inode: u64) -> bool {
        if !self.paths_of(inode).is_empty() || !self.sees_everything() {
            return false;
        }
        // `paths_of` found nothing: this scan has read every holder
        // (descriptors too), so the second starts after it ended.
        let again = self.again.get_or_insert_with(Box::default);
        again.paths_of(inode).is_empty() && again.sees_everything()
    }

    fn holders(&mut self) -> &mut BTreeMap<u64, Vec<PathBuf>> {
        let incomplete = &mut self.incomplete;
        self.holders.get_or_insert_with(|| {
            let mut h: BTreeMap<u64, Vec<PathBuf>> = BTreeMap::new();
            let procs = numbered(Path::new("/proc"));
            // Mount tables: one per mount namespace in use.
            let mut mnt_seen = BTreeSet::new();
            for (pid, dir) in &procs {
                let mnt = match std::fs::read_link(dir.join("ns/mnt")) {
                    Ok(m) => m,
                    Err(e) => {
                        *incomplete |= e.kind() == std::io::ErrorKind::PermissionDenied;
                        continue;
                    }
                };
                if !mnt_seen.insert(mnt) {
                    continue;
                }
                let text = match std::fs::read_to_string(dir.join("mountinfo")) {
                    Ok(t) => t,
                    Err(e) => {
                        *incomplete |= e.kind() == std::io::ErrorKind::PermissionDenied;
                        continue;
                    }
                };
                for (ino, point) in nsfs_mounts(&text) {
                    let p = PathBuf::from(format!("/proc/{pid}/root{point}"));
                    h.entry(ino).or_default().push(p);
                }
            }
            // Every thread's namespace.
            for (_, dir) in &procs {
                for (_, task) in numbered(&dir.join("task")) {
                    let link = task.join("ns/net");
                    if let Some(ino) = read_net_link(&link, incomplete) {
                        h.entry(ino).or_default().push(link);
                    }
                }
            }
            h
        })
    }

    /// Adds every open file descriptor that is a network namespace.
    fn scan_fds(&mut self) {
        if self.fds {
            return;
        }
        self.fds = true;
        let mut incomplete = false;
        let mut found = Vec::new();
        for (_, dir) in numbered(Path::new("/proc")) {
            let fds = dir.join("fd");
            if let Err(e) = std::fs::read_dir(&fds) {
                incomplete |= e.kind() == std::io::ErrorKind::PermissionDenied;
            }
            for (_, fd) in numbered(&fds) {
                if let Some(ino) = read_net_link(&fd, &mut incomplete) {
                    found.push((ino, fd));
                }
            }
        }
        self.incomplete |= incomplete;
        let h = self.holders();
        for (ino, fd) in found {
            h.entry(ino).or_default().push(fd);
        }
    }

    fn paths_of(&mut self, inode: u64) -> Vec<PathBuf> {
        if let Some(p) = self.holders().get(&inode) {
            return p.clone();
        }
        self.scan_fds();
        self.holders().get(&inode).cloned().unwrap_or_default()
    }

    /// True if, for certain, no live network namespace has inode `inode`
    /// (false when none was found but this process cannot see every
    /// process).
    pub fn inode_unused(&mut self, inode: u64) -> bool {
        self.absent(inode)
    }

    /// True if this scan can prove a namespace gone by finding nothing
    /// that holds it: it saw every process, thread, descriptor and mount
    /// table of the machine (false where even root may not read some, as
    /// a PID 1 shielded by its supervisor).
    pub fn can_prove_absence(&mut self) -> bool {
        self.holders();
        self.scan_fds();
        self.sees_everything()
    }

    /// Whether the namespace `ns` still exists.
    pub fn fate(&mut self, ns: Netns) -> Fate {
        let mut paths = self.paths_of(ns.inode);
        if paths.is_empty() {
            if self.absent(ns.inode) {
                return Fate::Gone(format!(
                    "no network namespace has inode {} any more",
                    ns.inode
                ));
            }
            // The second scan may have found a holder the first missed.
            paths = self
                .again
                .as_mut()
                .map(|a| a.paths_of(ns.inode))
                .unwrap_or_default();
        }
        for p in paths {
            match cookie_at(&p, ns.inode) {
                Some(c) if c == ns.cookie => return Fate::Alive,
                Some(c) => {
                    return Fate::Gone(format!(
                        "its inode {} belongs to another namespace now (cookie {c})",
                        ns.inode
                    ))
                }
                // The holder went away or moved meanwhile: try the next one.
                None => {}
            }
        }
        Fate::Unknown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nsfs_mounts_are_read_from_mountinfo() {
        let t = "\
36 25 0:4 net:[4026532174] /run/netns/opsA rw shared:5 - nsfs nsfs rw
37 25 0:4 mnt:[4026532300] /run/mnt\\040x rw - nsfs nsfs rw
38 25 0:4 net:[4026532238] /run/netns/a\\040b rw - nsfs nsfs rw
39 25 0:26 / /sys/fs/bpf rw - bpf bpf rw
";
        assert_eq!(
            nsfs_mounts(t),
            vec![
                (4026532174, "/run/netns/opsA".to_string()),
                (4026532238, "/run/netns/a b".to_string())
            ]
        );
        assert_eq!(net_inode("net:[12]"), Some(12));
        assert_eq!(net_inode("pid:[12]"), None);
    }

    #[test]
    fn hidepid_is_read_from_the_proc_mount() {
        let line = |opts: &str, sup: &str| {
            format!(
                "25 1 0:24 / /sys rw,nosuid - sysfs sysfs rw\n\
                 26 1 0:5 / /proc {opts} shared:12 - proc proc {sup}\n\
                 27 26 0:40 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw,hidepid=2\n"
            )
        };
        assert!(proc_shows_every_process(&line("rw,nosuid", "rw")));
        assert!(proc_shows_every_process(&line("rw", "rw,hidepid=0")));
        assert!(proc_shows_every_process(&line("rw", "rw,hidepid=off")));
        for hidden in ["1", "2", "invisible", "noaccess", "ptraceable"] {
            let h = format!("rw,hidepid={hidden},gid=4");
            assert!(!proc_shows_every_process(&line("rw", &h)), "{hidden}");
            assert!(
                !proc_shows_every_process(&line(&h, "rw")),
                "{hidden} per mount"
            );
        }
        // A second proc stacked on /proc hides what the first shows.
        let two = format!(
            "{}28 1 0:50 / /proc rw - proc proc rw,hidepid=invisible\n",
            line("rw", "rw")
        );
        assert!(!proc_shows_every_process(&two));
        // A proc elsewhere is not the /proc this process reads; none: false.
        assert!(!proc_shows_every_process(
            "26 1 0:5 / /mnt/proc rw - proc proc rw\n"
        ));
        assert!(!proc_shows_every_process(""));
    }

    #[test]
    fn cap_sys_ptrace_is_read_from_cap_eff() {
        let status = |eff: &str| {
            format!(
                "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t{eff}\n"
            )
        };
        let has = |eff: &str| cap_eff(&status(eff)).map(|c| c & (1 << CAP_SYS_PTRACE) != 0);
        assert_eq!(has("000001ffffffffff"), Some(true));
        assert_eq!(has("0000000000080000"), Some(true));
        assert_eq!(has("000001fffff7ffff"), Some(false));
        assert_eq!(has("0000000000000000"), Some(false));
        assert_eq!(cap_eff("Name:\tx\n"), None);
        assert_eq!(cap_eff("CapEff:\tzz\n"), None);
    }

    #[test]
    fn a_kernel_without_cookies_is_named_in_one_line() {
        let e = cookie_error(std::io::Error::from_raw_os_error(libc::ENOPROTOOPT)).to_string();
        assert!(e.contains("Linux 5.14") && e.contains("refuse"), "{e}");
        assert_eq!(e.lines().count(), 1);
    }

    #[test]
    fn the_calling_threads_cookie_is_read() {
        // Every kernel the test suite runs on has it (5.14+).
        let a = cookie().unwrap();
        assert_eq!(cookie().unwrap(), a);
    }
}
