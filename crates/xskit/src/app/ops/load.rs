//! `xskit load`: attach so that it stays after the command, with a
//! confirm-or-revert guard that the kernel enforces.

use super::state;
use super::{is_ours, now, now_f64, operator_interfaces, pending, tidy, utc, NsArgs};
use crate::app::shared::args::parse_duration;
use crate::app::shared::session::attach;
use crate::net::addrs::interfaces;
use crate::net::netns;
use crate::xdp::filter::Verdict;
use crate::xdp::{HookChoice, Program, XdpProgram};
use anyhow::{bail, Context, Result};
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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
    /// confirm`); 0 turns the guard off [default: 30s when it could cut this
    /// session's own traffic, else 0]. The deadline is kept in the kernel:
    /// the program passes everything once it has passed unconfirmed, even
    /// if this process was killed or its terminal hung up
    #[arg(long, value_parser = parse_duration)]
    pub confirm_within: Option<Duration>,
    #[command(flatten)]
    pub ns: NsArgs,
}

/// How the wait for confirmation ended.
enum Waited {
    Confirmed,
    Deadline,
    Signal,
}

/// Waits for `yes` on stdin or `xskit confirm` (which clears the guards'
/// deadlines); stops early on SIGHUP, SIGINT or SIGTERM.
fn wait_for_confirmation(
    ifaces: &[String],
    deadline: (u64, f64),
    stop: &AtomicBool,
    out: &mut dyn Write,
) -> Result<Waited> {
    let ns = state::netns_id()?;
    let mut stdin_open = true;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Waited::Signal);
        }
        let mut confirmed = true;
        for i in ifaces {
            match state::read_guard_of(ns, i)? {
                Some((0, 0)) => {}
                Some((_, r)) if r != 0 => return Ok(Waited::Deadline),
                _ => confirmed = false,
            }
        }
        if confirmed {
            return Ok(Waited::Confirmed);
        }
        if state::monotonic_ns() >= deadline.0 {
            return Ok(Waited::Deadline);
        }
        if stdin_open {
            let ready = crate::net::poll_readable(&std::io::stdin(), Duration::from_millis(100));
            if ready.as_ref().is_ok_and(|r| *r) {
                let mut line = String::new();
                match std::io::stdin().lock().read_line(&mut line) {
                    Ok(0) | Err(_) => stdin_open = false,
                    Ok(_) if line.trim().eq_ignore_ascii_case("yes") => {
                        for i in ifaces {
                            if let state::Confirmed::Reverted(_) = state::confirm_guard_of(ns, i)? {
                                return Ok(Waited::Deadline);
                            }
                        }
                        return Ok(Waited::Confirmed);
                    }
                    Ok(_) => {
                        let _ = writeln!(out, "type `yes` to keep it");
                    }
                }
            } else if ready.is_err() {
                stdin_open = false;
            }
        } else {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// True if `iface` holds the address `local`.
fn ops_ifaces_hold(iface: &str, local: std::net::IpAddr) -> bool {
    let (v4, v6) = crate::net::addrs::of_interface(iface);
    v4.iter().any(|a| std::net::IpAddr::V4(*a) == local)
        || v6.iter().any(|a| std::net::IpAddr::V6(*a) == local)
}

/// `xskit load`.
pub fn load(args: &LoadArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    if state::ensure_bpffs()? {
        writeln!(out, "mounted bpffs at {}", state::BPFFS)?;
    }
    tidy(out)?;
    let program = args.program.program();
    let ifaces: Vec<String> = if args.all {
        interfaces().into_iter().filter(|i| i != "lo").collect()
    } else {
        args.ifaces.clone()
    };
    for i in &ifaces {
        xsk::netdev::ifindex(i)?;
        if state::iface_dir(i)?.exists() {
            let (xdp, meta) = (netns::xdp_attachment(i)?, state::load_meta(i)?);
            if is_ours(&xdp, &meta) {
                bail!("xskit already has a program on {i}: `xskit unload {i}` first");
            }
            // Left from an interface or namespace that is gone.
            state::unpin(i)?;
        }
    }
    // Risky: could this cut the operator off?
    let filter_rules = if program == Program::Filter {
        Some(state::rules()?)
    } else {
        None
    };
    if let (Some(r), Some(ssh)) = (&filter_rules, super::ssh::ssh_session()) {
        let list: Vec<_> = r.list()?.into_iter().map(|l| l.rule).collect();
        if let Some(why) = super::ssh::ssh_cut(&list, r.default_verdict()?, ssh) {
            if !args.force && ifaces.iter().any(|i| ops_ifaces_hold(i, ssh.2)) {
                bail!("refusing to load the filter: its rules would cut your SSH session ({} -> {}:{}): {why}; change the rules, or pass --force", ssh.0, ssh.2, ssh.3);
            }
        }
    }
    let denies = match &filter_rules {
        Some(r) => {
            r.default_verdict()? == Verdict::Deny
                || r.list()?.iter().any(|l| l.rule.verdict == Verdict::Deny)
        }
        None => program == Program::Drop,
    };
    let ops = operator_interfaces();
    let touches_ops: Vec<&String> = ifaces.iter().filter(|i| ops.contains(i)).collect();
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
    let stop = Arc::new(AtomicBool::new(false));
    if deadline.is_some() {
        for sig in [
            signal_hook::consts::SIGHUP,
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ] {
            signal_hook::flag::register(sig, stop.clone())?;
        }
    }

    let mut done: Vec<String> = Vec::new();
    let mut failures = 0;
    for i in &ifaces {
        let pin_dir = filter_rules.as_ref().map(|r| r.dir().to_path_buf());
        let result = (|| -> Result<()> {
            let mut p = XdpProgram::load_with_pins(program, 1, pin_dir.as_deref())?;
            // Armed before the attach: there is no moment without a deadline.
            if let Some((d, _)) = deadline {
                p.arm_guard(d)?;
            }
            let mode = attach(&mut p, i, args.mode, args.force, out)?;
            let dir = state::iface_dir(i)?;
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let prog_id = match p.pin_attachment(i, &dir) {
                Ok(id) => id,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
            };
            state::save_meta(
                i,
                &state::Loaded {
                    program: program.function().to_string(),
                    prog_id,
                    mode: mode.to_string(),
                    loaded_at: now(),
                    deadline,
                    pid: deadline.map(|_| std::process::id()),
                    reverted_at: None,
                },
            )?;
            writeln!(
                out,
                "{i}: {} attached in {mode} mode (program id {prog_id}), pinned at {}",
                program.function(),
                dir.display()
            )?;
            Ok(())
        })();
        match result {
            Ok(()) => done.push(i.clone()),
            Err(e) => {
                failures += 1;
                writeln!(out, "{i}: {e:#}")?;
            }
        }
    }
    let Some(deadline) = deadline.filter(|_| !done.is_empty()) else {
        return Ok(if failures == 0 { 0 } else { 1 });
    };
    if !touches_ops.is_empty() {
        writeln!(
            out,
            "{} carries this session's own traffic, and {} can drop it.",
            touches_ops
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            program.function()
        )?;
    }
    let pending = pending::for_this_process(&done, program.function(), deadline)?;
    pending.save()?;
    let pid = std::process::id();
    writeln!(
        out,
        "type `yes` within {}s (or run `xskit confirm {pid}` in another shell) to keep it; otherwise it is removed, \
         and the kernel passes all traffic again from {} even if this process is killed (pid {pid})",
        within.as_secs_f64(),
        utc(deadline.1)
    )?;
    out.flush()?;
    let waited = wait_for_confirmation(&done, deadline, &stop, out);
    pending.remove();
    let ns = state::netns_id()?;
    if let Ok(Waited::Confirmed) = waited {
        for i in &done {
            if let Some(mut m) = state::load_meta(i)? {
                m.deadline = None;
                m.pid = None;
                state::save_meta(i, &m)?;
            }
        }
        let _ = writeln!(
            out,
            "confirmed: keeping {} on {}",
            program.function(),
            done.join(", ")
        );
        return Ok(if failures == 0 { 0 } else { 1 });
    }
    // Not confirmed (or the wait failed): revert now.
    let at = now_f64().min(deadline.1);
    for i in &done {
        state::unpin_pins_of(ns, i)?;
        if let Some(mut m) = state::load_meta(i)? {
            m.reverted_at = Some(at);
            state::save_meta(i, &m)?;
        }
    }
    let why = match waited? {
        Waited::Signal => "interrupted (hang-up or signal) before confirmation".to_string(),
        _ => format!("no confirmation within {}s", within.as_secs_f64()),
    };
    let _ = writeln!(
        out,
        "{why}: removed {} from {} again",
        program.function(),
        done.join(", ")
    );
    Ok(2)
}
