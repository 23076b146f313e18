//! One filter rule: parsed from the command line, printed back the same way.

use crate::addr;
use anyhow::{bail, Context, Result};
use std::fmt;
use std::net::IpAddr;

/// What a matching rule does.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Verdict {
    /// Pass the frame to the kernel.
    Allow,
    /// Drop it.
    Deny,
}

impl Verdict {
    /// `allow` or `deny`, as the command line writes it.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        }
    }

    /// Parses `allow` or `deny`.
    pub fn parse(s: &str) -> Option<Verdict> {
        match s {
            "allow" => Some(Verdict::Allow),
            "deny" => Some(Verdict::Deny),
            _ => None,
        }
    }
}

/// Which address or port a rule looks at.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Dir {
    /// Source only.
    Src,
    /// Destination only.
    Dst,
    /// Either.
    Both,
}

impl Dir {
    /// True if the two look at a common field.
    pub fn overlaps(self, other: Dir) -> bool {
        self == other || self == Dir::Both || other == Dir::Both
    }

    /// True if it looks at the source (`src` true) or destination field.
    pub fn covers(self, src: bool) -> bool {
        match self {
            Dir::Src => src,
            Dir::Dst => !src,
            Dir::Both => true,
        }
    }
}

/// Transport protocol of a port rule.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;

/// What a rule matches.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Match {
    /// An IPv4 or IPv6 prefix (host bits clear).
    Prefix(IpAddr, u8),
    /// A TCP or UDP port.
    Port(Proto, u16),
    /// A MAC address.
    Mac([u8; 6]),
    /// An EtherType (`arp` is 0x0806).
    EtherType(u16),
    /// IPv6 neighbour discovery (ICMPv6 types 133-137).
    Nd,
}

/// One rule.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Rule {
    /// Allow or deny.
    pub verdict: Verdict,
    /// Source, destination or both (address, port and MAC rules).
    pub dir: Dir,
    /// What it matches.
    pub what: Match,
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.verdict.name(), self.match_words())
    }
}

impl Rule {
    /// The rule without its verdict, as `add`/`del` take it.
    pub fn match_words(&self) -> String {
        let d = match self.dir {
            Dir::Src => "src ",
            Dir::Dst => "dst ",
            Dir::Both => "",
        };
        match self.what {
            Match::Prefix(a, l) => format!("{d}{a}/{l}"),
            Match::Port(p, n) => format!("{} {d}{n}", if p == Proto::Tcp { "tcp" } else { "udp" }),
            Match::Mac(m) => format!("{d}ether {}", mac_string(&m)),
            Match::EtherType(ETH_P_ARP) => "arp".into(),
            Match::EtherType(t) => format!("ether type 0x{t:04x}"),
            Match::Nd => "nd".into(),
        }
    }

    /// True if `other` uses a map key this rule uses (same match, and
    /// overlapping directions): the two cannot both be in the maps.
    pub fn same_key(&self, other: &Rule) -> bool {
        self.what == other.what && self.dir.overlaps(other.dir)
    }

    /// Parses the words after `add`/`del`:
    /// `[src|dst] PREFIX`, `(tcp|udp) [src|dst] PORT`, `[src|dst] ether MAC`,
    /// `ether type TYPE`, `arp`, `nd`.
    pub fn parse(verdict: Verdict, words: &[String]) -> Result<Rule> {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        let usage = || {
            format!(
                "expected `[tcp|udp] [src|dst] PREFIX-OR-PORT`, `[src|dst] ether MAC`, `ether type TYPE`, `arp` or `nd`, got {:?}",
                words.join(" ")
            )
        };
        let rule = |dir, what| Ok(Rule { verdict, dir, what });
        match w[..] {
            ["arp"] => return rule(Dir::Both, Match::EtherType(ETH_P_ARP)),
            ["nd"] => return rule(Dir::Both, Match::Nd),
            ["ether", "type", t] => return rule(Dir::Both, Match::EtherType(ethertype(t)?)),
            _ => {}
        }
        let mut w = &w[..];
        let proto = match w.first() {
            Some(&"tcp") => Some(Proto::Tcp),
            Some(&"udp") => Some(Proto::Udp),
            _ => None,
        };
        if proto.is_some() {
            w = &w[1..];
        }
        let dir = match w.first() {
            Some(&"src") => Dir::Src,
            Some(&"dst") => Dir::Dst,
            _ => Dir::Both,
        };
        if dir != Dir::Both {
            w = &w[1..];
        }
        if proto.is_none() && w.first() == Some(&"ether") {
            let [_, mac] = w[..] else {
                bail!("{}", usage())
            };
            return rule(dir, Match::Mac(crate::addr::parse_mac(mac)?));
        }
        let [value] = w[..] else { bail!("{}", usage()) };
        let what = match proto {
            Some(p) => Match::Port(
                p,
                value
                    .parse()
                    .with_context(|| format!("{value:?} is not a port (0-65535)"))?,
            ),
            None => {
                let (a, l) = match value.split_once('/') {
                    Some((a, l)) => (a, Some(l)),
                    None => (value, None),
                };
                let addr: IpAddr = a.parse().with_context(|| {
                    format!(
                        "{value:?} is not an IP prefix (e.g. 198.18.0.0/24, fc00::/7); {}",
                        usage()
                    )
                })?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let len = match l {
                    Some(l) => l
                        .parse::<u8>()
                        .ok()
                        .filter(|n| *n <= max)
                        .with_context(|| format!("prefix length {l:?} must be 0-{max}"))?,
                    None => max,
                };
                let net = addr::cidr(addr, len).map_or(addr, |c| addr::network(&c));
                if net != addr {
                    bail!(
                        "{value} has host bits set: the network is {net}/{len} (write that), or write {addr}/{max} for the one host"
                    );
                }
                Match::Prefix(net, len)
            }
        };
        rule(dir, what)
    }
}

fn ethertype(t: &str) -> Result<u16> {
    if t == "arp" {
        return Ok(ETH_P_ARP);
    }
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    };
    v.with_context(|| format!("{t:?} is not an EtherType (e.g. 0x88cc)"))
}

/// True if `addr` is in `net/len`.
pub fn contains(net: IpAddr, len: u8, addr: IpAddr) -> bool {
    addr::cidr(net, len).is_some_and(|c| addr::contains(&c, addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_every_kind_of_rule_and_prints_it_back() {
        for s in [
            "src 198.18.0.0/24",
            "fc00::1/128",
            "tcp dst 22",
            "udp 53",
            "arp",
            "nd",
            "ether type 0x88cc",
            "src ether 02:00:00:00:00:01",
            "ether aa:bb:cc:dd:ee:ff",
        ] {
            let r = Rule::parse(Verdict::Deny, &words(s)).unwrap();
            assert_eq!(r.match_words(), s);
            assert_eq!(r.to_string(), format!("deny {s}"));
        }
        let r = Rule::parse(Verdict::Allow, &words("fc00::1")).unwrap();
        assert_eq!(r.what, Match::Prefix("fc00::1".parse().unwrap(), 128));
        assert_eq!(
            Rule::parse(Verdict::Deny, &words("ether type 0x0806"))
                .unwrap()
                .match_words(),
            "arp"
        );
    }

    #[test]
    fn bad_rules_are_one_clear_error() {
        let e = Rule::parse(Verdict::Deny, &words("src 198.18.0.1/24")).unwrap_err();
        assert!(
            e.to_string().contains("host bits") && e.to_string().contains("198.18.0.0/24"),
            "{e}"
        );
        for bad in [
            "tcp dst 70000",
            "10.0.0.0/33",
            "src",
            "bogus",
            "ether type 0x1ffff",
            "src ether 02:00:00:00:00",
            "ether zz:00:00:00:00:00",
        ] {
            assert!(Rule::parse(Verdict::Deny, &words(bad)).is_err(), "{bad}");
        }
    }
}
