//! `xskit load`: attach so that it stays after the command, with a
//! confirm-or-revert guard that the kernel enforces.

use super::attached::{attached_now, still_attached};
use super::clock::{now, now_f64, utc};
use super::guard;
use super::ns::NsArgs;
use super::ssh::operator_interfaces;
use super::state;
use super::tidy::tidy;
use super::wait::{
    parse_confirm_within, stop_on_signals, wait_for_confirmation, why_reverted, Waited,
};
use super::{made, owner, pending, process, ssh};
use crate::app::shared::session::attach;
use crate::app::shared::share::{self, ShareArgs};
use crate::net::addrs::interfaces;
use crate::xdp::filter::Verdict;
use crate::xdp::{HookChoice, Program};
use anyhow::{bail, Result};
use std::io::Write;
use std::time::Duration;

/// Programs `xskit load` attaches.
#[derive(Clone, Copy, Debug, Eq, PartialEq, clap::ValueEnum)]
pub enum Loadable {
    /// Drop every frame (a last resort against a flood)
    Drop,
    /// Pass every frame, counting.
    Pass,
    /// The rule filter (`xskit filter`).
    Filter,
}

impl Loadable {
    /// The word `load` takes.
    fn name(self) -> &'static str {
        match self {
            Loadable::Drop => "drop",
            Loadable::Pass => "pass",
            Loadable::Filter => "filter",
        }
    }

    fn program(self) -> Program {
        match self {
            Loadable::Drop => Program::Drop,
            Loadable::Pass => Program::Pass,
            Loadable::Filter => Program::Filter,
        }
    }
}

/// Options of `xskit load`.
#[derive(clap::Args, Clone, Debug)]
pub struct LoadArgs {
    /// Program to attach
    #[arg(value_enum)]
    pub program: Loadable,
    /// Interfaces to attach to
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub ifaces: Vec<String>,
    /// Every interface of this network namespace but loopback
    #[arg(long)]
    pub all: bool,
    /// XDP attach mode
    #[arg(long, value_parser = crate::app::shared::args::hook_parser(), default_value_t = HookChoice::Auto)]
    pub mode: HookChoice,
    /// Allow `drop` on the interface of the default route
    #[arg(long)]
    pub force: bool,
    /// Revert unless confirmed within this time (type `yes`, or run `xskit
    /// confirm`): at least 5s (e.g. 30s, 1m30s); 0 turns the guard off
    /// [default: 30s when it could cut this session's own traffic, else 0].
    /// The deadline is kept in the kernel: the program passes everything
    /// once it has passed unconfirmed, even if this process was killed or
    /// its terminal hung up
    #[arg(long, value_parser = parse_confirm_within, value_name = "TIME")]
    pub confirm_within: Option<Duration>,
    #[command(flatten)]
    pub share: ShareArgs,
    #[command(flatten)]
    pub ns: NsArgs,
}

/// `xskit load`.
pub fn load(args: &LoadArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    if state::ensure_bpffs()? {
        writeln!(out, "mounted bpffs at {}", state::BPFFS)?;
    }
    tidy(out)?;
    let program = args.program.program();
    // A filter load that attaches nothing leaves no rule maps it made
    // (maps that were there before stay, with their rules).
    let makes_rules = program == Program::Filter && state::existing_rules()?.is_none();
    let mut attached_any = false;
    let result = load_here(args, program, &mut attached_any, out);
    if makes_rules && !attached_any {
        let undo = (|| -> Result<()> {
            if let Some(r) = state::existing_rules()? {
                state::remove_rules_if_untouched(r)?;
            }
            state::forget_if_empty()
        })();
        if let Err(e) = undo {
            writeln!(
                out,
                "could not remove the filter's rule maps this load made: {e:#}"
            )?;
        }
    }
    result
}

/// `xskit load` in its namespace; sets `attached_any` once a program is
/// attached.
fn load_here(
    args: &LoadArgs,
    program: Program,
    attached_any: &mut bool,
    out: &mut dyn Write,
) -> Result<i32> {
    let ifaces: Vec<String> = if args.all {
        interfaces().into_iter().filter(|i| i != "lo").collect()
    } else {
        args.ifaces.clone()
    };
    let hint = args.ns.hint();
    // Nothing is attached unless every interface is free: a load refused
    // half-way would leave the rest attached.
    for i in &ifaces {
        xsk::netdev::ifindex(i)?;
        if let Some(m) = state::load_meta(i)?.filter(|m| m.reverted_at.is_none()) {
            if still_attached(i, m.prog_id) {
                bail!(
                    "xskit already has a program on {i} ({} program id {}): `xskit unload {i}{hint}` first",
                    m.program,
                    m.prog_id
                );
            }
        }
        // A dispatcher is joined below (unless --exclusive).
        if let Some(a) =
            owner::attached(i)?.filter(|a| a.dispatcher.is_none() || args.share.exclusive)
        {
            if a.owner == owner::Owner::Load {
                bail!(
                    "xskit already has a program on {i} ({} program id {}): `xskit unload {i}{hint}` first",
                    a.program,
                    a.id
                );
            }
            bail!(
                "cannot attach {} to {i}: {i} has {}",
                program.function(),
                a.describe(&hint)
            );
        }
        if state::iface_dir(i)?.exists() {
            // Left from an interface that is gone, or an attachment that is.
            state::unpin(i)?;
        }
    }
    // Risky: could this cut the operator off?
    let filter_rules = if program == Program::Filter {
        Some(state::rules()?)
    } else {
        None
    };
    if let Some(r) = &filter_rules {
        let list: Vec<_> = r.list()?.into_iter().map(|l| l.rule).collect();
        let default = r.default_verdict()?;
        for s in ssh::sessions() {
            if args.force || !s.interfaces().iter().any(|i| ifaces.contains(i)) {
                continue;
            }
            if let Some(why) = ssh::ssh_cut(&list, default, &s) {
                bail!(
                    "refusing to load the filter: its rules would cut your SSH session ({}, found in {}): {why}; \
                     change the rules, or pass --force",
                    s.ends(),
                    s.seen
                );
            }
        }
    }
    let (denies, risk) = match &filter_rules {
        Some(r) => {
            let default = r.default_verdict()?;
            let deny_rules = r
                .list()?
                .iter()
                .filter(|l| l.rule.verdict == Verdict::Deny)
                .count();
            (
                default == Verdict::Deny || deny_rules > 0,
                format!(
                    "the filter's rules can drop some of it (default policy {}, {deny_rules} deny rule(s))",
                    default.name()
                ),
            )
        }
        None if program == Program::Drop => (true, "xdp_drop drops all of it".to_string()),
        None => (
            false,
            "xdp_pass passes every frame, so it does not cut it (the confirmation guards the load itself)"
                .to_string(),
        ),
    };
    let ops = operator_interfaces();
    let touches_ops: Vec<String> = ops
        .iter()
        .filter(|(i, _)| ifaces.contains(i))
        .map(|(i, why)| format!("{i} carries {why}"))
        .collect();
    let within = args
        .confirm_within
        .unwrap_or(if denies && !touches_ops.is_empty() {
            Duration::from_secs(30)
        } else {
            Duration::ZERO
        });
    let deadline = (!within.is_zero()).then(|| {
        (
            state::monotonic_ns() + within.as_nanos() as u64,
            now_f64() + within.as_secs_f64(),
        )
    });
    // Signals that end the wait revert at once; registered before the
    // first attach so that none is lost in between.
    let stop = if deadline.is_some() {
        stop_on_signals()?
    } else {
        Default::default()
    };

    let ns = state::netns_id()?;
    let pid = std::process::id();
    let pid_start = process::own_start()?;
    // (interface, program id) of each attachment made, and its guard.
    let mut done: Vec<(String, u32)> = Vec::new();
    let mut guards: Vec<guard::Guard> = Vec::new();
    let mut failures = 0;
    for i in &ifaces {
        let pin_dir = filter_rules.as_ref().map(|r| r.dir().to_path_buf());
        let result = (|| -> Result<(u32, Option<guard::Guard>)> {
            let mut p = share::load(program, 1, i, &args.share, pin_dir.as_deref(), false)?;
            // Armed before the attach: there is no moment without a deadline.
            if let Some((d, _)) = deadline {
                p.arm_guard(d)?;
            }
            let mode = attach(&mut p, i, args.mode, args.force, out)?;
            *attached_any = true;
            state::claim()?;
            let dir = state::iface_dir(i)?;
            let prog_id = match made::make_and_fill(&dir, || p.pin_attachment(i, &dir)) {
                Ok(id) => id,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
            };
            // This load's own guard, opened from the pin made a moment ago.
            let guard = match deadline {
                None => None,
                Some(_) => match guard::Guard::of(ns, i, prog_id) {
                    Ok(Some(g)) => Some(g),
                    r => {
                        let _ = state::unpin_pins_of(ns, i);
                        match r {
                            Err(e) => return Err(e),
                            _ => bail!("the guard pinned in {} is not program {prog_id}'s (another xskit loaded meanwhile?): detached again", dir.display()),
                        }
                    }
                },
            };
            state::save_meta(
                i,
                &state::Loaded {
                    program: program.function().to_string(),
                    prog_id,
                    mode: mode.to_string(),
                    loaded_at: now(),
                    deadline,
                    pid: deadline.map(|_| pid),
                    pid_start: deadline.map(|_| pid_start),
                    reverted_at: None,
                    change: None,
                },
            )?;
            let how = if p.is_component() {
                format!(
                    " in a dispatcher (priority {}, next program after {}), beside what runs there",
                    args.share.priority(),
                    crate::xdp::dispatcher::action_names(args.share.chain_on.0).join(", ")
                )
            } else {
                String::new()
            };
            writeln!(
                out,
                "{i}: {} attached in {mode} mode{how} (program id {prog_id}), pinned at {}",
                program.function(),
                dir.display()
            )?;
            Ok((prog_id, guard))
        })();
        match result {
            Ok((id, guard)) => {
                done.push((i.clone(), id));
                guards.extend(guard);
            }
            Err(e) => {
                failures += 1;
                writeln!(out, "{i}: {e:#}")?;
            }
        }
    }
    if failures > 0 && !done.is_empty() {
        let ok: Vec<&str> = done.iter().map(|(i, _)| i.as_str()).collect();
        let failed: Vec<&str> = ifaces
            .iter()
            .filter(|i| !ok.contains(&i.as_str()))
            .map(String::as_str)
            .collect();
        writeln!(
            out,
            "loaded on {} but not on {} (why above): fix that and run `xskit load {} {}{hint}` for the rest, \
             or `xskit unload {}{hint}` to undo this load",
            ok.join(", "),
            failed.join(", "),
            args.program.name(),
            failed.join(" "),
            ok.join(" ")
        )?;
    }
    if program == Program::Filter && !done.is_empty() {
        if let Some(r) = &filter_rules {
            if r.default_verdict()? == Verdict::Deny {
                writeln!(
                    out,
                    "note: the filter is stateless: with default deny it also drops the replies to this host's own \
                     outgoing traffic (DNS answers, downloads, pings it sends) unless a rule allows them"
                )?;
            }
        }
    }
    let Some(deadline) = deadline.filter(|_| !done.is_empty()) else {
        return Ok(if failures == 0 { 0 } else { 1 });
    };
    if !touches_ops.is_empty() {
        writeln!(out, "{}: {risk}.", touches_ops.join(", "))?;
    }
    let pending = pending::for_this_process(&done, program.function(), deadline)?;
    pending.save()?;
    writeln!(
        out,
        "type `yes` within {}s (or run `xskit confirm {pid}{hint}` in another shell) to keep it, `no` to remove it now; otherwise it is removed, \
         and the kernel passes all traffic again from {} even if this process is killed (pid {pid})",
        within.as_secs_f64(),
        utc(deadline.1)
    )?;
    out.flush()?;
    let waited = wait_for_confirmation(&guards, deadline, &stop, "remove it", out);
    pending.remove();
    settle(
        program.function(),
        &done,
        &mut guards,
        waited,
        within,
        failures,
        out,
    )
}

/// Ends a wait for confirmation from what the kernel says now, interface
/// by interface: a guard whose deadline is cleared (by `yes` here or by
/// `xskit confirm`) keeps its program; any other is removed, if it is
/// still this load's; a program no longer attached is said to be gone,
/// with what is attached instead. Exit code 2 if anything was removed,
/// else 1 if anything was gone or failed, else 0.
fn settle(
    function: &str,
    done: &[(String, u32)],
    guards: &mut [guard::Guard],
    waited: Result<Waited>,
    within: Duration,
    failures: usize,
    out: &mut dyn Write,
) -> Result<i32> {
    let ns = state::netns_id()?;
    if let Ok(Waited::Yes) = waited {
        for ((i, id), g) in done.iter().zip(guards.iter_mut()) {
            if still_attached(i, *id) {
                // Reverted: the latch is read below.
                g.confirm()?;
            }
        }
    }
    let (mut kept, mut removed, mut gone) = (Vec::new(), Vec::new(), Vec::new());
    let at = now_f64();
    for ((i, id), g) in done.iter().zip(guards.iter()) {
        let confirmed = matches!(g.read()?, (0, 0));
        let ours_recorded = state::load_meta(i)?.filter(|m| m.prog_id == *id);
        if !still_attached(i, *id) {
            gone.push(format!(
                "{i}: {function} (program id {id}) is no longer attached there (attached now: {})",
                attached_now(i)
            ));
            // A pin left by an interface that is gone.
            if state::pinned_prog_id_of(ns, i) == Some(*id) {
                state::unpin_pins_of(ns, i)?;
            }
            continue;
        }
        if confirmed {
            if let Some(mut m) = ours_recorded {
                m.deadline = None;
                m.pid = None;
                m.pid_start = None;
                state::save_meta(i, &m)?;
            }
            kept.push(format!("{i} (program id {id})"));
            continue;
        }
        if state::pinned_prog_id_of(ns, i) == Some(*id) {
            state::unpin_pins_of(ns, i)?;
        }
        if let Some(mut m) = ours_recorded {
            m.reverted_at = Some(at.min(m.deadline.map_or(at, |d| d.1)));
            state::save_meta(i, &m)?;
        }
        removed.push(i.clone());
    }
    if !kept.is_empty() {
        writeln!(out, "confirmed: keeping {function} on {}", kept.join(", "))?;
    }
    for g in &gone {
        let what = match waited {
            Ok(Waited::Yes | Waited::Confirmed) => "cannot confirm it",
            _ => "nothing to remove",
        };
        writeln!(out, "{g}: {what}")?;
    }
    if !removed.is_empty() {
        let why = why_reverted(&waited, within);
        writeln!(
            out,
            "{why}: removed {function} from {} again",
            removed.join(", ")
        )?;
    }
    waited?;
    Ok(if !removed.is_empty() {
        2
    } else if !gone.is_empty() || failures > 0 {
        1
    } else {
        0
    })
}
