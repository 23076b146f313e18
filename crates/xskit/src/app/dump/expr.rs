//! Capture filter expressions in tcpdump's syntax, for `xskit dump`:
//! `host`, `net`, `port`, `portrange A-B`, `src`/`dst`, `ether
//! src|dst|host`, the protocols `tcp udp icmp icmp6 arp ip ip6`, `ip proto
//! N`, `ip6 proto N`, `proto N`, `vlan [ID]`, `greater N`, `less N`, `len`
//! compared with `> < >= <= = !=`, `inbound` (every frame: XDP sees only
//! received ones) and `outbound` (none), `and or not` (`&& || !`) and
//! parentheses. Applied in user space to each frame the capture delivers
//! (the XDP program still copies every frame). Byte-offset expressions
//! (`tcp[13] & 2 != 0`, `tcp[tcpflags]`) are refused with that reason.
//!
//! Hand-written rather than libpcap's compiler: xskit depends on no C
//! library, and the primitives above are a small, fixed language. Like
//! tcpdump, `vlan` shifts every primitive written after it by the 4-byte
//! tag, and a bare value repeats the last qualifiers (`port 80 or 443`).

use anyhow::{bail, Context, Result};
use std::net::IpAddr;

/// Which address or port of a frame a primitive looks at.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Dir {
    Either,
    Src,
    Dst,
}

/// A protocol a primitive is limited to.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Proto {
    Any,
    Ip,
    Ip6,
    Arp,
    Tcp,
    Udp,
    Icmp,
    Icmp6,
}

#[derive(Clone, Debug)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Not(Box<Node>),
    Proto(Proto, usize),
    Net(Proto, Dir, IpAddr, u8, usize),
    /// Ports `lo..=hi` (`port N` is `N..=N`).
    Port(Proto, Dir, u16, u16, usize),
    /// The IP protocol number (of IPv4 if true, IPv6 if false, or either).
    IpProto(Option<bool>, u8, usize),
    /// The frame's length on the wire compared with a number.
    Len(Cmp, usize),
    /// Always true or always false (`inbound`, `outbound`).
    Const(bool),
    Ether(Dir, [u8; 6], usize),
    Vlan(Option<u16>, usize),
}

/// A comparison of `len` (and `greater`, `less`).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Cmp {
    Gt,
    Lt,
    Ge,
    Le,
    Eq,
    Ne,
}

impl Cmp {
    fn parse(w: &str) -> Option<Cmp> {
        Some(match w {
            ">" => Cmp::Gt,
            "<" => Cmp::Lt,
            ">=" => Cmp::Ge,
            "<=" => Cmp::Le,
            "=" | "==" => Cmp::Eq,
            "!=" => Cmp::Ne,
            _ => return None,
        })
    }
    fn holds(self, a: usize, b: usize) -> bool {
        match self {
            Cmp::Gt => a > b,
            Cmp::Lt => a < b,
            Cmp::Ge => a >= b,
            Cmp::Le => a <= b,
            Cmp::Eq => a == b,
            Cmp::Ne => a != b,
        }
    }
}

/// What a primitive may be, for the error that names the way out.
const EXPECTED: &str = "expected host, net, port, portrange, an IP address, \
     ip, ip6, arp, tcp, udp, icmp, icmp6, proto, ether, vlan, greater, less, len, \
     inbound or outbound";

/// A compiled filter expression.
#[derive(Clone, Debug)]
pub struct Filter(Node);

struct Parser<'a> {
    words: Vec<&'a str>,
    pos: usize,
    /// Bytes every later primitive skips (4 per `vlan`).
    off: usize,
    /// Qualifiers of the last primitive, for bare values.
    last: Option<(Proto, Dir, &'a str)>,
}

/// Splits an expression into words: white space separates; parentheses
/// are words of their own, and so is each run of operator characters
/// (`len>70`, `ip&&udp`, `!udp`, `len != 82`).
fn tokens(s: &str) -> Vec<&str> {
    let op = |c: char| matches!(c, '<' | '>' | '=' | '!' | '&' | '|');
    let mut out = Vec::new();
    let mut start: Option<(usize, bool)> = None;
    for (i, c) in s.char_indices() {
        let kind = op(c);
        if let Some((b, k)) = start {
            if c.is_whitespace() || matches!(c, '(' | ')') || k != kind {
                out.push(&s[b..i]);
                start = None;
            }
        }
        if matches!(c, '(' | ')') {
            out.push(&s[i..i + 1]);
        } else if !c.is_whitespace() && start.is_none() {
            start = Some((i, kind));
        }
    }
    if let Some((b, _)) = start {
        out.push(&s[b..]);
    }
    // A run of operator characters is split into operators, longest first
    // (`&&!` is `&&` `!`, `!!` is `!` `!`, `!=` stays one).
    const OPS: [&str; 10] = ["&&", "||", "!=", ">=", "<=", "==", ">", "<", "=", "!"];
    let mut split = Vec::new();
    for t in out {
        let mut rest = t;
        while !rest.is_empty() && t.starts_with(op) {
            match OPS.iter().find(|o| rest.starts_with(**o)) {
                Some(o) => {
                    split.push(&rest[..o.len()]);
                    rest = &rest[o.len()..];
                }
                None => {
                    split.push(rest);
                    rest = "";
                }
            }
        }
        if !t.starts_with(op) {
            split.push(t);
        }
    }
    split
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<&'a str> {
        self.words.get(self.pos).copied()
    }
    fn next(&mut self) -> Option<&'a str> {
        let w = self.peek();
        self.pos += 1;
        w
    }
    fn or(&mut self) -> Result<Node> {
        let mut n = self.and()?;
        while matches!(self.peek(), Some("or" | "||")) {
            self.pos += 1;
            n = Node::Or(Box::new(n), Box::new(self.and()?));
        }
        Ok(n)
    }
    fn and(&mut self) -> Result<Node> {
        let mut n = self.not()?;
        while matches!(self.peek(), Some("and" | "&&")) {
            self.pos += 1;
            n = Node::And(Box::new(n), Box::new(self.not()?));
        }
        Ok(n)
    }
    fn not(&mut self) -> Result<Node> {
        if matches!(self.peek(), Some("not" | "!")) {
            self.pos += 1;
            return Ok(Node::Not(Box::new(self.not()?)));
        }
        if self.peek() == Some("(") {
            self.pos += 1;
            let n = self.or()?;
            if self.next() != Some(")") {
                bail!("missing ')' in the filter expression");
            }
            return Ok(n);
        }
        self.primitive()
    }
    fn primitive(&mut self) -> Result<Node> {
        let Some(w) = self.next() else {
            bail!("the filter expression ends where a primitive was expected");
        };
        let off = self.off;
        let proto = match w {
            "ip" => Some(Proto::Ip),
            "ip6" => Some(Proto::Ip6),
            "arp" => Some(Proto::Arp),
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "icmp" => Some(Proto::Icmp),
            "icmp6" => Some(Proto::Icmp6),
            _ => None,
        };
        if let Some(p) = proto {
            if matches!(self.peek(), Some("proto")) && matches!(p, Proto::Ip | Proto::Ip6) {
                self.pos += 1;
                return self.ip_proto(Some(p == Proto::Ip));
            }
            if matches!(
                self.peek(),
                Some("src" | "dst" | "host" | "net" | "port" | "portrange")
            ) {
                let w = self.next().expect("peeked");
                return self.qualified(p, w);
            }
            if self.peek().is_some_and(|n| n.starts_with('[')) || w.contains('[') {
                bail!("byte-offset expressions ({w}[...]) are not supported by xskit's filter");
            }
            return Ok(Node::Proto(p, off));
        }
        if w.contains('[') {
            bail!("byte-offset expressions ({w}) are not supported by xskit's filter");
        }
        match w {
            "proto" => self.ip_proto(None),
            "inbound" => Ok(Node::Const(true)),
            "outbound" => Ok(Node::Const(false)),
            "greater" | "less" => {
                let n = self.number(w)?;
                Ok(Node::Len(if w == "greater" { Cmp::Ge } else { Cmp::Le }, n))
            }
            "len" => {
                let op = self.next();
                let cmp = op.and_then(Cmp::parse).with_context(|| {
                    format!("`len` is compared with > < >= <= = or != and a number, not {op:?}")
                })?;
                Ok(Node::Len(cmp, self.number("len")?))
            }
            "vlan" => {
                let id = match self.peek().and_then(|v| v.parse::<u16>().ok()) {
                    Some(id) if id < 4096 => {
                        self.pos += 1;
                        Some(id)
                    }
                    Some(id) => bail!("vlan {id}: a VLAN id is 0 to 4095"),
                    None => None,
                };
                self.off += 4;
                Ok(Node::Vlan(id, off))
            }
            "ether" => {
                let dir = match self.next() {
                    Some("src") => Dir::Src,
                    Some("dst") => Dir::Dst,
                    Some("host") => Dir::Either,
                    other => bail!("`ether` takes src, dst or host, not {other:?}"),
                };
                if dir != Dir::Either && self.peek() == Some("host") {
                    self.pos += 1;
                }
                let v = self.next().context("`ether` needs a MAC address")?;
                let mac = crate::wire::parse_mac(v)
                    .with_context(|| format!("{v:?} is not a MAC address"))?;
                Ok(Node::Ether(dir, mac, off))
            }
            _ => self.qualified(Proto::Any, w),
        }
    }
    /// A number after `what` (`greater 70`).
    fn number(&mut self, what: &str) -> Result<usize> {
        let v = self.next();
        v.and_then(|v| v.parse().ok())
            .with_context(|| format!("`{what}` needs a number of bytes, not {v:?}"))
    }

    /// `proto N` after `ip`, `ip6` (`v4`: Some) or alone (either family).
    fn ip_proto(&mut self, v4: Option<bool>) -> Result<Node> {
        let v = self.next();
        let n = match v {
            Some(n) => n.parse::<u8>().map_err(|_| {
                anyhow::anyhow!(
                    "`proto` takes a protocol number 0 to 255 (6 tcp, 17 udp, 1 icmp, 58 icmp6), not {n:?}"
                )
            })?,
            None => bail!("`proto` needs a protocol number (6 tcp, 17 udp, 1 icmp, 58 icmp6)"),
        };
        Ok(Node::IpProto(v4, n, self.off))
    }

    /// `[src|dst] (host|net|port) VALUE` or a bare VALUE, `w` read already.
    fn qualified(&mut self, proto: Proto, mut w: &'a str) -> Result<Node> {
        let mut dir = Dir::Either;
        if matches!(w, "src" | "dst") {
            dir = if w == "src" { Dir::Src } else { Dir::Dst };
            w = self
                .next()
                .context("`src`/`dst` needs host, net, port or an address")?;
        }
        let (kind, value) = match w {
            "host" | "net" | "port" | "portrange" => (
                w,
                self.next()
                    .with_context(|| format!("`{w}` needs a value"))?,
            ),
            _ => match self.last {
                // A bare value repeats the last qualifiers.
                Some((p, d, k)) if proto == Proto::Any && dir == Dir::Either => {
                    return self.value(p, d, k, w);
                }
                // Anything that cannot be an address is no primitive.
                _ if !w.contains(['.', ':']) && w.parse::<u8>().is_err() => {
                    bail!("unknown word {w:?} in the filter expression: {EXPECTED}")
                }
                _ => ("host", w),
            },
        };
        self.value(proto, dir, kind, value)
    }
    fn value(&mut self, proto: Proto, dir: Dir, kind: &'a str, v: &str) -> Result<Node> {
        self.last = Some((proto, dir, kind));
        let off = self.off;
        match kind {
            "port" | "portrange" => {
                let number = |p: &str| {
                    p.parse::<u16>()
                        .map_err(|_| anyhow::anyhow!("{p:?} is not a port number (0 to 65535)"))
                };
                let (lo, hi) = if kind == "port" {
                    (number(v)?, number(v)?)
                } else {
                    let (a, b) = v.split_once('-').with_context(|| {
                        format!("portrange {v}: write the range as FIRST-LAST, e.g. 20-25")
                    })?;
                    let (a, b) = (number(a)?, number(b)?);
                    (a.min(b), a.max(b))
                };
                if !matches!(
                    proto,
                    Proto::Any | Proto::Tcp | Proto::Udp | Proto::Ip | Proto::Ip6
                ) {
                    bail!("`{kind}` applies to tcp or udp, not to this protocol");
                }
                Ok(Node::Port(proto, dir, lo, hi, off))
            }
            _ => {
                let (addr, len) = match v.split_once('/') {
                    Some((a, l)) => (a, Some(l)),
                    None => (v, None),
                };
                // tcpdump's `net 10`, `net 198.18`: the octets given, the
                // rest zero, as long a prefix as octets given.
                let short = (kind == "net" && len.is_none())
                    .then(|| {
                        let parts: Vec<&str> = addr.split('.').collect();
                        (parts.len() < 4 && parts.iter().all(|p| p.parse::<u8>().is_ok()))
                            .then_some(parts.len())
                    })
                    .flatten();
                let (addr, len) = match short {
                    Some(n) => {
                        let mut padded = addr.to_string();
                        for _ in n..4 {
                            padded.push_str(".0");
                        }
                        (padded, Some(format!("{}", n * 8)))
                    }
                    None => (addr.to_string(), len.map(str::to_string)),
                };
                let len = len.as_deref();
                let addr: IpAddr = addr.parse().map_err(|_| {
                    anyhow::anyhow!("{v:?} is not an IP address (host names are not looked up)")
                })?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let len = match len {
                    Some(l) => l
                        .parse::<u8>()
                        .ok()
                        .filter(|l| *l <= max)
                        .with_context(|| format!("{v:?}: prefix length 0 to {max}"))?,
                    None => max,
                };
                if kind == "host" && len != max {
                    bail!("host {v}: a host has no prefix length (use net)");
                }
                // As tcpdump: a net with host bits set is a mistake.
                if kind == "net" && network(addr, len) != addr {
                    bail!(
                        "net {v}: the address has bits set past the prefix length (the network is {}/{len})",
                        network(addr, len)
                    );
                }
                Ok(Node::Net(proto, dir, addr, len, off))
            }
        }
    }
}

impl std::str::FromStr for Filter {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Filter> {
        let mut p = Parser {
            words: tokens(s),
            pos: 0,
            off: 0,
            last: None,
        };
        if p.words.is_empty() {
            bail!("empty filter expression");
        }
        let n = p.or()?;
        if let Some(w) = p.peek() {
            bail!("unexpected {w:?} in the filter expression (join primitives with and/or)");
        }
        Ok(Filter(n))
    }
}

fn be16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(d.get(at..at + 2)?.try_into().ok()?))
}

/// `addr` with the bits past `len` cleared.
fn network(addr: IpAddr, len: u8) -> IpAddr {
    crate::xdp::addr::cidr(addr, len).map_or(addr, |c| crate::xdp::addr::network(&c))
}

fn prefix_match(a: &[u8], b: &[u8], len: u8) -> bool {
    let (full, rest) = ((len / 8) as usize, len % 8);
    a[..full] == b[..full] && (rest == 0 || (a[full] ^ b[full]) & (0xff << (8 - rest)) == 0)
}

/// The IP layer of a frame: (protocol, source, destination, start of the
/// transport header unless a later fragment, IPv4).
type IpView<'a> = (u8, &'a [u8], &'a [u8], Option<usize>, bool);

/// The IP layer of a frame whose EtherType sits `off` bytes late.
fn ip(d: &[u8], off: usize) -> Option<IpView<'_>> {
    let l3 = 14 + off;
    match be16(d, 12 + off)? {
        0x0800 => {
            let h = d.get(l3..l3 + 20)?;
            let ihl = (h[0] & 0x0f) as usize * 4;
            let first = u16::from_be_bytes([h[6], h[7]]) & 0x1fff == 0;
            Some((
                h[9],
                &h[12..16],
                &h[16..20],
                first.then_some(l3 + ihl),
                true,
            ))
        }
        0x86dd => {
            let h = d.get(l3..l3 + 40)?;
            Some((h[6], &h[8..24], &h[24..40], Some(l3 + 40), false))
        }
        _ => None,
    }
}

fn proto_ok(p: Proto, d: &[u8], off: usize) -> bool {
    let et = be16(d, 12 + off);
    let l = ip(d, off);
    match p {
        Proto::Any => true,
        Proto::Ip => et == Some(0x0800),
        Proto::Ip6 => et == Some(0x86dd),
        Proto::Arp => et == Some(0x0806),
        Proto::Tcp => l.is_some_and(|l| l.0 == 6),
        Proto::Udp => l.is_some_and(|l| l.0 == 17),
        Proto::Icmp => l.is_some_and(|l| l.0 == 1 && l.4),
        Proto::Icmp6 => l.is_some_and(|l| l.0 == 58 && !l.4),
    }
}

impl Node {
    fn matches(&self, d: &[u8], wire_len: usize) -> bool {
        match self {
            Node::And(a, b) => a.matches(d, wire_len) && b.matches(d, wire_len),
            Node::Or(a, b) => a.matches(d, wire_len) || b.matches(d, wire_len),
            Node::Not(a) => !a.matches(d, wire_len),
            Node::Proto(p, off) => proto_ok(*p, d, *off),
            Node::Vlan(id, off) => {
                matches!(be16(d, 12 + off), Some(0x8100 | 0x88a8 | 0x9100))
                    && id.is_none_or(|id| be16(d, 14 + off).is_some_and(|t| t & 0x0fff == id))
            }
            Node::Ether(dir, mac, off) => {
                let _ = off; // MAC addresses sit before any VLAN tag
                let (dst, src) = (d.get(0..6), d.get(6..12));
                let is = |x: Option<&[u8]>| x == Some(&mac[..]);
                match dir {
                    Dir::Src => is(src),
                    Dir::Dst => is(dst),
                    Dir::Either => is(src) || is(dst),
                }
            }
            Node::Net(p, dir, addr, len, off) => {
                if !proto_ok(*p, d, *off) {
                    return false;
                }
                let want: Vec<u8> = match addr {
                    IpAddr::V4(a) => a.octets().to_vec(),
                    IpAddr::V6(a) => a.octets().to_vec(),
                };
                let hit = |x: &[u8]| x.len() == want.len() && prefix_match(x, &want, *len);
                let (s, t): (Option<&[u8]>, Option<&[u8]>) = match ip(d, *off) {
                    Some((_, s, t, _, _)) => (Some(s), Some(t)),
                    // ARP carries IPv4 addresses too (tcpdump's host/net match them).
                    None if be16(d, 12 + off) == Some(0x0806) && *p == Proto::Any => {
                        let a = 14 + off;
                        (d.get(a + 14..a + 18), d.get(a + 24..a + 28))
                    }
                    None => (None, None),
                };
                let (s, t) = (s.is_some_and(hit), t.is_some_and(hit));
                match dir {
                    Dir::Src => s,
                    Dir::Dst => t,
                    Dir::Either => s || t,
                }
            }
            Node::Const(b) => *b,
            Node::Len(cmp, n) => cmp.holds(wire_len, *n),
            Node::IpProto(v4, n, off) => ip(d, *off)
                .is_some_and(|(proto, _, _, _, is4)| proto == *n && v4.is_none_or(|v| v == is4)),
            Node::Port(p, dir, lo, hi, off) => {
                let Some((proto, _, _, Some(l4), v4)) = ip(d, *off) else {
                    return false;
                };
                let fam_ok = match p {
                    Proto::Ip => v4,
                    Proto::Ip6 => !v4,
                    Proto::Tcp => proto == 6,
                    Proto::Udp => proto == 17,
                    _ => true,
                };
                if !fam_ok || !matches!(proto, 6 | 17 | 132) {
                    return false;
                }
                let hit = |p: Option<u16>| p.is_some_and(|p| (*lo..=*hi).contains(&p));
                let (s, t) = (hit(be16(d, l4)), hit(be16(d, l4 + 2)));
                match dir {
                    Dir::Src => s,
                    Dir::Dst => t,
                    Dir::Either => s || t,
                }
            }
        }
    }
}

impl Filter {
    /// True if the frame `data` (Ethernet) matches, taken whole: its
    /// length on the wire is `data.len()`.
    pub fn matches(&self, data: &[u8]) -> bool {
        self.0.matches(data, data.len())
    }

    /// True if the expression names `inbound` or `outbound`, which only a
    /// live capture can answer.
    pub fn uses_direction(&self) -> bool {
        fn walk(n: &Node) -> bool {
            match n {
                Node::And(a, b) | Node::Or(a, b) => walk(a) || walk(b),
                Node::Not(a) => walk(a),
                Node::Const(_) => true,
                _ => false,
            }
        }
        walk(&self.0)
    }

    /// True if the frame matches, of which `data` is the captured part of
    /// `wire_len` bytes (`len`, `greater` and `less` compare `wire_len`).
    pub fn matches_frame(&self, data: &[u8], wire_len: usize) -> bool {
        self.0.matches(data, wire_len)
    }
}

#[cfg(test)]
mod tests;
