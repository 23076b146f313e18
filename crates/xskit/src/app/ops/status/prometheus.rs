//! `xskit status` as Prometheus samples (`--prometheus`, `--metrics-file`).

use super::rows::StatusReport;
use crate::app::ops::clock::now_f64;
use crate::app::shared::metrics::Sample;
use anyhow::Result;

impl StatusReport {
    /// The rows as Prometheus samples: per interface the program attached,
    /// per action of xskit's programs frames and bytes, per filter rule
    /// hits and bytes, loads waiting for confirmation or reverted.
    pub fn prometheus(&self) -> Vec<Sample> {
        let mut v = Vec::new();
        for r in &self.0 {
            let Some(prog) = r.program.as_deref() else {
                continue;
            };
            let iface = r.iface.as_str();
            v.push(
                Sample::gauge(
                    "xskit_xdp_program_attached",
                    "1 for each interface with an XDP program; xskit=\"yes\" if xskit load attached it",
                    1.0,
                )
                .label("interface", iface)
                .label("program", prog)
                .label("mode", r.mode.unwrap_or(""))
                .label("xskit", if r.xskit { "yes" } else { "no" }),
            );
            for p in r.dispatcher.iter().flat_map(|d| &d.programs) {
                v.push(
                    Sample::gauge(
                        "xskit_xdp_dispatcher_program_priority",
                        "The run priority of each program in a dispatcher (libxdp's protocol), by slot; xskit=\"yes\" if xskit put it there",
                        f64::from(p.priority),
                    )
                    .label("interface", iface)
                    .label("slot", p.slot.to_string())
                    .label("program", p.name.as_deref().unwrap_or(""))
                    .label("id", p.id.map_or_else(String::new, |i| i.to_string()))
                    .label(
                        "xskit",
                        if p.owner.starts_with("xskit") {
                            "yes"
                        } else {
                            "no"
                        },
                    ),
                );
            }
            for (action, c) in r.actions.iter().flatten() {
                for (name, help, n) in [
                    (
                        "xskit_xdp_packets_total",
                        "Frames xskit's XDP program saw, by the action it took",
                        c.packets,
                    ),
                    (
                        "xskit_xdp_bytes_total",
                        "Bytes of the frames xskit's XDP program saw, by action",
                        c.bytes,
                    ),
                ] {
                    v.push(
                        Sample::counter(name, help, n)
                            .label("interface", iface)
                            .label("program", prog)
                            .label("action", *action),
                    );
                }
            }
            if let Some(w) = &r.waiting {
                v.push(
                    Sample::gauge(
                        "xskit_load_confirm_seconds_left",
                        "Seconds until an unconfirmed xskit load reverts",
                        w.seconds_left,
                    )
                    .label("interface", iface)
                    .label("program", prog),
                );
            }
            if let Some(x) = &r.filter {
                // Shared counts: one series, labelled with every interface.
                let iface = r
                    .filter_shared_by
                    .as_ref()
                    .map_or_else(|| iface.to_string(), |v| v.join(","));
                let iface = iface.as_str();
                for rule in &x.rules {
                    for (name, help, n) in [
                        ("xskit_filter_rule_packets_total", "Frames a filter rule decided; the rule maps are one set per namespace, so one series covers every interface the filter is on (listed in the interface label, comma-separated)", rule.hits),
                        ("xskit_filter_rule_bytes_total", "Bytes of the frames a filter rule decided (one series for every interface the filter is on, as above)", rule.bytes),
                    ] {
                        v.push(
                            Sample::counter(name, help, n)
                                .label("interface", iface)
                                .label("program", prog)
                                .label("rule", &rule.rule)
                                .label("id", rule.id.to_string()),
                        );
                    }
                }
                for (kind, n) in [
                    ("non_ip", x.non_ip),
                    ("malformed", x.malformed),
                    ("arp_passed", x.arp_passed),
                    ("nd_passed", x.nd_passed),
                    ("default_passed", x.default_passed),
                    ("default_dropped", x.default_dropped),
                ] {
                    v.push(
                        Sample::counter(
                            "xskit_filter_frames_total",
                            "Frames the filter counted outside its rules, by kind",
                            n,
                        )
                        .label("interface", iface)
                        .label("program", prog)
                        .label("kind", kind),
                    );
                }
            }
        }
        for r in &self.0 {
            if let Some(rv) = &r.reverted {
                v.push(
                    Sample::gauge(
                        "xskit_load_reverted",
                        "1 for a load that reverted unconfirmed (until xskit unload)",
                        1.0,
                    )
                    .label("interface", &r.iface)
                    .label("program", &rv.program),
                );
            }
        }
        v
    }
}

/// `status --metrics-file`: the rows' samples and the time written.
pub(super) fn write_metrics(path: &std::path::Path, rows: &StatusReport) -> Result<()> {
    let mut samples = rows.prometheus();
    samples.push(Sample::gauge(
        "xskit_metrics_written_timestamp_seconds",
        "When xskit last wrote this file (Unix time)",
        now_f64(),
    ));
    crate::app::shared::metrics::write_atomic(path, &crate::app::shared::metrics::render(&samples))
}
