//! Waiting for an operator's confirmation (`yes`, `no`, `xskit confirm`,
//! a signal or the deadline), and `--confirm-within`.

use super::guard;
use super::state;
use anyhow::Result;
use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How a wait for confirmation ended.
pub(super) enum Waited {
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

/// Why a wait for confirmation ended in a revert, for the line that says
/// what was undone (load's and the filter's, worded alike).
pub(super) fn why_reverted(waited: &Result<Waited>, within: Duration) -> String {
    match waited {
        Ok(Waited::Signal) => "interrupted (hang-up or signal) before confirmation".to_string(),
        Ok(Waited::No) => "not confirmed (`no`)".to_string(),
        Ok(Waited::Yes | Waited::Confirmed) => {
            "too late: the deadline passed before the confirmation".to_string()
        }
        Ok(Waited::Deadline) => format!("no confirmation within {}s", within.as_secs_f64()),
        Err(e) => format!("waiting for the confirmation failed ({e:#})"),
    }
}

/// Flags set by SIGHUP, SIGINT and SIGTERM, which end a wait for
/// confirmation (and revert at once).
pub(super) fn stop_on_signals() -> Result<std::sync::Arc<AtomicBool>> {
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
pub(super) fn wait_for_confirmation(
    guards: &[guard::Guard],
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
}
