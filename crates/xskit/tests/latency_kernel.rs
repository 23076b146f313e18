//! `xskit latency` end to end: well-formed output (no timing assertions).

mod common;

use xskit::testing::have_root;

#[test]
fn latency_prints_a_row_per_responder_family_and_rate() {
    if !have_root("latency_prints_a_row_per_responder_family_and_rate") {
        return;
    }
    let name = format!("xt{}-lat", std::process::id());
    let text = common::stdout_ok(&[
        "latency", "--rates", "200,2000", "-c", "40", "--json", "--name", &name,
    ]);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert!(v["timestamps"].as_str().unwrap().contains("stamp"), "{v}");
    // The responder's program ran where the default asks (SKB mode: on
    // veth the request then takes the kernel's own receive path).
    assert_eq!(v["xdp_mode"], "skb", "{v}");
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 2 * 2 * 2, "{v}");
    let mut seen = Vec::new();
    for r in rows {
        assert_eq!(r["sent"], 40, "{r}");
        // Without --warm no responder's idle turns were kept warm (nothing
        // looped through lo); each row says so.
        assert_eq!(r["warmed"], false, "{r}");
        let got = r["received"].as_u64().unwrap();
        assert!(got >= 38, "replies lost: {r}");
        let p = |k: &str| r[k].as_f64().unwrap();
        assert!(p("p50_us") > 0.0, "{r}");
        assert!(
            p("p50_us") <= p("p90_us") && p("p90_us") <= p("p99_us"),
            "{r}"
        );
        assert!(
            p("p99_us") <= p("p999_us") && p("p999_us") <= p("max_us"),
            "{r}"
        );
        seen.push(format!("{}/{}/{}", r["responder"], r["family"], r["rate"]));
    }
    for who in ["kernel", "xskit"] {
        for fam in ["ipv4", "ipv6"] {
            for rate in [200, 2000] {
                assert!(
                    seen.contains(&format!("\"{who}\"/\"{fam}\"/{rate}")),
                    "{seen:?}"
                );
            }
        }
    }
    assert!(!xskit::net::netns::exists(&format!("{name}-in")));
}
