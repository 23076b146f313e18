use super::*;

#[test]
fn batches_fit_the_measured_cost_and_never_pass_the_deadline() {
    let mut p = Pace::default();
    assert_eq!(batch_size(&p, 0, None), FIRST_BATCH);
    assert_eq!(batch_size(&p, 0, Some(Duration::ZERO)), 0);
    // 1024 frames in 20 ms: all fixed cost so far, so the next grows.
    p.observe(1024, 0.020);
    assert_eq!(batch_size(&p, 0, None), 4096);
    // 100,000 frames in 70 ms: 0.5 µs a frame beyond 20 ms; calls of
    // 200 ms (10x the fixed cost) hold 360,000.
    p.observe(100_000, 0.070);
    assert!((359_990..=360_000).contains(&batch_size(&p, 0, None)));
    // 30 ms left: 20 fixed + 10 ms of frames.
    let n = batch_size(&p, 0, Some(Duration::from_millis(30)));
    assert!((19_990..=20_000).contains(&n), "{n}");
    // Less than the fixed cost left: no call.
    assert_eq!(batch_size(&p, 0, Some(Duration::from_millis(19))), 0);
    // A rate limit: 50 ms worth at most.
    assert_eq!(batch_size(&p, 1000, None), 50);
    // A slow call is believed at once.
    p.observe(360_000, 2.0);
    assert!(batch_size(&p, 0, None) < 40_000, "{p:?}");
    // Never more than 2^20, however cheap.
    let mut q = Pace::default();
    q.observe(1024, 0.0001);
    q.observe(1_000_000, 0.0002);
    assert_eq!(batch_size(&q, 0, None), MAX_BATCH);
}

#[test]
fn the_closing_line_says_accepted_beside_offered() {
    let s = GenSummary {
        offered: 1_300_000,
        accepted: Some(1_234_567),
        sent: 1_300_000,
        elapsed: 5.0,
        live_frames: true,
    };
    assert_eq!(
        summary_line(&s, "veth0"),
        "gen: 1,234,567 frames accepted by veth0 (1,300,000 offered) in 5.00 s, 0.247 Mpps (live frames)"
    );
    let u = GenSummary {
        accepted: None,
        ..s
    };
    assert!(!took_none(&s) && !took_none(&u));
    for (accepted, offered, none) in [
        (0, 1, true),
        (0, 0, false),
        (9, 1000, true),
        (10, 1000, false),
        (1, 10, false),
    ] {
        let t = GenSummary {
            accepted: Some(accepted),
            offered,
            ..s
        };
        assert_eq!(took_none(&t), none, "{t:?}");
    }
    let l = summary_line(&u, "veth0");
    assert!(
        l.contains("offered") && l.contains("unknown") && !l.contains("accepted"),
        "{l}"
    );
}
