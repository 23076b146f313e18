//! Privileges by capability, not by user id: each command names the
//! capabilities it needs, and a process that lacks some is told which ones
//! (a non-root user holding them runs the command like root does).

use anyhow::{bail, Context, Result};

/// A Linux capability xskit needs (numbers from `linux/capability.h`).
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Cap {
    /// Attach XDP programs, configure interfaces.
    NetAdmin = 12,
    /// Open AF_XDP and AF_PACKET sockets.
    NetRaw = 13,
    /// Pin UMEM pages beyond RLIMIT_MEMLOCK.
    IpcLock = 14,
    /// Enter network namespaces (`setns`), mount bpffs.
    SysAdmin = 21,
    /// Load BPF programs and maps.
    Bpf = 39,
}

impl Cap {
    /// The name `capabilities(7)` uses.
    pub fn name(self) -> &'static str {
        match self {
            Cap::NetAdmin => "CAP_NET_ADMIN",
            Cap::NetRaw => "CAP_NET_RAW",
            Cap::IpcLock => "CAP_IPC_LOCK",
            Cap::SysAdmin => "CAP_SYS_ADMIN",
            Cap::Bpf => "CAP_BPF",
        }
    }
}

/// Parses the `CapEff:` line of a `/proc/PID/status` text.
pub fn parse_cap_eff(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

/// The calling thread's effective capability set.
pub fn effective() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/status")
        .or_else(|_| std::fs::read_to_string("/proc/self/status"))
        .context("reading /proc/self/status")?;
    parse_cap_eff(&text).context("no CapEff line in /proc/self/status")
}

/// The capabilities of `need` missing from the effective set `eff`.
pub fn missing(eff: u64, need: &[Cap]) -> Vec<Cap> {
    need.iter()
        .copied()
        .filter(|c| eff & (1u64 << *c as u32) == 0)
        .collect()
}

/// True when locked memory is unlimited, so UMEM pages can be pinned
/// without CAP_IPC_LOCK.
fn memlock_unlimited() -> bool {
    rustix::process::getrlimit(rustix::process::Resource::Memlock)
        .current
        .is_none()
}

/// What a command needs: `bpf` (load XDP programs), `xsk` (AF_XDP sockets,
/// UMEM), `netns` (enter a namespace, e.g. the sandbox's).
pub fn needs(bpf: bool, xsk: bool, netns: bool) -> Vec<Cap> {
    let mut v = vec![Cap::NetAdmin];
    if xsk {
        v.push(Cap::NetRaw);
    }
    if bpf {
        v.push(Cap::Bpf);
    }
    if xsk && !memlock_unlimited() {
        v.push(Cap::IpcLock);
    }
    if netns {
        v.push(Cap::SysAdmin);
    }
    v
}

/// The capabilities of an AF_XDP application; entering a namespace (the
/// sandbox's, when no interface is given) needs CAP_SYS_ADMIN too.
pub fn xsk(interface_given: bool) -> Vec<Cap> {
    needs(true, true, !interface_given)
}

/// What the operator commands need: attach and read programs, pin in
/// bpffs (mounting it if needed) and enter namespaces.
pub const OPS: &[Cap] = &[Cap::NetAdmin, Cap::Bpf, Cap::SysAdmin];

/// Fails, naming what is missing, unless the process holds every
/// capability of `need` for `xskit {what}`.
pub fn require(what: &str, need: &[Cap]) -> Result<()> {
    let lack = missing(effective()?, need);
    if lack.is_empty() {
        return Ok(());
    }
    let names = |v: &[Cap]| v.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ");
    bail!(
        "`xskit {what}` needs {}; missing {}: run it as root, or grant them (e.g. setpriv --ambient-caps, or setcap on the binary)",
        names(need),
        names(&lack)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_eff_parses_and_missing_names_the_gaps() {
        let s = "Name:\txskit\nCapInh:\t0000000000000000\nCapEff:\t0000008000003000\n";
        let eff = parse_cap_eff(s).unwrap();
        assert_eq!(eff, (1 << 39) | (1 << 13) | (1 << 12));
        assert_eq!(
            missing(eff, &[Cap::NetAdmin, Cap::NetRaw, Cap::Bpf, Cap::SysAdmin]),
            vec![Cap::SysAdmin]
        );
        assert!(parse_cap_eff("Name: x\n").is_none());
    }
}
