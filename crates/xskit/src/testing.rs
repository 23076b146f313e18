//! Helpers for kernel tests, of the library's side: privilege check, a
//! private network namespace per test (so tests run in parallel and never
//! touch the host), sandboxes, veth pairs, test frames, quiet application
//! options. The helpers that run the `xskit` binary live with the tests
//! (`tests/common/mod.rs`), which alone know where it is.

use crate::net::{netns, veth};
use anyhow::Result;

/// Name of the environment variable that lets kernel tests skip without root.
pub const SKIP_ENV: &str = "XSKIT_SKIP_KERNEL_TESTS";

/// True when running as root. Without root a kernel test fails, unless
/// `XSKIT_SKIP_KERNEL_TESTS=1` says that skipping is intended: then this
/// prints why the test is skipped and returns false. Root that lacks a
/// capability still runs (and fails loudly).
///
/// # Panics
/// Without root and without the opt-out.
pub fn have_root(test: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    let why =
        "needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_BPF, CAP_SYS_ADMIN for network namespaces)";
    if std::env::var(SKIP_ENV).as_deref() == Ok("1") {
        eprintln!("SKIPPED {test}: {why}; {SKIP_ENV}=1 asked to skip");
        return false;
    }
    panic!("{test} {why}: run the tests as root, or set {SKIP_ENV}=1 to skip the kernel tests on purpose");
}

/// Runs `f` on a thread of its own inside a fresh, empty network namespace
/// (loopback up). Nothing it creates is visible outside, and everything it
/// created goes away with the thread.
pub fn in_netns<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        s.spawn(|| {
            netns::unshare_thread().expect("unshare a network namespace");
            f()
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// Names of a veth pair made by [`veth_pair`].
#[derive(Clone, Debug)]
pub struct Pair {
    /// The end xskit works on.
    pub inner: String,
    /// The far end, where test traffic comes from.
    pub peer: String,
}

/// Makes the veth pair `xsk0`–`peer0` in the current namespace.
pub fn veth_pair() -> Result<Pair> {
    veth_pair_named("xsk0", "peer0", 1)
}

/// Makes a veth pair with given names and queue count, both ends up.
pub fn veth_pair_named(inner: &str, peer: &str, queues: u32) -> Result<Pair> {
    veth::create(inner, peer, None, queues)?;
    Ok(Pair {
        inner: inner.into(),
        peer: peer.into(),
    })
}

/// A test frame: broadcast destination, EtherType 0x88b5 (IEEE local
/// experimental, so no stack reacts to it), and `payload`.
pub fn experimental_frame(src: [u8; 6], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(14 + payload.len());
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&EXPERIMENTAL_ETHERTYPE.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// EtherType of [`experimental_frame`].
pub const EXPERIMENTAL_ETHERTYPE: u16 = 0x88b5;

/// True if `frame` is an [`experimental_frame`].
pub fn is_experimental(frame: &[u8]) -> bool {
    frame.len() >= 14 && frame[12..14] == EXPERIMENTAL_ETHERTYPE.to_be_bytes()
}

/// A sandbox of its own for one test: a unique name, removed on drop.
pub fn sandbox(test: &str) -> Result<crate::app::shared::sandbox::Guard> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "xt{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        test
    );
    let name: String = name.chars().take(32).collect();
    let state =
        crate::app::shared::sandbox::up(&crate::app::shared::sandbox::UpArgs::named(&name))?;
    Ok(crate::app::shared::sandbox::Guard(state))
}

/// Runs `f` on a thread inside the sandbox's outer namespace.
pub fn in_outer<R: Send>(
    state: &crate::app::shared::sandbox::State,
    f: impl FnOnce() -> R + Send,
) -> R {
    state.in_outer(f).expect("enter the outer namespace")
}

/// Runs `f` on a thread inside the sandbox's inner namespace.
pub fn in_inner<R: Send>(
    state: &crate::app::shared::sandbox::State,
    f: impl FnOnce() -> R + Send,
) -> R {
    state.in_inner(f).expect("enter the inner namespace")
}

/// The running kernel's (major, minor), for tests of features that came
/// with a version.
pub fn kernel() -> (u32, u32) {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    crate::app::doctor::rules::kernel_version(release.trim())
}

/// Set by scripts/vm-test: the CPU is emulated (tens to a hundred times
/// slower), so tests that measure take shorter windows and longer deadlines.
pub fn slow() -> bool {
    std::env::var_os("XSKIT_TEST_SLOW").is_some()
}

/// `xskit echo`'s options for a responder on `iface` that waits in poll()
/// and prints nothing until its summary.
pub fn echo_args(iface: &str) -> crate::app::echo::EchoArgs {
    let mut a: crate::app::echo::EchoArgs = crate::app::shared::args::defaults();
    a.socket.interface = Some(iface.to_string());
    a.socket.poll = true;
    a.socket.quiet = true;
    a.socket.interval = std::time::Duration::from_secs(3600);
    a
}

/// Receives until `want` experimental frames ([`is_experimental`]) arrived
/// on `xsk` or 5 s passed, and returns their bytes; other frames (router
/// solicitations and such) are released at once.
pub fn recv_experimental(xsk: &mut xsk::Xsk, want: usize) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut batch = Vec::with_capacity(64);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while got.len() < want && std::time::Instant::now() < deadline {
        xsk.socket()
            .poll_rx(Some(std::time::Duration::from_millis(100)))
            .expect("poll the socket");
        xsk.recv(&mut batch, 64);
        for f in batch.drain(..) {
            let data = xsk.umem().data(&f);
            if is_experimental(data) {
                got.push(data.to_vec());
            }
            xsk.release(f);
        }
        xsk.refill(u32::MAX);
    }
    got
}

/// Kicks `xsk`'s TX and reaps its completions while reading the experimental
/// frames `peer` receives, until `want` arrived or 5 s passed, as an
/// application waits for its sends: on 6.1 and 6.12 a copy-mode frame's
/// buffer stays charged to the socket's SO_SNDBUF until the peer reads it,
/// so the kernel sends the last frames only after the reader made room.
pub fn collect_at_peer(
    xsk: &mut xsk::Xsk,
    peer: &crate::net::packet::PacketSocket,
    want: usize,
) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while got.len() < want && std::time::Instant::now() < deadline {
        xsk.flush().expect("kick TX");
        xsk.complete(u32::MAX);
        match peer
            .recv_incoming(std::time::Duration::from_millis(100))
            .expect("read the peer")
        {
            Some(f) if is_experimental(&f) => got.push(f),
            _ => {}
        }
    }
    got
}

/// Puts VLAN tag `tci` (802.1Q) on every frame `iface` sends, out of band
/// (in the socket buffer, as a NIC's VLAN offload would, not in the frame's
/// bytes): a tcx egress program calling `bpf_skb_vlan_push` (Linux 6.6+),
/// for kernels without VLAN devices (CONFIG_VLAN_8021Q off). Closing the
/// returned link removes it.
pub fn push_vlan_on_egress(iface: &str, tci: u16) -> Result<std::os::fd::OwnedFd> {
    const BPF_TCX_EGRESS: u32 = 47;
    use xskit_xdp::raw::insn;
    // r2 = htons(0x8100); r3 = tci; call bpf_skb_vlan_push (18); r0 = 0 (TCX_PASS); exit
    let prog: Vec<u8> = [
        insn(0xb7, 0x02, i32::from(0x8100u16.to_be())),
        insn(0xb7, 0x03, i32::from(tci)),
        insn(0x85, 0x00, 18),
        insn(0xb7, 0x00, 0),
        insn(0x95, 0x00, 0),
    ]
    .concat();
    const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
    let prog =
        xskit_xdp::raw::load_insns(BPF_PROG_TYPE_SCHED_CLS, BPF_TCX_EGRESS, &prog, "vlan_push")
            .map_err(|e| anyhow::anyhow!("loading the VLAN pusher: {e}"))?;
    xskit_xdp::raw::link_create(&prog, xsk::netdev::ifindex(iface)?, BPF_TCX_EGRESS, 0)
        .map_err(|e| anyhow::anyhow!("attaching the VLAN pusher to {iface}: {e}"))
}
