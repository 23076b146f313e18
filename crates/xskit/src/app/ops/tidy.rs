//! Clearing up after loads and rule changes whose confirmation never came.

use super::clock::{mono_to_unix, utc};
use super::{guard, pending, state, undo};
use anyhow::Result;
use std::io::Write;

/// Detaches, in this namespace, every guarded load whose deadline passed
/// unconfirmed (the kernel already passes its traffic), keeps the record
/// with the time of the revert, says so on `out`, and removes pending
/// state of loads whose process is gone. Undoes a change of the filter's
/// rules whose waiting process is gone unconfirmed ([`undo::tidy_change`]).
/// Returns the interfaces reverted.
pub fn tidy(out: &mut dyn Write) -> Result<Vec<String>> {
    pending::forget_dead();
    undo::tidy_change(out)?;
    let ns = state::netns_id()?;
    let mut reverted = Vec::new();
    for (iface, mut meta) in state::metas()? {
        let Some((deadline, _)) = meta.deadline else {
            continue;
        };
        // A rule change waits here, not a load (see undo::tidy_change).
        if meta.reverted_at.is_some() || meta.change.is_some() {
            continue;
        }
        let guard = match guard::Guard::of(ns, &iface, meta.prog_id)? {
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
