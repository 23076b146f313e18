use super::*;
use crate::app::ops::filter::FilterReport;
use crate::xdp::Counter;

fn row(iface: &str) -> StatusRow {
    StatusRow {
        iface: iface.into(),
        program: Some("xdp_filter".into()),
        id: Some(4242),
        mode: Some("native"),
        xskit: true,
        reverted: Some(Reverted {
            program: "xdp_drop".into(),
            at: 1_700_000_000.0,
            text: "xdp_drop reverted at 2023-11-14 22:13:20 UTC, never confirmed".into(),
            clear_with: "xskit unload xsk0 --sandbox sb".into(),
        }),
        counters: Some(ByAction {
            passed: 1001,
            dropped: 1002,
            redirected: 1003,
        }),
        bytes: Some(ByAction {
            passed: 2001,
            dropped: 2002,
            redirected: 2003,
        }),
        actions: Some(
            [
                (
                    "aborted",
                    Counter {
                        packets: 3001,
                        bytes: 3002,
                    },
                ),
                (
                    "dropped",
                    Counter {
                        packets: 1002,
                        bytes: 2002,
                    },
                ),
                (
                    "passed",
                    Counter {
                        packets: 1001,
                        bytes: 2001,
                    },
                ),
                (
                    "tx",
                    Counter {
                        packets: 3003,
                        bytes: 3004,
                    },
                ),
                (
                    "redirected",
                    Counter {
                        packets: 1003,
                        bytes: 2003,
                    },
                ),
            ]
            .into(),
        ),
        waiting: Some(Waiting {
            deadline: 1_700_000_100.0,
            seconds_left: 12.5,
            pid: Some(777),
            process_alive: true,
            change: None,
        }),
        filter: Some(FilterReport {
            default: "deny",
            rules: vec![super::super::filter::RuleReport {
                id: 5,
                rule: "allow tcp dst 22".into(),
                hits: 4001,
                bytes: 4002,
            }],
            non_ip: 41,
            malformed: 42,
            arp_passed: 43,
            nd_passed: 44,
            default_passed: 45,
            default_dropped: 46,
        }),
        filter_shared_by: None,
        dispatcher: None,
    }
}

#[test]
fn status_report_text_and_json_carry_the_same_values() {
    let r = StatusReport(vec![row("xsk0")]);
    // The deadline is shown as a UTC time (utc() is tested in ops).
    crate::app::shared::report::assert_text_shows_json(
        &r,
        &["0.reverted.at", "0.waiting.deadline"],
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v[0]["iface"], "xsk0");
    assert_eq!(v[0]["counters"]["dropped"], 1002);
    assert_eq!(v[0]["actions"]["tx"]["bytes"], 3004);
    assert_eq!(v[0]["rules"][0]["hits"], 4001);
    assert_eq!(v[0]["non_ip"], 41);
    assert_eq!(v[0]["waiting"]["pid"], 777);
    // Prometheus samples come from the same rows.
    let text = crate::app::shared::metrics::render(&r.prometheus());
    assert!(text.contains("xskit_filter_rule_packets_total{interface=\"xsk0\",program=\"xdp_filter\",rule=\"allow tcp dst 22\",id=\"5\"} 4001"), "{text}");
    assert!(text.contains("action=\"tx\"} 3003"), "{text}");
}

#[test]
fn waiting_is_said_only_while_the_waiting_process_lives() {
    let mut r = row("xsk0");
    assert!(r.to_string().contains("waiting for confirmation (pid 777)"));
    r.waiting.as_mut().unwrap().process_alive = false;
    let t = r.to_string();
    assert!(!t.contains("waiting for confirmation"), "{t}");
    assert!(t.contains("its load process (pid 777) is gone"), "{t}");
    crate::app::shared::report::assert_text_shows_json(
        &StatusReport(vec![r]),
        &["0.reverted.at", "0.waiting.deadline"],
    );
}

#[test]
fn a_filter_shared_by_two_interfaces_is_given_once() {
    let mut a = row("xsk0");
    let mut b = row("xsk1");
    b.filter = None;
    for r in [&mut a, &mut b] {
        r.filter_shared_by = Some(vec!["xsk0".into(), "xsk1".into()]);
    }
    let r = StatusReport(vec![a, b]);
    let t = r.to_string();
    assert_eq!(t.matches("allow tcp dst 22").count(), 1, "{t}");
    assert!(
        t.contains("filter on xsk0, xsk1 (one set of rules and counts for all of them)"),
        "{t}"
    );
    crate::app::shared::report::assert_text_shows_json(
        &r,
        &[
            "0.reverted.at",
            "0.waiting.deadline",
            "1.reverted.at",
            "1.waiting.deadline",
        ],
    );
    let prom = crate::app::shared::metrics::render(&r.prometheus());
    let rule: Vec<&str> = prom
        .lines()
        .filter(|l| l.starts_with("xskit_filter_rule_packets_total{"))
        .collect();
    assert_eq!(rule, ["xskit_filter_rule_packets_total{interface=\"xsk0,xsk1\",program=\"xdp_filter\",rule=\"allow tcp dst 22\",id=\"5\"} 4001"], "{prom}");
}

#[test]
fn an_interface_without_a_program_has_nulls() {
    let mut r = row("lo");
    r.program = None;
    r.id = None;
    r.mode = None;
    let v = serde_json::to_value(StatusReport(vec![r.clone()])).unwrap();
    assert_eq!(v[0]["program"], serde_json::Value::Null);
    assert!(r.to_string().starts_with("lo "), "{r}");
}

#[test]
fn watch_report_text_and_json_carry_the_same_values() {
    let r = WatchReport {
        time: 1_700_000_000.5,
        period_s: 1.25,
        rows: vec![
            WatchRow {
                interface: "xsk0".into(),
                program: "xdp_drop".into(),
                action: Some("dropped".into()),
                rule_id: None,
                rule: None,
                pps: 5001.0,
                bps: 6_000_002.0,
                packets: 7003,
                bytes: 8004,
            },
            WatchRow {
                interface: "xsk0,xsk1".into(),
                program: "xdp_filter".into(),
                action: None,
                rule_id: Some(9),
                rule: Some("deny tcp dst 22".into()),
                pps: 5005.0,
                bps: 6_000_006.0,
                packets: 7007,
                bytes: 8008,
            },
        ],
    };
    // Text shows the rates and the time as UTC; the totals are on `status`.
    crate::app::shared::report::assert_text_shows_json(&r, &["time", "rows.packets", "rows.bytes"]);
    let t = r.to_string();
    assert!(
        t.starts_with("--- 2023-11-14 22:13:20.50 UTC (1.25s)"),
        "{t}"
    );
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["rows"][0]["interface"], "xsk0");
    assert_eq!(v["rows"][0]["program"], "xdp_drop");
    assert_eq!(v["rows"][0]["action"], "dropped");
    assert_eq!(v["rows"][1]["rule_id"], 9);
    assert_eq!(v["rows"][1]["action"], serde_json::Value::Null);
}

#[test]
fn program_ids_have_no_thousands_separators() {
    let mut r = row("xsk0");
    r.id = Some(2884);
    let t = r.to_string();
    assert!(t.contains(" 2884 ") && !t.contains("2,884"), "{t}");
    assert!(
        t.contains("`xskit unload xsk0 --sandbox sb` clears this note"),
        "{t}"
    );
}

#[test]
fn a_libxdp_dispatcher_lists_its_programs() {
    let mut r = row("xsk0");
    r.program = Some("xdp_dispatcher".into());
    r.xskit = false;
    r.dispatcher = Some(DispatcherRow {
        by: "libxdp",
        version: Some(2),
        unreadable: None,
        programs: vec![
            dispatcher::ComponentRow {
                slot: 0,
                name: Some("xsk_def_prog".into()),
                id: Some(5101),
                priority: 20,
                chain_actions: vec!["XDP_PASS".into()],
                owner: "xskit echo -i xsk0 (pid 812)".into(),
            },
            dispatcher::ComponentRow {
                slot: 1,
                name: Some("xdpfilt_dny_udp".into()),
                id: Some(5102),
                priority: 50,
                chain_actions: vec!["XDP_DROP".into(), "XDP_PASS".into()],
                owner: "libxdp or another tool".into(),
            },
        ],
        note: Some("libxdp's pins x cannot be read".into()),
    });
    let rep = StatusReport(vec![r]);
    crate::app::shared::report::assert_text_shows_json(
        &rep,
        &["0.reverted.at", "0.waiting.deadline"],
    );
    let t = rep.to_string();
    assert!(
        t.contains("slot 1 xdpfilt_dny_udp (program id 5102) priority 50, next slot after XDP_DROP, XDP_PASS; by libxdp or another tool"),
        "{t}"
    );
    let v = serde_json::to_value(&rep).unwrap();
    assert_eq!(v[0]["dispatcher"]["programs"][0]["priority"], 20);
    assert_eq!(
        v[0]["dispatcher"]["programs"][0]["owner"],
        "xskit echo -i xsk0 (pid 812)"
    );
    let prom = crate::app::shared::metrics::render(&rep.prometheus());
    assert!(
        prom.contains("xskit_xdp_dispatcher_program_priority{interface=\"xsk0\",slot=\"0\",program=\"xsk_def_prog\",id=\"5101\",xskit=\"yes\"} 20"),
        "{prom}"
    );
}
