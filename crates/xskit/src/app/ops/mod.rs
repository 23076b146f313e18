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
mod link;
mod load;
pub mod owner;
mod pending;
pub mod ssh;
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

use crate::net::netns;
use anyhow::Result;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

    /// Moves this thread into the namespace asked for, if any, without
    /// looking at xskit's state there (`doctor`).
    pub fn enter_network_only(&self) -> Result<()> {
        self.enter_only()
    }

    /// The options to add to an xskit command suggested in a message, so
    /// that it acts in the same namespace: ` --netns NAME`, ` --sandbox
    /// NAME` or nothing.
    pub fn hint(&self) -> String {
        match (&self.netns, &self.sandbox) {
            (Some(n), _) => format!(" --netns {n}"),
            (None, Some(s)) => format!(" --sandbox {s}"),
            (None, None) => String::new(),
        }
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

/// The name (`ip netns`) of the network namespace this thread is in,
/// if it has one: entered with `--netns`/`--sandbox`, or the whole
/// command run by `ip netns exec`.
pub fn thread_netns_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    let here = ino(std::path::Path::new("/proc/thread-self/ns/net"))?;
    std::fs::read_dir("/run/netns")
        .ok()?
        .flatten()
        .find(|e| ino(&e.path()) == Some(here))
        .map(|e| e.file_name().to_string_lossy().into_owned())
}

/// The options that make a suggested xskit command act in the network
/// namespace this thread is in, where that namespace has a name
/// ([`thread_netns_name`]): ` --sandbox NAME` for a sandbox's inner
/// namespace, ` --netns NAME` for another named one, else nothing.
pub fn thread_ns_hint() -> String {
    let Some(name) = thread_netns_name() else {
        return String::new();
    };
    if let Some(sb) = name.strip_suffix("-in") {
        if crate::app::shared::sandbox::State::load(sb).is_ok_and(|s| s.is_some()) {
            return format!(" --sandbox {sb}");
        }
    }
    format!(" --netns {name}")
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

/// Interfaces that may carry the operator's own traffic, each with why:
/// those with a default route, and those an SSH session found by the SSH
/// guard uses ([`ssh::sessions`]).
pub fn operator_interfaces() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = crate::xdp::netif::default_route_interfaces()
        .into_iter()
        .map(|i| (i, "the default route".to_string()))
        .collect();
    for s in ssh::sessions() {
        for i in s.interfaces() {
            if !out.iter().any(|(o, _)| *o == i) {
                out.push((i, format!("the SSH session {}", s.ends())));
            }
        }
    }
    out.sort();
    out
}

/// How a wait for confirmation ended.
enum Waited {
    /// Every guard's deadline was cleared (`xskit confirm`).
    Confirmed,
    /// `yes` on standard input.
    Yes,
    /// `no` on standard input.
    No,
    /// The deadline passed (or a guard latched its revert).
    Deadline,
    /// SIGHUP, SIGINT or SIGTERM.
    Signal,
}

/// Flags set by SIGHUP, SIGINT and SIGTERM, which end a wait for
/// confirmation (and revert at once).
fn stop_on_signals() -> Result<std::sync::Arc<AtomicBool>> {
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ] {
        signal_hook::flag::register(sig, stop.clone())?;
    }
    Ok(stop)
}

/// Waits for `yes` or `no` on stdin, or `xskit confirm` (which clears the
/// guards' deadlines); stops early on SIGHUP, SIGINT or SIGTERM. The
/// guards are this process's own (opened when armed), whatever is pinned
/// at their paths since. `undo` names what `no` does (`remove it`).
fn wait_for_confirmation(
    guards: &[state::Guard],
    deadline: (u64, f64),
    stop: &AtomicBool,
    undo: &str,
    out: &mut dyn Write,
) -> Result<Waited> {
    let mut stdin_open = true;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Waited::Signal);
        }
        let mut cleared = true;
        for g in guards {
            match g.read()? {
                (_, r) if r != 0 => return Ok(Waited::Deadline),
                (0, _) => {}
                _ => cleared = false,
            }
        }
        if cleared {
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
                    Ok(_) if line.trim().eq_ignore_ascii_case("yes") => return Ok(Waited::Yes),
                    Ok(_) if line.trim().eq_ignore_ascii_case("no") => return Ok(Waited::No),
                    Ok(_) => {
                        let _ = writeln!(out, "type `yes` to keep it, `no` to {undo} now");
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

/// Shortest `--confirm-within` other than 0: time to read the question
/// and answer it (and for `xskit confirm` from another shell).
pub const MIN_CONFIRM: Duration = Duration::from_secs(5);

/// Parses `--confirm-within`: `0` (no guard), or a duration of at least
/// [`MIN_CONFIRM`], in any of the units of `parse_duration` and their
/// sums (`1m30s`, `2m`, `90s`, `1h`).
pub fn parse_confirm_within(s: &str) -> std::result::Result<Duration, String> {
    let s = s.trim();
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return Err("expected a duration (e.g. 30s, 1m30s) or 0".into());
    }
    while !rest.is_empty() {
        // One number and its unit: digits and dots, then letters.
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let unit_end = rest[num_end..]
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .map_or(rest.len(), |i| num_end + i);
        let part = &rest[..unit_end];
        // A bare number is seconds only on its own (`30`, not `1m30`).
        if num_end == 0 || (unit_end == num_end && part.len() != s.len()) {
            return Err(format!(
                "{s:?} is not a duration: expected e.g. 30s, 1m30s or 0"
            ));
        }
        let d = crate::app::shared::args::parse_duration(part)?;
        total = total.saturating_add(d);
        rest = &rest[unit_end..];
    }
    if total.as_secs_f64() > crate::app::shared::args::MAX_DURATION_SECS {
        return Err(format!(
            "{s:?} is too long: at most {}s",
            crate::app::shared::args::MAX_DURATION_SECS
        ));
    }
    if !total.is_zero() && total < MIN_CONFIRM {
        return Err(format!(
            "{s:?} is too short to read the question and answer it: use at least {}s (or 0 for no confirmation)",
            MIN_CONFIRM.as_secs()
        ));
    }
    Ok(total)
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
/// state of loads whose process is gone. Undoes a change of the filter's
/// rules whose waiting process is gone unconfirmed ([`filter::tidy_change`]).
/// Returns the interfaces reverted.
pub fn tidy(out: &mut dyn Write) -> Result<Vec<String>> {
    pending::forget_dead();
    filter::tidy_change(out)?;
    let ns = state::netns_id()?;
    let mut reverted = Vec::new();
    for (iface, mut meta) in state::metas()? {
        let Some((deadline, _)) = meta.deadline else {
            continue;
        };
        // A rule change waits here, not a load (see filter::tidy_change).
        if meta.reverted_at.is_some() || meta.change.is_some() {
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
    fn confirm_within_takes_sums_and_refuses_what_cannot_be_answered() {
        use super::parse_confirm_within as p;
        use std::time::Duration;
        assert_eq!(p("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(p("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(p("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(p("1h0m5s"), Ok(Duration::from_secs(3605)));
        assert_eq!(p("30"), Ok(Duration::from_secs(30)));
        assert_eq!(p("0"), Ok(Duration::ZERO));
        assert_eq!(p("5s"), Ok(Duration::from_secs(5)));
        for short in ["1ms", "4s", "4999ms", "0.5s"] {
            assert!(p(short).unwrap_err().contains("at least 5s"), "{short}");
        }
        for bad in ["", "x", "1x", "s", "1m30", "-1", "1e400", "1000000001"] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn utc_formats_unix_time() {
        assert_eq!(super::utc(0.0), "1970-01-01 00:00:00.00 UTC");
        assert_eq!(super::utc(1_795_759_141.5), "2026-11-27 05:59:01.50 UTC");
    }
}
