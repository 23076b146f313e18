//! Operating XDP programs: `xskit load | unload | status | confirm` and
//! `xskit filter`. Attachments made by `load` outlive the command (pinned
//! in bpffs, see [`crate::app::ops::state`]); everything else xskit attaches is
//! gone when its process ends.
//!
//! What survives what:
//! - a load waiting for confirmation: its program carries the deadline in a
//!   map (bpf/guard.h) and passes every frame once it has passed
//!   unconfirmed, so the kernel restores traffic on time whatever happens
//!   to the process (SIGKILL, SIGHUP, a wedged user space). `status`, the
//!   next `load`/`unload` and `confirm` then detach it and say so
//!   ([`tidy`]).
//! - a confirmed load: stays until `xskit unload` (or a reboot).

mod confirm;
pub mod filter;
pub mod identity;
mod load;
mod pending;
mod ssh;
pub mod state;
mod status;
mod unload;

pub use confirm::{confirm, ConfirmArgs};
pub use filter::{filter_cmd, FilterArgs, FilterCmd};
pub use load::{load, LoadArgs, Loadable};
pub use status::{
    status, status_rows, ByAction, Reverted, StatusArgs, StatusReport, StatusRow, Waiting,
    WatchReport, WatchRow,
};
pub use unload::{unload, UnloadArgs};

use crate::net::addrs::interfaces;
use crate::net::{addrs, netns};
use anyhow::Result;
use ssh::ssh_session;
use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

/// Which network namespace an operator command works in.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct NsArgs {
    /// Work in the named network namespace (`ip netns add NAME`). Only the
    /// network namespace is entered; bpffs pins stay in the host's mount
    /// namespace, so they outlive the command (unlike under `ip netns exec`)
    #[arg(long, value_name = "NAME", conflicts_with = "sandbox", global = true)]
    pub netns: Option<String>,
    /// Work in the inner namespace of `xskit sandbox up --name NAME`
    #[arg(long, value_name = "NAME", global = true)]
    pub sandbox: Option<String>,
}

impl NsArgs {
    /// Moves this thread (xskit's operator commands run on one) into the
    /// namespace asked for, if any, and checks xskit's state there
    /// ([`state::check`]: refuses without a namespace cookie, removes the
    /// state of namespaces that are gone).
    pub fn enter(&self) -> Result<()> {
        self.enter_only()?;
        state::check()
    }

    fn enter_only(&self) -> Result<()> {
        let name = match (&self.netns, &self.sandbox) {
            (Some(n), _) => n.clone(),
            (None, Some(s)) => {
                let n = format!("{s}-in");
                if !netns::exists(&n) {
                    anyhow::bail!("no sandbox named {s} is up (no namespace {n}; create it with `xskit sandbox up --name {s}`)");
                }
                n
            }
            (None, None) => return Ok(()),
        };
        netns::enter(&name)
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn now_f64() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Unix time `t` as `2026-11-27 05:59:01.25 UTC`.
pub fn utc(t: f64) -> String {
    let secs = t.floor() as i64;
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let frac = ((t - t.floor()) * 100.0).round().min(99.0) as u32;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{frac:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix time of a CLOCK_MONOTONIC instant (nanoseconds).
fn mono_to_unix(ns: u64) -> f64 {
    now_f64() - (state::monotonic_ns() as f64 - ns as f64) / 1e9
}

/// Interfaces this session's own traffic uses: those with a default route,
/// and the one holding the local address of `SSH_CONNECTION`.
pub fn operator_interfaces() -> Vec<String> {
    let mut out = crate::xdp::netif::default_route_interfaces();
    if let Some((_, _, local, _)) = ssh_session() {
        for i in interfaces() {
            let (v4, v6) = addrs::of_interface(&i);
            if v4.iter().any(|a| std::net::IpAddr::V4(*a) == local)
                || v6.iter().any(|a| std::net::IpAddr::V6(*a) == local)
            {
                out.push(i);
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What is attached to `iface` now, in words: `xdp_pass (program id 57)`,
/// `nothing`, or `nothing (no such interface)`.
fn attached_now(iface: &str) -> String {
    if xsk::netdev::ifindex(iface).is_err() {
        return "nothing (no such interface)".into();
    }
    match netns::xdp_attachment(iface) {
        Ok(Some((name, id, _))) => format!("{name} (program id {id})"),
        Ok(None) => "nothing".into(),
        Err(e) => format!("unknown ({e:#})"),
    }
}

/// True if program `prog_id` is the one attached to `iface` now.
fn still_attached(iface: &str, prog_id: u32) -> bool {
    xsk::netdev::ifindex(iface).is_ok()
        && matches!(netns::xdp_attachment(iface), Ok(Some((_, id, _))) if id == prog_id)
}

/// True if the program attached (as `ip` reports it) is the one `xskit
/// load` recorded, not a stale record or another tool's program.
fn is_ours(xdp: &Option<(String, u32, &'static str)>, meta: &Option<state::Loaded>) -> bool {
    matches!((xdp, meta), (Some((_, id, _)), Some(m)) if *id == m.prog_id && m.reverted_at.is_none())
}

/// Detaches, in this namespace, every guarded load whose deadline passed
/// unconfirmed (the kernel already passes its traffic), keeps the record
/// with the time of the revert, says so on `out`, and removes pending
/// state of loads whose process is gone. Returns the interfaces reverted.
pub fn tidy(out: &mut dyn Write) -> Result<Vec<String>> {
    pending::forget_dead();
    let ns = state::netns_id()?;
    let mut reverted = Vec::new();
    for (iface, mut meta) in state::metas()? {
        let Some((deadline, _)) = meta.deadline else {
            continue;
        };
        if meta.reverted_at.is_some() {
            continue;
        }
        let guard = match state::Guard::of(ns, &iface, meta.prog_id)? {
            Some(g) => Some(g.read()?),
            None => None,
        };
        let passed = match guard {
            Some((_, r)) if r != 0 => true,
            Some((0, _)) => false, // confirmed
            _ => state::monotonic_ns() >= deadline,
        };
        if !passed {
            continue;
        }
        // Only pins of the program this record is about.
        if state::pinned_prog_id_of(ns, &iface).is_some_and(|id| id == meta.prog_id) {
            state::unpin_pins_of(ns, &iface)?;
        }
        // From the deadline on the program passed everything.
        let when = mono_to_unix(deadline);
        meta.reverted_at = Some(when);
        state::save_meta_of(ns, &iface, &meta)?;
        writeln!(
            out,
            "{iface}: {} reverted at {}, never confirmed: detached",
            meta.program,
            utc(when)
        )?;
        reverted.push(iface);
    }
    Ok(reverted)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_formats_unix_time() {
        assert_eq!(super::utc(0.0), "1970-01-01 00:00:00.00 UTC");
        assert_eq!(super::utc(1_795_759_141.5), "2026-11-27 05:59:01.50 UTC");
    }
}
