//! Loads waiting for confirmation, one file per process under
//! /run/xskit/pending, so that `xskit confirm` finds them from any shell
//! and namespace. The guard maps are the truth about the attachments; these
//! files only say which process waits for which.

use super::state;
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Where the files are.
pub fn dir() -> PathBuf {
    PathBuf::from("/run/xskit/pending")
}

/// One waiting load.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    /// The `xskit load` process.
    pub pid: u32,
    /// Its start time (/proc/PID/stat field 22), so a recycled PID is not it.
    pub start: u64,
    /// Network namespace (inode) of the interfaces.
    pub ns: u64,
    /// Interfaces.
    pub ifaces: Vec<String>,
    /// Program name.
    pub program: String,
    /// Deadline: CLOCK_MONOTONIC nanoseconds and Unix time.
    pub deadline: (u64, f64),
}

fn path(pid: u32) -> PathBuf {
    dir().join(format!("{pid}.json"))
}

/// Start time of process `pid` in clock ticks since boot, if it runs (a
/// zombie does not count).
pub fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: fields after its ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    if f.first() == Some(&"Z") || f.first() == Some(&"X") {
        return None;
    }
    f.get(19)?.parse().ok()
}

impl Pending {
    /// Records this process's waiting load.
    pub fn save(&self) -> Result<()> {
        std::fs::create_dir_all(dir())?;
        std::fs::write(path(self.pid), serde_json::to_string(self)?)
            .with_context(|| format!("writing {}", path(self.pid).display()))
    }

    /// Forgets it.
    pub fn remove(&self) {
        let _ = std::fs::remove_file(path(self.pid));
    }

    /// True while the process that waits is alive.
    pub fn alive(&self) -> bool {
        start_time(self.pid) == Some(self.start)
    }
}

/// Every recorded waiting load (unreadable files are removed).
pub fn all() -> Vec<Pending> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir()) {
        for e in rd.flatten() {
            match std::fs::read_to_string(e.path())
                .ok()
                .and_then(|t| serde_json::from_str::<Pending>(&t).ok())
            {
                Some(p) => out.push(p),
                None => {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
    }
    out.sort_by_key(|p| p.pid);
    out
}

/// Removes the records of loads whose process is gone.
pub fn forget_dead() {
    for p in all() {
        if !p.alive() {
            p.remove();
        }
    }
}

/// This process's record for a load of `program` on `ifaces`.
pub fn for_this_process(ifaces: &[String], program: &str, deadline: (u64, f64)) -> Result<Pending> {
    let pid = std::process::id();
    Ok(Pending {
        pid,
        start: start_time(pid).context("reading /proc/self/stat")?,
        ns: state::netns_id()?,
        ifaces: ifaces.to_vec(),
        program: program.to_string(),
        deadline,
    })
}
