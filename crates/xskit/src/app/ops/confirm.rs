//! `xskit confirm [PID]`: keep loads that wait for confirmation.

use super::state;
use super::{mono_to_unix, pending, tidy, utc, NsArgs};
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

/// `xskit confirm`: clears the deadline of every waiting load (or the one
/// of process PID). A load whose process is gone, or whose deadline has
/// passed, cannot be confirmed: that is said, and the exit code is 1.
pub fn confirm(args: &ConfirmArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    let only_ns = (args.ns.netns.is_some() || args.ns.sandbox.is_some())
        .then(state::netns_id)
        .transpose()?;
    let mut confirmed = 0;
    let mut failed = 0;
    for p in pending::all() {
        if args.pid.is_some_and(|pid| pid != p.pid) || only_ns.is_some_and(|ns| ns != p.ns) {
            continue;
        }
        let what = format!("{} on {}", p.program, p.ifaces.join(", "));
        if !p.alive() {
            p.remove();
            failed += 1;
            let fate = if state::monotonic_ns() >= p.deadline.0 {
                format!("its program passed all traffic from {} (kernel guard) and is detached by the next `xskit status`, `load` or `unload`", utc(p.deadline.1))
            } else {
                format!("the kernel guard reverts it at {}", utc(p.deadline.1))
            };
            writeln!(
                out,
                "load of pid {} ({what}) was not confirmed: its process is gone; {fate}",
                p.pid
            )?;
            continue;
        }
        let mut late = None;
        for i in &p.ifaces {
            if let state::Confirmed::Reverted(t) = state::confirm_guard_of(p.ns, i)? {
                late = Some(t);
            }
        }
        match late {
            None => {
                confirmed += 1;
                writeln!(out, "confirmed the load of pid {} ({what})", p.pid)?;
            }
            Some(t) => {
                failed += 1;
                writeln!(
                    out,
                    "too late for the load of pid {} ({what}): reverted at {}, never confirmed",
                    p.pid,
                    utc(mono_to_unix(t))
                )?;
            }
        }
    }
    if confirmed == 0 && failed == 0 {
        // Nothing to do is a failure: said on stderr, exit 1.
        match args.pid {
            Some(pid) => anyhow::bail!(
                "no xskit load of pid {pid} is waiting for confirmation (unknown pid, or already confirmed or reverted)"
            ),
            None => anyhow::bail!("no xskit load is waiting for confirmation"),
        }
    }
    // Reverted loads of this namespace are detached now rather than later.
    if only_ns.is_some() || args.ns.netns.is_none() {
        let _ = tidy(out);
    }
    Ok(if failed == 0 { 0 } else { 1 })
}
