//! The SSH guard: which SSH sessions run through this command's network
//! namespace, and whether a rule set would cut one of them, by the
//! filter's own match order ([`decide`]).
//!
//! No single place names the operator's session (`sudo` clears
//! `SSH_CONNECTION` by default, a script or another shell has none), so a
//! session is looked for in three:
//! 1. the command's own `SSH_CONNECTION`;
//! 2. `SSH_CONNECTION` in the environment of each of its ancestors
//!    (`/proc/PID/environ` up the parent chain: the login shell keeps it
//!    when `sudo` dropped it for the command);
//! 3. the established TCP connections to an SSH port in this network
//!    namespace (`/proc/thread-self/net/tcp` and `tcp6`, state 01), SSH
//!    ports being 22 and every port a process named `sshd*` or `dropbear`
//!    listens on here (its socket found among `/proc/PID/fd`).
//!
//! Sessions of 1 and 2 count only where this namespace holds their local
//! address: a filter in another namespace cannot cut a session of the
//! host's. A session's traffic is taken to use the interface that holds
//! its local address and the one of the route back to its peer. What is
//! not found this way (SSH on an unusual port from a process not named
//! sshd, a session through a tunnel, a console) is what the confirmation
//! timer of `load` and of the filter's commands is for: a change that can
//! drop traffic on an interface with the default route waits for `yes`.

use crate::net::addrs;
use crate::net::netns::ip_output;
use std::net::IpAddr;
use xskit_xdp::filter::{decide, Frame, Kind, Proto, Rule, Verdict};

/// One SSH session: the two ends, and where it was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// The client's address.
    pub peer: IpAddr,
    /// The client's port.
    pub peer_port: u16,
    /// The server's (this machine's) address.
    pub local: IpAddr,
    /// The server's port.
    pub local_port: u16,
    /// Where it was found, for messages: `SSH_CONNECTION`, `SSH_CONNECTION
    /// of pid 812 (bash)`, `an established TCP connection to port 22`.
    pub seen: String,
}

impl Session {
    /// `203.0.113.9 -> 192.0.2.2:22`.
    pub fn ends(&self) -> String {
        let local = match self.local {
            IpAddr::V6(a) => format!("[{a}]"),
            a => a.to_string(),
        };
        format!("{} -> {local}:{}", self.peer, self.local_port)
    }

    /// Interfaces of this namespace its traffic uses: the one holding its
    /// local address, and the one of the route back to the peer.
    pub fn interfaces(&self) -> Vec<String> {
        let mut out: Vec<String> = addrs::interfaces()
            .into_iter()
            .filter(|i| holds(i, self.local))
            .collect();
        if let Some(dev) = route_dev(self.peer) {
            out.push(dev);
        }
        out.sort();
        out.dedup();
        out
    }
}

/// True if interface `iface` holds the address `a`.
pub fn holds(iface: &str, a: IpAddr) -> bool {
    let (v4, v6) = addrs::of_interface(iface);
    v4.iter().any(|x| IpAddr::V4(*x) == a) || v6.iter().any(|x| IpAddr::V6(*x) == a)
}

/// The four fields of an `SSH_CONNECTION` value.
fn parse_ssh_connection(v: &str, seen: String) -> Option<Session> {
    let f: Vec<&str> = v.split_whitespace().collect();
    if f.len() != 4 {
        return None;
    }
    Some(Session {
        peer: f[0].parse::<IpAddr>().ok()?.to_canonical(),
        peer_port: f[1].parse().ok()?,
        local: f[2].parse::<IpAddr>().ok()?.to_canonical(),
        local_port: f[3].parse().ok()?,
        seen,
    })
}

/// The parent of process `pid` and its command name, from /proc/PID/stat.
fn parent(pid: u32) -> Option<(u32, String)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat.get(open + 1..close)?.to_string();
    let ppid = stat
        .get(close + 2..)?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((ppid, comm))
}

/// `SSH_CONNECTION` of process `pid`, if it has one.
fn environ_ssh(pid: u32) -> Option<String> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    env.split(|b| *b == 0).find_map(|kv| {
        kv.strip_prefix(b"SSH_CONNECTION=")
            .map(|v| String::from_utf8_lossy(v).into_owned())
    })
}

/// Sessions named by `SSH_CONNECTION` of this process and its ancestors.
fn from_environments() -> Vec<Session> {
    let mut out = Vec::new();
    if let Some(s) = std::env::var("SSH_CONNECTION")
        .ok()
        .and_then(|v| parse_ssh_connection(&v, "SSH_CONNECTION".into()))
    {
        out.push(s);
    }
    let mut pid = std::os::unix::process::parent_id();
    // A chain is short; the bound only guards against a loop in a
    // process table read while it changes.
    for _ in 0..64 {
        if pid <= 1 {
            break;
        }
        let Some((ppid, comm)) = parent(pid) else {
            break;
        };
        if let Some(s) = environ_ssh(pid)
            .and_then(|v| parse_ssh_connection(&v, format!("SSH_CONNECTION of pid {pid} ({comm})")))
        {
            out.push(s);
        }
        pid = ppid;
    }
    out
}

/// One line of /proc/net/tcp or tcp6: (local, local port, remote, remote
/// port, state, socket inode).
type TcpLine = (IpAddr, u16, IpAddr, u16, u8, u64);

/// An address as /proc/net/tcp{,6} prints it: the bytes in memory, read
/// as native 32-bit words in hex.
fn proc_addr(hex: &str) -> Option<IpAddr> {
    let words: Option<Vec<[u8; 4]>> = (0..hex.len() / 8)
        .map(|i| {
            u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16)
                .ok()
                .map(u32::to_ne_bytes)
        })
        .collect();
    let bytes: Vec<u8> = words?.concat();
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?).to_canonical()),
        _ => None,
    }
}

/// The lines of a /proc/net/tcp{,6} text.
pub fn parse_tcp_table(text: &str) -> Vec<TcpLine> {
    let endpoint = |s: &str| {
        let (a, p) = s.split_once(':')?;
        Some((proc_addr(a)?, u16::from_str_radix(p, 16).ok()?))
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (la, lp) = endpoint(f.get(1)?)?;
            let (ra, rp) = endpoint(f.get(2)?)?;
            let st = u8::from_str_radix(f.get(3)?, 16).ok()?;
            let inode = f.get(9)?.parse().ok()?;
            Some((la, lp, ra, rp, st, inode))
        })
        .collect()
}

const TCP_ESTABLISHED: u8 = 0x01;
const TCP_LISTEN: u8 = 0x0a;

/// The TCP sockets of this thread's network namespace.
fn tcp_sockets() -> Vec<TcpLine> {
    ["tcp", "tcp6"]
        .iter()
        .flat_map(|t| {
            std::fs::read_to_string(format!("/proc/thread-self/net/{t}"))
                .map(|s| parse_tcp_table(&s))
                .unwrap_or_default()
        })
        .collect()
}

/// Command names of the processes holding the sockets of `inodes`.
fn socket_holders(inodes: &[u64]) -> Vec<(u64, String)> {
    let mut out = Vec::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let t = target.to_string_lossy();
            if let Some(inode) = t
                .strip_prefix("socket:[")
                .and_then(|r| r.strip_suffix(']'))
                .and_then(|n| n.parse::<u64>().ok())
                .filter(|i| inodes.contains(i))
            {
                if let Some((_, comm)) = parent(pid) {
                    out.push((inode, comm));
                }
            }
        }
    }
    out
}

/// SSH ports of this namespace: 22, and the ports an sshd or dropbear
/// process listens on.
fn ssh_ports(sockets: &[TcpLine]) -> Vec<u16> {
    let mut ports = vec![22];
    let listeners: Vec<(u16, u64)> = sockets
        .iter()
        .filter(|s| s.4 == TCP_LISTEN && s.1 != 22)
        .map(|s| (s.1, s.5))
        .collect();
    if !listeners.is_empty() {
        let inodes: Vec<u64> = listeners.iter().map(|l| l.1).collect();
        for (inode, comm) in socket_holders(&inodes) {
            if comm.starts_with("sshd") || comm == "dropbear" {
                ports.extend(listeners.iter().filter(|l| l.1 == inode).map(|l| l.0));
            }
        }
    }
    ports.sort();
    ports.dedup();
    ports
}

/// Sessions of the established TCP connections to an SSH port here.
fn from_sockets() -> Vec<Session> {
    let sockets = tcp_sockets();
    let ports = ssh_ports(&sockets);
    sockets
        .iter()
        .filter(|s| s.4 == TCP_ESTABLISHED && ports.contains(&s.1))
        .map(|&(local, lport, peer, pport, _, _)| Session {
            peer,
            peer_port: pport,
            local,
            local_port: lport,
            seen: format!("an established TCP connection to port {lport} in this namespace"),
        })
        .collect()
}

/// The SSH sessions whose traffic this network namespace carries (see the
/// module's documentation), each once.
pub fn sessions() -> Vec<Session> {
    let mut out: Vec<Session> = Vec::new();
    let here = addrs::interfaces();
    let local_here = |a: IpAddr| here.iter().any(|i| holds(i, a));
    for s in from_environments().into_iter().chain(from_sockets()) {
        if !local_here(s.local) {
            continue;
        }
        let same = |o: &Session| {
            (o.peer, o.peer_port, o.local, o.local_port)
                == (s.peer, s.peer_port, s.local, s.local_port)
        };
        if !out.iter().any(same) {
            out.push(s);
        }
    }
    out
}

/// The interface of the route to `peer`, if any.
fn route_dev(peer: IpAddr) -> Option<String> {
    let route: serde_json::Value =
        serde_json::from_str(&ip_output(&["-j", "route", "get", &peer.to_string()]).ok()?).ok()?;
    Some(route.get(0)?.get("dev")?.as_str()?.to_string())
}

/// The MAC address frames from `peer` arrive from: the neighbour entry of
/// the next hop towards it, if the kernel has one.
fn next_hop_mac(peer: IpAddr) -> Option<[u8; 6]> {
    let p = peer.to_string();
    let route: serde_json::Value =
        serde_json::from_str(&ip_output(&["-j", "route", "get", &p]).ok()?).ok()?;
    let r = route.get(0)?;
    let hop = r.get("gateway").and_then(|g| g.as_str()).unwrap_or(&p);
    let dev = r.get("dev")?.as_str()?;
    let neigh: serde_json::Value =
        serde_json::from_str(&ip_output(&["-j", "neigh", "show", "to", hop, "dev", dev]).ok()?)
            .ok()?;
    let mac = neigh.get(0)?.get("lladdr")?.as_str()?;
    let mut out = [0u8; 6];
    let parts: Vec<&str> = mac.split(':').collect();
    if parts.len() != 6 {
        return None;
    }
    for (b, p) in out.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    Some(out)
}

/// Why `rules` with `default` would cut the SSH session `s` at layer 2 or
/// 3, or None if they would not: its TCP segments, and the ARP or
/// neighbour discovery its next hop needs, must all pass.
pub fn ssh_cut(rules: &[Rule], default: Verdict, s: &Session) -> Option<String> {
    let mac = next_hop_mac(s.peer);
    let tcp = Frame {
        src_mac: mac,
        dst_mac: None,
        kind: Kind::Ip {
            src: s.peer,
            dst: s.local,
            ports: Some((Proto::Tcp, s.peer_port, s.local_port)),
        },
    };
    let neighbour = Frame {
        src_mac: mac,
        dst_mac: None,
        kind: if s.peer.is_ipv4() {
            Kind::Arp
        } else {
            Kind::Nd
        },
    };
    let why = |f: &Frame, what: &str| match decide(rules, default, f) {
        (Verdict::Deny, Some(r)) => Some(format!("`{r}` would drop its {what}")),
        (Verdict::Deny, None) => Some(format!("the default policy (deny) would drop its {what}")),
        _ => None,
    };
    why(&tcp, &format!("TCP segments ({})", s.ends())).or_else(|| {
        why(
            &neighbour,
            if s.peer.is_ipv4() {
                "ARP (without it the neighbour entry expires and the session stops)"
            } else {
                "neighbour discovery (without it the neighbour entry expires and the session stops)"
            },
        )
    })
}

/// The first of `sessions` that `after` (rules, default policy) would cut
/// and `before` did not, with why: a session cut already (forced earlier)
/// does not block unrelated changes.
pub fn newly_cut<'a>(
    sessions: &'a [Session],
    before: (&[Rule], Verdict),
    after: (&[Rule], Verdict),
) -> Option<(&'a Session, String)> {
    sessions.iter().find_map(|s| {
        if ssh_cut(before.0, before.1, s).is_some() {
            return None;
        }
        ssh_cut(after.0, after.1, s).map(|why| (s, why))
    })
}

/// Interfaces that may carry the operator's own traffic, each with why:
/// those with a default route, and those an SSH session found by the SSH
/// guard uses ([`sessions`]).
pub fn operator_interfaces() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = crate::xdp::netif::default_route_interfaces()
        .into_iter()
        .map(|i| (i, "the default route".to_string()))
        .collect();
    for s in sessions() {
        for i in s.interfaces() {
            if !out.iter().any(|(o, _)| *o == i) {
                out.push((i, format!("the SSH session {}", s.ends())));
            }
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(list: &[&str]) -> Vec<Rule> {
        list.iter()
            .map(|s| {
                let w: Vec<String> = s.split_whitespace().map(String::from).collect();
                Rule::parse(Verdict::parse(&w[0]).unwrap(), &w[1..]).unwrap()
            })
            .collect()
    }

    #[test]
    fn the_ssh_guard_sees_layer_2_and_3() {
        let ssh = parse_ssh_connection("203.0.113.9 50000 192.0.2.2 22", "test".into()).unwrap();
        let cut = |list: &[&str], d| ssh_cut(&rules(list), d, &ssh);
        assert!(cut(&["deny src 203.0.113.0/24"], Verdict::Allow).is_some());
        assert!(cut(&["deny tcp dst 22"], Verdict::Allow).is_some());
        assert!(cut(&["deny tcp"], Verdict::Allow).is_some());
        assert!(cut(&["deny arp"], Verdict::Allow).unwrap().contains("ARP"));
        assert!(cut(&["deny ether type 0x0800"], Verdict::Allow).is_some());
        assert!(cut(&[], Verdict::Deny).unwrap().contains("default policy"));
        assert!(cut(&["allow tcp dst 22"], Verdict::Deny).is_none());
        assert!(cut(&["deny icmp", "allow tcp"], Verdict::Deny).is_none());
        assert!(cut(
            &["allow tcp dst 22", "deny src 203.0.113.0/24"],
            Verdict::Deny
        )
        .is_some());
        assert!(cut(&["deny udp 22", "deny dst 203.0.113.0/24"], Verdict::Allow).is_none());
    }

    #[test]
    fn proc_net_tcp_lines_are_read_in_both_families() {
        // 127.0.0.1:22 <- 127.0.0.1:46530, established; a listener on 2222.
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:0016 0100007F:B5C2 01 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000 20 4 30 10 -1\n\
           1: 00000000:08AE 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000 100 0 0 10 0\n";
        let t = parse_tcp_table(v4);
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        assert_eq!(t[0], (lo, 22, lo, 0xb5c2, TCP_ESTABLISHED, 4242));
        assert_eq!(t[1].1, 2222);
        assert_eq!(t[1].4, TCP_LISTEN);
        // fc00::1 as the kernel prints it (native 32-bit words), and an
        // IPv4-mapped peer.
        let a: std::net::Ipv6Addr = "fc00::1".parse().unwrap();
        let words: String = a
            .octets()
            .chunks(4)
            .map(|c| format!("{:08X}", u32::from_ne_bytes(c.try_into().unwrap())))
            .collect();
        let m: std::net::Ipv6Addr = "::ffff:198.18.0.2".parse().unwrap();
        let mapped: String = m
            .octets()
            .chunks(4)
            .map(|c| format!("{:08X}", u32::from_ne_bytes(c.try_into().unwrap())))
            .collect();
        let v6 = format!("header\n 0: {words}:0016 {mapped}:C350 01 0:0 0:0 0 0 0 77 1\n");
        let t = parse_tcp_table(&v6);
        assert_eq!(t[0].0, IpAddr::V6(a));
        assert_eq!(t[0].2, "198.18.0.2".parse::<IpAddr>().unwrap());
        assert_eq!((t[0].1, t[0].3, t[0].5), (22, 50000, 77));
    }

    #[test]
    fn ssh_connection_values_parse_or_are_ignored() {
        let s = parse_ssh_connection("::ffff:10.0.0.1 50000 fc00::2 22", "x".into()).unwrap();
        assert_eq!(s.peer, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(s.ends(), "10.0.0.1 -> [fc00::2]:22");
        assert!(parse_ssh_connection("10.0.0.1 50000 10.0.0.2", "x".into()).is_none());
        assert!(parse_ssh_connection("", "x".into()).is_none());
    }
}
