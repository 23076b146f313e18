//! Processes by pid and start time: a pid alone may have been given to
//! another process since.

use anyhow::{Context, Result};

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

/// This process's start time.
pub fn own_start() -> Result<u64> {
    start_time(std::process::id()).context("reading /proc/self/stat")
}
