//! The confirm-or-revert guard (`bpf/guard.h`): a two-slot array map in
//! `xdp_drop`, `xdp_pass` and `xdp_filter`. Slot 0 is a deadline on
//! [`monotonic_ns`]'s clock (0: none); slot 1 the time at which a frame
//! first saw that deadline pass unconfirmed, after which the program passes
//! everything (0: not reverted). [`XdpProgram::arm_guard`] arms it before
//! the attach; [`confirm`] clears it.
//!
//! [`XdpProgram::arm_guard`]: crate::XdpProgram::arm_guard

use anyhow::{Context, Result};
use std::path::Path;

/// The host's CLOCK_MONOTONIC now, in nanoseconds: the clock of
/// `bpf_ktime_get_ns`, which the guard's and the taps' deadlines are on.
///
/// In a time namespace (time_namespaces(7)) this process's CLOCK_MONOTONIC
/// runs shifted by the namespace's offset, and BPF's does not; the offset,
/// read once from `/proc/self/timens_offsets` (the namespace this process's
/// children get, which is its own unless it unshared one without entering
/// it), is taken back out.
pub fn monotonic_ns() -> u64 {
    static OFFSET_NS: std::sync::OnceLock<i128> = std::sync::OnceLock::new();
    let offset = *OFFSET_NS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/timens_offsets")
            .map(|t| timens_monotonic_offset_ns(&t))
            .unwrap_or(0)
    });
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let ns = i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec);
    u64::try_from(ns - offset).unwrap_or(0)
}

/// The monotonic offset in the text of `/proc/PID/timens_offsets` (lines
/// of clock, seconds, nanoseconds: `monotonic -5 250000000`), in ns; 0 if
/// the text has none.
fn timens_monotonic_offset_ns(text: &str) -> i128 {
    text.lines()
        .find_map(|l| {
            let mut f = l.split_whitespace();
            // The kernel names the clock; a clock id (1) is accepted too.
            if !matches!(f.next(), Some("monotonic" | "1")) {
                return None;
            }
            let secs: i128 = f.next()?.parse().ok()?;
            let nanos: i128 = f.next()?.parse().ok()?;
            Some(secs * 1_000_000_000 + nanos)
        })
        .unwrap_or(0)
}

/// What confirming a guarded attachment found.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum Confirmed {
    /// The deadline is cleared: the program keeps working.
    Kept,
    /// Too late: the program has passed everything since this
    /// CLOCK_MONOTONIC time.
    Reverted(u64),
    /// Nothing to confirm (no guard pinned, or confirmed already).
    NotWaiting,
}

/// The guard pinned at `path`: (deadline, reverted), both CLOCK_MONOTONIC
/// nanoseconds, 0 for none; `None` if nothing is pinned there.
pub fn read(path: &Path) -> Result<Option<(u64, u64)>> {
    if !path.exists() {
        return Ok(None);
    }
    let arr = guard_map(path)?;
    Ok(Some((arr.get(&0, 0)?, arr.get(&1, 0)?)))
}

/// Clears the deadline of the guard pinned at `path`, unless it has passed.
/// A frame that saw the deadline pass latched the revert in the map; that
/// is read after clearing, so a confirmation that races the deadline never
/// brings a reverted program back unnoticed.
pub fn confirm(path: &Path) -> Result<Confirmed> {
    if !path.exists() {
        return Ok(Confirmed::NotWaiting);
    }
    let mut arr = guard_map(path)?;
    let (deadline, reverted) = (arr.get(&0, 0)?, arr.get(&1, 0)?);
    if reverted != 0 {
        return Ok(Confirmed::Reverted(reverted));
    }
    if deadline == 0 {
        return Ok(Confirmed::NotWaiting);
    }
    if monotonic_ns() >= deadline {
        return Ok(Confirmed::Reverted(deadline));
    }
    arr.set(0, 0, 0)?;
    match arr.get(&1, 0)? {
        0 => Ok(Confirmed::Kept),
        t => Ok(Confirmed::Reverted(t)),
    }
}

fn guard_map(path: &Path) -> Result<aya::maps::Array<aya::maps::MapData, u64>> {
    let data = aya::maps::MapData::from_pin(path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok(aya::maps::Array::try_from(aya::maps::Map::from_map_data(
        data,
    )?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_namespace_offset_is_read_from_its_proc_file() {
        let t = "monotonic        1000         0\nboottime            0         0\n";
        assert_eq!(timens_monotonic_offset_ns(t), 1_000_000_000_000);
        let t = "boottime 7 0\nmonotonic -5 250000000\n";
        assert_eq!(timens_monotonic_offset_ns(t), -4_750_000_000);
        assert_eq!(timens_monotonic_offset_ns("1 2 3"), 2_000_000_003);
        for none in ["", "boottime 3 0", "monotonic x 0", "monotonic 3"] {
            assert_eq!(timens_monotonic_offset_ns(none), 0, "{none:?}");
        }
    }
}
