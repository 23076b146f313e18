//! Operator state keyed by identities the kernel never reuses: a new
//! network namespace that gets a deleted one's inode starts empty, the
//! deleted one's pins are removed, older xskit's inode-keyed state is never
//! used, and a failed `load filter` leaves no rule maps it made. The real
//! binary, in named namespaces of each test's own (removed even on failure).

mod common;

use common::*;
use serde_json::Value;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use xskit::app::shared::records::state;
use xskit::net::netns;
use xskit::testing::have_root;

// Every persistent command removes state of namespaces that are gone and
// says so: one test at a time (`serial()`), so that each sees its own
// notes.

/// Named namespaces made by a test; removed with their xskit state when
/// dropped, even when the test fails.
struct Named(Vec<String>);

impl Named {
    fn add(&mut self, name: &str) -> u64 {
        netns::ip(&["netns", "add", name]).unwrap();
        self.0.push(name.to_string());
        inode(name)
    }

    fn del(&mut self, name: &str) {
        netns::ip(&["netns", "del", name]).unwrap();
        self.0.retain(|n| n != name);
    }
}

impl Drop for Named {
    fn drop(&mut self) {
        for n in &self.0 {
            if let Ok(Ok(c)) = netns::run_in(n, xskit::app::shared::records::identity::cookie) {
                let _ = state::forget_namespace(c);
            }
            let _ = netns::ip(&["netns", "del", n]);
        }
    }
}

fn inode(name: &str) -> u64 {
    std::fs::metadata(format!("/run/netns/{name}"))
        .unwrap()
        .ino()
}

/// The namespace's cookie, read here (not through the state layout the
/// test checks).
fn cookie(name: &str) -> u64 {
    netns::run_in(name, xskit::app::shared::records::identity::cookie)
        .unwrap()
        .unwrap()
}

fn bpf_dir(cookie: u64) -> PathBuf {
    PathBuf::from(format!("/sys/fs/bpf/xskit/netns-{cookie}"))
}

fn run_dir(cookie: u64) -> PathBuf {
    PathBuf::from(format!("/run/xskit/loaded/netns-{cookie}"))
}

/// Everything under `dir`, for messages.
fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path().display().to_string());
            out.extend(tree(&e.path()));
        }
    }
    out
}

fn veth_in(ns: &str, name: &str) {
    let peer = format!("{name}p");
    netns::ip(&[
        "-n", ns, "link", "add", name, "type", "veth", "peer", "name", &peer,
    ])
    .unwrap();
    netns::ip(&["-n", ns, "link", "set", name, "up"]).unwrap();
    netns::ip(&["-n", ns, "link", "set", &peer, "up"]).unwrap();
}

fn json(args: &[&str]) -> Value {
    let o = xskit(args);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "xskit {args:?} failed: {out}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[test]
fn a_namespace_that_gets_a_deleted_ones_inode_starts_with_no_rules_and_no_pins() {
    if !have_root("a_namespace_that_gets_a_deleted_ones_inode_starts_with_no_rules_and_no_pins") {
        return;
    }
    let _serial = serial();
    let mut named = Named(Vec::new());
    let tag = format!("xst{}", std::process::id());
    let a = format!("{tag}a");
    let ino_a = named.add(&a);
    let cookie_a = cookie(&a);
    veth_in(&a, "dA");
    ok(&[
        "filter",
        "add",
        "deny",
        "src",
        "198.18.9.0/24",
        "--netns",
        &a,
    ]);
    ok(&["filter", "default", "deny", "--netns", &a]);
    ok(&["load", "pass", "dA", "--netns", &a]);
    let pins = || tree(Path::new("/sys/fs/bpf/xskit"));
    assert!(
        pins().iter().any(|p| p.ends_with("if-dA/link")),
        "{:?}",
        pins()
    );
    assert!(
        pins().iter().any(|p| p.ends_with("filter/filter_config")),
        "{:?}",
        pins()
    );
    named.del(&a);

    // The kernel gives A's inode to a namespace made once A is freed.
    let t = Instant::now();
    let mut k = 0;
    let b = loop {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "no new namespace got inode {ino_a} within 30 s"
        );
        let name = format!("{tag}b{k}");
        k += 1;
        let ino = named.add(&name);
        if ino == ino_a {
            break name;
        }
        if ino > ino_a {
            // A is not freed yet: try again.
            named.del(&name);
            std::thread::sleep(Duration::from_millis(50));
        }
        // Below A's: a hole of another namespace, kept filled.
    };
    let cookie_b = cookie(&b);
    assert_ne!(cookie_b, cookie_a);
    eprintln!("{b} has inode {ino_a}, as {a} had");

    // B starts empty: no rules, default allow, no load.
    let list = json(&["filter", "list", "--json", "--netns", &b]);
    assert_eq!(list["default"], "allow", "{list}");
    assert_eq!(list["rules"], Value::Array(vec![]), "{list}");
    let text = ok(&["filter", "list", "--netns", &b]);
    assert!(
        text.contains("default policy: allow") && text.contains("no rules"),
        "{text}"
    );
    let status = json(&["status", "--json", "--netns", &b]);
    for row in status.as_array().unwrap() {
        assert_eq!(row["xskit"], false, "{row}");
        for k in ["reverted", "waiting", "rules", "counters"] {
            assert!(row.get(k).is_none(), "{k} in {row}");
        }
    }
    // Nothing made for B by looking, and A's pins are gone.
    assert!(!pins().iter().any(|p| p.contains("if-dA")), "{:?}", pins());
    for dir in [
        bpf_dir(cookie_a),
        bpf_dir(cookie_b),
        run_dir(cookie_a),
        run_dir(cookie_b),
    ] {
        assert!(
            !dir.exists(),
            "{} exists: {:?}",
            dir.display(),
            tree(Path::new("/sys/fs/bpf/xskit"))
        );
    }
    // A filter loaded in B has B's (empty) rules.
    veth_in(&b, "dB");
    ok(&["load", "filter", "dB", "--netns", &b]);
    let list = json(&["filter", "list", "--json", "--netns", &b]);
    assert_eq!(
        (&list["default"], &list["rules"]),
        (&Value::from("allow"), &Value::Array(vec![])),
        "{list}"
    );
    ok(&["unload", "dB", "--netns", &b]);
    assert!(
        !bpf_dir(cookie_b).exists(),
        "{:?}",
        tree(&bpf_dir(cookie_b))
    );
    assert!(
        !run_dir(cookie_b).exists(),
        "{:?}",
        tree(&run_dir(cookie_b))
    );
}

#[test]
fn state_of_older_xskit_keyed_by_inode_is_refused_here_and_removed_when_its_namespace_is_gone() {
    if !have_root("state_of_older_xskit_keyed_by_inode_is_refused_here_and_removed_when_its_namespace_is_gone") {
        return;
    }
    let _serial = serial();
    let mut named = Named(Vec::new());
    let n = format!("xst{}old", std::process::id());
    let ino = named.add(&n);
    state::ensure_bpffs().unwrap();
    // What an older xskit left: its inode-keyed directories.
    let old_bpf = PathBuf::from(format!("/sys/fs/bpf/xskit/ns{ino}"));
    let old_run = PathBuf::from(format!("/run/xskit/loaded/ns{ino}"));
    // No namespace has inode 1 (nsfs numbers start at 0xF0000000).
    let dead_bpf = PathBuf::from("/sys/fs/bpf/xskit/ns1");
    struct Rm(Vec<PathBuf>);
    impl Drop for Rm {
        fn drop(&mut self) {
            for d in &self.0 {
                let _ = std::fs::remove_dir_all(d);
            }
        }
    }
    let _rm = Rm(vec![old_bpf.clone(), old_run.clone(), dead_bpf.clone()]);
    std::fs::create_dir_all(old_bpf.join("filter")).unwrap();
    std::fs::create_dir_all(&old_run).unwrap();
    std::fs::write(old_run.join("dA.json"), "{}").unwrap();
    std::fs::create_dir_all(dead_bpf.join("if-x")).unwrap();

    for args in [
        &["filter", "list", "--netns", &n][..],
        &["status", "--netns", &n],
        &["load", "pass", "lo", "--netns", &n],
        &["filter", "add", "deny", "udp", "dst", "9", "--netns", &n],
    ] {
        let o = xskit(args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        let refusal: Vec<&str> = err.lines().filter(|l| !l.contains("removed")).collect();
        assert_eq!(refusal.len(), 1, "{args:?}: {err}");
        assert!(
            refusal[0].contains("older xskit")
                && refusal[0].contains(&format!(
                    "rm -r {} {}",
                    old_bpf.display(),
                    old_run.display()
                )),
            "{args:?}: {err}"
        );
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    // Nothing was made or applied meanwhile.
    assert!(!bpf_dir(cookie(&n)).exists());
    assert!(old_bpf.join("filter").exists());

    // The refusal's own way out.
    std::fs::remove_dir_all(&old_bpf).unwrap();
    std::fs::remove_dir_all(&old_run).unwrap();
    let text = ok(&["filter", "list", "--netns", &n]);
    assert!(text.contains("no rules"), "{text}");

    // Where no namespace has the inode any more: removed, in one line,
    // if xskit can see every holder of a namespace; else kept (never
    // used either way).
    std::fs::create_dir_all(dead_bpf.join("if-x")).unwrap();
    let o = xskit(&["status", "--netns", &n]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    if proves_absence() {
        assert!(
            err.lines()
                .any(|l| l.contains(&format!("removed {}", dead_bpf.display()))
                    && l.contains("no namespace has any more")),
            "{err}"
        );
        assert!(!dead_bpf.exists());
    } else {
        assert!(!err.contains("removed"), "{err}");
        assert!(dead_bpf.exists());
    }
}

/// True if xskit can prove here that no namespace has an inode (root may
/// be refused the namespace links of some processes, as of this VM's PID 1).
fn proves_absence() -> bool {
    let yes = xskit::app::shared::records::identity::Scan::new().can_prove_absence();
    if !yes {
        eprintln!("some process's namespaces are hidden from root here: xskit removes no state for want of a holder");
    }
    yes
}

#[test]
fn a_deleted_namespaces_state_goes_once_it_provably_no_longer_exists() {
    if !have_root("a_deleted_namespaces_state_goes_once_it_provably_no_longer_exists") {
        return;
    }
    let _serial = serial();
    let mut named = Named(Vec::new());
    let tag = format!("xst{}", std::process::id());
    let (c, d) = (format!("{tag}gone"), format!("{tag}here"));
    named.add(&c);
    named.add(&d);
    let cookie_c = cookie(&c);
    ok(&["filter", "add", "deny", "udp", "dst", "53", "--netns", &c]);
    assert!(bpf_dir(cookie_c).join("filter").exists());
    named.del(&c);
    struct Forget(u64);
    impl Drop for Forget {
        fn drop(&mut self) {
            let _ = state::forget_namespace(self.0);
        }
    }
    let _forget = Forget(cookie_c);
    let o = xskit(&["filter", "list", "--netns", &d]);
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let line = err
        .lines()
        .find(|l| l.contains(&format!("netns-{cookie_c}")))
        .map(str::to_string);
    if proves_absence() {
        let line = line.unwrap_or_else(|| panic!("nothing said about cookie {cookie_c}: {err}"));
        assert!(
            line.contains("removed") && line.contains("no longer exists"),
            "{line}"
        );
        assert!(!bpf_dir(cookie_c).exists() && !run_dir(cookie_c).exists());
    } else if let Some(line) = line {
        // Only a reused inode proves it gone here.
        assert!(line.contains("belongs to another namespace now"), "{line}");
        assert!(!bpf_dir(cookie_c).exists() && !run_dir(cookie_c).exists());
    } else {
        assert!(bpf_dir(cookie_c).join("filter").exists());
    }
    // D has nothing of C's.
    let list = json(&["filter", "list", "--json", "--netns", &d]);
    assert_eq!(list["rules"], Value::Array(vec![]), "{list}");
}

#[test]
fn a_failed_filter_load_leaves_no_rule_maps_it_made_and_keeps_those_that_were_there() {
    let _serial = serial();
    in_quiet_netns(
        "a_failed_filter_load_leaves_no_rule_maps_it_made_and_keeps_those_that_were_there",
        |p| {
            // Another tool's program holds the interface: the attach fails.
            attach_with_ip(&p.inner);
            let o = xskit(&["load", "filter", &p.inner, "--mode", "skb"]);
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(1), "{text}");
            assert!(text.contains(&p.inner), "{text}");
            let cookie = xskit::app::shared::records::identity::cookie().unwrap();
            assert!(
                !bpf_dir(cookie).join("filter").exists(),
                "the failed load left its rule maps: {:?}",
                tree(&bpf_dir(cookie))
            );
            assert!(!bpf_dir(cookie).exists(), "{:?}", tree(&bpf_dir(cookie)));
            assert!(!run_dir(cookie).exists(), "{:?}", tree(&run_dir(cookie)));

            // Maps that were there before stay, with their rules.
            ok(&["filter", "add", "deny", "src", "198.18.7.0/24"]);
            let o = xskit(&["load", "filter", &p.inner, "--mode", "skb"]);
            assert_eq!(o.status.code(), Some(1));
            let list: Value = serde_json::from_str(&ok(&["filter", "list", "--json"])).unwrap();
            assert_eq!(list["rules"][0]["rule"], "deny src 198.18.7.0/24", "{list}");
            netns::ip(&["link", "set", "dev", &p.inner, "xdpgeneric", "off"]).unwrap();
            ok(&["filter", "flush", "--maps"]);
            assert!(!bpf_dir(cookie).exists(), "{:?}", tree(&bpf_dir(cookie)));
        },
    );
}
