//! xskit beside libxdp 1.6 (xdp-tools 1.6.3, built by
//! `scripts/xdp-tools-build` into /opt/xdp-tools-1.6), whose dispatchers
//! are version 3 and which refuses to change a version 2 one. With those
//! tools first on `PATH`, xskit writes version 3 too (the version of the
//! dispatcher built into xdp-loader), in both orders:
//!
//! - xdp-filter 1.6 first (libxdp's version 3 dispatcher): `xskit load
//!   pass` joins it; `xskit status` says version 3 and lists both;
//!   `xdp-loader status` (1.6) lists xskit's; xskit's unload leaves the
//!   filter dropping its port;
//! - xskit first (`load pass --multiprog`: xskit's dispatcher, version 3):
//!   xdp-filter 1.6 adds its program beside it and drops its port; xskit's
//!   unload leaves the filter's.
//!
//! Ignored by default (it needs those tools, which Debian 12 does not
//! package): `XSKIT_VM_ONLY=multiprog_v3_kernel XSKIT_VM_FILTER=--ignored
//! scripts/vm-test 6.18` runs it.

mod common;

use common::row;
use std::net::UdpSocket;
use std::process::{Command, Output};
use std::time::Duration;
use xskit::app::shared::sandbox::State;
use xskit::testing::{have_root, in_inner, in_outer, sandbox};

const PREFIX: &str = "/opt/xdp-tools-1.6";
const DENIED: u16 = 7777;

fn objects() -> String {
    format!("{PREFIX}/lib/bpf")
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// A libxdp 1.6 tool, in the sandbox's inner namespace; fails the test
/// unless it succeeds.
fn tool(st: &State, name: &str, args: &[&str]) -> String {
    let o = in_inner(st, || {
        Command::new(format!("{PREFIX}/sbin/{name}"))
            .args(args)
            .env("LIBXDP_OBJECT_PATH", objects())
            .output()
            .unwrap_or_else(|e| panic!("{name}: {e}"))
    });
    assert!(o.status.success(), "{name} {args:?}: {}", text(&o));
    text(&o)
}

/// `xskit ARGS --sandbox NAME` where libxdp 1.6's tools come first on
/// `PATH`, as for an operator who runs them.
fn xskit(st: &State, args: &[&str]) -> String {
    let path = format!(
        "{PREFIX}/sbin:{}",
        std::env::var("PATH").unwrap_or_default()
    );
    let o = common::bin()
        .args(args)
        .args(["--sandbox", &st.name])
        .env("PATH", path)
        .output()
        .unwrap();
    assert!(o.status.success(), "xskit {args:?}: {}", text(&o));
    text(&o)
}

/// (by, version, program names) of the inner end's dispatcher as `xskit
/// status --json` gives it.
fn dispatcher(st: &State) -> (String, u64, Vec<String>) {
    let v: serde_json::Value =
        serde_json::from_str(&xskit(st, &["status", "--json"])).expect("status --json");
    let d = row(&v, &st.inner_if)["dispatcher"].clone();
    let names = d["programs"]
        .as_array()
        .unwrap_or_else(|| panic!("no dispatcher: {v}"))
        .iter()
        .map(|p| p["name"].as_str().unwrap_or("").to_string())
        .collect();
    (
        d["by"].as_str().unwrap_or("").to_string(),
        d["version"].as_u64().unwrap_or(0),
        names,
    )
}

/// Of 10 datagrams to the inner address on `port`, how many arrived.
fn arrivals(st: &State, port: u16) -> usize {
    let sock = in_inner(st, || UdpSocket::bind((st.inner_v4, port)).unwrap());
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    in_outer(st, || {
        let s = UdpSocket::bind((st.outer_v4, 0)).unwrap();
        for _ in 0..10 {
            s.send_to(b"xskit", (st.inner_v4, port)).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mut buf = [0u8; 64];
    std::iter::from_fn(|| sock.recv_from(&mut buf).ok()).count()
}

/// xskit's `xdp_pass` beside the filter: listed by xdp-loader 1.6, the
/// filter drops its port and the next arrives; after `xskit unload` the
/// filter's program is alone in a version 3 dispatcher and still drops.
fn listed_both_verdicts_then_unload(st: &State) {
    let ls = tool(st, "xdp-loader", &["status", &st.inner_if]);
    println!("xdp-loader status:\n{ls}");
    assert!(ls.contains("xdp_pass"), "{ls}");
    assert_eq!(arrivals(st, DENIED), 0);
    assert_eq!(arrivals(st, DENIED + 1), 10);
    xskit(st, &["unload", &st.inner_if]);
    let (_, version, names) = dispatcher(st);
    assert_eq!((version, names.len()), (3, 1), "{names:?}");
    assert!(!names.contains(&"xdp_pass".to_string()), "{names:?}");
    assert_eq!(arrivals(st, DENIED), 0);
}

struct Unload<'a>(&'a State);

impl Drop for Unload<'_> {
    fn drop(&mut self) {
        let st = self.0;
        in_inner(st, || {
            for (t, a) in [("xdp-filter", "unload"), ("xdp-loader", "unload")] {
                let _ = Command::new(format!("{PREFIX}/sbin/{t}"))
                    .args([a, &st.inner_if])
                    .args(if t == "xdp-loader" {
                        &["--all"][..]
                    } else {
                        &[]
                    })
                    .env("LIBXDP_OBJECT_PATH", objects())
                    .output();
            }
        });
    }
}

#[test]
#[ignore = "needs xdp-tools 1.6 in /opt/xdp-tools-1.6 (scripts/xdp-tools-build)"]
fn version_3_dispatchers_both_ways_with_libxdp_1_6() {
    if !have_root("version_3_dispatchers_both_ways_with_libxdp_1_6") {
        return;
    }
    let g = sandbox("mpv3").unwrap();
    let st = &g.0;
    let _unload = Unload(st);
    // (It prints its version and exits non-zero.)
    let v = Command::new(format!("{PREFIX}/sbin/xdp-loader"))
        .args(["status", "--version"])
        .output()
        .map(|o| text(&o))
        .unwrap_or_else(|e| format!("{PREFIX}/sbin/xdp-loader: {e} (scripts/xdp-tools-build)"));
    assert!(v.contains("version 1.6"), "{v}");

    // libxdp first.
    tool(st, "xdp-filter", &["load", "-m", "skb", &st.inner_if]);
    tool(st, "xdp-filter", &["port", &DENIED.to_string()]);
    assert_eq!(arrivals(st, DENIED), 0);
    let (by, version, names) = dispatcher(st);
    assert_eq!((by.as_str(), version, names.len()), ("libxdp", 3, 1));
    let out = xskit(st, &["load", "pass", &st.inner_if]);
    println!("xskit load pass: {out}");
    // Every change builds a new dispatcher: xskit's now, of the same
    // version.
    let (by, version, names) = dispatcher(st);
    println!("dispatcher by {by}, version {version}: {names:?}");
    assert_eq!(version, 3, "{names:?}");
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.contains(&"xdp_pass".to_string()), "{names:?}");
    listed_both_verdicts_then_unload(st);
    tool(st, "xdp-filter", &["unload", &st.inner_if]);

    // xskit first.
    let out = xskit(st, &["load", "pass", &st.inner_if, "--multiprog"]);
    println!("xskit load pass --multiprog: {out}");
    let (by, version, _) = dispatcher(st);
    assert_eq!((by.as_str(), version), ("xskit", 3));
    // In the dispatcher's mode (native on veth, xskit's first choice).
    tool(st, "xdp-filter", &["load", "-m", "native", &st.inner_if]);
    tool(st, "xdp-filter", &["port", &DENIED.to_string()]);
    let (by, version, names) = dispatcher(st);
    println!("after xdp-filter: by {by}, version {version}: {names:?}");
    assert_eq!(
        (by.as_str(), version, names.len()),
        ("libxdp", 3, 2),
        "{names:?}"
    );
    listed_both_verdicts_then_unload(st);
}
