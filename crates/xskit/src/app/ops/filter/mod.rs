//! `xskit filter`: the in-kernel filter's rules.
//!
//! Every change passes two rails before it is made:
//! - the SSH guard ([`super::ssh`]): a change that would newly cut an SSH
//!   session of this namespace is refused without `--force`;
//! - the confirmation timer: a change that can drop traffic (a deny rule,
//!   `default deny`, removing an allow rule, a flush) while the filter is
//!   loaded on an interface that carries the operator's own traffic (the
//!   default route's, an SSH session's) waits for `yes` or `xskit
//!   confirm` (30 s unless `--confirm-within` says otherwise). The guards of
//!   the filter's attachments are armed first, so past the deadline the
//!   kernel passes all their traffic whatever became of this process; the
//!   change is then undone (by this process, or by the next xskit command
//!   here if it is gone, see [`crate::app::ops::tidy_change`]) and the guards cleared, so
//!   the filter works on with the rules as they were.

mod args;
mod change;
mod cmd;
mod report;

pub use args::{ConfirmWithin, FilterArgs, FilterCmd, MATCH_ORDER};
pub use cmd::filter_cmd;
pub use report::{FilterReport, RuleReport};
