//! Counters in the Prometheus text exposition format (version 0.0.4), for
//! `xskit status --prometheus` and the `--metrics-file` of long-running
//! commands (node_exporter's textfile collector reads such files).
//!
//! Hand-written: the format is a few lines of text, and the client crates
//! bring a registry and global state that a one-shot writer does not need.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// One sample: a metric name, its labels and value, and the family's help
/// text and type.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Metric name (`xskit_...`).
    pub name: &'static str,
    /// HELP text of the family.
    pub help: &'static str,
    /// "counter" or "gauge".
    pub kind: &'static str,
    /// Label names and values.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A counter without labels.
    pub fn counter(name: &'static str, help: &'static str, value: u64) -> Sample {
        Sample {
            name,
            help,
            kind: "counter",
            labels: Vec::new(),
            value: value as f64,
        }
    }

    /// A gauge without labels.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Sample {
        Sample {
            kind: "gauge",
            ..Sample::counter(name, help, 0)
        }
        .with_value(value)
    }

    fn with_value(mut self, v: f64) -> Sample {
        self.value = v;
        self
    }

    /// Adds a label.
    pub fn label(mut self, name: &'static str, value: impl Into<String>) -> Sample {
        self.labels.push((name, value.into()));
        self
    }
}

/// An XDP program's counters by action name.
pub fn actions(a: &crate::xdp::ActionCounters) -> [(&'static str, crate::xdp::Counter); 5] {
    [
        ("aborted", a.aborted),
        ("dropped", a.dropped),
        ("passed", a.passed),
        ("tx", a.tx),
        ("redirected", a.redirected),
    ]
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The samples as exposition text: each family once (HELP, TYPE, then all
/// its samples together), in the order families first appear.
pub fn render(samples: &[Sample]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for s in samples {
        if !names.contains(&s.name) {
            names.push(s.name);
        }
    }
    let mut out = String::new();
    for name in names {
        let fam: Vec<&Sample> = samples.iter().filter(|s| s.name == name).collect();
        out += &format!(
            "# HELP {name} {}\n# TYPE {name} {}\n",
            fam[0].help, fam[0].kind
        );
        for s in fam {
            out += name;
            if !s.labels.is_empty() {
                let l: Vec<String> = s
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                    .collect();
                out += &format!("{{{}}}", l.join(","));
            }
            out += &format!(" {}\n", s.value);
        }
    }
    out
}

/// Writes `text` to `path` atomically: a temporary file in the same
/// directory, then a rename over the old one.
pub fn write_atomic(path: &Path, text: &str) -> Result<()> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

fn now_unix() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The `--metrics-file` of one command: its samples, labelled with the
/// command and interface, rewritten at most once a second.
pub struct Writer {
    path: PathBuf,
    command: String,
    iface: String,
    last: Option<Instant>,
}

impl Writer {
    /// A writer for `command` on `iface`.
    pub fn new(path: &Path, command: &str, iface: &str) -> Writer {
        Writer {
            path: path.to_path_buf(),
            command: command.into(),
            iface: iface.into(),
            last: None,
        }
    }

    /// Writes now.
    pub fn write(&mut self, samples: &[Sample]) -> Result<()> {
        self.last = Some(Instant::now());
        let mut all: Vec<Sample> = samples
            .iter()
            .map(|s| {
                s.clone()
                    .label("command", &self.command)
                    .label("interface", &self.iface)
            })
            .collect();
        all.push(
            Sample::gauge(
                "xskit_metrics_written_timestamp_seconds",
                "When xskit last wrote this file (Unix time)",
                now_unix(),
            )
            .label("command", &self.command)
            .label("interface", &self.iface),
        );
        write_atomic(&self.path, &render(&all))
    }

    /// Writes if a second has passed since the last write.
    pub fn maybe_write(&mut self, samples: &[Sample]) -> Result<()> {
        if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
        {
            self.write(samples)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_grouped_and_labels_escaped() {
        let s = vec![
            Sample::counter("a_total", "A.", 1).label("rule", "deny \"x\"\\"),
            Sample::gauge("b", "B.", 2.5),
            Sample::counter("a_total", "A.", 3).label("rule", "allow"),
        ];
        assert_eq!(
            render(&s),
            "# HELP a_total A.\n# TYPE a_total counter\na_total{rule=\"deny \\\"x\\\"\\\\\"} 1\na_total{rule=\"allow\"} 3\n# HELP b B.\n# TYPE b gauge\nb 2.5\n"
        );
    }
}
