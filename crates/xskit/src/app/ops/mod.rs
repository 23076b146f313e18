//! Operating XDP programs: `xskit load | unload | status | confirm` and
//! `xskit filter`. Attachments made by `load` outlive the command (pinned
//! in bpffs, see [`crate::app::shared::records::state`]); everything else xskit attaches is
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

mod attached;
mod clock;
mod confirm;
pub mod filter;
pub(crate) mod guard;
mod link;
mod load;
mod pending;
pub mod ssh;
mod status;
mod tidy;
mod undo;
mod unload;
mod wait;

pub use clock::utc;
pub use confirm::{confirm, ConfirmArgs};
pub use filter::{filter_cmd, FilterArgs, FilterCmd};
pub use load::{load, LoadArgs, Loadable};
pub use ssh::operator_interfaces;
pub use status::{
    status, status_rows, ByAction, Reverted, StatusArgs, StatusReport, StatusRow, Waiting,
    WatchReport, WatchRow,
};
pub use tidy::tidy;
pub use undo::tidy_change;
pub use unload::{unload, UnloadArgs};
pub use wait::{parse_confirm_within, MIN_CONFIRM};

// xskit's records of what it attached, shared with the other commands,
// under the names this family's modules use.
use crate::app::shared::ns;
use crate::app::shared::records::{identity, made, owner, process, state};
