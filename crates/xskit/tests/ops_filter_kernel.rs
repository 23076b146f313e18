//! `xskit filter` rules that do what they say, the ARP/ND exemption and
//! the match order, with the real binary in namespaces of each test's own.

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::time::Duration;
use xskit::app::shared::records::state;
use xskit::net::{netns, veth};
use xskit::testing::{have_root, in_inner, in_outer, sandbox};
use xskit::xdp::filter::{decide, Frame, Kind, Proto, Rule, Verdict};

fn fails(args: &[&str]) -> String {
    let o = xskit(args);
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert!(!o.status.success(), "xskit {args:?} succeeded: {out}");
    assert!(!err.contains("panicked"), "{err}");
    out + &err
}

fn list() -> Value {
    serde_json::from_str(&ok(&["filter", "list", "--json"])).unwrap()
}

fn rules() -> Vec<(u64, String)> {
    list()["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["id"].as_u64().unwrap(),
                r["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn rule(name: &str) -> Value {
    list()["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["rule"] == name)
        .cloned()
        .unwrap_or_else(|| panic!("no rule {name}"))
}

#[test]
fn rules_do_what_they_say() {
    in_quiet_netns("rules_do_what_they_say", |p| {
        assert!(ok(&["filter", "add", "allow", "src", "198.18.0.0/24"]).contains("added #0"));
        // Host bits: an error showing the network form; nothing changes.
        let e = fails(&["filter", "add", "deny", "src", "198.18.0.1/24"]);
        assert!(
            e.contains("host bits") && e.contains("198.18.0.0/24"),
            "{e}"
        );
        assert_eq!(e.trim().lines().count(), 1, "{e}");
        // Opposite verdict on the same key: an error naming the rule.
        let e = fails(&["filter", "add", "deny", "src", "198.18.0.0/24"]);
        assert!(
            e.contains("#0 `allow src 198.18.0.0/24`") && e.contains("--replace"),
            "{e}"
        );
        assert_eq!(rules(), vec![(0, "allow src 198.18.0.0/24".to_string())]);
        // A rule on both directions clashes with the source one too.
        fails(&["filter", "add", "deny", "198.18.0.0/24"]);
        // The same rule again: said, no change.
        assert!(ok(&["filter", "add", "allow", "src", "198.18.0.0/24"]).contains("there already"));
        // `del` matches the verdict.
        let o = xskit(&["filter", "del", "deny", "src", "198.18.0.0/24"]);
        let text = String::from_utf8_lossy(&o.stdout);
        assert_eq!(o.status.code(), Some(1), "{text}");
        assert!(
            text.contains("no such rule") && text.contains("#0 `allow src 198.18.0.0/24`"),
            "{text}"
        );
        assert_eq!(rules().len(), 1);
        // --replace: the new rule has an id of its own.
        let out = ok(&["filter", "add", "deny", "src", "198.18.0.0/24", "--replace"]);
        assert!(out.contains("replacing `allow src 198.18.0.0/24`"), "{out}");
        assert_eq!(rules(), vec![(1, "deny src 198.18.0.0/24".to_string())]);
        // Delete by id, as `list` shows it.
        assert!(ok(&["filter", "add", "allow", "udp", "dst", "7"]).contains("added #2"));
        assert!(ok(&["filter", "list"]).contains("#2    allow udp dst 7"));
        assert!(ok(&["filter", "del", "2"]).contains("removed #2: allow udp dst 7"));
        // Ids are never given twice: a `del` from a stale list removes
        // nothing else.
        assert!(ok(&["filter", "add", "allow", "udp", "dst", "8"]).contains("added #3"));
        let o = xskit(&["filter", "del", "2"]);
        assert_eq!(o.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&o.stdout).contains("no rule #2"));
        assert!(ok(&["filter", "del", "3"]).contains("removed #3: allow udp dst 8"));
        // Delete by words with the right verdict.
        assert!(ok(&["filter", "del", "deny", "src", "198.18.0.0/24"]).contains("removed #1"));
        assert!(rules().is_empty());
        // Link-layer rules print back as given.
        for r in [
            &["deny", "arp"][..],
            &["deny", "nd"],
            &["deny", "ether", "type", "0x88cc"],
            &["allow", "src", "ether", "02:00:00:00:00:09"],
            &["deny", "tcp", "src", "1234"],
        ] {
            let mut a = vec!["filter", "add"];
            a.extend_from_slice(r);
            ok(&a);
        }
        let names: Vec<String> = rules().into_iter().map(|r| r.1).collect();
        assert_eq!(
            names,
            [
                "deny arp",
                "deny nd",
                "deny ether type 0x88cc",
                "allow src ether 02:00:00:00:00:09",
                "deny tcp src 1234"
            ]
        );
        // Flush: every rule goes, the default stays.
        ok(&["filter", "default", "deny"]);
        assert!(ok(&["filter", "flush"]).contains("removed 5 rule(s); default policy: deny"));
        assert!(rules().is_empty());
        assert_eq!(list()["default"], "deny");
        ok(&["filter", "default", "allow"]);
        // Bad input: one clear line, exit 1, no panic.
        for bad in [
            &["filter", "add", "deny", "bogus"][..],
            &["filter", "add", "deny", "ether", "type", "0x1ffff"],
            &["filter", "add", "deny", "src", "ether", "02:00"],
            &["filter", "del", "x"],
            &["filter", "del", "maybe", "arp"],
            &["status", "--netns", "xskit-no-such-namespace"],
            &["filter", "list", "--sandbox", "xskit-no-such-sandbox"],
        ] {
            let e = fails(bad);
            assert_eq!(e.trim().lines().count(), 1, "{bad:?}: {e}");
        }
        // `unload` removes the maps it pinned when the last filter goes.
        ok(&["filter", "add", "deny", "udp", "dst", "9"]);
        ok(&["load", "filter", &p.inner]);
        assert!(state::filter_dir().unwrap().exists());
        let out = ok(&["unload", &p.inner]);
        assert!(out.contains("removed the filter's rules and maps"), "{out}");
        assert!(!state::filter_dir().unwrap().exists());
        // ... or keeps them when asked, and says so.
        ok(&["filter", "add", "deny", "udp", "dst", "9"]);
        ok(&["load", "filter", &p.inner]);
        let out = ok(&["unload", &p.inner, "--keep-rules"]);
        assert!(out.contains("keeping the filter's rules"), "{out}");
        assert_eq!(rules().len(), 1);
        ok(&["filter", "flush", "--maps"]);
        assert!(!state::filter_dir().unwrap().exists());
    });
}

#[test]
fn the_ssh_guard_refuses_cutting_the_peer_at_layer_2_or_3() {
    in_quiet_netns(
        "the_ssh_guard_refuses_cutting_the_peer_at_layer_2_or_3",
        |p| {
            let peer_mac = veth::mac(&p.peer).unwrap();
            let mac: String = xskit::xdp::filter::mac_string(&peer_mac);
            // A peer that is not local (198.18.0.2 is: the other end is here too).
            netns::ip(&[
                "neigh",
                "replace",
                "198.18.0.3",
                "lladdr",
                &mac,
                "dev",
                &p.inner,
            ])
            .unwrap();
            let run = |args: &[&str]| {
                cmd(args)
                    .env("SSH_CONNECTION", "198.18.0.3 50000 198.18.0.1 22")
                    .output()
                    .unwrap()
            };
            for (r, why) in [
                (&["deny", "arp"][..], "ARP"),
                (&["deny", "src", "ether", &mac], "TCP"),
                (&["deny", "ether", "type", "0x0800"], "TCP"),
                (&["deny", "tcp", "dst", "22"], "TCP"),
            ] {
                let mut a = vec!["filter", "add"];
                a.extend_from_slice(r);
                let o = run(&a);
                let e = String::from_utf8_lossy(&o.stderr);
                assert!(
                    !o.status.success() && e.contains("SSH session") && e.contains(why),
                    "{r:?}: {e}"
                );
            }
            // Default deny with SSH allowed: ARP passes, so that is fine.
            assert!(run(&["filter", "add", "allow", "tcp", "dst", "22"])
                .status
                .success());
            assert!(run(&["filter", "default", "deny"]).status.success());
            // Removing the allow rule now would cut it.
            let o = run(&["filter", "del", "allow", "tcp", "dst", "22"]);
            assert!(!o.status.success());
            let o = run(&["filter", "flush"]);
            assert!(!o.status.success());
            assert!(run(&["filter", "flush", "--force"]).status.success());
            // Loading a filter whose rules cut the session on its interface.
            assert!(run(&["filter", "default", "allow"]).status.success());
            assert!(run(&["filter", "add", "deny", "arp", "--force"])
                .status
                .success());
            let o = run(&["load", "filter", &p.inner, "--confirm-within", "0"]);
            let e = String::from_utf8_lossy(&o.stderr);
            assert!(!o.status.success() && e.contains("ARP"), "{e}");
            assert_eq!(netns::xdp_shown_by_ip(&p.inner).unwrap(), None);
        },
    );
}

#[test]
fn the_most_specific_rule_decides_as_documented_with_byte_counters() {
    in_quiet_netns(
        "the_most_specific_rule_decides_as_documented_with_byte_counters",
        |p| {
            let help = String::from_utf8_lossy(&xskit(&["filter", "--help"]).stdout).to_string();
            assert!(
                help.contains("most specific matching rule decides"),
                "{help}"
            );
            let set = [
                "deny src 198.18.0.0/16",
                "allow src 198.18.5.9/32",
                "allow udp dst 7",
                "deny dst 198.18.0.1/32",
            ];
            ok(&["filter", "default", "deny"]);
            for r in &set[..3] {
                let w: Vec<&str> = r.split(' ').collect();
                let mut a = vec!["filter", "add"];
                a.extend_from_slice(&w);
                ok(&a);
            }
            ok(&["load", "filter", &p.inner]);
            // (source, port, frames, expected)
            let cases = [
                ((198, 18, 5, 9), 9, 3, "allow src 198.18.5.9/32"), // /32 beats /16
                ((198, 18, 3, 3), 7, 4, "deny src 198.18.0.0/16"),  // address beats port
                ((10, 0, 0, 1), 7, 5, "allow udp dst 7"),           // port beats default
                ((10, 0, 0, 1), 8, 6, ""),                          // default deny
            ];
            let parsed: Vec<Rule> = set[..3]
                .iter()
                .map(|s| {
                    let w: Vec<String> = s.split(' ').map(String::from).collect();
                    Rule::parse(Verdict::parse(&w[0]).unwrap(), &w[1..]).unwrap()
                })
                .collect();
            for (src, port, n, by) in cases {
                let src = Ipv4Addr::new(src.0, src.1, src.2, src.3);
                send_udp(p, src, port, n);
                // The kernel and the documented order (user-space model) agree.
                let frame = Frame {
                    src_mac: None,
                    dst_mac: None,
                    kind: Kind::Ip {
                        src: src.into(),
                        dst: Ipv4Addr::new(198, 18, 0, 1).into(),
                        ports: Some((Proto::Udp, 4000, port)),
                    },
                };
                let (_, decided) = decide(&parsed, Verdict::Deny, &frame);
                assert_eq!(decided.map(|r| r.to_string()).unwrap_or_default(), by);
                if !by.is_empty() {
                    let r = rule(by);
                    assert_eq!(r["hits"].as_u64(), Some(n as u64), "{by}: {r}");
                    // 14 + 20 + 8 + 17 bytes of payload per frame.
                    assert_eq!(r["bytes"].as_u64(), Some(59 * n as u64), "{by}: {r}");
                }
            }
            let c = row(&status_json(), &p.inner);
            assert_eq!(c["counters"]["passed"].as_u64(), Some(3 + 5), "{c}");
            assert_eq!(c["counters"]["dropped"].as_u64(), Some(4 + 6), "{c}");
            assert_eq!(c["bytes"]["dropped"].as_u64(), Some(59 * 10), "{c}");
            // A /32 destination rule beats the /16 source rule.
            ok(&["filter", "add", "deny", "dst", "198.18.0.1/32"]);
            send_udp(p, Ipv4Addr::new(198, 18, 5, 9), 9, 2);
            assert_eq!(rule("allow src 198.18.5.9/32")["hits"].as_u64(), Some(3));
            assert_eq!(
                rule("deny dst 198.18.0.1/32")["hits"].as_u64(),
                Some(2),
                "equal /32s: deny wins"
            );
            // A MAC rule beats every address rule; an EtherType rule decides
            // frames no other rule matched.
            let mac = xskit::xdp::filter::mac_string(&veth::mac(&p.peer).unwrap());
            ok(&["filter", "add", "deny", "src", "ether", &mac]);
            send_udp(p, Ipv4Addr::new(198, 18, 5, 9), 9, 3);
            assert_eq!(
                rule(&format!("deny src ether {mac}"))["hits"].as_u64(),
                Some(3)
            );
            assert_eq!(rule("allow src 198.18.5.9/32")["hits"].as_u64(), Some(3));
            ok(&["filter", "del", "deny", "src", "ether", &mac]);
            ok(&["filter", "add", "allow", "ether", "type", "0x88b5"]);
            let sock = xskit::net::packet::PacketSocket::bind(&p.peer).unwrap();
            let smac = veth::mac(&p.peer).unwrap();
            for _ in 0..4 {
                sock.send(&xskit::testing::experimental_frame(smac, &[0; 50]))
                    .unwrap();
            }
            std::thread::sleep(Duration::from_millis(100));
            let r = rule("allow ether type 0x88b5");
            assert_eq!(
                (r["hits"].as_u64(), r["bytes"].as_u64()),
                (Some(4), Some(4 * 64)),
                "{r}"
            );
            // Live rates.
            let out = ok(&["status", "-n", "300ms", "--count", "1"]);
            assert!(
                out.contains("rule #0 deny src 198.18.0.0/16") && out.contains("pps"),
                "{out}"
            );
            ok(&["unload", &p.inner]);
        },
    );
}

/// Writes a line on `s` and reads it back within 3 s.
fn round_trip(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    if s.write_all(b"ping\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 5];
    s.read_exact(&mut buf).is_ok() && &buf == b"ping\n"
}

fn echo_server(l: TcpListener) {
    std::thread::spawn(move || {
        for c in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut c = c;
                let mut buf = [0u8; 64];
                while let Ok(n) = c.read(&mut buf) {
                    if n == 0 || c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
}

#[test]
fn default_deny_with_ssh_allowed_keeps_tcp_across_a_neighbour_flush_until_arp_or_nd_is_denied() {
    if !have_root("default_deny_with_ssh_allowed_keeps_tcp_across_a_neighbour_flush") {
        return;
    }
    let sb = sandbox("nflush").unwrap();
    let st = &sb.0;
    let name = st.name.as_str();
    let x = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend_from_slice(&["--sandbox", name]);
        ok(&a)
    };
    let v4 = format!("{}:22", st.inner_v4);
    let v6 = format!("[{}]:22", st.inner_v6);
    echo_server(in_inner(st, || TcpListener::bind(&v4).unwrap()));
    echo_server(in_inner(st, || TcpListener::bind(&v6).unwrap()));
    x(&["filter", "add", "allow", "tcp", "dst", "22"]);
    x(&["filter", "default", "deny"]);
    x(&["load", "filter", &st.inner_if, "--confirm-within", "0"]);
    let mut c4 = in_outer(st, || TcpStream::connect(&v4).unwrap());
    let mut c6 = in_outer(st, || TcpStream::connect(&v6).unwrap());
    assert!(round_trip(&mut c4) && round_trip(&mut c6));
    let flush = || {
        in_inner(st, || netns::ip(&["neigh", "flush", "all"]).unwrap());
        in_outer(st, || netns::ip(&["neigh", "flush", "all"]).unwrap());
    };
    flush();
    assert!(
        round_trip(&mut c4),
        "IPv4 TCP died after a neighbour flush: ARP was dropped"
    );
    assert!(
        round_trip(&mut c6),
        "IPv6 TCP died after a neighbour flush: ND was dropped"
    );
    let l: Value = serde_json::from_str(&x(&["filter", "list", "--json"])).unwrap();
    assert!(
        l["arp_passed"].as_u64().unwrap() > 0 && l["nd_passed"].as_u64().unwrap() > 0,
        "{l}"
    );
    // The SSH guard finds these sessions by their sockets (the commands
    // run without SSH_CONNECTION) and refuses to cut them ...
    let mut a = vec!["filter", "add", "deny", "arp", "--sandbox", name];
    let e = {
        let o = common::cmd(&a).output().unwrap();
        assert!(!o.status.success());
        String::from_utf8_lossy(&o.stderr).to_string()
    };
    assert!(
        e.contains("would cut your SSH session")
            && e.contains("an established TCP connection to port 22"),
        "{e}"
    );
    // ... unless forced (and, on the session's interface, without the
    // confirmation timer): `deny arp` cuts IPv4 once the neighbour
    // entries are gone; IPv6 lives.
    a.extend(["--force", "--confirm-within", "0"]);
    ok(&a);
    flush();
    assert!(!round_trip(&mut c4), "IPv4 survived `deny arp`");
    assert!(round_trip(&mut c6));
    x(&[
        "filter",
        "add",
        "deny",
        "nd",
        "--force",
        "--confirm-within",
        "0",
    ]);
    flush();
    assert!(!round_trip(&mut c6), "IPv6 survived `deny nd`");
    let out = x(&["unload", &st.inner_if]);
    assert!(out.contains("removed the filter's rules"), "{out}");
    let out = ok(&["status", "--netns", &st.inner_ns]);
    assert!(
        out.lines()
            .any(|l| l.starts_with(&st.inner_if) && l.contains(" - ")),
        "{out}"
    );
}

#[test]
fn rule_counts_shared_by_two_interfaces_are_given_once() {
    in_quiet_netns("rule_counts_shared_by_two_interfaces_are_given_once", |p| {
        ok(&["filter", "add", "deny", "udp", "dst", "9"]);
        ok(&["load", "filter", &p.inner, &p.peer]);
        // Only the inner end receives them.
        send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 9, 5);
        let v = status_json();
        let (a, b) = (row(&v, &p.inner), row(&v, &p.peer));
        assert_eq!(a["counters"]["dropped"], 5, "{a}");
        assert_eq!(b["counters"]["dropped"], 0, "{b}");
        // The rule's count is there once, on one row, both rows naming
        // the interfaces that share it.
        let with_rules: Vec<&Value> = [&a, &b]
            .into_iter()
            .filter(|r| r.get("rules").is_some())
            .collect();
        assert_eq!(with_rules.len(), 1, "{v}");
        assert_eq!(with_rules[0]["rules"][0]["hits"], 5, "{v}");
        for r in [&a, &b] {
            let by: Vec<&str> = r["filter_shared_by"]
                .as_array()
                .unwrap_or_else(|| panic!("{r}"))
                .iter()
                .map(|x| x.as_str().unwrap())
                .collect();
            let mut sorted = by.clone();
            sorted.sort();
            let mut want = vec![p.inner.as_str(), p.peer.as_str()];
            want.sort();
            assert_eq!(sorted, want, "{r}");
        }
        // Text: the rule line once.
        let text = ok(&["status"]);
        assert_eq!(text.matches("deny udp dst 9").count(), 1, "{text}");
        assert!(
            text.contains("one set of rules and counts for all of them"),
            "{text}"
        );
        // Prometheus: one series per rule, so sum() is the true count.
        let prom = ok(&["status", "--prometheus"]);
        let series: Vec<&str> = prom
            .lines()
            .filter(|l| {
                l.starts_with("xskit_filter_rule_packets_total{") && l.contains("deny udp dst 9")
            })
            .collect();
        assert_eq!(series.len(), 1, "{prom}");
        assert!(series[0].ends_with(" 5"), "{prom}");
        assert!(
            series[0].contains(&p.inner) && series[0].contains(&p.peer),
            "{prom}"
        );
        let kinds = prom
            .lines()
            .filter(|l| {
                l.starts_with("xskit_filter_frames_total{") && l.contains("kind=\"non_ip\"")
            })
            .count();
        assert_eq!(kinds, 1, "{prom}");
        ok(&["unload", "--all"]);
    });
}

/// Sends `n` ICMP echo requests from the peer end to the inner end.
fn send_ping(p: &xskit::testing::Pair, n: usize) {
    let sock = xskit::net::packet::PacketSocket::bind(&p.peer).unwrap();
    let (smac, dmac) = (veth::mac(&p.peer).unwrap(), veth::mac(&p.inner).unwrap());
    let f = xskit::wire::build::echo_request_v4(
        smac,
        dmac,
        Ipv4Addr::new(198, 18, 0, 2),
        Ipv4Addr::new(198, 18, 0, 1),
        7,
        1,
        b"xskit filter icmp",
    );
    for _ in 0..n {
        sock.send(&f).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn icmp_and_ip_protocol_rules_and_the_default_policys_counts() {
    in_quiet_netns(
        "icmp_and_ip_protocol_rules_and_the_default_policys_counts",
        |p| {
            ok(&["filter", "add", "deny", "icmp"]);
            ok(&["filter", "add", "allow", "udp", "dst", "9"]);
            ok(&["load", "filter", &p.inner]);
            let tap = xskit::net::packet::PacketSocket::bind(&p.inner).unwrap();
            send_ping(p, 3);
            assert!(
                tap.recv_incoming(Duration::from_millis(100))
                    .unwrap()
                    .is_none(),
                "a ping got past `deny icmp`"
            );
            assert_eq!(rule("deny icmp")["hits"].as_u64(), Some(3));
            // The kernel and the documented order agree.
            let parsed: Vec<Rule> = ["deny icmp", "allow udp dst 9"]
                .iter()
                .map(|s| {
                    let w: Vec<String> = s.split(' ').map(String::from).collect();
                    Rule::parse(Verdict::parse(&w[0]).unwrap(), &w[1..]).unwrap()
                })
                .collect();
            let ping = Frame {
                src_mac: None,
                dst_mac: None,
                kind: Kind::IpProto {
                    src: Ipv4Addr::new(198, 18, 0, 2).into(),
                    dst: Ipv4Addr::new(198, 18, 0, 1).into(),
                    proto: 1,
                },
            };
            assert_eq!(
                decide(&parsed, Verdict::Allow, &ping)
                    .1
                    .map(|r| r.to_string()),
                Some("deny icmp".into())
            );
            // A port rule beats a protocol rule: `deny udp` drops UDP but port 9.
            ok(&["filter", "add", "deny", "udp"]);
            send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 9, 2);
            send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 10, 4);
            assert_eq!(rule("allow udp dst 9")["hits"].as_u64(), Some(2));
            assert_eq!(rule("deny udp")["hits"].as_u64(), Some(4));
            // `ip6 proto 17` and `udp` share IPv6's key.
            let e = fails(&["filter", "add", "allow", "ip6", "proto", "17"]);
            assert!(e.contains("clashes with #2 `deny udp`"), "{e}");
            // Frames no rule decides: counted by what the default policy did.
            ok(&["filter", "del", "deny", "udp"]);
            ok(&["filter", "default", "deny"]);
            send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 11, 5);
            ok(&["filter", "default", "allow"]);
            send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 12, 6);
            let l = list();
            assert_eq!(
                (l["default_dropped"].as_u64(), l["default_passed"].as_u64()),
                (Some(5), Some(6)),
                "{l}"
            );
            // The same names in `filter list` and `status`.
            let words =
            "non-IP 0, malformed 0, ARP passed 0, ND passed 0, default passed 6, default dropped 5";
            let list_text = ok(&["filter", "list"]);
            let status_text = ok(&["status"]);
            assert!(list_text.contains(words), "{list_text}");
            assert!(status_text.contains(words), "{status_text}");
            ok(&["unload", &p.inner]);
        },
    );
}
