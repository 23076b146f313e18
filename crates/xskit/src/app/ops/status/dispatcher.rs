//! A dispatcher of libxdp's protocol in `xskit status` (libxdp's or
//! xskit's own): its version and every program in its slots, with who put
//! it there.

use crate::app::shared::records::owner::component_owner;
use crate::xdp::dispatcher::Dispatcher;
use serde::Serialize;
use std::fmt;

/// A program in one of a dispatcher's slots.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComponentRow {
    /// The slot (0 runs first).
    pub slot: u8,
    /// Its name (null if libxdp's pin could not be read).
    pub name: Option<String>,
    /// Its program id (null as above).
    pub id: Option<u32>,
    /// Its run priority (lower runs first).
    pub priority: u32,
    /// The actions after which the next slot runs.
    pub chain_actions: Vec<String>,
    /// Who put it there: `xskit load`, a running xskit command (`xskit
    /// echo -i eth1 (pid 812)`), `xskit, left by a command that ended
    /// without removing it`, or `libxdp or another tool`.
    pub owner: String,
}

/// The libxdp dispatcher attached to an interface.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DispatcherRow {
    /// Who loaded the dispatcher: `libxdp` or `xskit`.
    pub by: &'static str,
    /// Its version (null if it cannot be read).
    pub version: Option<u8>,
    /// Why its configuration cannot be read, if it cannot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreadable: Option<String>,
    /// Its programs by slot.
    pub programs: Vec<ComponentRow>,
    /// Why some names or ids are missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl DispatcherRow {
    /// The row of dispatcher `d` on `iface`.
    pub fn of(d: &Dispatcher, iface: &str) -> DispatcherRow {
        DispatcherRow {
            by: d.by,
            version: d.config.as_ref().ok().map(|c| c.version),
            unreadable: d.config.as_ref().err().map(|e| e.to_string()),
            programs: d
                .components
                .iter()
                .map(|c| ComponentRow {
                    slot: c.slot,
                    name: c.name.clone(),
                    id: c.id,
                    priority: c.priority,
                    chain_actions: c.chain_actions.clone(),
                    owner: c.id.map_or_else(
                        || "unknown".to_string(),
                        |id| component_owner(iface, id).describe(),
                    ),
                })
                .collect(),
            note: d.note.clone(),
        }
    }
}

fn null<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "null".into(), T::to_string)
}

impl fmt::Display for DispatcherRow {
    /// The lines below an interface's row, each starting on a new line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "\n    dispatcher by {}, version {}: {} program(s)",
            self.by,
            null(&self.version),
            self.programs.len()
        )?;
        if let Some(u) = &self.unreadable {
            write!(f, "\n      unreadable: {u}")?;
        }
        for p in &self.programs {
            write!(
                f,
                "\n      slot {} {} (program id {}) priority {}, next slot after {}; by {}",
                p.slot,
                null(&p.name),
                null(&p.id),
                p.priority,
                if p.chain_actions.is_empty() {
                    "none".to_string()
                } else {
                    p.chain_actions.join(", ")
                },
                p.owner
            )?;
        }
        if let Some(n) = &self.note {
            write!(f, "\n      {n}")?;
        }
        Ok(())
    }
}
