//! Processes by pid and start time (a pid alone may have been given to
//! another process since), and the processes holding an XDP link.

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

/// Processes holding a BPF link of type xdp to program `prog_id`, as
/// "pid N (comm)".
pub fn link_holders(prog_id: u32, ifindex: u32) -> Vec<String> {
    link_holder_pids(prog_id, ifindex)
        .into_iter()
        .map(|(pid, comm)| format!("pid {pid} ({comm})"))
        .collect()
}

/// Processes holding a BPF link of type xdp to program `prog_id` on
/// interface `ifindex`: (pid, command name).
pub fn link_holder_pids(prog_id: u32, ifindex: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fdinfo")) else {
            continue;
        };
        let held = fds.flatten().any(|fd| {
            let t = std::fs::read_to_string(fd.path()).unwrap_or_default();
            is_xdp_link(&t, prog_id, ifindex)
        });
        if held {
            let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            out.push((pid, comm.trim().to_string()));
        }
    }
    out
}

/// True if `fdinfo` is a BPF link of type xdp to program `prog_id` (and on
/// interface `ifindex` where the kernel says: 6.1+ prints it).
pub fn is_xdp_link(fdinfo: &str, prog_id: u32, ifindex: u32) -> bool {
    let field = |k: &str| {
        fdinfo
            .lines()
            .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
    };
    field("link_type:").as_deref() == Some("xdp")
        && field("prog_id:") == Some(prog_id.to_string())
        && field("ifindex:").is_none_or(|i| i == ifindex.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xdp_link_fdinfo_is_matched_by_program_and_interface() {
        let t = "pos:\t0\nflags:\t02000002\nlink_type:\txdp\nlink_id:\t9\nprog_tag:\tab\nprog_id:\t42\nifindex:\t3\n";
        assert!(is_xdp_link(t, 42, 3));
        assert!(!is_xdp_link(t, 42, 4));
        assert!(!is_xdp_link(t, 41, 3));
        assert!(is_xdp_link(&t.replace("ifindex:\t3\n", ""), 42, 7));
        assert!(!is_xdp_link(&t.replace("xdp", "tracing"), 42, 3));
    }
}
