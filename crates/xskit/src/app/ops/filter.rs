//! `xskit filter`: the in-kernel filter's rules.

use super::{state, NsArgs};
use crate::app::shared::report::Report;
use crate::app::shared::stats::thousands;
use crate::xdp::filter::{Added, Listed, Misc, Rule, Rules, Verdict};
use anyhow::{bail, Result};
use serde::Serialize;
use std::fmt;
use std::io::Write;

/// How rules are matched; printed by `xskit filter --help`.
pub const MATCH_ORDER: &str = "\
Each rule matches one field. For every frame the most specific matching rule decides:
  1. MAC address rules (`src ether`/`dst ether`; both match: deny wins)
  2. ARP and IPv6 neighbour discovery/router solicitation pass, whatever the
     default policy, unless an `arp` / `nd` rule says otherwise; address and
     port rules do not apply to them (so a default deny cannot starve the
     neighbour table and cut a session minutes later)
  3. address rules: the longest matching prefix, source or destination
     (equal lengths: deny wins)
  4. TCP/UDP port rules (source or destination; both match: deny wins)
  5. EtherType rules (`ether type 0x88cc`; 0x0800 / 0x86dd cover all of IPv4 / IPv6)
  6. the default policy (`filter default`; allow unless set)
Frames are read as untagged Ethernet: VLAN-tagged frames (ARP inside too)
are decided by an `ether type 0x8100` rule or the default.
Who (MAC, address) is more specific than which service (port), and a
service more than a whole protocol (EtherType). Example:
  xskit filter default deny
  xskit filter add allow tcp dst 22          # SSH from anywhere ...
  xskit filter add deny src 203.0.113.0/24   # ... but not from this network (3 beats 4)
  xskit filter add allow src 203.0.113.7     # ... except this host (/32 beats /24)
One rule per field value: adding `deny src X` where `allow src X` exists is
an error naming it (--replace replaces it). Rules that would cut the SSH
session in SSH_CONNECTION (its TCP segments, or the ARP / neighbour
discovery of its next hop) are refused without --force.";

/// Options of `xskit filter`.
#[derive(clap::Args, Clone, Debug)]
pub struct FilterArgs {
    #[command(subcommand)]
    pub cmd: FilterCmd,
    #[command(flatten)]
    pub ns: NsArgs,
}

/// `xskit filter` actions.
#[derive(clap::Subcommand, Clone, Debug)]
pub enum FilterCmd {
    /// Add a rule: `deny src 198.18.0.0/24`, `allow fc00::/7`, `deny tcp dst 22`,
    /// `deny arp`, `deny nd`, `deny ether type 0x88cc`, `deny src ether 02:00:00:00:00:01`
    Add {
        /// allow or deny
        #[arg(value_parser = crate::app::shared::args::verdict_parser())]
        verdict: Verdict,
        /// [tcp|udp] [src|dst] PREFIX-OR-PORT | [src|dst] ether MAC | ether type TYPE | arp | nd
        #[arg(required = true, num_args = 1..=3)]
        rule: Vec<String>,
        /// Allow a rule that would cut the SSH session this runs in
        #[arg(long)]
        force: bool,
        /// Replace a rule on the same field value with the other verdict
        #[arg(long)]
        replace: bool,
    },
    /// Remove a rule: `del deny src 198.18.0.0/24` (verdict included) or `del ID` (from `list`)
    Del {
        /// ID, or allow|deny followed by the rule's words
        #[arg(required = true, num_args = 1..=4)]
        rule: Vec<String>,
        /// Allow removing a rule although the SSH session this runs in depends on it
        #[arg(long)]
        force: bool,
    },
    /// List the rules with their counters (frames and bytes)
    List {
        /// JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Set the policy for frames no rule matches (allow unless set)
    Default {
        /// allow or deny
        #[arg(value_parser = crate::app::shared::args::verdict_parser())]
        verdict: Verdict,
        /// Allow `deny` although it would cut the SSH session this runs in
        #[arg(long)]
        force: bool,
    },
    /// Remove every rule (the default policy stays)
    Flush {
        /// Allow it although the SSH session this runs in depends on a rule
        #[arg(long)]
        force: bool,
        /// Also remove the pinned maps themselves (only when no filter is loaded)
        #[arg(long)]
        maps: bool,
    },
}

/// Refuses a change from `before` to the rule set `rules` with policy
/// `default` that would cut the SSH session, unless `force`. A session the
/// rules cut already (forced earlier) does not block unrelated changes.
fn ssh_guard(
    before: (&[Rule], Verdict),
    rules: &[Rule],
    default: Verdict,
    force: bool,
    what: &str,
) -> Result<()> {
    if force {
        return Ok(());
    }
    if let Some(ssh) = super::ssh::ssh_session() {
        if super::ssh::ssh_cut(before.0, before.1, ssh).is_some() {
            return Ok(());
        }
        if let Some(why) = super::ssh::ssh_cut(rules, default, ssh) {
            bail!("refusing {what}: it would cut your SSH session ({} -> {}:{}): {why}; pass --force if you mean it", ssh.0, ssh.2, ssh.3);
        }
    }
    Ok(())
}

fn current(rules: &Rules) -> Result<Vec<Rule>> {
    Ok(rules.list()?.into_iter().map(|l| l.rule).collect())
}

/// `xskit filter ...`.
pub fn filter_cmd(args: &FilterArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    if let FilterCmd::Flush { maps: true, .. } = &args.cmd {
        let users: Vec<String> = crate::app::ops::state::metas()?
            .into_iter()
            .filter(|(_, m)| m.program == "xdp_filter" && m.reverted_at.is_none())
            .map(|(i, _)| i)
            .collect();
        if !users.is_empty() {
            bail!(
                "the filter is loaded on {}: `xskit unload` it first",
                users.join(", ")
            );
        }
        match state::existing_rules()? {
            Some(r) => {
                let d = r.dir().display().to_string();
                r.remove()?;
                state::forget_if_empty()?;
                writeln!(out, "removed the filter's maps ({d})")?;
            }
            None => writeln!(out, "no filter maps in this namespace")?,
        }
        return Ok(0);
    }
    if let FilterCmd::List { json } = &args.cmd {
        // Listing makes nothing: no maps yet is no rule and `allow`.
        let report = match state::existing_rules()? {
            Some(r) => FilterReport::new(r.default_verdict()?, &r.list()?, &r.misc_counts()?),
            None => FilterReport::new(Verdict::Allow, &[], &Misc::default()),
        };
        report.print(out, *json)?;
        return Ok(0);
    }
    let rules = state::rules()?;
    let default = rules.default_verdict()?;
    let now = current(&rules)?;
    let before = (&now[..], default);
    match &args.cmd {
        FilterCmd::Add {
            verdict,
            rule,
            force,
            replace,
        } => {
            let r = Rule::parse(*verdict, rule)?;
            let mut after: Vec<Rule> = current(&rules)?
                .into_iter()
                .filter(|x| !(*replace && x.same_key(&r)))
                .collect();
            after.push(r);
            ssh_guard(before, &after, default, *force, &format!("`{r}`"))?;
            match rules.add(&r, *replace)? {
                Added::New(id) => writeln!(out, "added #{id}: {r}")?,
                Added::Exists(id) => writeln!(out, "#{id}: {r} is there already")?,
                Added::Replaced(old, id) => writeln!(
                    out,
                    "added #{id}: {r} (replacing {})",
                    old.iter()
                        .map(|o| format!("`{o}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )?,
            }
        }
        FilterCmd::Del { rule, force } => {
            let list = rules.list()?;
            let target = if let [id] = &rule[..] {
                let Ok(id) = id.parse::<u32>() else {
                    bail!("expected a rule id from `xskit filter list`, or allow|deny and the rule, got {id:?}");
                };
                match list.iter().find(|l| l.id == id) {
                    Some(l) => l.clone(),
                    None => {
                        writeln!(out, "no rule #{id} (`xskit filter list` shows the ids)")?;
                        return Ok(1);
                    }
                }
            } else {
                let Some(v) = Verdict::parse(&rule[0]) else {
                    bail!(
                        "expected allow|deny and the rule, or a rule id, got {:?}",
                        rule.join(" ")
                    );
                };
                let r = Rule::parse(v, &rule[1..])?;
                match list.iter().find(|l| l.rule == r) {
                    Some(l) => l.clone(),
                    None => {
                        let similar: Vec<String> = list
                            .iter()
                            .filter(|l| l.rule.same_key(&r))
                            .map(|l| format!("#{} `{}`", l.id, l.rule))
                            .collect();
                        if similar.is_empty() {
                            writeln!(out, "no such rule: {r}")?;
                        } else {
                            writeln!(
                                out,
                                "no such rule: {r}; there is {} (delete it by its words or its id)",
                                similar.join(", ")
                            )?;
                        }
                        return Ok(1);
                    }
                }
            };
            let after: Vec<Rule> = list
                .iter()
                .filter(|l| l.id != target.id)
                .map(|l| l.rule)
                .collect();
            ssh_guard(
                before,
                &after,
                default,
                *force,
                &format!("removing `{}`", target.rule),
            )?;
            rules.del_id(target.id)?;
            writeln!(out, "removed #{}: {}", target.id, target.rule)?;
        }
        // Listed above, without making the maps.
        FilterCmd::List { .. } => {}
        FilterCmd::Default { verdict, force } => {
            ssh_guard(
                before,
                &now,
                *verdict,
                *force,
                &format!("default {}", verdict.name()),
            )?;
            rules.set_default(*verdict)?;
            writeln!(out, "default policy: {}", verdict.name())?;
        }
        FilterCmd::Flush { force, .. } => {
            ssh_guard(before, &[], default, *force, "flush")?;
            let n = rules.flush()?;
            writeln!(
                out,
                "removed {n} rule(s); default policy: {}",
                default.name()
            )?;
        }
    }
    Ok(0)
}

/// One rule and its counters, as `filter list` and `status` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RuleReport {
    /// The id `del` takes.
    pub id: u32,
    /// The rule as written.
    pub rule: String,
    /// Frames it decided.
    pub hits: u64,
    /// Bytes of those frames.
    pub bytes: u64,
}

impl From<&Listed> for RuleReport {
    fn from(l: &Listed) -> RuleReport {
        RuleReport {
            id: l.id,
            rule: l.rule.to_string(),
            hits: l.hits,
            bytes: l.bytes,
        }
    }
}

impl fmt::Display for RuleReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#{:<4} {:<40} {:>12} hits {:>14} bytes",
            self.id,
            self.rule,
            thousands(self.hits),
            thousands(self.bytes)
        )
    }
}

/// The filter's state: default policy, rules with counters, and the
/// frames counted outside the rules (`filter list`; flattened into a
/// `status` row).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FilterReport {
    /// `allow` or `deny`.
    pub default: &'static str,
    /// The rules by id.
    pub rules: Vec<RuleReport>,
    /// Frames neither IP nor ARP that no EtherType rule decided.
    pub non_ip: u64,
    /// Frames too short for their headers.
    pub malformed: u64,
    /// ARP frames passed with no `arp` rule.
    pub arp_passed: u64,
    /// Neighbour discovery passed with no `nd` rule.
    pub nd_passed: u64,
}

impl FilterReport {
    /// The report of these rules and counts.
    pub fn new(default: Verdict, list: &[Listed], m: &Misc) -> FilterReport {
        FilterReport {
            default: default.name(),
            rules: list.iter().map(RuleReport::from).collect(),
            non_ip: m.not_ip,
            malformed: m.truncated,
            arp_passed: m.arp,
            nd_passed: m.nd,
        }
    }
}

impl fmt::Display for FilterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "default policy: {}; not IP: {}, truncated: {}, ARP passed: {}, ND passed: {}",
            self.default, self.non_ip, self.malformed, self.arp_passed, self.nd_passed
        )?;
        if self.rules.is_empty() {
            write!(f, "\nno rules")?;
        }
        for r in &self.rules {
            write!(f, "\n{r}")?;
        }
        Ok(())
    }
}

impl Report for FilterReport {}

#[cfg(test)]
mod report_tests {
    use super::*;

    #[test]
    fn filter_report_text_and_json_carry_the_same_values() {
        let w = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let list = [
            Listed {
                id: 3,
                rule: Rule::parse(Verdict::Deny, &w(&["src", "203.0.113.0/24"])).unwrap(),
                hits: 1001,
                bytes: 1002,
            },
            Listed {
                id: 7,
                rule: Rule::parse(Verdict::Allow, &w(&["tcp", "dst", "22"])).unwrap(),
                hits: 2001,
                bytes: 2002,
            },
        ];
        let m = Misc {
            not_ip: 11,
            truncated: 12,
            arp: 13,
            nd: 14,
        };
        let r = FilterReport::new(Verdict::Deny, &list, &m);
        crate::app::shared::report::assert_text_shows_json(&r, &[]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["rules"][0]["rule"], "deny src 203.0.113.0/24");
        assert_eq!(v["malformed"], 12);
        assert_eq!(v["default"], "deny");
    }
}
