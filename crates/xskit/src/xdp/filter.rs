//! The rule filter's rules: parsed from the command line, kept in the maps
//! pinned under [`super::pin::filter_dir`], read back with hit counts.
//! Rules change while `xdp_filter` runs; no re-attach is needed.

use super::pin;
use super::{Program, XdpProgram};
use anyhow::{bail, Context, Result};
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, Map, MapData, PerCpuArray, PerCpuValues};
use aya::Pod;
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

/// Most rules the maps hold.
pub const MAX_RULES: u32 = 1024;

/// What a matching rule does.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
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

/// Transport protocol of a port rule.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// What a rule matches.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Match {
    /// An IPv4 or IPv6 prefix.
    Prefix(IpAddr, u8),
    /// A TCP or UDP port.
    Port(Proto, u16),
}

/// One rule.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub struct Rule {
    /// Allow or deny.
    pub verdict: Verdict,
    /// Source, destination or both.
    pub dir: Dir,
    /// Prefix or port.
    pub what: Match,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.verdict.name();
        let d = match self.dir {
            Dir::Src => " src",
            Dir::Dst => " dst",
            Dir::Both => "",
        };
        match self.what {
            Match::Prefix(a, l) => write!(f, "{v}{d} {a}/{l}"),
            Match::Port(p, n) => write!(
                f,
                "{v} {}{d} {n}",
                if p == Proto::Tcp { "tcp" } else { "udp" }
            ),
        }
    }
}

impl Rule {
    /// Parses the words after `add`/`del`: `deny [src|dst] PREFIX` or
    /// `deny (tcp|udp) [src|dst] PORT`.
    pub fn parse(verdict: Verdict, words: &[String]) -> Result<Rule> {
        let mut w: Vec<&str> = words.iter().map(String::as_str).collect();
        let proto = match w.first() {
            Some(&"tcp") => Some(Proto::Tcp),
            Some(&"udp") => Some(Proto::Udp),
            _ => None,
        };
        if proto.is_some() {
            w.remove(0);
        }
        let dir = match w.first() {
            Some(&"src") => Dir::Src,
            Some(&"dst") => Dir::Dst,
            _ => Dir::Both,
        };
        if dir != Dir::Both {
            w.remove(0);
        }
        let [value] = w[..] else {
            bail!(
                "expected `[tcp|udp] [src|dst] PREFIX-OR-PORT`, got {:?}",
                words.join(" ")
            );
        };
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
                    format!("{value:?} is not an IP prefix (e.g. 198.18.0.0/24, fc00::/7)")
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
                Match::Prefix(mask(addr, len), len)
            }
        };
        Ok(Rule { verdict, dir, what })
    }

    /// True if this rule would drop traffic between `peer` and `local`
    /// arriving at `local_port` (an SSH session seen from the server).
    pub fn would_cut(&self, peer: IpAddr, local: IpAddr, peer_port: u16, local_port: u16) -> bool {
        if self.verdict != Verdict::Deny {
            return false;
        }
        match self.what {
            Match::Prefix(net, len) => {
                let src_hit = contains(net, len, peer);
                let dst_hit = contains(net, len, local);
                match self.dir {
                    Dir::Src => src_hit,
                    Dir::Dst => dst_hit,
                    Dir::Both => src_hit || dst_hit,
                }
            }
            Match::Port(Proto::Tcp, p) => match self.dir {
                Dir::Src => p == peer_port,
                Dir::Dst => p == local_port,
                Dir::Both => p == peer_port || p == local_port,
            },
            Match::Port(Proto::Udp, _) => false,
        }
    }
}

fn mask(addr: IpAddr, len: u8) -> IpAddr {
    match addr {
        IpAddr::V4(a) => {
            let m = if len == 0 {
                0
            } else {
                u32::MAX << (32 - len as u32)
            };
            IpAddr::V4((u32::from(a) & m).into())
        }
        IpAddr::V6(a) => {
            let m = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len as u32)
            };
            IpAddr::V6((u128::from(a) & m).into())
        }
    }
}

fn contains(net: IpAddr, len: u8, addr: IpAddr) -> bool {
    net.is_ipv4() == addr.is_ipv4() && mask(addr, len) == net
}

/// `struct rule` of bpf/xdp_filter.c.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
struct RuleValue {
    deny: u32,
    id: u32,
}
// SAFETY: two u32s, no padding: any bit pattern is a valid value.
unsafe impl Pod for RuleValue {}

/// `struct port_key` of bpf/xdp_filter.c.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
struct PortKey {
    proto: u8,
    dir: u8,
    port: u16,
}
// SAFETY: u8, u8, u16: no padding; any bit pattern is a valid value.
unsafe impl Pod for PortKey {}

const TCP: u8 = 6;
const UDP: u8 = 17;

/// A rule as stored, with its id and hit count.
#[derive(Clone, Debug)]
pub struct Listed {
    /// Index of its hit counter.
    pub id: u32,
    /// The rule.
    pub rule: Rule,
    /// Frames it decided.
    pub hits: u64,
}

/// The filter's pinned maps in this network namespace.
pub struct Rules {
    dir: PathBuf,
}

impl Rules {
    /// Opens the rule maps, creating (and pinning) them if no filter was
    /// set up in this namespace yet.
    pub fn open() -> Result<Rules> {
        pin::ensure_bpffs()?;
        let dir = pin::filter_dir()?;
        if !dir.join("filter_config").exists() {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            // Loading the object pins its maps by name in `dir`.
            drop(XdpProgram::load_with_pins(Program::Filter, 1, Some(&dir))?);
        }
        Ok(Rules { dir })
    }

    /// The directory the maps are pinned in.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    fn map(&self, name: &str) -> Result<Map> {
        let path = self.dir.join(name);
        let data =
            MapData::from_pin(&path).with_context(|| format!("opening {}", path.display()))?;
        Ok(Map::from_map_data(data)?)
    }

    /// Sets the policy for frames no rule matches.
    pub fn set_default(&self, verdict: Verdict) -> Result<()> {
        let mut a: Array<MapData, u32> = Array::try_from(self.map("filter_config")?)?;
        a.set(0, u32::from(verdict == Verdict::Deny), 0)?;
        Ok(())
    }

    /// The policy for frames no rule matches.
    pub fn default_verdict(&self) -> Result<Verdict> {
        let a: Array<MapData, u32> = Array::try_from(self.map("filter_config")?)?;
        Ok(if a.get(&0, 0)? == 1 {
            Verdict::Deny
        } else {
            Verdict::Allow
        })
    }

    /// Frames that were not IP, and IP frames too short for their headers.
    pub fn misc_counts(&self) -> Result<(u64, u64)> {
        let a: PerCpuArray<MapData, u64> = PerCpuArray::try_from(self.map("filter_misc")?)?;
        let sum = |i: u32| -> Result<u64> { Ok(a.get(&i, 0)?.iter().sum()) };
        Ok((sum(0)?, sum(1)?))
    }

    /// Every rule with its hit count, by id.
    pub fn list(&self) -> Result<Vec<Listed>> {
        let mut by_id: BTreeMap<u32, (Rule, bool, bool)> = BTreeMap::new();
        let mut note = |id: u32, v: u32, what: Match, src: bool| {
            let verdict = if v == 1 {
                Verdict::Deny
            } else {
                Verdict::Allow
            };
            let e = by_id.entry(id).or_insert((
                Rule {
                    verdict,
                    dir: Dir::Src,
                    what,
                },
                false,
                false,
            ));
            if src {
                e.1 = true;
            } else {
                e.2 = true;
            }
        };
        let tries = [
            (
                true,
                self.trie_entries::<[u8; 4]>("filter_src_v4", IpAddr::from)?,
            ),
            (
                false,
                self.trie_entries::<[u8; 4]>("filter_dst_v4", IpAddr::from)?,
            ),
            (
                true,
                self.trie_entries::<[u8; 16]>("filter_src_v6", IpAddr::from)?,
            ),
            (
                false,
                self.trie_entries::<[u8; 16]>("filter_dst_v6", IpAddr::from)?,
            ),
        ];
        for (is_src, entries) in tries {
            for (what, r) in entries {
                note(r.id, r.deny, what, is_src);
            }
        }
        let ports: HashMap<MapData, PortKey, RuleValue> =
            HashMap::try_from(self.map("filter_ports")?)?;
        for kv in ports.iter() {
            let (k, r) = kv?;
            let proto = if k.proto == TCP {
                Proto::Tcp
            } else {
                Proto::Udp
            };
            note(
                r.id,
                r.deny,
                Match::Port(proto, u16::from_be(k.port)),
                k.dir == 0,
            );
        }
        let hits: PerCpuArray<MapData, u64> = PerCpuArray::try_from(self.map("filter_hits")?)?;
        let mut out = Vec::new();
        for (id, (mut rule, s, d)) in by_id {
            rule.dir = match (s, d) {
                (true, true) => Dir::Both,
                (true, false) => Dir::Src,
                _ => Dir::Dst,
            };
            let n = if id < MAX_RULES {
                hits.get(&id, 0)?.iter().sum()
            } else {
                0
            };
            out.push(Listed { id, rule, hits: n });
        }
        Ok(out)
    }

    /// Adds a rule (replacing one with the same match); returns its id.
    pub fn add(&self, rule: &Rule) -> Result<u32> {
        let existing = self.list()?;
        if let Some(same) = existing
            .iter()
            .find(|l| l.rule.what == rule.what && l.rule.dir == rule.dir)
        {
            self.del(&same.rule)?;
        }
        let used: Vec<u32> = self.list()?.iter().map(|l| l.id).collect();
        let id = (0..MAX_RULES)
            .find(|i| !used.contains(i))
            .context("the filter holds 1024 rules already")?;
        // Start the new rule's hit counter at zero.
        let mut hits: PerCpuArray<MapData, u64> = PerCpuArray::try_from(self.map("filter_hits")?)?;
        let ncpu = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        hits.set(id, PerCpuValues::try_from(vec![0u64; ncpu])?, 0)?;
        let value = RuleValue {
            deny: u32::from(rule.verdict == Verdict::Deny),
            id,
        };
        self.write(rule, Some(value))?;
        Ok(id)
    }

    /// Removes a rule; false if there was none like it.
    pub fn del(&self, rule: &Rule) -> Result<bool> {
        let before = self.list()?.len();
        self.write(rule, None)?;
        Ok(self.list()?.len() < before)
    }

    /// Inserts (`Some`) or removes (`None`) one prefix in the trie `name`.
    fn trie_write<K: Pod>(
        &self,
        name: &str,
        len: u8,
        addr: K,
        value: Option<RuleValue>,
    ) -> Result<()> {
        let mut t: LpmTrie<MapData, K, RuleValue> = LpmTrie::try_from(self.map(name)?)?;
        let key = Key::new(len as u32, addr);
        match value {
            Some(v) => t.insert(&key, v, 0)?,
            // Removing what is not there is fine: `del` reports by counting.
            None => {
                let _ = t.remove(&key);
            }
        }
        Ok(())
    }

    /// Every (prefix, rule) of the trie `name`.
    fn trie_entries<K: Pod>(
        &self,
        name: &str,
        to_addr: impl Fn(K) -> IpAddr,
    ) -> Result<Vec<(Match, RuleValue)>> {
        let t: LpmTrie<MapData, K, RuleValue> = LpmTrie::try_from(self.map(name)?)?;
        let mut out = Vec::new();
        for kv in t.iter() {
            let (k, r) = kv?;
            out.push((Match::Prefix(to_addr(k.data()), k.prefix_len() as u8), r));
        }
        Ok(out)
    }

    /// Inserts (`Some`) or removes (`None`) a rule's entries.
    fn write(&self, rule: &Rule, value: Option<RuleValue>) -> Result<()> {
        let dirs: &[bool] = match rule.dir {
            Dir::Src => &[true],
            Dir::Dst => &[false],
            Dir::Both => &[true, false],
        };
        for &is_src in dirs {
            match rule.what {
                Match::Prefix(IpAddr::V4(a), len) => {
                    let name = if is_src {
                        "filter_src_v4"
                    } else {
                        "filter_dst_v4"
                    };
                    self.trie_write(name, len, a.octets(), value)?;
                }
                Match::Prefix(IpAddr::V6(a), len) => {
                    let name = if is_src {
                        "filter_src_v6"
                    } else {
                        "filter_dst_v6"
                    };
                    self.trie_write(name, len, a.octets(), value)?;
                }
                Match::Port(p, port) => {
                    let mut m: HashMap<MapData, PortKey, RuleValue> =
                        HashMap::try_from(self.map("filter_ports")?)?;
                    let key = PortKey {
                        proto: if p == Proto::Tcp { TCP } else { UDP },
                        dir: if is_src { 0 } else { 1 },
                        port: port.to_be(),
                    };
                    match value {
                        Some(v) => m.insert(key, v, 0)?,
                        None => {
                            let _ = m.remove(&key);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_prefix_and_port_rules() {
        let r = Rule::parse(Verdict::Deny, &words("src 198.18.0.7/24")).unwrap();
        assert_eq!(r.what, Match::Prefix("198.18.0.0".parse().unwrap(), 24));
        assert_eq!(r.dir, Dir::Src);
        assert_eq!(r.to_string(), "deny src 198.18.0.0/24");
        let r = Rule::parse(Verdict::Allow, &words("fc00::1")).unwrap();
        assert_eq!(r.what, Match::Prefix("fc00::1".parse().unwrap(), 128));
        assert_eq!(r.dir, Dir::Both);
        let r = Rule::parse(Verdict::Deny, &words("tcp dst 22")).unwrap();
        assert_eq!(r.what, Match::Port(Proto::Tcp, 22));
        assert_eq!(r.to_string(), "deny tcp dst 22");
        assert!(Rule::parse(Verdict::Deny, &words("tcp dst 70000")).is_err());
        assert!(Rule::parse(Verdict::Deny, &words("10.0.0.0/33")).is_err());
        assert!(Rule::parse(Verdict::Deny, &words("src")).is_err());
        assert!(Rule::parse(Verdict::Deny, &words("bogus")).is_err());
    }

    #[test]
    fn ssh_cut_detection() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let local: IpAddr = "192.0.2.2".parse().unwrap();
        let cut = |s: &str| {
            Rule::parse(Verdict::Deny, &words(s))
                .unwrap()
                .would_cut(peer, local, 50000, 22)
        };
        assert!(cut("src 203.0.113.0/24"));
        assert!(cut("203.0.113.9"));
        assert!(cut("dst 192.0.2.0/24"));
        assert!(cut("tcp dst 22"));
        assert!(cut("tcp 22"));
        assert!(!cut("dst 203.0.113.0/24"));
        assert!(!cut("udp 22"));
        assert!(!cut("src 198.18.0.0/15"));
        assert!(!Rule::parse(Verdict::Allow, &words("203.0.113.9"))
            .unwrap()
            .would_cut(peer, local, 50000, 22));
    }
}
