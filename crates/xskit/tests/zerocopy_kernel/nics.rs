//! The NIC pair from the runner and the helpers every zero-copy test uses.

use super::common;
use std::net::IpAddr;
use std::process::{Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use xsk::{FrameCopy, Xsk, XskConfig};
use xskit::net::{netns, packet::PacketSocket, ping::Pinger, veth};
use xskit::testing::{experimental_frame, is_experimental};
use xskit::xdp::{HookChoice, Program, XdpProgram};

/// The two NICs are shared by every test: one at a time.
pub(crate) static SERIAL: Mutex<()> = Mutex::new(());

pub(crate) struct Nics {
    pub(crate) a: String,
    pub(crate) b: String,
    _serial: MutexGuard<'static, ()>,
}

/// The NIC pair from `XSKIT_ZC_NICS`.
///
/// # Panics
/// Without the variable (anywhere: these tests are `#[ignore]`d, and a run
/// that asks for them without the NICs fails, never passes), without root,
/// or with a malformed variable.
pub(crate) fn nics(test: &str) -> Nics {
    let Ok(v) = std::env::var("XSKIT_ZC_NICS") else {
        panic!(
            "{test}: XSKIT_ZC_NICS unset: this test needs the two zero-copy NICs that \
             `scripts/vm-test --zero-copy` sets up and names"
        );
    };
    assert!(
        rustix::process::geteuid().is_root(),
        "{test}: needs root (XDP, AF_XDP, network namespaces)"
    );
    let names: Vec<&str> = v.split_whitespace().collect();
    assert_eq!(names.len(), 2, "XSKIT_ZC_NICS={v:?}: two interface names");
    let serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let n = Nics {
        a: names[0].into(),
        b: names[1].into(),
        _serial: serial,
    };
    // A test that failed may have left the link down or resetting.
    wait_carrier(&n.a);
    wait_carrier(&n.b);
    n
}

/// The bind this suite asks for: zero-copy, or copy under the mutation
/// check (`XSKIT_ZC_FORCE_COPY=1`).
pub(crate) fn bind_mode() -> FrameCopy {
    if std::env::var_os("XSKIT_ZC_FORCE_COPY").is_some() {
        FrameCopy::Copy
    } else {
        FrameCopy::ZeroCopy
    }
}

/// The commands' flag for [`bind_mode`].
pub(crate) fn bind_flag() -> &'static str {
    match bind_mode() {
        FrameCopy::Copy => "-c",
        _ => "-z",
    }
}

/// A small socket: 1024 frames, rings of 512.
pub(crate) fn config() -> XskConfig {
    XskConfig::default()
        .umem(xsk::UmemConfig::default().frame_count(1024))
        .fill_size(512)
        .comp_size(512)
        .rx_size(512)
        .tx_size(512)
        .bind(bind_mode())
        .need_wakeup(true)
        .multi_buffer(false)
}

/// The kernel says (XDP_OPTIONS) the socket is bound in zero-copy mode.
pub(crate) fn assert_zero_copy(xsk: &Xsk, iface: &str) {
    let zc = xsk
        .socket()
        .zero_copy()
        .expect("getsockopt(XDP_OPTIONS) answers");
    assert!(
        zc,
        "{iface}: the kernel reports a copy-mode bind (XDP_OPTIONS without XDP_OPTIONS_ZEROCOPY)"
    );
    assert!(xsk.is_zero_copy(), "{iface}: Xsk::is_zero_copy disagrees");
}

/// One of `iface`'s own counters (/sys/class/net/IF/statistics/NAME).
pub(crate) fn counter(iface: &str, name: &str) -> u64 {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/statistics/{name}"))
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

pub(crate) fn carrier(iface: &str) -> bool {
    std::fs::read_to_string(format!("/sys/class/net/{iface}/carrier"))
        .map(|c| c.trim() == "1")
        .unwrap_or(false)
}

/// igb resets its link on every XDP attach and zero-copy bind (about 2 s
/// without carrier): wait for it, up to 15 s, then a little more for the
/// hub's other port.
pub(crate) fn wait_carrier(iface: &str) {
    let end = Instant::now() + Duration::from_secs(15);
    // The reset may not have begun yet when this is called.
    std::thread::sleep(Duration::from_millis(100));
    while !carrier(iface) {
        assert!(Instant::now() < end, "{iface}: no carrier after 15 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
}

/// `n` experimental frames of varied lengths (60 to about 1500 bytes),
/// tagged with `tag` and their sequence number.
pub(crate) fn frames(src: [u8; 6], tag: u8, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let len = 46 + (i * 97) % 1440;
            let mut p: Vec<u8> = (0..len).map(|j| (i * 31 + j * 7) as u8 ^ tag).collect();
            p[0] = tag;
            p[1..5].copy_from_slice(&(i as u32).to_be_bytes());
            experimental_frame(src, &p)
        })
        .collect()
}

pub(crate) fn tagged(frame: &[u8], tag: u8) -> bool {
    is_experimental(frame) && frame.len() > 14 && frame[14] == tag
}

/// Receives on `xsk` until `want` frames tagged `tag` arrived or `secs`
/// passed, giving every frame back; returns the tagged ones' bytes.
pub(crate) fn recv_tagged(xsk: &mut Xsk, tag: u8, want: usize, secs: u64) -> Vec<Vec<u8>> {
    let mut got = Vec::new();
    let mut batch = Vec::with_capacity(64);
    let end = Instant::now() + Duration::from_secs(secs);
    while got.len() < want && Instant::now() < end {
        if xsk.fill_needs_wakeup() {
            xsk.socket().kick_rx().unwrap();
        }
        xsk.socket()
            .poll_rx(Some(Duration::from_millis(50)))
            .unwrap();
        xsk.recv(&mut batch, 64);
        for f in batch.drain(..) {
            let data = xsk.umem().data(&f);
            if tagged(data, tag) {
                got.push(data.to_vec());
            }
            xsk.release(f);
        }
        xsk.refill(u32::MAX);
    }
    got
}

/// An XDP program redirecting `iface`'s queue 0 to `xsk`, attached natively.
pub(crate) fn redirect_to(iface: &str, xsk: &Xsk) -> XdpProgram {
    let mut prog = XdpProgram::load(Program::Redirect, 1).unwrap();
    prog.register(0, xsk).unwrap();
    prog.attach(iface, HookChoice::Native, false)
        .unwrap_or_else(|e| panic!("native XDP on {iface}: {e}"));
    prog
}

/// Sends `frames` from `iface` (AF_PACKET) while `xsk` receives; returns
/// what arrived. Sent in bursts of 16 with the receiver drained between
/// them: an emulated NIC's ring is 256 descriptors.
pub(crate) fn send_and_receive(
    iface: &str,
    xsk: &mut Xsk,
    frames: &[Vec<u8>],
    tag: u8,
) -> Vec<Vec<u8>> {
    let tx = PacketSocket::bind(iface).unwrap();
    let mut got = Vec::new();
    for chunk in frames.chunks(16) {
        for f in chunk {
            tx.send(f).unwrap();
        }
        got.extend(recv_tagged(xsk, tag, chunk.len(), 2));
    }
    got.extend(recv_tagged(xsk, tag, frames.len() - got.len(), 5));
    got
}

/// A frame tagged `tag` sent from `from` until `xsk` sees one (up to 15 s):
/// the path is open (the hub, the driver's rings, the program).
pub(crate) fn until_path_open(from: &str, xsk: &mut Xsk, tag: u8) {
    let tx = PacketSocket::bind(from).unwrap();
    let f = experimental_frame(veth::mac(from).unwrap(), &[tag; 60]);
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        tx.send(&f).unwrap();
        if !recv_tagged(xsk, tag, 1, 1).is_empty() {
            return;
        }
        assert!(Instant::now() < end, "nothing from {from} arrived in 15 s");
    }
}

/// Moves `iface` into a new namespace `ns` for the life of the guard; the
/// namespace's deletion brings it back.
pub(crate) struct Moved {
    ns: String,
    iface: String,
}

impl Moved {
    pub(crate) fn new(iface: &str, ns: &str) -> Moved {
        let _ = netns::ip(&["netns", "del", ns]);
        netns::ip(&["netns", "add", ns]).unwrap();
        netns::ip(&["link", "set", iface, "netns", ns]).unwrap();
        netns::ip(&["-n", ns, "link", "set", "lo", "up"]).unwrap();
        netns::ip(&["-n", ns, "link", "set", iface, "up"]).unwrap();
        Moved {
            ns: ns.into(),
            iface: iface.into(),
        }
    }
}

impl Drop for Moved {
    fn drop(&mut self) {
        let _ = netns::ip(&["-n", &self.ns, "link", "set", &self.iface, "netns", "1"]);
        let _ = netns::ip(&["netns", "del", &self.ns]);
        let end = Instant::now() + Duration::from_secs(10);
        while !std::path::Path::new(&format!("/sys/class/net/{}", self.iface)).exists()
            && Instant::now() < end
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("sysctl")
            .args([
                "-qw",
                &format!("net.ipv6.conf.{}.disable_ipv6=1", self.iface),
            ])
            .status();
        let _ = netns::ip(&["link", "set", &self.iface, "up"]);
    }
}

/// Starts `xskit ARGS`, its input empty, its output and errors piped.
pub(crate) fn spawn_xskit(args: &[&str]) -> std::process::Child {
    common::cmd(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs `xskit ARGS` for its duration and returns its stdout and stderr;
/// `during` runs once the command has said what it set up (its first line
/// on stdout, printed when the socket is bound and the program attached):
/// under emulation that takes seconds, and what is sent before it meets
/// the kernel's stack instead (virtio-net, no link reset to wait for: all
/// pings were answered by the kernel, echo counted none).
pub(crate) fn run_xskit(args: &[&str], during: impl FnOnce()) -> String {
    use std::io::{BufRead, Read};
    let mut child = spawn_xskit(args);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut text = String::new();
    stdout.read_line(&mut text).unwrap();
    during();
    stdout.read_to_string(&mut text).unwrap();
    let o = child.wait_with_output().unwrap();
    text += &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "xskit {args:?}: {:?}\n{text}", o.status);
    text
}

/// Echo requests from namespace `ns` to `dst`, `count` of them, each
/// waited for up to 3 s; how many were answered. Through the kernel's ICMP
/// ping sockets (`xskit::net::ping`), not a `ping` binary: the guest shares
/// this machine's root file system, which has none (with `ip netns exec
/// ns ping` every ping "failed" here without being sent).
pub(crate) fn ping(ns: &str, dst: &str, count: u16) -> u32 {
    let dst: IpAddr = dst.parse().unwrap();
    netns::run_in(ns, || {
        // A new namespace opens ping sockets to no group.
        std::fs::write("/proc/sys/net/ipv4/ping_group_range", "0 0").unwrap();
        let p = Pinger::new(dst.is_ipv6()).unwrap();
        (0..count)
            .filter(|&seq| {
                let r = p.ping(dst, seq, b"xskit zero-copy echo", Duration::from_secs(3));
                matches!(r, Ok(Some(_)))
            })
            .count() as u32
    })
    .unwrap()
}
