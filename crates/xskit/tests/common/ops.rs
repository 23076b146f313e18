//! Set-up shared by the operator commands' tests (`load`, `unload`,
//! `status`, `filter`, `confirm`): a quiet link in a fresh namespace,
//! one test at a time, routes, another tool's program, traffic checks.

use super::{quiet_pair, send_udp_quick, Cleanup};
use std::net::Ipv4Addr;
use std::time::Duration;
use xskit::net::{netns, packet::PacketSocket};
use xskit::testing::{have_root, in_netns, Pair};

/// One test at a time within a test binary (its own lock): for tests that
/// read notes every xskit command may print about others' state.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Holds the test binary's lock until dropped.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Runs `f` as root in a fresh network namespace on a quiet link
/// ([`quiet_pair`]), removing xskit's state of that namespace afterwards
/// even when `f` fails; without root, says why `test` is skipped.
pub fn in_quiet_netns(test: &str, f: impl FnOnce(&Pair) + Send) {
    if !have_root(test) {
        return;
    }
    in_netns(|| {
        let p = quiet_pair();
        let _cleanup = Cleanup;
        f(&p);
    });
}

/// Makes the quiet link's inner end carry the default route (via the
/// peer's address), as the operator's own interface does.
pub fn default_route_via(p: &Pair) {
    netns::ip(&[
        "route",
        "add",
        "default",
        "via",
        "198.18.0.2",
        "dev",
        &p.inner,
    ])
    .unwrap();
}

/// Attaches `xdp_pass` to `iface` as another tool does (`ip link set
/// xdpgeneric obj`, over netlink), from an object file removed after.
pub fn attach_with_ip(iface: &str) {
    let obj = std::env::temp_dir().join(format!("xskit-foreign-{}-{iface}.o", std::process::id()));
    std::fs::write(&obj, xskit::xdp::Program::Pass.object()).unwrap();
    let done = netns::ip(&[
        "link",
        "set",
        "dev",
        iface,
        "xdpgeneric",
        "obj",
        obj.to_str().unwrap(),
        "sec",
        "xdp",
    ]);
    let _ = std::fs::remove_file(&obj);
    done.unwrap();
}

/// True if a datagram from the peer reaches the inner end's stack.
pub fn flows(p: &Pair, tap: &PacketSocket) -> bool {
    while tap.recv_incoming(Duration::ZERO).unwrap().is_some() {}
    send_udp_quick(p, Ipv4Addr::new(198, 18, 0, 2), 9, 1);
    tap.recv_incoming(Duration::from_millis(50))
        .unwrap()
        .is_some()
}
