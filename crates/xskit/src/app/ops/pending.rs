//! Loads waiting for confirmation, one file per process under
//! /run/xskit/pending, so that `xskit confirm` finds them from any shell
//! and namespace. The guard maps are the truth about the attachments; these
//! files only say which process waits for which program (by id) on which
//! interface. A record whose process is gone (pid and start time) is
//! removed; records of older xskit versions (another layout) are removed
//! unread.

use super::made;
use super::process::{own_start, start_time};
use super::state::{self, pending_dir as dir};
use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One waiting load.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    /// The `xskit load` process.
    pub pid: u32,
    /// Its start time (/proc/PID/stat field 22), so a recycled PID is not it.
    pub start: u64,
    /// Cookie of the network namespace of the interfaces.
    pub netns_cookie: u64,
    /// Interfaces, each with the id of the program attached there.
    pub attached: Vec<Attached>,
    /// Program name.
    pub program: String,
    /// Deadline: CLOCK_MONOTONIC nanoseconds and Unix time.
    pub deadline: (u64, f64),
    /// For a change of the filter's rules (not a load): the change, e.g.
    /// `default deny`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

/// One interface of a waiting load and the program it attached there.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attached {
    /// The interface.
    pub iface: String,
    /// The kernel's id of the program attached.
    pub prog_id: u32,
}

fn path(pid: u32) -> PathBuf {
    dir().join(format!("{pid}.json"))
}

impl Pending {
    /// Records this process's waiting load.
    pub fn save(&self) -> Result<()> {
        let text = serde_json::to_string(self)?;
        let p = path(self.pid);
        made::make_and_fill(&dir(), || {
            std::fs::write(&p, &text).with_context(|| format!("writing {}", p.display()))
        })
    }

    /// Forgets it (and the folder, if it was the last).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(path(self.pid));
        state::remove_empty_roots();
    }

    /// True while its file is there (the waiting process removes it
    /// before it settles).
    pub fn recorded(&self) -> bool {
        path(self.pid).exists()
    }

    /// `the load of pid N` or `the filter change of pid N (`default deny`)`.
    pub fn kind(&self) -> String {
        match &self.change {
            Some(c) => format!("the filter change of pid {} (`{c}`)", self.pid),
            None => format!("the load of pid {}", self.pid),
        }
    }

    /// What waits: `the load of pid N (xdp_drop on eth1)` or `the filter
    /// change of pid N (default deny)`.
    pub fn describe(&self) -> String {
        match &self.change {
            Some(c) => format!("the filter change of pid {} (`{c}`)", self.pid),
            None => format!(
                "the load of pid {} ({} on {})",
                self.pid,
                self.program,
                self.ifaces()
            ),
        }
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

impl Pending {
    /// The interfaces, joined by commas.
    pub fn ifaces(&self) -> String {
        self.attached
            .iter()
            .map(|a| a.iface.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// This process's record for a load of `program` on `attached`
/// (interface, program id).
pub fn for_this_process(
    attached: &[(String, u32)],
    program: &str,
    deadline: (u64, f64),
) -> Result<Pending> {
    Ok(Pending {
        pid: std::process::id(),
        start: own_start()?,
        netns_cookie: state::netns_id()?,
        attached: attached
            .iter()
            .map(|(iface, prog_id)| Attached {
                iface: iface.clone(),
                prog_id: *prog_id,
            })
            .collect(),
        program: program.to_string(),
        deadline,
        change: None,
    })
}
