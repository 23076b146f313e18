//! `xskit bench` from start to end. In a test binary of its own: it loads
//! both CPUs, and test binaries run one after another.

mod common;

use xskit::testing::have_root;

#[test]
fn bench_prints_one_json_object_per_config_and_mode() {
    if !have_root("bench_prints_one_json_object_per_config_and_mode") {
        return;
    }
    let name = format!("xt{}-bench", std::process::id());
    let text = common::stdout_ok(&[
        "bench", "--runs", "1", "--window", "200ms", "--json", "--name", &name,
    ]);
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut seen = Vec::new();
    for r in &rows {
        let (config, mode) = (r["config"].as_str().unwrap(), r["mode"].as_str().unwrap());
        assert!(r["mpps"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["ratio"].as_f64().unwrap() > 0.0, "{r}");
        // One round: one window, one ratio paired with that round's ceiling.
        assert_eq!(r["samples"].as_array().unwrap().len(), 1, "{r}");
        assert_eq!(r["ratios"].as_array().unwrap().len(), 1, "{r}");
        if mode == "ceiling" {
            assert_eq!(r["ratio"].as_f64(), Some(1.0));
        }
        seen.push(format!("{config}/{mode}"));
    }
    for config in ["shared-core", "own-core"] {
        for mode in ["ceiling", "rxdrop", "l2fwd", "echo", "txonly"] {
            assert!(
                seen.contains(&format!("{config}/{mode}")),
                "{config}/{mode} missing: {seen:?}"
            );
        }
    }
    assert!(!xskit::net::netns::exists(&format!("{name}-in")));
}
