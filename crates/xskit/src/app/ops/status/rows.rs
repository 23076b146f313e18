//! `xskit status`'s rows: what is attached to each interface, whose it
//! is, and its counters.

use crate::app::ops::attached::is_ours;
use crate::app::ops::clock::utc;
use crate::app::ops::filter::FilterReport;
use crate::app::shared::records::state;
use crate::net::addrs::interfaces;
use crate::net::netns;
use crate::xdp::{ActionCounters, Counter};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;

/// A load that reverted unconfirmed (until `xskit unload`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Reverted {
    /// The program that was loaded.
    pub program: String,
    /// When it reverted (Unix time).
    pub at: f64,
    /// The note text shows.
    pub text: String,
    /// The command that clears the note.
    pub clear_with: String,
}

/// A load not yet confirmed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Waiting {
    /// When it reverts (Unix time).
    pub deadline: f64,
    /// Seconds until then.
    pub seconds_left: f64,
    /// The process that loaded it.
    pub pid: Option<u32>,
    /// True while that process runs and waits for the confirmation (pid
    /// and start time); false once it is gone: nothing can confirm the
    /// load then, and the kernel guard reverts it at the deadline.
    pub process_alive: bool,
    /// What waits, when it is a change of the filter's rules rather than
    /// the load: e.g. `default deny`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
}

/// Frames (or bytes) per action of the three actions the table shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ByAction {
    /// XDP_PASS.
    pub passed: u64,
    /// XDP_DROP.
    pub dropped: u64,
    /// XDP_REDIRECT.
    pub redirected: u64,
}

/// One interface of `xskit status`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StatusRow {
    /// The interface.
    pub iface: String,
    /// The XDP program attached, if any.
    pub program: Option<String>,
    /// Its id.
    pub id: Option<u32>,
    /// `native`, `skb`, `offload` or `multi`.
    pub mode: Option<&'static str>,
    /// True if `xskit load` attached it, or one of the programs in the
    /// dispatcher it is (its list says which; the counters are then that
    /// program's).
    pub xskit: bool,
    /// A load that reverted unconfirmed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reverted: Option<Reverted>,
    /// Frames by action (xskit's programs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counters: Option<ByAction>,
    /// Bytes by action (xskit's programs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<ByAction>,
    /// Frames and bytes of every action (xskit's programs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actions: Option<BTreeMap<&'static str, Counter>>,
    /// A load waiting for confirmation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waiting: Option<Waiting>,
    /// The filter's rules and counts (xdp_filter). The rule maps, and so
    /// the counts, are one set per namespace, shared by every interface
    /// the filter is on: they are given once, on the first of them.
    #[serde(flatten)]
    pub filter: Option<FilterReport>,
    /// Every interface the filter is on (on each of them), when it is on
    /// more than one: the rules and counts are theirs together.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_shared_by: Option<Vec<String>>,
    /// The libxdp dispatcher attached, with its programs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dispatcher: Option<super::DispatcherRow>,
}

/// `xskit status`: a table of interfaces (JSON: an array of rows).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct StatusReport(pub Vec<StatusRow>);

pub(super) fn by(c: &ActionCounters, f: impl Fn(&Counter) -> u64) -> ByAction {
    ByAction {
        passed: f(&c.passed),
        dropped: f(&c.dropped),
        redirected: f(&c.redirected),
    }
}

/// The rows of `xskit status` (after tidying reverted loads); `hint` is
/// the `--netns`/`--sandbox` suffix of the commands the rows suggest.
pub fn status_rows(hint: &str) -> Result<StatusReport> {
    let mut rows = Vec::new();
    let filter_rules = state::existing_rules()?;
    for i in interfaces() {
        let xdp = netns::xdp_attachment(&i)?;
        let meta = state::load_meta(&i)?;
        let dispatcher = xdp
            .as_ref()
            .and_then(|x| crate::app::shared::records::owner::dispatcher_of(&i, &x.0, x.1));
        // `xskit load`'s program, alone or as a component of the dispatcher.
        let ours = is_ours(&xdp, &meta)
            || meta.as_ref().is_some_and(|m| {
                m.reverted_at.is_none()
                    && dispatcher
                        .as_ref()
                        .is_some_and(|d| d.components.iter().any(|c| c.id == Some(m.prog_id)))
            });
        let mut row = StatusRow {
            iface: i.clone(),
            program: xdp.as_ref().map(|x| x.0.clone()),
            id: xdp.as_ref().map(|x| x.1),
            mode: xdp.as_ref().map(|x| x.2),
            xskit: ours,
            reverted: None,
            counters: None,
            bytes: None,
            actions: None,
            waiting: None,
            filter: None,
            filter_shared_by: None,
            dispatcher: dispatcher.as_ref().map(|d| super::DispatcherRow::of(d, &i)),
        };
        if let Some(m) = meta.as_ref() {
            if let Some(t) = m.reverted_at {
                row.reverted = Some(Reverted {
                    program: m.program.clone(),
                    at: t,
                    text: format!("{} reverted at {}, never confirmed", m.program, utc(t)),
                    clear_with: format!("xskit unload {i}{hint}"),
                });
            }
        }
        if ours {
            if let Some(c) = state::read_stats(&i)? {
                row.counters = Some(by(&c, |x| x.packets));
                row.bytes = Some(by(&c, |x| x.bytes));
                row.actions = Some(
                    crate::app::shared::metrics::actions(&c)
                        .into_iter()
                        .collect(),
                );
            }
            if let Some((deadline, unix)) = meta.as_ref().and_then(|m| m.deadline) {
                let left = deadline.saturating_sub(state::monotonic_ns()) as f64 / 1e9;
                row.waiting = Some(Waiting {
                    deadline: unix,
                    seconds_left: left,
                    pid: meta.as_ref().and_then(|m| m.pid),
                    process_alive: meta.as_ref().is_some_and(|m| m.waiter_alive()),
                    change: meta.as_ref().and_then(|m| m.change.clone()),
                });
            }
            if meta.as_ref().is_some_and(|m| m.program == "xdp_filter") {
                if let Some(r) = &filter_rules {
                    row.filter = Some(FilterReport::new(
                        r.default_verdict()?,
                        &r.list()?,
                        &r.misc_counts()?,
                    ));
                }
            }
        }
        rows.push(row);
    }
    // One set of rules and counts per namespace: on the first row only.
    let on: Vec<String> = rows
        .iter()
        .filter(|r| r.filter.is_some())
        .map(|r| r.iface.clone())
        .collect();
    if on.len() > 1 {
        for r in rows.iter_mut().filter(|r| r.filter.is_some()) {
            if r.iface != on[0] {
                r.filter = None;
            }
            r.filter_shared_by = Some(on.clone());
        }
    }
    Ok(StatusReport(rows))
}
