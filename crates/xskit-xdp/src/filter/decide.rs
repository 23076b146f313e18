//! What `xdp_filter` decides for a frame, computed in user space from the
//! rules, in the program's order (bpf/xdp_filter.c): an operator's guard
//! can ask it whether a rule set would cut a session, and tests compare it
//! with the kernel.

use super::rule::{contains, Match, Proto, Rule, Verdict, ETH_P_ARP};
use std::net::IpAddr;

/// The part of a frame the filter looks at.
#[derive(Clone, Copy, Debug)]
pub struct Frame {
    /// Source MAC, if known.
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC, if known.
    pub dst_mac: Option<[u8; 6]>,
    /// What it carries.
    pub kind: Kind,
}

/// What a frame carries.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// ARP.
    Arp,
    /// IPv6 neighbour discovery or router solicitation.
    Nd,
    /// IPv4 or IPv6, with TCP/UDP ports if any (`None`: a protocol no
    /// rule looks at, or a fragment without its ports).
    Ip {
        /// Source address.
        src: IpAddr,
        /// Destination address.
        dst: IpAddr,
        /// Protocol, source port, destination port.
        ports: Option<(Proto, u16, u16)>,
    },
    /// IPv4 or IPv6 of another IP protocol (ICMP, GRE, ...): address and
    /// IP protocol rules apply.
    IpProto {
        /// Source address.
        src: IpAddr,
        /// Destination address.
        dst: IpAddr,
        /// The IPv4 Protocol or IPv6 Next Header.
        proto: u8,
    },
    /// Any other EtherType.
    Other(u16),
}

/// Of two matching rules, the one that decides: the longer prefix, else
/// deny.
fn stronger<'a>(a: Option<&'a Rule>, b: Option<&'a Rule>) -> Option<&'a Rule> {
    let plen = |r: &Rule| match r.what {
        Match::Prefix(_, l) => l,
        _ => 0,
    };
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) if plen(a) != plen(b) => Some(if plen(a) > plen(b) { a } else { b }),
        (Some(a), Some(b)) => Some(if b.verdict == Verdict::Deny { b } else { a }),
    }
}

/// The longest prefix rule on the source (`src`) or destination address.
fn by_prefix(rules: &[Rule], addr: IpAddr, src: bool) -> Option<&Rule> {
    rules
        .iter()
        .filter(|r| r.dir.covers(src))
        .filter(|r| matches!(r.what, Match::Prefix(n, l) if contains(n, l, addr)))
        .max_by_key(|r| match r.what {
            Match::Prefix(_, l) => l,
            _ => 0,
        })
}

fn find(rules: &[Rule], what: Match, src: Option<bool>) -> Option<&Rule> {
    rules
        .iter()
        .find(|r| r.what == what && src.is_none_or(|s| r.dir.covers(s)))
}

/// The verdict for `frame` and the rule that decided (None: the default
/// policy, or the ARP/ND exemption).
pub fn decide<'a>(
    rules: &'a [Rule],
    default: Verdict,
    frame: &Frame,
) -> (Verdict, Option<&'a Rule>) {
    let done = |r: &'a Rule| (r.verdict, Some(r));
    // 1. MAC addresses
    let s = frame
        .src_mac
        .and_then(|m| find(rules, Match::Mac(m), Some(true)));
    let d = frame
        .dst_mac
        .and_then(|m| find(rules, Match::Mac(m), Some(false)));
    if let Some(r) = stronger(s, d) {
        return done(r);
    }
    let ethertype = match frame.kind {
        // 2. ARP and neighbour discovery pass unless a rule says otherwise.
        Kind::Arp => {
            return find(rules, Match::EtherType(ETH_P_ARP), None)
                .map_or((Verdict::Allow, None), done)
        }
        Kind::Nd => return find(rules, Match::Nd, None).map_or((Verdict::Allow, None), done),
        Kind::Ip { src, dst, .. } | Kind::IpProto { src, dst, .. } => {
            // 3. addresses, 4. ports, 5. IP protocol
            if let Some(r) = stronger(by_prefix(rules, src, true), by_prefix(rules, dst, false)) {
                return done(r);
            }
            let proto = match frame.kind {
                Kind::Ip {
                    ports: Some((p, sp, dp)),
                    ..
                } => {
                    let s = find(rules, Match::Port(p, sp), Some(true));
                    let d = find(rules, Match::Port(p, dp), Some(false));
                    if let Some(r) = stronger(s, d) {
                        return done(r);
                    }
                    Some(p.number())
                }
                Kind::IpProto { proto, .. } => Some(proto),
                _ => None,
            };
            let v4 = src.is_ipv4();
            if let Some(r) = proto.and_then(|n| {
                rules
                    .iter()
                    .find(|r| matches!(r.what, Match::IpProto(f, m) if m == n && f.covers(v4)))
            }) {
                return done(r);
            }
            if v4 {
                0x0800
            } else {
                0x86dd
            }
        }
        Kind::Other(t) => t,
    };
    // 6. EtherType, 7. default
    find(rules, Match::EtherType(ethertype), None).map_or((default, None), done)
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

    fn udp(src: &str, dport: u16) -> Frame {
        Frame {
            src_mac: None,
            dst_mac: None,
            kind: Kind::Ip {
                src: src.parse().unwrap(),
                dst: "198.18.0.1".parse().unwrap(),
                ports: Some((Proto::Udp, 4000, dport)),
            },
        }
    }

    #[test]
    fn the_most_specific_rule_decides() {
        let r = rules(&[
            "deny src 198.18.0.0/16",
            "allow src 198.18.0.9/32",
            "allow udp dst 7",
            "deny dst 198.18.0.1/32",
        ]);
        let v = |src, port| decide(&r, Verdict::Allow, &udp(src, port)).0;
        // /32 destination beats /16 source.
        assert_eq!(v("198.18.1.1", 9), Verdict::Deny);
        // /32 source and /32 destination: deny wins the tie.
        assert_eq!(v("198.18.0.9", 9), Verdict::Deny);
        let r2 = rules(&[
            "deny src 198.18.0.0/16",
            "allow src 198.18.0.9/32",
            "allow udp dst 7",
        ]);
        let v2 = |src, port| decide(&r2, Verdict::Deny, &udp(src, port)).0;
        assert_eq!(v2("198.18.0.9", 9), Verdict::Allow);
        // An address rule beats a port rule.
        assert_eq!(v2("198.18.3.3", 7), Verdict::Deny);
        assert_eq!(v2("10.0.0.1", 7), Verdict::Allow);
        assert_eq!(v2("10.0.0.1", 8), Verdict::Deny);
    }

    #[test]
    fn ip_protocol_rules_come_after_ports_and_before_ethertypes() {
        let icmp = |src: &str| Frame {
            src_mac: None,
            dst_mac: None,
            kind: Kind::IpProto {
                src: src.parse().unwrap(),
                dst: "198.18.0.1".parse().unwrap(),
                proto: 1,
            },
        };
        let r = rules(&["deny icmp", "allow ether type 0x0800", "allow src 10.0.0.9"]);
        assert_eq!(
            decide(&r, Verdict::Allow, &icmp("10.0.0.1")).0,
            Verdict::Deny
        );
        // An address rule beats it.
        assert_eq!(
            decide(&r, Verdict::Deny, &icmp("10.0.0.9")).0,
            Verdict::Allow
        );
        // A port rule beats a protocol rule; the protocol rule covers the rest.
        let r = rules(&["deny tcp", "allow tcp dst 22"]);
        let tcp = |dport| Frame {
            src_mac: None,
            dst_mac: None,
            kind: Kind::Ip {
                src: "10.0.0.1".parse().unwrap(),
                dst: "198.18.0.1".parse().unwrap(),
                ports: Some((Proto::Tcp, 40000, dport)),
            },
        };
        assert_eq!(decide(&r, Verdict::Allow, &tcp(22)).0, Verdict::Allow);
        assert_eq!(decide(&r, Verdict::Allow, &tcp(80)).0, Verdict::Deny);
        // `icmp` is IPv4's; ICMPv6 is `icmp6`.
        let r = rules(&["deny icmp"]);
        let v6 = Frame {
            kind: Kind::IpProto {
                src: "fc00::1".parse().unwrap(),
                dst: "fc00::2".parse().unwrap(),
                proto: 58,
            },
            ..icmp("10.0.0.1")
        };
        assert_eq!(decide(&r, Verdict::Allow, &v6).0, Verdict::Allow);
        assert_eq!(
            decide(&rules(&["deny icmp6"]), Verdict::Allow, &v6).0,
            Verdict::Deny
        );
    }

    #[test]
    fn arp_and_nd_pass_a_default_deny_unless_denied() {
        let arp = Frame {
            src_mac: None,
            dst_mac: None,
            kind: Kind::Arp,
        };
        let nd = Frame {
            kind: Kind::Nd,
            ..arp
        };
        assert_eq!(
            decide(&rules(&["allow tcp dst 22"]), Verdict::Deny, &arp).0,
            Verdict::Allow
        );
        assert_eq!(decide(&[], Verdict::Deny, &nd).0, Verdict::Allow);
        assert_eq!(
            decide(&rules(&["deny arp"]), Verdict::Allow, &arp).0,
            Verdict::Deny
        );
        assert_eq!(
            decide(&rules(&["deny nd"]), Verdict::Allow, &nd).0,
            Verdict::Deny
        );
        assert_eq!(
            decide(
                &rules(&["deny ether type 0x88cc"]),
                Verdict::Allow,
                &Frame {
                    kind: Kind::Other(0x88cc),
                    ..arp
                }
            )
            .0,
            Verdict::Deny
        );
    }
}
