//! One filter rule: parsed from the command line, printed back the same way.

use crate::addr;
use anyhow::{anyhow, bail, Result};
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

impl Proto {
    /// The IP protocol number.
    pub fn number(self) -> u8 {
        match self {
            Proto::Tcp => 6,
            Proto::Udp => 17,
        }
    }
}

/// Which IP version an IP protocol rule looks at.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Family {
    /// IPv4 only (`ip proto N`, `icmp`).
    V4,
    /// IPv6 only (`ip6 proto N`, `icmp6`).
    V6,
    /// Both (`proto N`, `tcp`, `udp`).
    Both,
}

impl Family {
    /// True if the two look at a common IP version.
    pub fn overlaps(self, other: Family) -> bool {
        self == other || self == Family::Both || other == Family::Both
    }

    /// True if it looks at IPv4 (`v4` true) or IPv6.
    pub fn covers(self, v4: bool) -> bool {
        match self {
            Family::V4 => v4,
            Family::V6 => !v4,
            Family::Both => true,
        }
    }
}

/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;

/// IP protocol number of ICMP.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol number of ICMPv6.
pub const IPPROTO_ICMPV6: u8 = 58;

/// What a rule matches.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Match {
    /// An IPv4 or IPv6 prefix (host bits clear).
    Prefix(IpAddr, u8),
    /// A TCP or UDP port.
    Port(Proto, u16),
    /// An IP protocol (IPv4 Protocol, IPv6 Next Header of the fixed header).
    IpProto(Family, u8),
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

/// The forms a rule takes, for errors.
pub const RULE_FORMS: &str =
    "`[src|dst] PREFIX`, `tcp|udp [src|dst] PORT`, `tcp`, `udp`, `icmp`, `icmp6`, \
`proto N`, `ip proto N`, `ip6 proto N`, `[src|dst] ether MAC`, `ether type TYPE`, `arp` or `nd`";

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
            Match::IpProto(Family::V4, IPPROTO_ICMP) => "icmp".into(),
            Match::IpProto(Family::V6, IPPROTO_ICMPV6) => "icmp6".into(),
            Match::IpProto(Family::Both, 6) => "tcp".into(),
            Match::IpProto(Family::Both, 17) => "udp".into(),
            Match::IpProto(Family::V4, n) => format!("ip proto {n}"),
            Match::IpProto(Family::V6, n) => format!("ip6 proto {n}"),
            Match::IpProto(Family::Both, n) => format!("proto {n}"),
            Match::Mac(m) => format!("{d}ether {}", mac_string(&m)),
            Match::EtherType(ETH_P_ARP) => "arp".into(),
            Match::EtherType(t) => format!("ether type 0x{t:04x}"),
            Match::Nd => "nd".into(),
        }
    }

    /// True if `other` uses a map key this rule uses (same match, and
    /// overlapping directions or IP versions): the two cannot both be in
    /// the maps.
    pub fn same_key(&self, other: &Rule) -> bool {
        match (self.what, other.what) {
            (Match::IpProto(f1, n1), Match::IpProto(f2, n2)) => n1 == n2 && f1.overlaps(f2),
            _ => self.what == other.what && self.dir.overlaps(other.dir),
        }
    }

    /// Parses the words after `add`/`del`: one of [`RULE_FORMS`]. Errors
    /// say what was expected; words left after a whole rule are an error
    /// saying that a rule matches one field (two rules if they are one).
    pub fn parse(verdict: Verdict, words: &[String]) -> Result<Rule> {
        let w: Vec<&str> = words.iter().map(String::as_str).collect();
        if w.is_empty() {
            bail!("expected a rule after `{}`: {RULE_FORMS}", verdict.name());
        }
        let (what, dir, used) = parse_match(&w)?;
        if used < w.len() {
            let first = w[..used].join(" ");
            let rest = w[used..].join(" ");
            if parse_match(&w[used..]).is_ok_and(|(_, _, n)| n == w.len() - used) {
                bail!(
                    "`{first}` and `{rest}` are two rules: a rule matches one field; add each with a `filter add {}` of its own",
                    verdict.name()
                );
            }
            if matches!(what, Match::Port(..)) && w[used].parse::<u64>().is_ok() {
                bail!(
                    "unexpected `{rest}` after `{first}`: a rule takes one port; add a rule per port"
                );
            }
            bail!("unexpected `{rest}` after `{first}`: a rule matches one field ({RULE_FORMS})");
        }
        Ok(Rule { verdict, dir, what })
    }
}

/// The match at the start of `w`: (match, direction, words used).
fn parse_match(w: &[&str]) -> Result<(Match, Dir, usize)> {
    let usage = || anyhow!("expected a rule: {RULE_FORMS}; got {:?}", w.join(" "));
    let one = |m: Match, n: usize| Ok((m, Dir::Both, n));
    match w {
        ["arp", ..] => return one(Match::EtherType(ETH_P_ARP), 1),
        ["nd", ..] => return one(Match::Nd, 1),
        ["icmp", ..] => return one(Match::IpProto(Family::V4, IPPROTO_ICMP), 1),
        ["icmp6", ..] => return one(Match::IpProto(Family::V6, IPPROTO_ICMPV6), 1),
        ["ether", "type", t, ..] => return one(Match::EtherType(ethertype(t)?), 3),
        ["ether", "type"] => bail!("expected an EtherType after `ether type` (e.g. 0x88cc)"),
        ["ip", "proto", n, ..] => return one(Match::IpProto(Family::V4, ip_proto(n)?), 3),
        ["ip6", "proto", n, ..] => return one(Match::IpProto(Family::V6, ip_proto(n)?), 3),
        ["proto", n, ..] => return one(Match::IpProto(Family::Both, ip_proto(n)?), 2),
        ["ip" | "ip6", "proto"] | ["proto"] => {
            bail!("expected an IP protocol number after `{}` (0-255, e.g. 47 for GRE)", w.join(" "))
        }
        ["ip" | "ip6", ..] => bail!(
            "`{}` alone is not a rule: write `ether type 0x0800` for all of IPv4, `ether type 0x86dd` \
             for all of IPv6, or `{} proto N` for one protocol",
            w[0],
            w[0]
        ),
        _ => {}
    }
    let mut i = 0;
    let proto = match w.first() {
        Some(&"tcp") => Some(Proto::Tcp),
        Some(&"udp") => Some(Proto::Udp),
        _ => None,
    };
    i += usize::from(proto.is_some());
    let dir = match w.get(i) {
        Some(&"src") => Dir::Src,
        Some(&"dst") => Dir::Dst,
        _ => Dir::Both,
    };
    i += usize::from(dir != Dir::Both);
    let said = w[..i].join(" ");
    if let Some(p) = proto {
        let Some(value) = w.get(i) else {
            if dir == Dir::Both {
                // `tcp` or `udp` alone: the whole protocol.
                return Ok((Match::IpProto(Family::Both, p.number()), Dir::Both, 1));
            }
            bail!("expected a port after `{said}` (0-65535)");
        };
        if parse_match(&w[i..]).is_ok() && value.parse::<u16>().is_err() {
            // `tcp src 10.0.0.0/8`, `tcp arp`: the protocol alone, then another rule.
            if dir == Dir::Both {
                return Ok((Match::IpProto(Family::Both, p.number()), Dir::Both, 1));
            }
            bail!("{value:?} is not a port: expected a number from 0 to 65535 after `{said}`");
        }
        let port = port(value, &said)?;
        return Ok((Match::Port(p, port), dir, i + 1));
    }
    match w.get(i) {
        Some(&"ether") => {
            let Some(mac) = w.get(i + 1) else {
                bail!("expected a MAC address after `{}` (e.g. 02:00:00:00:00:01)", w[..=i].join(" "))
            };
            Ok((Match::Mac(crate::addr::parse_mac(mac)?), dir, i + 2))
        }
        Some(&word @ ("arp" | "nd" | "icmp" | "icmp6" | "proto" | "ip" | "ip6")) => bail!(
            "`{said}` does not apply to `{word}`: `src` and `dst` go with addresses, ports and MACs \
             (`{}` is matched in both directions)",
            w[i..].join(" ")
        ),
        Some(value) => Ok((prefix(value).map_err(|e| {
            if i == 0 && !value.contains(['.', ':', '/']) {
                usage()
            } else {
                e
            }
        })?, dir, i + 1)),
        None if i == 0 => Err(usage()),
        None => bail!(
            "expected an address, a prefix or `ether MAC` after `{said}` (e.g. `{said} 198.18.0.0/24`)"
        ),
    }
}

/// A port number after the words `said`, with an error that says what
/// was expected.
fn port(value: &str, said: &str) -> Result<u16> {
    match value.parse::<u64>() {
        Ok(n) => u16::try_from(n).map_err(|_| {
            anyhow!("{n} is not a port: expected a number from 0 to 65535 after `{said}`")
        }),
        Err(_) => {
            bail!("{value:?} is not a port: expected a number from 0 to 65535 after `{said}`")
        }
    }
}

/// An IP protocol number (0-255).
fn ip_proto(value: &str) -> Result<u8> {
    match value.parse::<u64>() {
        Ok(n) => u8::try_from(n).map_err(|_| {
            anyhow!("{n} is not an IP protocol number: expected 0-255 (e.g. 47 for GRE)")
        }),
        Err(_) => bail!(
            "{value:?} is not an IP protocol number: expected 0-255 (e.g. 47 for GRE; `icmp`, `icmp6`, `tcp` and `udp` by name)"
        ),
    }
}

/// `ADDR` or `ADDR/LEN` with the host bits clear.
fn prefix(value: &str) -> Result<Match> {
    let (a, l) = match value.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (value, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| {
        anyhow!("{value:?} is not an IP address or prefix: expected e.g. 198.18.0.0/24 or fc00::/7")
    })?;
    let (max, v) = if addr.is_ipv4() {
        (32, "IPv4")
    } else {
        (128, "IPv6")
    };
    let len =
        match l {
            Some(l) => l.parse::<u8>().ok().filter(|n| *n <= max).ok_or_else(|| {
                anyhow!("{l:?} is not a prefix length for {v}: expected 0 to {max}")
            })?,
            None => max,
        };
    let net = addr::cidr(addr, len).map_or(addr, |c| addr::network(&c));
    if net != addr {
        bail!(
            "{value} has host bits set: the network is {net}/{len} (write that), or write {addr}/{max} for the one host"
        );
    }
    Ok(Match::Prefix(net, len))
}

fn ethertype(t: &str) -> Result<u16> {
    if t == "arp" {
        return Ok(ETH_P_ARP);
    }
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    };
    v.ok_or_else(|| {
        anyhow!("{t:?} is not an EtherType: expected a 16-bit number, e.g. 0x88cc (or `arp`)")
    })
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
            "icmp",
            "icmp6",
            "tcp",
            "udp",
            "proto 47",
            "ip proto 6",
            "ip6 proto 17",
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
    fn ip_protocol_rules_share_keys_where_their_versions_overlap() {
        let p = |s: &str| Rule::parse(Verdict::Deny, &words(s)).unwrap();
        assert_eq!(p("ip proto 1").match_words(), "icmp");
        assert_eq!(p("proto 6").match_words(), "tcp");
        assert!(p("proto 6").same_key(&p("ip proto 6")));
        assert!(!p("ip6 proto 6").same_key(&p("ip proto 6")));
        assert!(!p("icmp").same_key(&p("icmp6")));
        assert!(!p("tcp").same_key(&p("tcp dst 22")));
    }

    #[test]
    fn errors_say_what_was_expected() {
        // (words, the error's text must contain)
        for (bad, says) in [
            (
                "tcp dst 70000",
                "70000 is not a port: expected a number from 0 to 65535 after `tcp dst`",
            ),
            (
                "tcp dst 99999999999999999999999",
                "expected a number from 0 to 65535",
            ),
            (
                "tcp dst x1",
                "\"x1\" is not a port: expected a number from 0 to 65535",
            ),
            ("udp src", "expected a port after `udp src`"),
            (
                "10.0.0.0/33",
                "\"33\" is not a prefix length for IPv4: expected 0 to 32",
            ),
            ("fc00::/129", "expected 0 to 128"),
            ("src 300.1.1.1", "is not an IP address or prefix"),
            (
                "src",
                "expected an address, a prefix or `ether MAC` after `src`",
            ),
            ("bogus", "expected a rule: `[src|dst] PREFIX`"),
            (
                "ether type 0x1ffff",
                "is not an EtherType: expected a 16-bit number",
            ),
            (
                "ip proto 256",
                "256 is not an IP protocol number: expected 0-255",
            ),
            ("proto gre", "is not an IP protocol number"),
            ("ip", "`ip` alone is not a rule"),
            ("src icmp", "`src` does not apply to `icmp`"),
            (
                "src 10.0.0.0/8 tcp dst 80",
                "`src 10.0.0.0/8` and `tcp dst 80` are two rules",
            ),
            ("tcp dst 22 80", "a rule takes one port"),
            ("arp nd", "`arp` and `nd` are two rules"),
            (
                "icmp extra",
                "unexpected `extra` after `icmp`: a rule matches one field",
            ),
        ] {
            let e = format!("{:#}", Rule::parse(Verdict::Deny, &words(bad)).unwrap_err());
            assert!(e.contains(says), "{bad}: {e}");
            for internal in ["number too large", "invalid digit", "ParseIntError"] {
                assert!(!e.contains(internal), "{bad}: {e}");
            }
        }
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
