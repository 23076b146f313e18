//! `xskit filter`: the in-kernel filter's rules.
//!
//! Every change passes two rails before it is made:
//! - the SSH guard ([`super::ssh`]): a change that would newly cut an SSH
//!   session of this namespace is refused without `--force`;
//! - the confirmation timer: a change that can drop traffic (a deny rule,
//!   `default deny`, removing an allow rule, a flush) while the filter is
//!   loaded on an interface that carries the operator's own traffic (the
//!   default route's, an SSH session's) waits for `yes` or `xskit
//!   confirm` (30 s unless `--confirm-within` says otherwise). The guards of
//!   the filter's attachments are armed first, so past the deadline the
//!   kernel passes all their traffic whatever became of this process; the
//!   change is then undone (by this process, or by the next xskit command
//!   here if it is gone, see [`tidy_change`]) and the guards cleared, so
//!   the filter works on with the rules as they were.

use super::state::{self, FilterChange, Undo};
use super::{
    now_f64, operator_interfaces, pending, ssh, still_attached, stop_on_signals, utc,
    wait_for_confirmation, NsArgs, Waited,
};
use crate::app::shared::report::Report;
use crate::app::shared::stats::thousands;
use crate::xdp::filter::{Added, Listed, Misc, Rule, Rules, Verdict};
use anyhow::{bail, Context, Result};
use serde::Serialize;
use std::fmt;
use std::io::Write;
use std::time::Duration;

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
  5. IP protocol rules (`icmp`, `icmp6`, `tcp`, `udp`, `proto 47`, `ip proto N`,
     `ip6 proto N`): the IPv4 Protocol or the IPv6 fixed header's Next Header
  6. EtherType rules (`ether type 0x88cc`; 0x0800 / 0x86dd cover all of IPv4 / IPv6)
  7. the default policy (`filter default`; allow unless set)
Frames are read as untagged Ethernet: VLAN-tagged frames (ARP inside too)
are decided by an `ether type 0x8100` rule or the default.
Who (MAC, address) is more specific than which service (port), a service
more than a protocol, and a protocol more than a whole EtherType. Example:
  xskit filter default deny
  xskit filter add allow tcp dst 22          # SSH from anywhere ...
  xskit filter add deny src 203.0.113.0/24   # ... but not from this network (3 beats 4)
  xskit filter add allow src 203.0.113.7     # ... except this host (/32 beats /24)
  xskit filter add allow icmp                # pings (5 beats the default)
The filter is stateless: with `default deny`, replies to this host's own
outgoing connections (DNS answers, downloads) are dropped too unless a rule
allows them.
One rule per field value: adding `deny src X` where `allow src X` exists is
an error naming it (--replace replaces it). Rule ids are never given twice
while the rule maps exist. Changes that would cut an SSH session of this
namespace (found in SSH_CONNECTION of this command and its parents, and in
the established TCP connections to an SSH port here) are refused without
--force. A change that can drop traffic while the filter is loaded on an
interface with the default route (or an SSH session's) waits 30s for `yes`
or `xskit confirm`, and is undone otherwise (--confirm-within).";

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
    /// `deny icmp`, `deny proto 47`, `deny arp`, `deny nd`, `deny ether type 0x88cc`,
    /// `deny src ether 02:00:00:00:00:01`
    Add {
        /// allow or deny
        #[arg(value_parser = crate::app::shared::args::verdict_parser())]
        verdict: Verdict,
        /// [src|dst] PREFIX | tcp|udp [src|dst] PORT | tcp | udp | icmp | icmp6 |
        /// [ip|ip6] proto N | [src|dst] ether MAC | ether type TYPE | arp | nd
        #[arg(required = true, num_args = 1..)]
        rule: Vec<String>,
        /// Allow a rule that would cut an SSH session of this namespace
        #[arg(long)]
        force: bool,
        /// Replace a rule on the same field value with the other verdict
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        confirm: ConfirmWithin,
    },
    /// Remove a rule: `del deny src 198.18.0.0/24` (verdict included) or `del ID` (from `list`)
    Del {
        /// ID, or allow|deny followed by the rule's words
        #[arg(required = true, num_args = 1..)]
        rule: Vec<String>,
        /// Allow removing a rule although an SSH session of this namespace depends on it
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        confirm: ConfirmWithin,
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
        /// Allow `deny` although it would cut an SSH session of this namespace
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        confirm: ConfirmWithin,
    },
    /// Remove every rule (the default policy stays)
    Flush {
        /// Allow it although an SSH session of this namespace depends on a rule
        #[arg(long)]
        force: bool,
        /// Also remove the pinned maps themselves (only when no filter is loaded)
        #[arg(long, conflicts_with = "confirm_within")]
        maps: bool,
        #[command(flatten)]
        confirm: ConfirmWithin,
    },
}

/// The confirmation timer of a rule change.
#[derive(clap::Args, Clone, Debug)]
pub struct ConfirmWithin {
    /// Undo the change unless confirmed within this time (type `yes`, or
    /// run `xskit confirm`); at least 5s, or 0 for no timer [default: 30s
    /// when the change can drop traffic and the filter is loaded on an
    /// interface that carries this session's own traffic (default route,
    /// SSH session), else 0]. Past the deadline the kernel passes all
    /// traffic on the filter's interfaces until the change is undone
    #[arg(long, value_parser = super::parse_confirm_within, value_name = "TIME")]
    pub confirm_within: Option<Duration>,
}

/// Refuses a change from `before` to `after` (rules and default policy)
/// that would newly cut an SSH session of this namespace, unless `force`.
fn ssh_guard(
    before: (&[Rule], Verdict),
    after: (&[Rule], Verdict),
    force: bool,
    what: &str,
) -> Result<()> {
    if force {
        return Ok(());
    }
    let sessions = ssh::sessions();
    if let Some((s, why)) = ssh::newly_cut(&sessions, before, after) {
        bail!(
            "refusing {what}: it would cut your SSH session ({}, found in {}): {why}; pass --force if you mean it",
            s.ends(),
            s.seen
        );
    }
    Ok(())
}

fn current(rules: &Rules) -> Result<Vec<Rule>> {
    Ok(rules.list()?.into_iter().map(|l| l.rule).collect())
}

/// A rule change, planned: what it does, how to make it and whether it
/// can make the filter drop more.
struct Change {
    /// In words, for messages: `default deny`, `add deny tcp dst 22`.
    what: String,
    /// True if some frame could be dropped after it that passed before.
    can_drop: bool,
}

/// Makes a planned change; returns how to undo it, or None if nothing
/// changed.
type Apply = Box<dyn Fn(&Rules, &mut dyn Write) -> Result<Option<Undo>>>;

/// The confirmation timer a change waits on.
struct TimerPlan {
    /// The filter's attachments whose guards are armed: (interface,
    /// program id). Empty: no timer.
    guarded: Vec<(String, u32)>,
    /// The timer's length.
    within: Duration,
    /// Why the interfaces are the operator's (`eth0 carries the default route`).
    why: Vec<String>,
}

/// The filter's attachments in this namespace that are xskit's and
/// attached now: (interface, program id).
fn filter_attachments() -> Result<Vec<(String, u32)>> {
    Ok(state::metas()?
        .into_iter()
        .filter(|(i, m)| {
            m.program == "xdp_filter" && m.reverted_at.is_none() && still_attached(i, m.prog_id)
        })
        .map(|(i, m)| (i, m.prog_id))
        .collect())
}

/// The guards a change waits on: the filter's attachments on the
/// operator's interfaces when it can drop traffic there (all of them when
/// `--confirm-within` was given), with the timer's length and the reasons
/// the interfaces are the operator's. Empty: no timer.
fn timer_plan(change: &Change, confirm_within: Option<Duration>) -> Result<TimerPlan> {
    let on = filter_attachments()?;
    let ops = operator_interfaces();
    let mut why = Vec::new();
    let risky: Vec<(String, u32)> = on
        .iter()
        .filter(|(i, _)| match ops.iter().find(|(o, _)| o == i) {
            Some((_, w)) => {
                why.push(format!("{i} carries {w}"));
                true
            }
            None => false,
        })
        .cloned()
        .collect();
    let (guarded, within) = match confirm_within {
        Some(d) if d.is_zero() => (Vec::new(), d),
        Some(d) => (on, d),
        None if change.can_drop && !risky.is_empty() => (risky, Duration::from_secs(30)),
        None => (Vec::new(), Duration::ZERO),
    };
    Ok(TimerPlan {
        guarded,
        within,
        why,
    })
}

/// `xskit filter ...`.
pub fn filter_cmd(args: &FilterArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    let hint = args.ns.hint();
    if let FilterCmd::Flush { maps: true, .. } = &args.cmd {
        super::tidy(out)?;
        let users: Vec<String> = state::metas()?
            .into_iter()
            .filter(|(_, m)| m.program == "xdp_filter" && m.reverted_at.is_none())
            .map(|(i, _)| i)
            .collect();
        if !users.is_empty() {
            bail!(
                "the filter is loaded on {}: `xskit unload {}{hint}` it first",
                users.join(", "),
                users.join(" ")
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
            Some(r) => {
                r.check_layout()?;
                FilterReport::new(r.default_verdict()?, &r.list()?, &r.misc_counts()?)
            }
            None => FilterReport::new(Verdict::Allow, &[], &Misc::default()),
        };
        report.print(out, *json)?;
        return Ok(0);
    }
    // The words first: a typo makes nothing (no maps, no state).
    match &args.cmd {
        FilterCmd::Add { verdict, rule, .. } => {
            Rule::parse(*verdict, rule)?;
        }
        FilterCmd::Del { rule, .. } => {
            // (Err(message) is "no such rule": said once the maps are read.)
            let _ = find_target(&[], rule, &hint)?;
        }
        _ => {}
    }
    // A change a gone process left waiting is undone first.
    super::tidy(out)?;
    // Only adding a rule or a deny policy makes the maps.
    let rules = match (&args.cmd, state::existing_rules()?) {
        (_, Some(r)) => {
            r.check_layout()?;
            r
        }
        (
            FilterCmd::Add { .. }
            | FilterCmd::Default {
                verdict: Verdict::Deny,
                ..
            },
            None,
        ) => state::rules()?,
        (FilterCmd::Del { rule, .. }, None) => {
            if let Err(msg) = find_target(&[], rule, &hint)? {
                writeln!(out, "{msg}")?;
            }
            return Ok(1);
        }
        (FilterCmd::Default { .. }, None) => {
            writeln!(
                out,
                "default policy: allow (no rule maps in this namespace: nothing to change)"
            )?;
            return Ok(0);
        }
        (_, None) => {
            writeln!(out, "removed 0 rule(s): no rule maps in this namespace")?;
            return Ok(0);
        }
    };
    let default = rules.default_verdict()?;
    let now = current(&rules)?;
    let before = (&now[..], default);
    let (change, confirm, apply): (Change, &ConfirmWithin, Apply) = match &args.cmd {
        FilterCmd::Add {
            verdict,
            rule,
            force,
            replace,
            confirm,
        } => {
            let r = Rule::parse(*verdict, rule)?;
            let after: Vec<Rule> = now
                .iter()
                .copied()
                .filter(|x| !(*replace && x.same_key(&r)))
                .chain([r])
                .collect();
            ssh_guard(before, (&after, default), *force, &format!("`{r}`"))?;
            let replace = *replace;
            let hint = hint.clone();
            (
                Change {
                    what: format!("add {r}"),
                    can_drop: r.verdict == Verdict::Deny,
                },
                confirm,
                Box::new(move |rules: &Rules, out: &mut dyn Write| {
                    let same_key: Vec<Listed> = rules
                        .list()?
                        .into_iter()
                        .filter(|l| l.rule.same_key(&r) && l.rule != r)
                        .collect();
                    if !replace && !same_key.is_empty() {
                        bail!(
                                "`{r}` clashes with {}: the filter keeps one verdict per address, port, protocol or type; \
                                 pass --replace to replace it, or `xskit filter del {}{hint}` first",
                                same_key
                                    .iter()
                                    .map(|l| format!("#{} `{}`", l.id, l.rule))
                                    .collect::<Vec<_>>()
                                    .join(" and "),
                                same_key[0].id
                            );
                    }
                    let replaced = if replace { same_key } else { Vec::new() };
                    Ok(match rules.add(&r, replace)? {
                        Added::New(id) => {
                            writeln!(out, "added #{id}: {r}")?;
                            Some(Undo {
                                remove: vec![(id, r.to_string())],
                                ..Undo::default()
                            })
                        }
                        Added::Exists(id) => {
                            writeln!(out, "#{id}: {r} is there already")?;
                            None
                        }
                        Added::Replaced(old, id) => {
                            writeln!(
                                out,
                                "added #{id}: {r} (replacing {})",
                                old.iter()
                                    .map(|o| format!("`{o}`"))
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )?;
                            Some(Undo {
                                remove: vec![(id, r.to_string())],
                                restore: replaced
                                    .iter()
                                    .map(|l| (l.id, l.rule.to_string()))
                                    .collect(),
                                ..Undo::default()
                            })
                        }
                    })
                }),
            )
        }
        FilterCmd::Del {
            rule,
            force,
            confirm,
        } => {
            let list = rules.list()?;
            let target = match find_target(&list, rule, &hint)? {
                Ok(t) => t,
                Err(msg) => {
                    writeln!(out, "{msg}")?;
                    return Ok(1);
                }
            };
            let after: Vec<Rule> = list
                .iter()
                .filter(|l| l.id != target.id)
                .map(|l| l.rule)
                .collect();
            ssh_guard(
                before,
                (&after, default),
                *force,
                &format!("removing `{}`", target.rule),
            )?;
            (
                Change {
                    what: format!("del {}", target.rule),
                    can_drop: target.rule.verdict == Verdict::Allow,
                },
                confirm,
                Box::new(move |rules: &Rules, out: &mut dyn Write| {
                    match rules.del_id(target.id)? {
                        Some(l) => {
                            writeln!(out, "removed #{}: {}", l.id, l.rule)?;
                            Ok(Some(Undo {
                                restore: vec![(l.id, l.rule.to_string())],
                                ..Undo::default()
                            }))
                        }
                        None => {
                            writeln!(out, "#{} was removed meanwhile", target.id)?;
                            Ok(None)
                        }
                    }
                }),
            )
        }
        // Listed above, without making the maps.
        FilterCmd::List { .. } => unreachable!("handled above"),
        FilterCmd::Default {
            verdict,
            force,
            confirm,
        } => {
            let v = *verdict;
            ssh_guard(before, (&now, v), *force, &format!("default {}", v.name()))?;
            let hint = hint.clone();
            (
                Change {
                    what: format!("default {}", v.name()),
                    can_drop: v == Verdict::Deny && default == Verdict::Allow,
                },
                confirm,
                Box::new(move |rules: &Rules, out: &mut dyn Write| {
                    let was = rules.default_verdict()?;
                    rules.set_default(v)?;
                    writeln!(out, "default policy: {}", v.name())?;
                    if v == Verdict::Deny && was == Verdict::Allow {
                        writeln!(
                                out,
                                "note: the filter is stateless: with default deny it also drops the replies to this \
                                 host's own outgoing traffic (DNS answers, downloads, pings it sends) unless a rule \
                                 allows them (e.g. `xskit filter add allow src RESOLVER{hint}`, or the ports)"
                            )?;
                    }
                    Ok((was != v).then(|| Undo {
                        default: Some(was.name().to_string()),
                        ..Undo::default()
                    }))
                }),
            )
        }
        FilterCmd::Flush { force, confirm, .. } => {
            ssh_guard(before, (&[], default), *force, "flush")?;
            let had_allow = now.iter().any(|r| r.verdict == Verdict::Allow);
            (
                Change {
                    what: "flush".into(),
                    can_drop: had_allow,
                },
                confirm,
                Box::new(move |rules: &Rules, out: &mut dyn Write| {
                    let list = rules.list()?;
                    let n = rules.flush()?;
                    writeln!(
                        out,
                        "removed {n} rule(s); default policy: {}",
                        rules.default_verdict()?.name()
                    )?;
                    Ok((!list.is_empty()).then(|| Undo {
                        restore: list.iter().map(|l| (l.id, l.rule.to_string())).collect(),
                        ..Undo::default()
                    }))
                }),
            )
        }
    };
    let plan = timer_plan(&change, confirm.confirm_within)?;
    if plan.guarded.is_empty() {
        if confirm.confirm_within.is_some_and(|d| !d.is_zero()) {
            writeln!(
                out,
                "no filter is loaded in this namespace: nothing to confirm, the change applies at once"
            )?;
        }
        apply(&rules, out)?;
        return Ok(0);
    }
    guarded_change(&rules, &change, &plan, &apply, &hint, out)
}

/// The rule `del` names (by id, or by its words), or the message saying
/// there is none.
fn find_target(
    list: &[Listed],
    rule: &[String],
    hint: &str,
) -> Result<std::result::Result<Listed, String>> {
    if let [id] = rule {
        let Ok(id) = id.parse::<u32>() else {
            bail!("expected a rule id from `xskit filter list`, or allow|deny and the rule, got {id:?}");
        };
        return Ok(match list.iter().find(|l| l.id == id) {
            Some(l) => Ok(l.clone()),
            None => Err(format!(
                "no rule #{id} (`xskit filter list{hint}` shows the ids; an id is never given to another rule)"
            )),
        });
    }
    let Some(v) = Verdict::parse(&rule[0]) else {
        bail!(
            "expected allow|deny and the rule, or a rule id, got {:?}",
            rule.join(" ")
        );
    };
    let r = Rule::parse(v, &rule[1..])?;
    Ok(match list.iter().find(|l| l.rule == r) {
        Some(l) => Ok(l.clone()),
        None => {
            let similar: Vec<String> = list
                .iter()
                .filter(|l| l.rule.same_key(&r))
                .map(|l| format!("#{} `{}`", l.id, l.rule))
                .collect();
            Err(if similar.is_empty() {
                format!("no such rule: {r}")
            } else {
                format!(
                    "no such rule: {r}; there is {} (delete it by its words or its id)",
                    similar.join(", ")
                )
            })
        }
    })
}

/// Makes `change` with the guards of `guarded` armed, waits for its
/// confirmation and undoes it unless confirmed. Exit code 0 kept, 2 undone.
fn guarded_change(
    rules: &Rules,
    change: &Change,
    plan: &TimerPlan,
    apply: &Apply,
    hint: &str,
    out: &mut dyn Write,
) -> Result<i32> {
    let (guarded, within, why) = (&plan.guarded[..], plan.within, &plan.why[..]);
    if let Some(c) = state::filter_change()? {
        bail!(
            "another change of the filter's rules (`{}`, pid {}) waits for its confirmation until {}: \
             `xskit confirm {}{hint}` it, or wait for it to be undone, then try again",
            c.what,
            c.pid,
            utc(c.deadline.1),
            c.pid
        );
    }
    let ns = state::netns_id()?;
    let mut guards = Vec::new();
    for (i, id) in guarded {
        let Some(g) = state::Guard::of(ns, i, *id)? else {
            bail!("the filter on {i} (program id {id}) has no guard pinned, so this change cannot wait for confirmation: \
                   `xskit unload {i}{hint}` and `xskit load filter {i}{hint}` it again, or pass --confirm-within 0");
        };
        let (d, r) = g.read()?;
        if d != 0 || r != 0 {
            let who = state::load_meta(i)?.and_then(|m| m.pid);
            bail!(
                "the filter on {i} waits for the confirmation of its load{}: `xskit confirm{}{hint}` it first",
                who.map(|p| format!(" (pid {p})")).unwrap_or_default(),
                who.map(|p| format!(" {p}")).unwrap_or_default()
            );
        }
        guards.push(g);
    }
    // Signals end the wait and undo at once; registered before anything is armed.
    let stop = stop_on_signals()?;
    let deadline = (
        state::monotonic_ns() + within.as_nanos() as u64,
        now_f64() + within.as_secs_f64(),
    );
    for (g, (i, _)) in guards.iter_mut().zip(guarded) {
        g.arm(deadline.0)
            .with_context(|| format!("arming the guard of the filter on {i}"))?;
    }
    let pid = std::process::id();
    let pid_start = pending::own_start()?;
    let disarm = |guards: &mut [state::Guard]| {
        for g in guards.iter_mut() {
            let _ = g.reset();
        }
    };
    let undo = match apply(rules, out) {
        Ok(Some(u)) => u,
        Ok(None) => {
            // Nothing changed: nothing to confirm.
            disarm(&mut guards);
            return Ok(0);
        }
        Err(e) => {
            disarm(&mut guards);
            return Err(e);
        }
    };
    let record = FilterChange {
        what: change.what.clone(),
        pid,
        pid_start,
        deadline,
        attached: guarded.to_vec(),
        undo,
    };
    let p = pending::Pending {
        change: Some(change.what.clone()),
        ..pending::for_this_process(guarded, "xdp_filter", deadline)?
    };
    let saved = (|| -> Result<()> {
        state::save_change(&record)?;
        mark_waiting(guarded, Some((&record.what, deadline, pid, pid_start)))?;
        p.save()
    })();
    if let Err(e) = saved {
        let _ = undo_change(rules, &record.undo);
        disarm(&mut guards);
        let _ = state::remove_change();
        let _ = mark_waiting(guarded, None);
        return Err(e.context("recording the change waiting for confirmation (undone)"));
    }
    let ifaces: Vec<&str> = guarded.iter().map(|(i, _)| i.as_str()).collect();
    if !why.is_empty() {
        writeln!(
            out,
            "{}; `{}` can drop some of its traffic.",
            why.join(", "),
            change.what
        )?;
    }
    writeln!(
        out,
        "type `yes` within {}s (or run `xskit confirm {pid}{hint}` in another shell) to keep it, `no` to undo it now; \
         otherwise it is undone, and from {} the kernel passes all traffic on {} until it is, even if this process \
         is killed (pid {pid})",
        within.as_secs_f64(),
        utc(deadline.1),
        ifaces.join(", ")
    )?;
    out.flush()?;
    let waited = wait_for_confirmation(&guards, deadline, &stop, "undo it", out);
    p.remove();
    // Decided from the guards now: `yes` here clears them; `xskit confirm`
    // may have cleared them too, whatever ended the wait.
    if let Ok(Waited::Yes) = waited {
        for ((i, id), g) in guarded.iter().zip(guards.iter_mut()) {
            if still_attached(i, *id) {
                g.confirm()?;
            }
        }
    }
    let mut gone = Vec::new();
    let mut confirmed = true;
    for ((i, id), g) in guarded.iter().zip(guards.iter()) {
        if !still_attached(i, *id) {
            gone.push(i.as_str());
            continue;
        }
        confirmed &= matches!(g.read()?, (0, 0));
    }
    // Cleared guards are a confirmation, whatever ended the wait (an
    // `xskit confirm` may win the race with `no`); with the filter gone
    // from every interface, what was answered here decides.
    let kept = if gone.len() < guarded.len() {
        confirmed
    } else {
        matches!(waited, Ok(Waited::Yes | Waited::Confirmed))
    };
    state::remove_change()?;
    mark_waiting(guarded, None)?;
    for i in &gone {
        writeln!(out, "{i}: the filter is no longer attached there")?;
    }
    if kept {
        let on: Vec<String> = guarded
            .iter()
            .filter(|(i, _)| !gone.contains(&i.as_str()))
            .map(|(i, id)| format!("{i} (program id {id})"))
            .collect();
        let on = if on.is_empty() {
            "the filter is loaded on none of its interfaces now".to_string()
        } else {
            format!("the filter on {}", on.join(", "))
        };
        writeln!(out, "confirmed: keeping `{}` ({on})", change.what)?;
        waited?;
        return Ok(0);
    }
    // (`unload` of the last filter meanwhile took the rule maps with it.)
    let done = match state::existing_rules()? {
        Some(_) => undo_change(rules, &record.undo)?,
        None => "nothing: the rule maps are gone with the filter".to_string(),
    };
    disarm(&mut guards);
    let why = match &waited {
        Ok(Waited::Signal) => "interrupted (hang-up or signal) before confirmation".to_string(),
        Ok(Waited::No) => "not confirmed (`no`)".to_string(),
        Ok(Waited::Yes | Waited::Confirmed) => {
            "too late: the deadline passed before the confirmation".to_string()
        }
        Ok(Waited::Deadline) => format!("no confirmation within {}s", within.as_secs_f64()),
        Err(e) => format!("waiting for the confirmation failed ({e:#})"),
    };
    writeln!(
        out,
        "{why}: undid `{}` ({done}); the filter works on with the rules as they were",
        change.what
    )?;
    waited?;
    Ok(2)
}

/// Marks the records of the filter's attachments `on` as waiting for the
/// confirmation of `change` (what, deadline, pid, start), or no longer.
fn mark_waiting(on: &[(String, u32)], change: Option<(&str, (u64, f64), u32, u64)>) -> Result<()> {
    for (i, id) in on {
        if let Some(mut m) = state::load_meta(i)?.filter(|m| m.prog_id == *id) {
            m.change = change.map(|c| c.0.to_string());
            m.deadline = change.map(|c| c.1);
            m.pid = change.map(|c| c.2);
            m.pid_start = change.map(|c| c.3);
            state::save_meta(i, &m)?;
        }
    }
    Ok(())
}

/// Undoes a change of the rules: what was done, in words.
fn undo_change(rules: &Rules, u: &Undo) -> Result<String> {
    let mut done = Vec::new();
    for (id, _) in &u.remove {
        if let Some(l) = rules.del_id(*id)? {
            done.push(format!("removed #{}: {}", l.id, l.rule));
        }
    }
    for (id, words) in &u.restore {
        let w: Vec<String> = words.split_whitespace().map(String::from).collect();
        let Some(v) = w.first().and_then(|v| Verdict::parse(v)) else {
            continue;
        };
        let r = Rule::parse(v, &w[1..])?;
        match rules.restore(&r, *id)? {
            Some(got) if got == *id => done.push(format!("put back #{id}: {r}")),
            Some(got) => done.push(format!("put back {r} as #{got}")),
            None => done.push(format!(
                "could not put back {r}: a rule on the same field is there now"
            )),
        }
    }
    if let Some(v) = u.default.as_deref().and_then(Verdict::parse) {
        rules.set_default(v)?;
        done.push(format!("default policy {} again", v.name()));
    }
    if done.is_empty() {
        done.push("nothing was left to undo".into());
    }
    Ok(done.join(", "))
}

/// Undoes, in this namespace, a change of the filter's rules whose waiting
/// process is gone unconfirmed (killed: nothing can confirm it any more),
/// clears the guards it armed so that the filter works on with the rules
/// as they were, and says so on `out`. A change whose guards were all
/// cleared (confirmed just before its process ended) is kept.
pub fn tidy_change(out: &mut dyn Write) -> Result<()> {
    let Some(c) = state::filter_change()? else {
        return Ok(());
    };
    if c.waiter_alive() {
        return Ok(());
    }
    let ns = state::netns_id()?;
    let mut guards = Vec::new();
    let mut confirmed = true;
    let mut latched = None;
    for (i, id) in &c.attached {
        if let Some(g) = state::Guard::of(ns, i, *id)? {
            let (d, r) = g.read()?;
            confirmed &= d == 0 && r == 0;
            if r != 0 {
                latched = Some(r);
            }
            guards.push(g);
        }
    }
    let on: Vec<&str> = c.attached.iter().map(|(i, _)| i.as_str()).collect();
    if confirmed && !guards.is_empty() {
        writeln!(
            out,
            "the filter change `{}` (pid {}) was confirmed before its process ended: kept",
            c.what, c.pid
        )?;
    } else {
        let done = match state::existing_rules()? {
            Some(rules) => undo_change(&rules, &c.undo)?,
            None => "the rule maps are gone".into(),
        };
        for g in guards.iter_mut() {
            g.reset()?;
        }
        let since = match latched {
            Some(t) => format!(
                "; the kernel passed all traffic on {} from {} until now",
                on.join(", "),
                utc(super::mono_to_unix(t))
            ),
            None => String::new(),
        };
        writeln!(
            out,
            "the filter change `{}` of pid {} was never confirmed and its process is gone: undone ({done}){since}",
            c.what, c.pid
        )?;
    }
    state::remove_change()?;
    mark_waiting(&c.attached, None)?;
    Ok(())
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
    /// Frames the default policy passed (those of the kinds above
    /// included).
    pub default_passed: u64,
    /// Frames the default policy dropped (those of the kinds above
    /// included).
    pub default_dropped: u64,
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
            default_passed: m.default_passed,
            default_dropped: m.default_dropped,
        }
    }

    /// The counts outside the rules, named as in `status` and the JSON.
    pub fn counts(&self) -> String {
        format!(
            "non-IP {}, malformed {}, ARP passed {}, ND passed {}, default passed {}, default dropped {}",
            thousands(self.non_ip),
            thousands(self.malformed),
            thousands(self.arp_passed),
            thousands(self.nd_passed),
            thousands(self.default_passed),
            thousands(self.default_dropped)
        )
    }
}

impl fmt::Display for FilterReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "default policy: {}; {}", self.default, self.counts())?;
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
            default_passed: 15,
            default_dropped: 16,
        };
        let r = FilterReport::new(Verdict::Deny, &list, &m);
        crate::app::shared::report::assert_text_shows_json(&r, &[]);
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["rules"][0]["rule"], "deny src 203.0.113.0/24");
        assert_eq!(v["malformed"], 12);
        assert_eq!(v["default_dropped"], 16);
        assert_eq!(v["default"], "deny");
        // The same words as `status` (ids without separators).
        let t = r.to_string();
        assert!(t.contains("non-IP 11, malformed 12, ARP passed 13, ND passed 14, default passed 15, default dropped 16"), "{t}");
    }
}
