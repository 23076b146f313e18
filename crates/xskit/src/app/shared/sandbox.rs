//! `xskit sandbox up|down|status`: a test network on one machine, like
//! xdp-tutorial's testenv, but with both ends in namespaces of their own so
//! the host's network is never touched.
//!
//!   [ns NAME-in]  INNER_IF 198.18.0.1/24 fc00:dead:beef::1/64   (xskit runs here)
//!        |  veth
//!   [ns NAME-out] OUTER_IF 198.18.0.2/24 fc00:dead:beef::2/64   (traffic comes from here)

use crate::net::netns::{self, ip};
use crate::xdp::addr;
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;

/// Name used when none is given.
pub const DEFAULT_NAME: &str = "xskit";
const STATE_DIR: &str = "/run/xskit/sandbox";

/// Options of `xskit sandbox up`.
#[derive(clap::Args, Clone, Debug)]
pub struct UpArgs {
    /// Sandbox name: namespaces NAME-in and NAME-out
    #[arg(long, default_value = DEFAULT_NAME)]
    pub name: String,
    /// Interface name of the inner end (where xskit runs)
    #[arg(long, default_value = "xsk0")]
    pub inner_if: String,
    /// Interface name of the outer end (where traffic comes from)
    #[arg(long, default_value = "xsk0-peer")]
    pub outer_if: String,
    /// IPv4 subnet; the ends get its .1 and .2
    #[arg(long, default_value = "198.18.0.0/24")]
    pub subnet4: String,
    /// IPv6 subnet; the ends get its ::1 and ::2
    #[arg(long, default_value = "fc00:dead:beef::/64")]
    pub subnet6: String,
    /// Receive queues per end (veth default: 1; at most 64 here)
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub queues: u32,
}

impl UpArgs {
    /// The defaults, with another name.
    pub fn named(name: &str) -> UpArgs {
        UpArgs {
            name: name.to_string(),
            inner_if: "xsk0".into(),
            outer_if: "xsk0-peer".into(),
            subnet4: "198.18.0.0/24".into(),
            subnet6: "fc00:dead:beef::/64".into(),
            queues: 1,
        }
    }
}

/// A sandbox that is up, as recorded when it was made.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct State {
    /// Its name.
    pub name: String,
    /// Namespace of the inner end.
    pub inner_ns: String,
    /// Namespace of the outer end.
    pub outer_ns: String,
    /// Inner interface.
    pub inner_if: String,
    /// Outer interface.
    pub outer_if: String,
    /// Inner IPv4 address.
    pub inner_v4: Ipv4Addr,
    /// Outer IPv4 address.
    pub outer_v4: Ipv4Addr,
    /// Inner IPv6 address.
    pub inner_v6: Ipv6Addr,
    /// Outer IPv6 address.
    pub outer_v6: Ipv6Addr,
    /// IPv4 prefix length.
    pub prefix4: u8,
    /// IPv6 prefix length.
    pub prefix6: u8,
}

fn state_path(name: &str) -> PathBuf {
    PathBuf::from(STATE_DIR).join(format!("{name}.json"))
}

impl State {
    /// The recorded sandbox called `name`, if it is up.
    pub fn load(name: &str) -> Result<Option<State>> {
        let path = state_path(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(
                serde_json::from_str(&text)
                    .with_context(|| format!("reading {}", path.display()))?,
            )),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// Moves the calling thread into the inner namespace.
    pub fn enter_inner(&self) -> Result<()> {
        netns::enter(&self.inner_ns)
    }

    /// Moves the calling thread into the outer namespace.
    pub fn enter_outer(&self) -> Result<()> {
        netns::enter(&self.outer_ns)
    }

    /// Runs `f` on a thread in the inner namespace (see [`netns::run_in`]).
    pub fn in_inner<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        netns::run_in(&self.inner_ns, f)
    }

    /// Runs `f` on a thread in the outer namespace (see [`netns::run_in`]).
    pub fn in_outer<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Result<R> {
        netns::run_in(&self.outer_ns, f)
    }
}

fn parse_subnet(s: &str) -> Result<(IpAddr, u8)> {
    let (a, p) = s
        .split_once('/')
        .with_context(|| format!("{s:?} is not a subnet (ADDR/LEN)"))?;
    let addr: IpAddr = a
        .parse()
        .with_context(|| format!("{a:?} is not an IP address"))?;
    let len: u8 = p
        .parse()
        .with_context(|| format!("{p:?} is not a prefix length"))?;
    let max = if addr.is_ipv4() { 30 } else { 126 };
    if len > max || len == 0 {
        bail!("prefix length {len} in {s} leaves no room for two hosts (or covers everything)");
    }
    Ok((addr, len))
}

fn overlaps(a: (IpAddr, u8), b: (IpAddr, u8)) -> bool {
    match (addr::cidr(a.0, a.1), addr::cidr(b.0, b.1)) {
        (Some(a), Some(b)) => addr::overlaps(&a, &b),
        _ => false,
    }
}

/// Routes of the host's own namespace that cover `subnet` (the default
/// route aside), as `ip route` prints them.
fn clashes(subnet: (IpAddr, u8)) -> Result<Vec<String>> {
    let fam = if subnet.0.is_ipv4() { "-4" } else { "-6" };
    let out = netns::ip_output(&[fam, "-o", "route", "show", "table", "all"])?;
    let mut hits = Vec::new();
    for line in out.lines() {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        let first = if matches!(
            first,
            "local" | "broadcast" | "unicast" | "multicast" | "anycast"
        ) {
            line.split_whitespace().nth(1).unwrap_or("")
        } else {
            first
        };
        if first == "default" {
            continue;
        }
        let (a, l) = match first.split_once('/') {
            Some((a, l)) => (
                a,
                l.parse()
                    .unwrap_or(if subnet.0.is_ipv4() { 32 } else { 128 }),
            ),
            None => (first, if subnet.0.is_ipv4() { 32 } else { 128 }),
        };
        if let Ok(addr) = a.parse::<IpAddr>() {
            if overlaps((addr, l), subnet) {
                hits.push(line.trim().to_string());
            }
        }
    }
    Ok(hits)
}

fn host(subnet: (IpAddr, u8), n: u128) -> IpAddr {
    let net = addr::cidr(subnet.0, subnet.1).map_or(subnet.0, |c| addr::network(&c));
    match net {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from((u128::from(u32::from(a)) + n) as u32)),
        IpAddr::V6(a) => IpAddr::V6(Ipv6Addr::from(u128::from(a) + n)),
    }
}

/// Held while [`up`] makes a sandbox: whoever removes one on a signal
/// takes it first, so that a half-made sandbox is finished (and recorded)
/// before it is removed.
pub static SETTING_UP: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Brings the sandbox up. Fails, touching nothing, if it is already up,
/// its namespaces exist, or its subnets clash with the host's routes.
/// Must be called from a thread in the host's own namespace.
pub fn up(args: &UpArgs) -> Result<State> {
    let _whole = SETTING_UP.lock().unwrap_or_else(|p| p.into_inner());
    if !args
        .name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        || args.name.len() > 32
    {
        bail!(
            "sandbox name {:?}: use up to 32 letters, digits, '-' or '_'",
            args.name
        );
    }
    if State::load(&args.name)?.is_some() {
        bail!(
            "sandbox {} is already up (see `xskit sandbox status --name {0}`; `xskit sandbox down --name {0}` removes it)",
            args.name
        );
    }
    let s4 = parse_subnet(&args.subnet4)?;
    let s6 = parse_subnet(&args.subnet6)?;
    if !s4.0.is_ipv4() || s6.0.is_ipv4() {
        bail!("--subnet4 takes an IPv4 subnet and --subnet6 an IPv6 one");
    }
    for s in [s4, s6] {
        let hits = clashes(s)?;
        if !hits.is_empty() {
            bail!(
                "subnet {}/{} overlaps a route of this host ({}): pick another with --subnet4/--subnet6",
                s.0,
                s.1,
                hits.join("; ")
            );
        }
    }
    let (IpAddr::V4(inner_v4), IpAddr::V4(outer_v4)) = (host(s4, 1), host(s4, 2)) else {
        unreachable!()
    };
    let (IpAddr::V6(inner_v6), IpAddr::V6(outer_v6)) = (host(s6, 1), host(s6, 2)) else {
        unreachable!()
    };
    let state = State {
        name: args.name.clone(),
        inner_ns: format!("{}-in", args.name),
        outer_ns: format!("{}-out", args.name),
        inner_if: args.inner_if.clone(),
        outer_if: args.outer_if.clone(),
        inner_v4,
        outer_v4,
        inner_v6,
        outer_v6,
        prefix4: s4.1,
        prefix6: s6.1,
    };
    for ns in [&state.inner_ns, &state.outer_ns] {
        if netns::exists(ns) {
            bail!("network namespace {ns} already exists but is not a sandbox xskit recorded: remove it (`ip netns del {ns}`) or pick another --name");
        }
    }
    let mut made = Vec::new();
    let result = (|| -> Result<()> {
        for ns in [&state.inner_ns, &state.outer_ns] {
            ip(&["netns", "add", ns])?;
            made.push(ns.clone());
        }
        let (i, o) = (&state.inner_ns, &state.outer_ns);
        crate::net::veth::create_in(
            Some(i),
            &state.inner_if,
            &state.outer_if,
            Some(o),
            args.queues,
        )?;
        for (ns, dev, v4, v6) in [
            (i, &state.inner_if, state.inner_v4, state.inner_v6),
            (o, &state.outer_if, state.outer_v4, state.outer_v6),
        ] {
            ip(&["-n", ns, "link", "set", "dev", "lo", "up"])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v4}/{}", state.prefix4),
                "dev",
                dev,
            ])?;
            ip(&[
                "-n",
                ns,
                "addr",
                "add",
                &format!("{v6}/{}", state.prefix6),
                "dev",
                dev,
                "nodad",
            ])?;
        }
        // Let unprivileged ICMP "ping" sockets work on the outer end.
        netns::run_in(o, || {
            std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 2147483647")
        })?
        .context("enabling ping sockets in the outer namespace")?;
        std::fs::create_dir_all(STATE_DIR).with_context(|| format!("creating {STATE_DIR}"))?;
        std::fs::write(
            state_path(&state.name),
            serde_json::to_string_pretty(&state)?,
        )?;
        Ok(())
    })();
    if let Err(e) = result {
        for ns in made {
            let _ = ip(&["netns", "del", &ns]);
        }
        return Err(e.context(format!("bringing sandbox {} up (undone)", args.name)));
    }
    Ok(state)
}

/// Removes what `up` made. Returns false if no such sandbox was up.
pub fn down(name: &str) -> Result<bool> {
    let Some(state) = State::load(name)? else {
        return Ok(false);
    };
    for ns in [&state.inner_ns, &state.outer_ns] {
        if netns::exists(ns) {
            // Pins `xskit load` made inside the sandbox go with it.
            if let Ok(Ok(cookie)) = netns::run_in(ns, crate::app::shared::records::state::netns_id)
            {
                let _ = crate::app::shared::records::state::forget_namespace(cookie);
            }
            ip(&["netns", "del", ns])?;
        }
    }
    std::fs::remove_file(state_path(name))
        .with_context(|| format!("removing {}", state_path(name).display()))?;
    Ok(true)
}

/// A human description of the sandbox (for `status`).
pub fn describe(state: &State) -> String {
    let present = |ns: &str| {
        if netns::exists(ns) {
            "present"
        } else {
            "MISSING"
        }
    };
    format!(
        "sandbox {}:\n  inner: netns {} ({}), {} {}/{} {}/{}   <- run xskit here\n  outer: netns {} ({}), {} {}/{} {}/{}   <- traffic comes from here\n",
        state.name,
        state.inner_ns,
        present(&state.inner_ns),
        state.inner_if,
        state.inner_v4,
        state.prefix4,
        state.inner_v6,
        state.prefix6,
        state.outer_ns,
        present(&state.outer_ns),
        state.outer_if,
        state.outer_v4,
        state.prefix4,
        state.outer_v6,
        state.prefix6
    )
}

/// Removes the sandbox when dropped (for the demo and tests).
pub struct Guard(pub State);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = down(&self.0.name);
    }
}

/// `xskit sandbox up|down|status`.
#[derive(clap::Subcommand, Debug)]
pub enum SandboxCmd {
    /// Create the namespaces, the veth pair and the addresses
    Up(UpArgs),
    /// Remove what `up` created, and nothing else
    Down {
        /// Sandbox name
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
    },
    /// Show the sandbox's namespaces, interfaces and addresses
    Status {
        /// Sandbox name
        #[arg(long, default_value = DEFAULT_NAME)]
        name: String,
    },
}

/// Runs `xskit sandbox ...`; the exit code (1: `status` of no sandbox).
pub fn exec(cmd: &SandboxCmd, out: &mut dyn std::io::Write) -> Result<i32> {
    use super::caps::{self, Cap};
    caps::require("sandbox", &[Cap::NetAdmin, Cap::SysAdmin])?;
    match cmd {
        SandboxCmd::Up(args) => {
            let state = up(args)?;
            write!(out, "{}", describe(&state))?;
            let which = if state.name == DEFAULT_NAME {
                String::new()
            } else {
                format!(" --sandbox {}", state.name)
            };
            writeln!(
                out,
                "try: sudo xskit echo{which}        (then: sudo ip netns exec {} ping {})",
                state.outer_ns, state.inner_v6
            )?;
            Ok(0)
        }
        SandboxCmd::Down { name } => {
            if down(name)? {
                writeln!(out, "sandbox {name} removed")?;
            } else {
                writeln!(out, "no sandbox named {name} is up: nothing to remove")?;
            }
            Ok(0)
        }
        SandboxCmd::Status { name } => match State::load(name)? {
            Some(state) => {
                write!(out, "{}", describe(&state))?;
                Ok(0)
            }
            None => {
                writeln!(
                    out,
                    "no sandbox named {name} is up (create one with `xskit sandbox up`)"
                )?;
                Ok(1)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnet_overlap() {
        let s = parse_subnet("198.18.0.0/24").unwrap();
        assert!(overlaps(("198.18.0.0".parse().unwrap(), 15), s));
        assert!(overlaps(("198.18.0.7".parse().unwrap(), 32), s));
        assert!(!overlaps(("192.0.2.0".parse().unwrap(), 24), s));
        assert!(!overlaps(("fc00::".parse().unwrap(), 7), s));
        let s6 = parse_subnet("fc00:dead:beef::/64").unwrap();
        assert!(overlaps(("fc00::".parse().unwrap(), 7), s6));
        assert!(!overlaps(("fe80::".parse().unwrap(), 64), s6));
        assert_eq!(host(s, 2), "198.18.0.2".parse::<IpAddr>().unwrap());
        assert_eq!(host(s6, 1), "fc00:dead:beef::1".parse::<IpAddr>().unwrap());
        assert!(parse_subnet("198.18.0.0/31").is_err());
        assert!(parse_subnet("nonsense").is_err());
    }
}
