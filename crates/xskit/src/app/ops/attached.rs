//! What is attached to an interface now, compared with what xskit
//! recorded.

use super::state;
use crate::net::netns;

/// What is attached to `iface` now, in words: `xdp_pass (program id 57)`,
/// `nothing`, or `nothing (no such interface)`.
pub(super) fn attached_now(iface: &str) -> String {
    if xsk::netdev::ifindex(iface).is_err() {
        return "nothing (no such interface)".into();
    }
    match netns::xdp_attachment(iface) {
        Ok(Some((name, id, _))) => format!("{name} (program id {id})"),
        Ok(None) => "nothing".into(),
        Err(e) => format!("unknown ({e:#})"),
    }
}

/// True if program `prog_id` is the one attached to `iface` now, or one
/// of the components of the dispatcher attached there.
pub(super) fn still_attached(iface: &str, prog_id: u32) -> bool {
    if xsk::netdev::ifindex(iface).is_err() {
        return false;
    }
    match netns::xdp_attachment(iface) {
        Ok(Some((_, id, _))) if id == prog_id => true,
        Ok(Some((name, id, _))) => super::owner::dispatcher_of(iface, &name, id)
            .is_some_and(|d| d.components.iter().any(|c| c.id == Some(prog_id))),
        _ => false,
    }
}

/// True if the program attached (as `ip` reports it) is the one `xskit
/// load` recorded, not a stale record or another tool's program.
pub(super) fn is_ours(
    xdp: &Option<(String, u32, &'static str)>,
    meta: &Option<state::Loaded>,
) -> bool {
    matches!((xdp, meta), (Some((_, id, _)), Some(m)) if *id == m.prog_id && m.reverted_at.is_none())
}
