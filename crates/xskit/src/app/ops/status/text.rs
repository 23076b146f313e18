//! `xskit status` in words.

use super::rows::{StatusReport, StatusRow};
use crate::app::ops::clock::utc;
use crate::app::ops::filter::FilterReport;
use crate::app::shared::report::Report;
use crate::app::shared::stats::thousands;
use std::fmt;

pub(super) fn dash(v: Option<u64>) -> String {
    v.map(thousands).unwrap_or_else(|| "-".into())
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<16} {:<18} {:>6} {:<8} {:<6} {:>12} {:>12} {:>12}",
            "interface", "program", "id", "mode", "xskit", "passed", "dropped", "redirected"
        )?;
        for r in &self.0 {
            write!(f, "\n{r}")?;
        }
        for r in &self.0 {
            if let (Some(x), Some(by)) = (&r.filter, &r.filter_shared_by) {
                let head = format!(
                    "\nfilter on {} (one set of rules and counts for all of them): ",
                    by.join(", ")
                );
                write_filter(f, x, &head, "\n    ")?;
            }
        }
        Ok(())
    }
}

/// The filter's summary line after `head`, then each rule after `indent`.
pub(super) fn write_filter(
    f: &mut fmt::Formatter<'_>,
    x: &FilterReport,
    head: &str,
    indent: &str,
) -> fmt::Result {
    write!(
        f,
        "{head}default {}, {} rule(s), {}",
        x.default,
        x.rules.len(),
        x.counts()
    )?;
    for rule in &x.rules {
        write!(f, "{indent}{rule}")?;
    }
    Ok(())
}

impl fmt::Display for StatusRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.counters;
        write!(
            f,
            "{:<16} {:<18} {:>6} {:<8} {:<6} {:>12} {:>12} {:>12}",
            self.iface,
            self.program.as_deref().unwrap_or("-"),
            // As `ip` prints it: no thousands separators.
            self.id.map_or_else(|| "-".to_string(), |id| id.to_string()),
            self.mode.unwrap_or("-"),
            if self.xskit { "yes" } else { "no" },
            dash(c.map(|c| c.passed)),
            dash(c.map(|c| c.dropped)),
            dash(c.map(|c| c.redirected))
        )?;
        if let Some(b) = &self.bytes {
            write!(
                f,
                "\n    bytes: passed {}, dropped {}, redirected {}",
                thousands(b.passed),
                thousands(b.dropped),
                thousands(b.redirected)
            )?;
        }
        if let Some(a) = &self.actions {
            // The table and the bytes line show passed, dropped and redirected.
            let rest: Vec<String> = a
                .iter()
                .filter(|(k, _)| matches!(**k, "aborted" | "tx"))
                .map(|(k, c)| format!("{k} {} ({} B)", thousands(c.packets), thousands(c.bytes)))
                .collect();
            write!(f, "\n    also: {}", rest.join(", "))?;
        }
        if let Some(r) = &self.reverted {
            write!(f, "\n    {} (`{}` clears this note)", r.text, r.clear_with)?;
        }
        if let Some(w) = &self.waiting {
            let pid = w.pid.map_or_else(|| "null".to_string(), |p| p.to_string());
            if let Some(c) = &w.change {
                if w.process_alive {
                    write!(
                        f,
                        "\n    waiting for confirmation of the filter change `{c}` (pid {pid}): undone at {} unless confirmed ({:.1}s left)",
                        utc(w.deadline),
                        w.seconds_left
                    )?;
                } else {
                    write!(
                        f,
                        "\n    the filter change `{c}` was not confirmed and its process (pid {pid}) is gone: the next xskit \
                         command here undoes it (deadline {}, {:.1}s left)",
                        utc(w.deadline),
                        w.seconds_left
                    )?;
                }
            } else if w.process_alive {
                write!(
                    f,
                    "\n    waiting for confirmation (pid {pid}): reverts at {} ({:.1}s left)",
                    utc(w.deadline),
                    w.seconds_left
                )?;
            } else {
                write!(
                    f,
                    "\n    not confirmed, and its load process (pid {pid}) is gone, so nothing can confirm it: \
                     the kernel guard reverts it at {} ({:.1}s left)",
                    utc(w.deadline),
                    w.seconds_left
                )?;
            }
        }
        if let Some(d) = &self.dispatcher {
            write!(f, "{d}")?;
        }
        match (&self.filter, &self.filter_shared_by) {
            // Given once, after the table.
            (_, Some(by)) => write!(
                f,
                "\n    filter: one set of rules and counts for {}, below the table",
                by.join(", ")
            )?,
            (Some(x), None) => write_filter(f, x, "\n    filter: ", "\n    ")?,
            (None, None) => {}
        }
        Ok(())
    }
}

impl Report for StatusReport {}
