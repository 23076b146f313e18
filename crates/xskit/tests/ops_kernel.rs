//! `xskit load | unload | status | filter | confirm` as an operator runs
//! them: the real binary, in a network namespace of each test's own.

mod common;

use common::*;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::Duration;
use xskit::net::{netns, packet::PacketSocket, veth};
use xskit::testing::{have_root, in_netns};
use xskit::wire::build;

#[test]
fn load_drop_outlives_the_command_counts_and_unloads() {
    in_quiet_netns("load_drop_outlives_the_command_counts_and_unloads", |p| {
        let out = ok(&["load", "drop", &p.inner, "--mode", "native"]);
        assert!(out.contains("xdp_drop attached in native mode"), "{out}");
        // The command has exited; the program is still there.
        assert_eq!(
            netns::xdp_shown_by_ip(&p.inner).unwrap().as_deref(),
            Some("xdp")
        );
        let tap = PacketSocket::bind(&p.inner).unwrap();
        send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 9, 250);
        assert!(
            tap.recv_incoming(Duration::from_millis(200))
                .unwrap()
                .is_none(),
            "a frame got past xdp_drop"
        );
        let v = status_json();
        let r = row(&v, &p.inner);
        assert_eq!(r["program"], "xdp_drop");
        assert_eq!(r["mode"], "native");
        assert_eq!(r["xskit"], true);
        assert_eq!(r["counters"]["dropped"], 250, "{r}");
        assert_eq!(row(&v, &p.peer)["program"], serde_json::Value::Null);
        let text = ok(&["status"]);
        assert!(
            text.lines().any(|l| l.starts_with(&p.inner)
                && l.contains("xdp_drop")
                && l.contains("native")
                && l.contains("250")),
            "{text}"
        );

        let out = ok(&["unload", &p.inner]);
        assert!(out.contains("removed"), "{out}");
        assert_eq!(netns::xdp_shown_by_ip(&p.inner).unwrap(), None);
        send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 9, 1);
        assert!(
            tap.recv_incoming(Duration::from_secs(1)).unwrap().is_some(),
            "traffic not restored"
        );
    });
}

#[test]
fn skb_mode_all_interfaces_and_foreign_programs() {
    in_quiet_netns("skb_mode_all_interfaces_and_foreign_programs", |p| {
        let out = ok(&["load", "pass", "--all", "--mode", "skb"]);
        assert!(
            out.contains(&format!("{}: xdp_pass attached in skb mode", p.inner)),
            "{out}"
        );
        assert!(
            out.contains(&format!("{}: xdp_pass attached in skb mode", p.peer)),
            "{out}"
        );
        assert!(!out.contains("lo:"), "{out}");
        let v = status_json();
        assert_eq!(row(&v, &p.peer)["mode"], "skb");
        assert_eq!(row(&v, "lo")["program"], serde_json::Value::Null);
        ok(&["unload", "--all"]);
        assert_eq!(netns::xdp_shown_by_ip(&p.inner).unwrap(), None);
        assert_eq!(netns::xdp_shown_by_ip(&p.peer).unwrap(), None);

        // A program attached by another tool (netlink, as `ip link set xdp` does).
        attach_with_ip(&p.inner);
        let o = xskit(&["unload", &p.inner]);
        assert!(!o.status.success());
        assert!(String::from_utf8_lossy(&o.stdout).contains("not attached by xskit"));
        assert_eq!(row(&status_json(), &p.inner)["xskit"], false);
        let out = ok(&["unload", &p.inner, "--any"]);
        assert!(out.contains("warning") && out.contains("xdp_pass"), "{out}");
        assert_eq!(netns::xdp_shown_by_ip(&p.inner).unwrap(), None);
    });
}

#[test]
fn drop_on_the_default_route_interface_needs_force() {
    in_quiet_netns("drop_on_the_default_route_interface_needs_force", |p| {
        default_route_via(p);
        let o = xskit(&["load", "drop", &p.inner, "--confirm-within", "0"]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(!o.status.success() && text.contains("--force"), "{text}");
        assert_eq!(netns::xdp_shown_by_ip(&p.inner).unwrap(), None);
        ok(&["load", "drop", &p.inner, "--force", "--confirm-within", "0"]);
        assert!(netns::xdp_shown_by_ip(&p.inner).unwrap().is_some());
        ok(&["unload", &p.inner]);
        // Without --confirm-within, drop on this interface asks by default.
        let (mut child, asked) = load_waiting(&["load", "drop", &p.inner, "--force"]);
        assert!(asked.contains("within 30s"), "{asked}");
        child.stdin.take().unwrap().write_all(b"yes\n").unwrap();
        assert!(child.wait().unwrap().success());
        ok(&["unload", &p.inner]);
        // Pass cannot drop anything: no question.
        ok(&["load", "pass", &p.inner]);
        ok(&["unload", &p.inner]);
    });
}

fn rules_json() -> serde_json::Value {
    serde_json::from_str(&ok(&["filter", "list", "--json"])).unwrap()
}

fn hits(rule: &str) -> u64 {
    rules_json()["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == rule)
        .map(|r| r["hits"].as_u64().unwrap())
        .unwrap_or(u64::MAX)
}

#[test]
fn filter_rules_on_prefixes_and_ports_with_hit_counts() {
    in_quiet_netns("filter_rules_on_prefixes_and_ports_with_hit_counts", |p| {
        ok(&["load", "filter", &p.inner]);
        let counters = || row(&status_json(), &p.inner)["counters"].clone();

        ok(&["filter", "add", "deny", "src", "198.18.0.2/32"]);
        send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 9, 30);
        send_udp(p, Ipv4Addr::new(198, 18, 0, 3), 9, 20);
        assert_eq!(hits("deny src 198.18.0.2/32"), 30);
        let c = counters();
        assert_eq!(
            (c["dropped"].as_u64(), c["passed"].as_u64()),
            (Some(30), Some(20)),
            "{c}"
        );

        ok(&["filter", "add", "deny", "udp", "dst", "5353"]);
        send_udp(p, Ipv4Addr::new(198, 18, 0, 3), 5353, 7);
        send_udp(p, Ipv4Addr::new(198, 18, 0, 3), 5354, 3);
        assert_eq!(hits("deny udp dst 5353"), 7);

        // Default deny with an allow rule.
        ok(&["filter", "default", "deny"]);
        ok(&["filter", "add", "allow", "src", "198.18.0.0/24"]);
        ok(&["filter", "del", "deny", "src", "198.18.0.2/32"]);
        ok(&["filter", "del", "deny", "udp", "dst", "5353"]);
        send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 9, 5);
        send_udp(p, Ipv4Addr::new(198, 18, 1, 2), 9, 4);
        assert_eq!(hits("allow src 198.18.0.0/24"), 5);
        let list = rules_json();
        assert_eq!(list["default"], "deny");
        assert_eq!(list["rules"].as_array().unwrap().len(), 1, "{list}");
        let c = counters();
        assert_eq!(c["passed"].as_u64(), Some(20 + 3 + 5), "{c}");
        assert_eq!(c["dropped"].as_u64(), Some(30 + 7 + 4), "{c}");

        // IPv6 prefixes: build frames by hand (IPv6 is off on the link).
        ok(&["filter", "add", "allow", "src", "fc00:dead:beef::/64"]);
        let sock = PacketSocket::bind(&p.peer).unwrap();
        let (smac, dmac) = (veth::mac(&p.peer).unwrap(), veth::mac(&p.inner).unwrap());
        for (src, n) in [("fc00:dead:beef::9", 6), ("fc00:dead:cafe::9", 2)] {
            let f = build::udp_v6(
                smac,
                dmac,
                src.parse().unwrap(),
                "fc00:dead:beef::1".parse().unwrap(),
                1,
                2,
                b"v6",
            );
            for _ in 0..n {
                sock.send(&f).unwrap();
            }
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(hits("allow src fc00:dead:beef::/64"), 6);
        // Non-IP frames follow the default policy and are counted.
        sock.send(&xskit::testing::experimental_frame(smac, &[0; 50]))
            .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(rules_json()["non_ip"], 1);
        let text = ok(&["status"]);
        assert!(
            text.contains("filter: default deny") && text.contains("allow src 198.18.0.0/24"),
            "{text}"
        );
        ok(&["unload", &p.inner]);
    });
}

#[test]
fn a_rule_added_while_traffic_flows_takes_effect_without_reattach() {
    in_quiet_netns(
        "a_rule_added_while_traffic_flows_takes_effect_without_reattach",
        |p| {
            ok(&["load", "filter", &p.inner]);
            let id_before = row(&status_json(), &p.inner)["id"].clone();
            let stop = std::sync::atomic::AtomicBool::new(false);
            std::thread::scope(|s| {
                let pair = p.clone();
                let stop = &stop;
                // The sender needs the test's namespace too: spawn it from here.
                let ns = std::fs::File::open("/proc/thread-self/ns/net").unwrap();
                let sender = s.spawn(move || {
                    use std::os::fd::AsFd;
                    rustix::thread::move_into_link_name_space(
                        ns.as_fd(),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )
                    .unwrap();
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        send_udp(&pair, Ipv4Addr::new(198, 18, 0, 2), 9, 10);
                    }
                });
                std::thread::sleep(Duration::from_millis(500));
                let before = row(&status_json(), &p.inner)["counters"].clone();
                assert!(before["passed"].as_u64().unwrap() > 0);
                assert_eq!(before["dropped"].as_u64(), Some(0));
                ok(&["filter", "add", "deny", "src", "198.18.0.0/24"]);
                std::thread::sleep(Duration::from_millis(500));
                stop.store(true, std::sync::atomic::Ordering::Relaxed);
                sender.join().unwrap();
            });
            let r = row(&status_json(), &p.inner);
            assert_eq!(r["id"], id_before, "the program was replaced");
            assert!(r["counters"]["dropped"].as_u64().unwrap() > 0, "{r}");
            assert_eq!(
                hits("deny src 198.18.0.0/24"),
                r["counters"]["dropped"].as_u64().unwrap()
            );
            ok(&["unload", &p.inner]);
        },
    );
}

#[test]
fn rules_that_would_cut_the_ssh_session_need_force() {
    if !have_root("rules_that_would_cut_the_ssh_session_need_force") {
        return;
    }
    in_netns(|| {
        let _p = quiet_pair();
        let _cleanup = Cleanup;
        let run = |args: &[&str]| {
            common::bin()
                .args(args)
                .env("SSH_CONNECTION", "198.18.0.2 50000 198.18.0.1 22")
                .output()
                .unwrap()
        };
        for rule in [
            &["src", "198.18.0.0/24"][..],
            &["tcp", "dst", "22"],
            &["198.18.0.1"],
        ] {
            let mut args = vec!["filter", "add", "deny"];
            args.extend_from_slice(rule);
            let o = run(&args);
            assert!(!o.status.success(), "{rule:?} was accepted");
            assert!(
                String::from_utf8_lossy(&o.stderr).contains("SSH session"),
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
            args.push("--force");
            assert!(run(&args).status.success());
            // The session is cut now: a change that cuts nothing more is
            // not refused.
            assert!(run(&["filter", "add", "deny", "src", "198.19.0.0/16"])
                .status
                .success());
            assert!(run(&["filter", "flush", "--force"]).status.success());
        }
        cleanup();
        let o = run(&["filter", "default", "deny"]);
        assert!(!o.status.success());
        assert!(run(&["filter", "add", "allow", "src", "198.18.0.2"])
            .status
            .success());
        assert!(run(&["filter", "default", "deny"]).status.success());
    });
}

#[test]
fn confirm_timer_reverts_an_unconfirmed_load_and_keeps_a_confirmed_one() {
    in_quiet_netns(
        "confirm_timer_reverts_an_unconfirmed_load_and_keeps_a_confirmed_one",
        |p| {
            // Nobody confirms: reverted (5 s: the shortest time allowed).
            let o = xskit(&["load", "drop", &p.inner, "--confirm-within", "5s"]);
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(o.status.code(), Some(2), "{text}");
            assert!(
                text.contains("no confirmation within 5s: removed xdp_drop"),
                "{text}"
            );
            assert_eq!(netns::xdp_shown_by_ip(&p.inner).unwrap(), None);

            // `yes` on standard input.
            let (mut child, _) =
                load_waiting(&["load", "drop", &p.inner, "--confirm-within", "20s"]);
            child.stdin.take().unwrap().write_all(b"yes\n").unwrap();
            assert!(child.wait().unwrap().success());
            assert!(netns::xdp_shown_by_ip(&p.inner).unwrap().is_some());
            ok(&["unload", &p.inner]);

            // `xskit confirm PID` from another process.
            let (mut child, _) =
                load_waiting(&["load", "drop", &p.inner, "--confirm-within", "20s"]);
            let pid = child.id().to_string();
            let out = ok(&["confirm", &pid]);
            assert!(out.contains("confirmed the load of pid"), "{out}");
            assert!(child.wait().unwrap().success());
            assert!(netns::xdp_shown_by_ip(&p.inner).unwrap().is_some());
            ok(&["unload", &p.inner]);
        },
    );
}
