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
    holders(|fdinfo| is_xdp_link(fdinfo, prog_id, ifindex))
}

/// The other processes holding program `prog_id` itself open (not a link
/// to it), with their `comm`: a running xskit command holds its
/// component's program while it runs; libxdp's tools exit after loading.
pub fn program_holder_pids(prog_id: u32) -> Vec<(u32, String)> {
    let me = std::process::id();
    holders(|fdinfo| is_program(fdinfo, prog_id))
        .into_iter()
        .filter(|(pid, _)| *pid != me)
        .collect()
}

/// The processes with an open descriptor whose fdinfo `held` matches.
fn holders(held: impl Fn(&str) -> bool) -> Vec<(u32, String)> {
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
        let found = fds.flatten().any(|fd| {
            let t = std::fs::read_to_string(fd.path()).unwrap_or_default();
            held(&t)
        });
        if found {
            let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            out.push((pid, comm.trim().to_string()));
        }
    }
    out
}

fn field<'a>(fdinfo: &'a str, key: &str) -> Option<&'a str> {
    fdinfo
        .lines()
        .find_map(|l| l.strip_prefix(key).map(str::trim))
}

/// True if `fdinfo` is program `prog_id`'s own descriptor (a link's also
/// names a prog_id, and a link_type).
pub fn is_program(fdinfo: &str, prog_id: u32) -> bool {
    field(fdinfo, "prog_type:").is_some()
        && field(fdinfo, "link_type:").is_none()
        && field(fdinfo, "prog_id:") == Some(prog_id.to_string().as_str())
}

/// True if `fdinfo` is a BPF link of type xdp to program `prog_id` (and on
/// interface `ifindex` where the kernel says: 6.1+ prints it).
pub fn is_xdp_link(fdinfo: &str, prog_id: u32, ifindex: u32) -> bool {
    field(fdinfo, "link_type:") == Some("xdp")
        && field(fdinfo, "prog_id:") == Some(prog_id.to_string().as_str())
        && field(fdinfo, "ifindex:").is_none_or(|i| i == ifindex.to_string())
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

    #[test]
    fn a_programs_own_descriptor_is_told_from_a_link_to_it() {
        let prog = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\nprog_type:\t28\nprog_jited:\t1\nprog_tag:\tab\nmemlock:\t4096\nprog_id:\t42\n";
        assert!(is_program(prog, 42));
        assert!(!is_program(prog, 4));
        assert!(!is_program(
            &prog.replace("prog_id:\t42", "prog_id:\t420"),
            42
        ));
        let link = "pos:\t0\nflags:\t02000002\nlink_type:\ttracing\nlink_id:\t9\nprog_tag:\tab\nprog_id:\t42\n";
        assert!(!is_program(link, 42));
        assert!(!is_program(&format!("prog_type:\t28\n{link}"), 42));
    }
}
