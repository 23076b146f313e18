//! `xskit status`: per interface, the XDP program, its owner and counters;
//! `--watch` prints rates per action and per filter rule.

mod args;
mod dispatcher;
mod prometheus;
mod rows;
mod text;
mod watch;

pub use args::StatusArgs;
pub use dispatcher::DispatcherRow;
pub use rows::{status_rows, ByAction, Reverted, StatusReport, StatusRow, Waiting};
pub use watch::{WatchReport, WatchRow};

use crate::app::ops::tidy::tidy;
use crate::app::shared::records::state;
use crate::app::shared::report::Report;
use anyhow::Result;
use prometheus::write_metrics;
use std::io::Write;
use watch::watch;

/// `xskit status`.
pub fn status(args: &StatusArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    state::ensure_bpffs()?;
    if args.watch || args.interval.is_some() {
        return watch(args, out);
    }
    // A load past its deadline: the kernel passes its traffic already;
    // detach it and say so (in the rows too).
    let mut notes = Vec::new();
    tidy(&mut notes)?;
    let rows = status_rows(&args.ns.hint())?;
    if let Some(p) = &args.metrics_file {
        write_metrics(p, &rows)?;
    }
    if args.prometheus {
        // Notes about reverted loads would break the format: stderr.
        std::io::stderr().write_all(&notes)?;
        out.write_all(crate::app::shared::metrics::render(&rows.prometheus()).as_bytes())?;
        return Ok(0);
    }
    if !args.json {
        out.write_all(&notes)?;
    }
    rows.print(out, args.json)?;
    Ok(0)
}

#[cfg(test)]
mod tests;
