//! `xskit confirm [PID]`: keep loads that wait for confirmation.

use super::attached::{attached_now, still_attached};
use super::clock::{mono_to_unix, utc};
use super::guard;
use super::ns::NsArgs;
use super::state;
use super::tidy::tidy;
use super::{identity, pending};
use anyhow::Result;
use std::io::Write;

/// Options of `xskit confirm`.
#[derive(clap::Args, Clone, Debug)]
pub struct ConfirmArgs {
    /// Only the load of this process [default: every waiting load]
    pub pid: Option<u32>,
    #[command(flatten)]
    pub ns: NsArgs,
}

/// What confirming one interface of a waiting load found.
enum Outcome {
    /// Its deadline is cleared (now or before) and the program is attached.
    Kept,
    /// The program is no longer attached; what is attached now.
    Gone(String),
    /// The deadline had passed (CLOCK_MONOTONIC ns of the revert).
    Late(u64),
}

/// Confirms, from inside the load's namespace, each interface whose
/// program (by id) is still the one attached, through that program's own
/// guard.
fn confirm_each(p: &pending::Pending) -> Result<Vec<(String, u32, Outcome)>> {
    let mut v = Vec::new();
    for a in &p.attached {
        let (i, id) = (&a.iface, a.prog_id);
        if !still_attached(i, id) {
            v.push((i.clone(), id, Outcome::Gone(attached_now(i))));
            continue;
        }
        let Some(mut g) = guard::Guard::of(p.netns_cookie, i, id)? else {
            v.push((
                i.clone(),
                id,
                Outcome::Gone(format!("{} without its pins", attached_now(i))),
            ));
            continue;
        };
        let o = match g.confirm()? {
            state::Confirmed::Reverted(t) => Outcome::Late(t),
            // The waiting process removes its record before it settles: a
            // cleared guard of a rule change whose record is gone may have
            // been cleared by its undo.
            state::Confirmed::NotWaiting if p.change.is_some() && !p.recorded() => {
                Outcome::Gone(format!(
                    "{} (the wait ended meanwhile: pid {}'s own output says how)",
                    attached_now(i),
                    p.pid
                ))
            }
            // NotWaiting: confirmed already (`yes` at the same moment).
            _ if still_attached(i, id) => Outcome::Kept,
            _ => Outcome::Gone(attached_now(i)),
        };
        v.push((i.clone(), id, o));
    }
    Ok(v)
}

/// `xskit confirm`: clears the deadline of every waiting load (or the one
/// of process PID). Only a load whose process still runs (pid and start
/// time) is confirmed, and only where its program (by id) is still the one
/// attached; a load whose process is gone, whose program was detached or
/// replaced, or whose deadline has passed cannot be confirmed: that is
/// said, and the exit code is 1.
pub fn confirm(args: &ConfirmArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    let hint = args.ns.hint();
    let only_ns = (args.ns.netns.is_some() || args.ns.sandbox.is_some())
        .then(state::netns_id)
        .transpose()?;
    let mut confirmed = 0;
    let mut failed = 0;
    for p in pending::all() {
        if args.pid.is_some_and(|pid| pid != p.pid) {
            continue;
        }
        if only_ns.is_some_and(|ns| ns != p.netns_cookie) {
            if args.pid.is_some() {
                // Asked for by pid, but it waits elsewhere: said, not done.
                anyhow::bail!(
                    "{} waits in another network namespace (cookie {}), not in{hint}: run `xskit confirm {}` \
                     (a pid alone finds its load wherever it waits) or give that namespace's --netns/--sandbox",
                    p.describe(),
                    p.netns_cookie,
                    p.pid
                );
            }
            continue;
        }
        let what = match &p.change {
            Some(c) => format!("`{c}` of the filter on {}", p.ifaces()),
            None => format!("{} on {}", p.program, p.ifaces()),
        };
        let gone = |failed: &mut i32, out: &mut dyn Write, why: &str| -> Result<()> {
            p.remove();
            *failed += 1;
            let fate = match (&p.change, state::monotonic_ns() >= p.deadline.0) {
                (None, true) => format!("its program passed all traffic from {} (kernel guard) and is detached by the next `xskit status`, `load` or `unload`", utc(p.deadline.1)),
                (None, false) => format!("the kernel guard reverts it at {}", utc(p.deadline.1)),
                (Some(_), _) => "the change is undone by the next xskit command in its namespace (and from its deadline the kernel passes all traffic there)".to_string(),
            };
            let kind = if p.change.is_some() {
                "filter change"
            } else {
                "load"
            };
            writeln!(
                out,
                "{kind} of pid {} ({what}) was not confirmed: {why}; {fate}",
                p.pid
            )?;
            Ok(())
        };
        if !p.alive() {
            gone(&mut failed, out, "its process is gone")?;
            continue;
        }
        let each = match identity::run_in_process_netns(p.pid, p.start, p.netns_cookie, || {
            confirm_each(&p)
        }) {
            Ok(r) => r?,
            Err(e) => {
                gone(&mut failed, out, &format!("{e:#}"))?;
                continue;
            }
        };
        let kept: Vec<String> = each
            .iter()
            .filter(|(_, _, o)| matches!(o, Outcome::Kept))
            .map(|(i, id, _)| format!("{i} (program id {id})"))
            .collect();
        if !kept.is_empty() {
            match &p.change {
                Some(c) => writeln!(
                    out,
                    "confirmed the filter change of pid {}: keeping `{c}` (the filter on {})",
                    p.pid,
                    kept.join(", ")
                )?,
                None => writeln!(
                    out,
                    "confirmed the load of pid {}: keeping {} on {}",
                    p.pid,
                    p.program,
                    kept.join(", ")
                )?,
            }
        }
        let mut ok = true;
        for (i, id, o) in &each {
            match o {
                Outcome::Kept => {}
                Outcome::Gone(now) => {
                    ok = false;
                    writeln!(
                        out,
                        "cannot confirm {} on {i}: {} (program id {id}) is no longer attached there (attached now: {now})",
                        p.kind(), p.program
                    )?;
                }
                Outcome::Late(t) => {
                    ok = false;
                    writeln!(
                        out,
                        "too late for {} ({} on {i}): reverted at {}, never confirmed",
                        p.kind(),
                        p.program,
                        utc(mono_to_unix(*t))
                    )?;
                }
            }
        }
        if ok {
            confirmed += 1;
        } else {
            failed += 1;
        }
    }
    if confirmed == 0 && failed == 0 {
        // Nothing to do is a failure: said on stderr, exit 1.
        match args.pid {
            Some(pid) => anyhow::bail!(
                "no xskit load or filter change of pid {pid} is waiting for confirmation (unknown pid, or already \
                 confirmed or reverted)"
            ),
            None if only_ns.is_some() => anyhow::bail!(
                "no xskit load or filter change is waiting for confirmation in this namespace ({})",
                hint.trim()
            ),
            None => anyhow::bail!("no xskit load or filter change is waiting for confirmation"),
        }
    }
    // Reverted loads of this namespace are detached now rather than later.
    if only_ns.is_some() || args.ns.netns.is_none() {
        let _ = tidy(out);
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
