//! The SSH guard: whether a rule set would cut the operator's SSH session,
//! by the filter's own match order ([`decide`]).

use crate::net::netns::ip_output;
use std::net::IpAddr;
use xskit_xdp::filter::{decide, Frame, Kind, Proto, Rule, Verdict};

/// The SSH session this command runs in, from `SSH_CONNECTION`:
/// (peer address, peer port, local address, local port).
pub fn ssh_session() -> Option<(IpAddr, u16, IpAddr, u16)> {
    let v = std::env::var("SSH_CONNECTION").ok()?;
    let f: Vec<&str> = v.split_whitespace().collect();
    if f.len() != 4 {
        return None;
    }
    Some((
        f[0].parse().ok()?,
        f[1].parse().ok()?,
        f[2].parse().ok()?,
        f[3].parse().ok()?,
    ))
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

/// Why `rules` with `default` would cut the SSH session `ssh` (peer,
/// peer port, local, local port) at layer 2 or 3, or None if they would
/// not: its TCP segments, and the ARP or neighbour discovery its next hop
/// needs, must all pass.
pub fn ssh_cut(
    rules: &[Rule],
    default: Verdict,
    (peer, pport, local, lport): (IpAddr, u16, IpAddr, u16),
) -> Option<String> {
    let mac = next_hop_mac(peer);
    let tcp = Frame {
        src_mac: mac,
        dst_mac: None,
        kind: Kind::Ip {
            src: peer,
            dst: local,
            ports: Some((Proto::Tcp, pport, lport)),
        },
    };
    let neighbour = Frame {
        src_mac: mac,
        dst_mac: None,
        kind: if peer.is_ipv4() { Kind::Arp } else { Kind::Nd },
    };
    let why = |f: &Frame, what: &str| match decide(rules, default, f) {
        (Verdict::Deny, Some(r)) => Some(format!("`{r}` would drop its {what}")),
        (Verdict::Deny, None) => Some(format!("the default policy (deny) would drop its {what}")),
        _ => None,
    };
    why(&tcp, &format!("TCP segments ({peer} -> {local}:{lport})")).or_else(|| {
        why(
            &neighbour,
            if peer.is_ipv4() {
                "ARP (without it the neighbour entry expires and the session stops)"
            } else {
                "neighbour discovery (without it the neighbour entry expires and the session stops)"
            },
        )
    })
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
        let ssh = (
            "203.0.113.9".parse().unwrap(),
            50000,
            "192.0.2.2".parse().unwrap(),
            22,
        );
        let cut = |list: &[&str], d| ssh_cut(&rules(list), d, ssh);
        assert!(cut(&["deny src 203.0.113.0/24"], Verdict::Allow).is_some());
        assert!(cut(&["deny tcp dst 22"], Verdict::Allow).is_some());
        assert!(cut(&["deny arp"], Verdict::Allow).unwrap().contains("ARP"));
        assert!(cut(&["deny ether type 0x0800"], Verdict::Allow).is_some());
        assert!(cut(&[], Verdict::Deny).unwrap().contains("default policy"));
        assert!(cut(&["allow tcp dst 22"], Verdict::Deny).is_none());
        assert!(cut(
            &["allow tcp dst 22", "deny src 203.0.113.0/24"],
            Verdict::Deny
        )
        .is_some());
        assert!(cut(&["deny udp 22", "deny dst 203.0.113.0/24"], Verdict::Allow).is_none());
    }
}
