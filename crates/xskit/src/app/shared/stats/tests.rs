use super::*;

#[test]
fn thousands_separators() {
    assert_eq!(thousands(0), "0");
    assert_eq!(thousands(999), "999");
    assert_eq!(thousands(1000), "1,000");
    assert_eq!(thousands(1234567), "1,234,567");
    assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
}

#[test]
fn rates_per_second_and_bits() {
    let a = Totals::default();
    let b = Totals {
        rx_packets: 1000,
        rx_bytes: 64_000,
        tx_packets: 500,
        tx_bytes: 32_000,
    };
    let r = Rates::between(&a, &b, 2.0);
    assert_eq!(r.rx_pps, 500.0);
    assert_eq!(r.rx_bps, 256_000.0);
    assert_eq!(r.tx_pps, 250.0);
    assert_eq!(r.tx_bps, 128_000.0);
}

#[test]
fn text_and_json_lines() {
    let mut r = Reporter::new(ReportStyle {
        interval: Duration::from_secs(2),
        json: false,
        quiet: false,
        extra: false,
    });
    let mut out = Vec::new();
    let t = Totals {
        rx_packets: 12345,
        rx_bytes: 1_000_000,
        ..Default::default()
    };
    r.tick(&mut out, r.start + Duration::from_secs(2), &t, None, &[]);
    let s = String::from_utf8(out).unwrap();
    assert!(s.contains("rx pps"), "{s}");
    assert!(
        s.contains("12,345") && s.contains("6,173") && s.contains("4,000,000"),
        "{s}"
    );

    let mut r = Reporter::new(ReportStyle {
        interval: Duration::from_secs(1),
        json: true,
        quiet: false,
        extra: true,
    });
    let mut out = Vec::new();
    r.tick(
        &mut out,
        r.start + Duration::from_secs(1),
        &t,
        Some(&Extra::default()),
        &[("rejected", 3)],
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["rx_pps"], 12345.0);
    assert_eq!(v["rejected"], 3);
    assert_eq!(v["kernel"]["rx_dropped"], 0);
}

#[test]
fn stats_line_text_and_json_carry_the_same_values() {
    let line = StatsLine {
        time_s: 12.5,
        period_s: 1.001,
        rx_packets: 1_000_001,
        rx_bytes: 2_000_002,
        rx_pps: 3003.0,
        rx_bps: 4_000_004.0,
        tx_packets: 5_000_005,
        tx_bytes: 6_000_006,
        tx_pps: 7007.0,
        tx_bps: 8_000_008.0,
        events: [("not_answered".to_string(), 9009)].into(),
        kernel: Some(Statistics {
            rx_dropped: 11,
            rx_invalid_descs: 12,
            tx_invalid_descs: 13,
            rx_ring_full: Some(14),
            rx_fill_ring_empty_descs: None,
            tx_ring_empty_descs: Some(16),
        }),
        xdp: Some(XdpPackets {
            redirected: 21,
            passed: 22,
            dropped: 23,
            aborted: 24,
            tx: 25,
        }),
        queues: vec![
            QueueRates {
                queue: 0,
                rx_packets: 31,
                tx_packets: 32,
                rx_pps: 33.0,
                tx_pps: 34.0,
            },
            QueueRates {
                queue: 1,
                rx_packets: 41,
                tx_packets: 42,
                rx_pps: 43.0,
                tx_pps: 44.0,
            },
        ],
        header: true,
    };
    // The period is the time between rows; the application prints its
    // events in its own words (echo: "not answered: ..."); queue
    // totals are on the summary.
    crate::app::shared::report::assert_text_shows_json(
        &line,
        &[
            "period_s",
            "not_answered",
            "queues.rx_packets",
            "queues.tx_packets",
        ],
    );
    let v = serde_json::to_value(&line).unwrap();
    assert_eq!(v["not_answered"], 9009);
    assert_eq!(
        v["kernel"]["rx_fill_ring_empty_descs"],
        serde_json::Value::Null
    );
    assert_eq!(v["queues"][1]["tx_pps"], 44.0);
}

#[test]
fn metrics_carry_the_queue_of_per_socket_counters() {
    let t = Totals {
        rx_packets: 5,
        ..Default::default()
    };
    let extra = Extra {
        per_queue: vec![(0, Statistics::default()), (3, Statistics::default())],
        ..Default::default()
    };
    let s = samples(&t, Some(&extra), &[], &[(0, t), (3, t)]);
    let queue = |s: &Sample| {
        s.labels
            .iter()
            .find(|(k, _)| *k == "queue")
            .map(|(_, v)| v.clone())
    };
    for x in &s {
        match x.name {
            "xskit_app_packets_total" | "xskit_app_bytes_total" | "xskit_socket_events_total" => {
                assert!(matches!(queue(x).as_deref(), Some("0" | "3")), "{x:?}")
            }
            _ => assert_eq!(queue(x), None, "{x:?}"),
        }
    }
    // One socket: its events carry its queue too.
    let s = samples(&t, None, &[("not_answered", 1)], &[(2, t)]);
    assert!(s.iter().all(|x| queue(x).as_deref() == Some("2")), "{s:?}");
}
