//! A rule change that may drop the operator's traffic: planned, made
//! with the guards armed, and kept or undone by its confirmation.

use crate::app::ops::attached::still_attached;
use crate::app::ops::clock::{now_f64, utc};
use crate::app::ops::guard;
use crate::app::ops::guard::{FilterChange, Undo};
use crate::app::ops::ssh::operator_interfaces;
use crate::app::ops::undo::{mark_waiting, undo_change};
use crate::app::ops::wait::{stop_on_signals, wait_for_confirmation, why_reverted, Waited};
use crate::app::ops::{pending, process};
use crate::app::shared::records::state;
use crate::xdp::filter::Rules;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::time::Duration;

/// A rule change, planned: what it does, how to make it and whether it
/// can make the filter drop more.
pub(super) struct Change {
    /// In words, for messages: `default deny`, `add deny tcp dst 22`.
    pub(super) what: String,
    /// True if some frame could be dropped after it that passed before.
    pub(super) can_drop: bool,
}

/// Makes a planned change; returns how to undo it, or None if nothing
/// changed.
pub(super) type Apply = Box<dyn Fn(&Rules, &mut dyn Write) -> Result<Option<Undo>>>;

/// The confirmation timer a change waits on.
pub(super) struct TimerPlan {
    /// The filter's attachments whose guards are armed: (interface,
    /// program id). Empty: no timer.
    pub(super) guarded: Vec<(String, u32)>,
    /// The timer's length.
    pub(super) within: Duration,
    /// Why the interfaces are the operator's (`eth0 carries the default route`).
    pub(super) why: Vec<String>,
}

/// The filter's attachments in this namespace that are xskit's and
/// attached now: (interface, program id).
pub(super) fn filter_attachments() -> Result<Vec<(String, u32)>> {
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
pub(super) fn timer_plan(change: &Change, confirm_within: Option<Duration>) -> Result<TimerPlan> {
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

/// Makes `change` with the guards of `guarded` armed, waits for its
/// confirmation and undoes it unless confirmed. Exit code 0 kept, 2 undone.
pub(super) fn guarded_change(
    rules: &Rules,
    change: &Change,
    plan: &TimerPlan,
    apply: &Apply,
    hint: &str,
    out: &mut dyn Write,
) -> Result<i32> {
    let (guarded, within, why) = (&plan.guarded[..], plan.within, &plan.why[..]);
    if let Some(c) = guard::filter_change()? {
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
        let Some(g) = guard::Guard::of(ns, i, *id)? else {
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
    let pid_start = process::own_start()?;
    let disarm = |guards: &mut [guard::Guard]| {
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
        guard::save_change(&record)?;
        mark_waiting(guarded, Some((&record.what, deadline, pid, pid_start)))?;
        p.save()
    })();
    if let Err(e) = saved {
        let _ = undo_change(rules, &record.undo);
        disarm(&mut guards);
        let _ = guard::remove_change();
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
    guard::remove_change()?;
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
    let why = why_reverted(&waited, within);
    writeln!(
        out,
        "{why}: undid `{}` ({done}); the filter works on with the rules as they were",
        change.what
    )?;
    waited?;
    Ok(2)
}
