//! `xskit filter ...`: each subcommand, with the SSH guard's check.

use super::args::{ConfirmWithin, FilterArgs, FilterCmd};
use super::change::{guarded_change, timer_plan, Apply, Change};
use super::report::FilterReport;
use crate::app::ops::guard::Undo;
use crate::app::ops::ssh;
use crate::app::ops::tidy::tidy;
use crate::app::shared::records::state;
use crate::app::shared::report::Report;
use crate::xdp::filter::{Added, Listed, Misc, Rule, Rules, Verdict};
use anyhow::{bail, Result};
use std::io::Write;

/// Refuses a change from `before` to `after` (rules and default policy)
/// that would newly cut an SSH session of this namespace, unless `force`.
pub(super) fn ssh_guard(
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

pub(super) fn current(rules: &Rules) -> Result<Vec<Rule>> {
    Ok(rules.list()?.into_iter().map(|l| l.rule).collect())
}

/// `xskit filter ...`.
pub fn filter_cmd(args: &FilterArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    let hint = args.ns.hint();
    if let FilterCmd::Flush { maps: true, .. } = &args.cmd {
        tidy(out)?;
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
    tidy(out)?;
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
pub(super) fn find_target(
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
