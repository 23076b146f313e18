//! What waits for confirmation: the guard map of one attachment
//! (bpf/guard.h) and the record of a filter rule change whose guards are
//! armed (`/run/xskit/loaded/netns-<COOKIE>/filter-change`).

use crate::app::shared::records::{process, state};
use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use xskit_xdp::guard::{monotonic_ns, Confirmed};

/// The guard of one attachment (bpf/guard.h), opened from its pin once
/// and checked to be the map of the program it guards: reads and writes
/// then reach that program's guard, whatever is pinned at the path later.
pub struct Guard {
    arr: aya::maps::Array<aya::maps::MapData, u64>,
}

impl Guard {
    /// The guard pinned for `iface` in the namespace of cookie `ns`,
    /// provided it belongs to program `prog_id`; `None` if it does not
    /// (or none is pinned there).
    pub fn of(ns: u64, iface: &str, prog_id: u32) -> Result<Option<Guard>> {
        let path = state::iface_dir_of(ns, iface).join("guard");
        let Ok(data) = aya::maps::MapData::from_pin(&path) else {
            return Ok(None);
        };
        let map_id = data.info()?.id();
        let prog_maps = aya::programs::loaded_programs()
            .flatten()
            .find(|p| p.id() == prog_id)
            .and_then(|p| p.map_ids().ok().flatten())
            .unwrap_or_default();
        if !prog_maps.contains(&map_id) {
            return Ok(None);
        }
        let arr = aya::maps::Array::try_from(aya::maps::Map::from_map_data(data)?)?;
        Ok(Some(Guard { arr }))
    }

    /// (deadline, reverted), CLOCK_MONOTONIC nanoseconds, 0 for none.
    pub fn read(&self) -> Result<(u64, u64)> {
        Ok((self.arr.get(&0, 0)?, self.arr.get(&1, 0)?))
    }

    /// Clears the deadline unless it has passed; the revert latch is read
    /// after clearing, so a confirmation racing the deadline is reported
    /// as too late (as `xskit_xdp::guard::confirm`).
    pub fn confirm(&mut self) -> Result<Confirmed> {
        let (deadline, reverted) = self.read()?;
        if reverted != 0 {
            return Ok(Confirmed::Reverted(reverted));
        }
        if deadline == 0 {
            return Ok(Confirmed::NotWaiting);
        }
        if monotonic_ns() >= deadline {
            return Ok(Confirmed::Reverted(deadline));
        }
        self.arr.set(0, 0, 0)?;
        match self.arr.get(&1, 0)? {
            0 => Ok(Confirmed::Kept),
            t => Ok(Confirmed::Reverted(t)),
        }
    }
}

impl Guard {
    /// Arms the guard: the program passes everything once `deadline`
    /// (CLOCK_MONOTONIC ns) has passed unconfirmed. Refused if it is armed
    /// or has latched a revert already.
    pub fn arm(&mut self, deadline: u64) -> Result<()> {
        let (d, r) = self.read()?;
        if d != 0 || r != 0 {
            bail!("its guard is armed already (deadline {d}, reverted {r})");
        }
        self.arr.set(0, deadline, 0)?;
        Ok(())
    }

    /// Disarms the guard and clears a latched revert, so that the program
    /// works again (after an unconfirmed rule change was undone): the
    /// deadline first, or a frame could latch it again in between.
    pub fn reset(&mut self) -> Result<()> {
        self.arr.set(0, 0, 0)?;
        self.arr.set(1, 0, 0)?;
        Ok(())
    }
}

/// A change of the filter's rules waiting for confirmation (`xskit filter
/// ... --confirm-within`, or by default where the filter is on an
/// interface that carries the operator's own traffic): the guards of the
/// filter's attachments are armed, and unless the change is confirmed it
/// is undone (by its process, or by the next xskit command here if that
/// process is gone) and the guards are cleared again. Meanwhile, past the
/// deadline, the kernel passes all traffic on those interfaces.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FilterChange {
    /// The change in words: `default deny`, `add deny tcp dst 22`.
    pub what: String,
    /// The process that waits.
    pub pid: u32,
    /// Its start time (/proc/PID/stat).
    pub pid_start: u64,
    /// CLOCK_MONOTONIC ns and Unix time.
    pub deadline: (u64, f64),
    /// The filter's attachments whose guards are armed: (interface,
    /// program id).
    pub attached: Vec<(String, u32)>,
    /// How to undo it.
    pub undo: Undo,
}

/// How to undo a change of the filter's rules.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Undo {
    /// The default policy before (`allow`/`deny`), if the change set it.
    pub default: Option<String>,
    /// Rules the change added: (id, rule as written), to remove.
    pub remove: Vec<(u32, String)>,
    /// Rules the change removed: (id, rule as written), to put back.
    pub restore: Vec<(u32, String)>,
}

impl FilterChange {
    /// True while the process that waits runs.
    pub fn waiter_alive(&self) -> bool {
        process::start_time(self.pid) == Some(self.pid_start)
    }
}

fn change_path(ns: u64) -> PathBuf {
    state::run_of(ns).join("filter-change")
}

/// Records the change waiting for confirmation in this namespace.
pub fn save_change(c: &FilterChange) -> Result<()> {
    let ns = state::netns_id()?;
    state::claim()?;
    let p = change_path(ns);
    std::fs::write(&p, serde_json::to_string(c)?)
        .with_context(|| format!("writing {}", p.display()))
}

/// The change waiting for confirmation in this namespace, if any.
pub fn filter_change() -> Result<Option<FilterChange>> {
    let p = change_path(state::netns_id()?);
    Ok(std::fs::read_to_string(p)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok()))
}

/// Forgets the change waiting for confirmation.
pub fn remove_change() -> Result<()> {
    let _ = std::fs::remove_file(change_path(state::netns_id()?));
    Ok(())
}
