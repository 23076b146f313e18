//! Undoing a change of the filter's rules (`xskit filter`): by its own
//! process, or by the next xskit command once that process is gone
//! unconfirmed ([`tidy_change`]).

use crate::app::ops::clock::{mono_to_unix, utc};
use crate::app::ops::guard::{self, Undo};
use crate::app::shared::records::state;
use crate::xdp::filter::{Rule, Rules, Verdict};
use anyhow::Result;
use std::io::Write;

/// Marks the records of the filter's attachments `on` as waiting for the
/// confirmation of `change` (what, deadline, pid, start), or no longer.
pub fn mark_waiting(
    on: &[(String, u32)],
    change: Option<(&str, (u64, f64), u32, u64)>,
) -> Result<()> {
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
pub fn undo_change(rules: &Rules, u: &Undo) -> Result<String> {
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
    let Some(c) = guard::filter_change()? else {
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
        if let Some(g) = guard::Guard::of(ns, i, *id)? {
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
                utc(mono_to_unix(t))
            ),
            None => String::new(),
        };
        writeln!(
            out,
            "the filter change `{}` of pid {} was never confirmed and its process is gone: undone ({done}){since}",
            c.what, c.pid
        )?;
    }
    guard::remove_change()?;
    mark_waiting(&c.attached, None)?;
    Ok(())
}
