//! The rule filter's rules: parsed from the command line, kept in the maps
//! pinned in a bpffs directory of the caller's choosing, read back with hit
//! counts.
//! Rules change while `xdp_filter` runs; no re-attach is needed.

mod decide;
mod rule;

pub use decide::{decide, Frame, Kind};
pub use rule::{mac_string, Dir, Family, Match, Proto, Rule, Verdict, RULE_FORMS};

use crate::abi::{MacKey, PortKey, RuleValue};
use crate::{Counter, Program, XdpProgram};
use anyhow::{bail, Context, Result};
use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, Map, MapData, PerCpuArray, PerCpuValues};
use aya::Pod;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Most rules the maps hold (a power of two: a rule's counters are at
/// `id % MAX_RULES`).
pub const MAX_RULES: u32 = 1024;

/// filter_config slot of the default policy.
const CONFIG_DEFAULT: u32 = 0;
/// filter_config slot of the next rule id: ids are never given twice in
/// the maps' life, so a `del ID` read from an old list cannot remove
/// another rule.
const CONFIG_NEXT_ID: u32 = 1;

/// filter_ether key of the `nd` rule.
const ND_KEY: u32 = 0x10000;

const TCP: u8 = 6;
const UDP: u8 = 17;

/// A rule as stored, with its id and what it decided.
#[derive(Clone, Debug)]
pub struct Listed {
    /// The id `list` shows and `del` takes (never given to another rule
    /// of these maps; its counters are at `id % MAX_RULES`).
    pub id: u32,
    /// The rule.
    pub rule: Rule,
    /// Frames it decided.
    pub hits: u64,
    /// Bytes of those frames.
    pub bytes: u64,
}

/// What [`Rules::add`] did.
#[derive(Clone, Debug, Eq, PartialEq)]
pub enum Added {
    /// A new rule with this id.
    New(u32),
    /// The same rule was there already, with this id.
    Exists(u32),
    /// Rules with the same key were removed (`--replace`), the new one has this id.
    Replaced(Vec<Rule>, u32),
}

/// Counters the filter keeps besides per-rule hits.
#[derive(Clone, Copy, Debug, Default)]
pub struct Misc {
    /// Frames neither IP nor ARP that no EtherType rule decided.
    pub not_ip: u64,
    /// Frames too short for their headers.
    pub truncated: u64,
    /// ARP frames passed with no `arp` rule.
    pub arp: u64,
    /// Neighbour discovery passed with no `nd` rule.
    pub nd: u64,
    /// Frames the default policy passed (all, the two kinds above included).
    pub default_passed: u64,
    /// Frames the default policy dropped (all, the two kinds above included).
    pub default_dropped: u64,
}

/// Maps of the filter, with the size its program expects (an older
/// layout is refused, not half used).
const LAYOUT: [(&str, u32); 3] = [
    ("filter_config", 2),
    ("filter_misc", 6),
    ("filter_proto", 0),
];

/// The filter's maps, pinned in one bpffs directory (xskit keeps one per
/// network namespace).
pub struct Rules {
    dir: PathBuf,
}

impl Rules {
    /// Opens the rule maps pinned in `dir`, creating (and pinning) them if
    /// there are none yet; mounts bpffs if it is not.
    pub fn open(dir: &Path) -> Result<Rules> {
        crate::bpffs::ensure_bpffs()?;
        let dir = dir.to_path_buf();
        if !dir.join("filter_config").exists() {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            // Loading the object pins its maps by name in `dir`.
            drop(XdpProgram::load_with_pins(Program::Filter, 1, Some(&dir))?);
        }
        let r = Rules { dir };
        r.check_layout()?;
        Ok(r)
    }

    /// The rule maps pinned in `dir` if they exist, without creating them.
    pub fn existing(dir: &Path) -> Option<Rules> {
        dir.join("filter_config").exists().then(|| Rules {
            dir: dir.to_path_buf(),
        })
    }

    /// Refuses maps of an older layout (a smaller filter_config or
    /// filter_misc, no filter_proto): the program would miss rules and
    /// counts in them.
    pub fn check_layout(&self) -> Result<()> {
        for (name, min) in LAYOUT {
            let path = self.dir.join(name);
            let entries = MapData::from_pin(&path)
                .ok()
                .and_then(|m| m.info().ok())
                .map(|i| i.max_entries());
            if entries.is_none_or(|n| n < min) {
                bail!(
                    "the filter's maps in {} are of an older xskit ({} {}): unload the filter \
                     (`xskit unload IFACE`), remove them (`xskit filter flush --maps`) and add the rules again",
                    self.dir.display(),
                    name,
                    if entries.is_none() { "missing" } else { "too small" }
                );
            }
        }
        Ok(())
    }

    /// The directory the maps are pinned in.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    /// Removes the maps (every rule, the default policy, the counters).
    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir)
            .with_context(|| format!("removing {}", self.dir.display()))
    }

    fn map(&self, name: &str) -> Result<Map> {
        let path = self.dir.join(name);
        let data = MapData::from_pin(&path).with_context(|| {
            format!(
                "opening {} (left by an older xskit? `xskit filter flush --maps` removes the maps)",
                path.display()
            )
        })?;
        Ok(Map::from_map_data(data)?)
    }

    /// Sets the policy for frames no rule matches.
    pub fn set_default(&self, verdict: Verdict) -> Result<()> {
        let mut a: Array<MapData, u32> = Array::try_from(self.map("filter_config")?)?;
        a.set(CONFIG_DEFAULT, u32::from(verdict == Verdict::Deny), 0)?;
        Ok(())
    }

    /// The policy for frames no rule matches.
    pub fn default_verdict(&self) -> Result<Verdict> {
        let a: Array<MapData, u32> = Array::try_from(self.map("filter_config")?)?;
        Ok(if a.get(&CONFIG_DEFAULT, 0)? == 1 {
            Verdict::Deny
        } else {
            Verdict::Allow
        })
    }

    /// Frames decided without a rule, by reason.
    pub fn misc_counts(&self) -> Result<Misc> {
        let a: PerCpuArray<MapData, u64> = PerCpuArray::try_from(self.map("filter_misc")?)?;
        let sum = |i: u32| -> Result<u64> { Ok(a.get(&i, 0)?.iter().sum()) };
        Ok(Misc {
            not_ip: sum(0)?,
            truncated: sum(1)?,
            arp: sum(2)?,
            nd: sum(3)?,
            default_passed: sum(4)?,
            default_dropped: sum(5)?,
        })
    }

    /// Every rule with its counters, by id.
    pub fn list(&self) -> Result<Vec<Listed>> {
        // id -> (rule, seen as source, seen as destination)
        let mut by_id: BTreeMap<u32, (Rule, bool, bool)> = BTreeMap::new();
        let mut note = |r: RuleValue, what: Match, src: Option<bool>| {
            let verdict = if r.deny == 1 {
                Verdict::Deny
            } else {
                Verdict::Allow
            };
            let e = by_id.entry(r.id).or_insert((
                Rule {
                    verdict,
                    dir: Dir::Both,
                    what,
                },
                false,
                false,
            ));
            match src {
                Some(true) => e.1 = true,
                Some(false) => e.2 = true,
                None => (e.1, e.2) = (true, true),
            }
        };
        for (name, is_src) in [("filter_src_v4", true), ("filter_dst_v4", false)] {
            for (what, r) in self.trie_entries::<[u8; 4]>(name, IpAddr::from)? {
                note(r, what, Some(is_src));
            }
        }
        for (name, is_src) in [("filter_src_v6", true), ("filter_dst_v6", false)] {
            for (what, r) in self.trie_entries::<[u8; 16]>(name, IpAddr::from)? {
                note(r, what, Some(is_src));
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
                r,
                Match::Port(proto, u16::from_be(k.port)),
                Some(k.dir == 0),
            );
        }
        let macs: HashMap<MapData, MacKey, RuleValue> = HashMap::try_from(self.map("filter_mac")?)?;
        for kv in macs.iter() {
            let (k, r) = kv?;
            note(r, Match::Mac(k.addr), Some(k.dir == 0));
        }
        let protos: HashMap<MapData, u32, RuleValue> =
            HashMap::try_from(self.map("filter_proto")?)?;
        for kv in protos.iter() {
            let (k, r) = kv?;
            // IPv4 noted as "source", IPv6 as "destination" (see below).
            let v4 = k >> 8 == 4;
            note(r, Match::IpProto(Family::Both, k as u8), Some(v4));
        }
        let ether: HashMap<MapData, u32, RuleValue> = HashMap::try_from(self.map("filter_ether")?)?;
        for kv in ether.iter() {
            let (k, r) = kv?;
            let what = if k == ND_KEY {
                Match::Nd
            } else {
                Match::EtherType(k as u16)
            };
            note(r, what, None);
        }
        let hits: PerCpuArray<MapData, Counter> = PerCpuArray::try_from(self.map("filter_hits")?)?;
        let mut out = Vec::new();
        for (id, (mut rule, s, d)) in by_id {
            if let Match::IpProto(_, n) = rule.what {
                let family = match (s, d) {
                    (true, false) => Family::V4,
                    (false, true) => Family::V6,
                    _ => Family::Both,
                };
                rule.what = Match::IpProto(family, n);
            }
            rule.dir = match (rule.what, s, d) {
                (Match::EtherType(_) | Match::Nd | Match::IpProto(..), _, _) | (_, true, true) => {
                    Dir::Both
                }
                (_, true, false) => Dir::Src,
                _ => Dir::Dst,
            };
            let (mut n, mut b) = (0, 0);
            for c in hits.get(&(id % MAX_RULES), 0)?.iter() {
                n += c.packets;
                b += c.bytes;
            }
            out.push(Listed {
                id,
                rule,
                hits: n,
                bytes: b,
            });
        }
        Ok(out)
    }

    /// Adds a rule. A rule with the same key (match and direction) and the
    /// other verdict is an error naming it, unless `replace`.
    pub fn add(&self, rule: &Rule, replace: bool) -> Result<Added> {
        let existing = self.list()?;
        if let Some(same) = existing.iter().find(|l| l.rule == *rule) {
            return Ok(Added::Exists(same.id));
        }
        let clashing: Vec<&Listed> = existing.iter().filter(|l| l.rule.same_key(rule)).collect();
        if !clashing.is_empty() && !replace {
            bail!(
                "`{rule}` clashes with {}: the filter keeps one verdict per address, port, protocol or type; \
                 replace it (`replace`), or delete #{} first",
                clashing
                    .iter()
                    .map(|l| format!("#{} `{}`", l.id, l.rule))
                    .collect::<Vec<_>>()
                    .join(" and "),
                clashing[0].id
            );
        }
        for l in &clashing {
            self.write(&l.rule, None)?;
        }
        let id = self.next_id()?;
        self.insert(rule, id)?;
        Ok(if clashing.is_empty() {
            Added::New(id)
        } else {
            Added::Replaced(clashing.iter().map(|l| l.rule).collect(), id)
        })
    }

    /// A new rule id: never given before in these maps' life, its counter
    /// slot (`id % MAX_RULES`) used by no rule now. Advances the next id.
    fn next_id(&self) -> Result<u32> {
        let used: Vec<u32> = self.list()?.iter().map(|l| l.id % MAX_RULES).collect();
        let mut config: Array<MapData, u32> = Array::try_from(self.map("filter_config")?)?;
        let next = config.get(&CONFIG_NEXT_ID, 0)?;
        let id = (next..next.saturating_add(MAX_RULES))
            .find(|i| !used.contains(&(i % MAX_RULES)))
            .filter(|i| *i < u32::MAX)
            .context("the filter holds 1024 rules already")?;
        config.set(CONFIG_NEXT_ID, id + 1, 0)?;
        Ok(id)
    }

    /// Writes `rule` with id `id`, its counters started at zero.
    fn insert(&self, rule: &Rule, id: u32) -> Result<()> {
        let mut hits: PerCpuArray<MapData, Counter> =
            PerCpuArray::try_from(self.map("filter_hits")?)?;
        let ncpu = aya::util::nr_cpus().map_err(|(_, e)| e)?;
        hits.set(
            id % MAX_RULES,
            PerCpuValues::try_from(vec![Counter::default(); ncpu])?,
            0,
        )?;
        let value = RuleValue {
            id,
            deny: u16::from(rule.verdict == Verdict::Deny),
            plen: match rule.what {
                Match::Prefix(_, l) => l as u16,
                _ => 0,
            },
        };
        self.write(rule, Some(value))
    }

    /// Puts back a rule removed earlier, under its old id if that is free
    /// (ids are never given twice, so it can only be the same rule's), else
    /// under a new one; nothing if a rule on the same key is there now.
    /// Returns the id it has, if it was put back. (Undoing an unconfirmed
    /// change.)
    pub fn restore(&self, rule: &Rule, id: u32) -> Result<Option<u32>> {
        let list = self.list()?;
        if let Some(same) = list.iter().find(|l| l.rule == *rule) {
            return Ok(Some(same.id));
        }
        if list.iter().any(|l| l.rule.same_key(rule)) {
            return Ok(None);
        }
        let id = if list.iter().any(|l| l.id % MAX_RULES == id % MAX_RULES) {
            self.next_id()?
        } else {
            id
        };
        self.insert(rule, id)?;
        Ok(Some(id))
    }

    /// Removes the rule exactly as given (verdict included); returns it
    /// with its id, or None if there is none like it.
    pub fn del(&self, rule: &Rule) -> Result<Option<Listed>> {
        let Some(found) = self.list()?.into_iter().find(|l| l.rule == *rule) else {
            return Ok(None);
        };
        self.write(&found.rule, None)?;
        Ok(Some(found))
    }

    /// Removes the rule with this id.
    pub fn del_id(&self, id: u32) -> Result<Option<Listed>> {
        let Some(found) = self.list()?.into_iter().find(|l| l.id == id) else {
            return Ok(None);
        };
        self.write(&found.rule, None)?;
        Ok(Some(found))
    }

    /// Removes every rule; returns how many there were.
    pub fn flush(&self) -> Result<usize> {
        let list = self.list()?;
        for l in &list {
            self.write(&l.rule, None)?;
        }
        Ok(list.len())
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

    fn hash_write<K: Pod>(&self, name: &str, key: K, value: Option<RuleValue>) -> Result<()> {
        let mut m: HashMap<MapData, K, RuleValue> = HashMap::try_from(self.map(name)?)?;
        match value {
            Some(v) => m.insert(key, v, 0)?,
            None => {
                let _ = m.remove(&key);
            }
        }
        Ok(())
    }

    /// Inserts (`Some`) or removes (`None`) a rule's entries.
    fn write(&self, rule: &Rule, value: Option<RuleValue>) -> Result<()> {
        match rule.what {
            Match::EtherType(t) => return self.hash_write("filter_ether", t as u32, value),
            Match::Nd => return self.hash_write("filter_ether", ND_KEY, value),
            Match::IpProto(family, n) => {
                for (v4, version) in [(true, 4u32), (false, 6)] {
                    if family.covers(v4) {
                        self.hash_write("filter_proto", version << 8 | u32::from(n), value)?;
                    }
                }
                return Ok(());
            }
            _ => {}
        }
        for is_src in [true, false] {
            if !rule.dir.covers(is_src) {
                continue;
            }
            let side = if is_src { "src" } else { "dst" };
            match rule.what {
                Match::Prefix(IpAddr::V4(a), len) => {
                    self.trie_write(&format!("filter_{side}_v4"), len, a.octets(), value)?
                }
                Match::Prefix(IpAddr::V6(a), len) => {
                    self.trie_write(&format!("filter_{side}_v6"), len, a.octets(), value)?
                }
                Match::Port(p, port) => {
                    let key = PortKey {
                        proto: if p == Proto::Tcp { TCP } else { UDP },
                        dir: u8::from(!is_src),
                        port: port.to_be(),
                    };
                    self.hash_write("filter_ports", key, value)?
                }
                Match::Mac(addr) => {
                    let key = MacKey {
                        addr,
                        dir: u8::from(!is_src),
                        pad: 0,
                    };
                    self.hash_write("filter_mac", key, value)?
                }
                Match::EtherType(_) | Match::Nd | Match::IpProto(..) => {
                    unreachable!("handled above")
                }
            }
        }
        Ok(())
    }
}
