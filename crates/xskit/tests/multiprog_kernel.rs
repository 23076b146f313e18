//! xskit beside libxdp (Debian 12's xdp-tools 1.3.1, `apt-get install
//! xdp-tools`): `xdp-loader` loads two of libxdp's own programs on a veth
//! in a fresh namespace, and xskit must describe and refuse what it finds.
//!
//! Which of two things happens is decided by the kernel, found by a real
//! load of an extension program (`xskit_xdp::ext_probe`):
//! - it loads them (Debian's kernels in `scripts/vm-test`): libxdp builds
//!   a dispatcher with both programs; `xskit status` (JSON and text) lists
//!   both with the names and priorities `xdp-loader status` gives, and
//!   `xskit load --exclusive` and `xskit echo --exclusive` refuse the
//!   interface naming the dispatcher and its programs, `xskit unload --any`
//!   leaves it; `doctor` says extensions load. (Before 5.14 the operator commands refuse for
//!   want of namespace cookies: there only `doctor` and `echo` are checked.)
//! - it refuses them (this development machine's 6.18, EPERM): libxdp
//!   attaches the first program alone and refuses the second, so xskit must
//!   see no dispatcher and refuse as beside any other tool's program, and
//!   `doctor` says no, with the kernel's EPERM.
//!
//! Either way the probe, doctor and what libxdp managed must agree. Without
//! xdp-loader the test fails saying so (it never skips as root).
//!
//! The tests after it put xskit's drop program in a dispatcher of xskit's
//! own (`xskit_xdp::multiprog`) and have xdp-loader join and leave it, and
//! the other way round, checking each program's counters and whether
//! frames reach the stack; where extensions are refused, the one-line
//! refusal (docs/testing.md).

mod common;

use common::{flows, ok, row, send_udp, xskit};
use std::net::Ipv4Addr;
use std::process::{Command, Output};
use xskit::net::packet::PacketSocket;
use xskit::testing::{have_root, in_netns, veth_pair, Pair};
use xskit::xdp::dispatcher::{self, libxdp_dir};
use xskit::xdp::ext_probe::{probe, ExtSupport};
use xskit::xdp::multiprog::{
    self, counters_of, Detached, Mode, MultiprogError, RunConfig, CHAIN_ON_PASS,
};
use xskit::xdp::Program;

const LOADER: &str = "/usr/sbin/xdp-loader";
/// libxdp's objects, as Debian 12's libxdp1 installs them.
const OBJECTS: &str = "/usr/lib/x86_64-linux-gnu/bpf";
/// Two programs of xdp-tools: xdp-filter's allow-all, libxdp's AF_XDP one.
const FIRST: &str = "xdpfilt_alw_all.o";
const SECOND: &str = "xsk_def_xdp_prog.o";

/// One test at a time: xdp-loader refuses to run beside itself ("Unable to
/// read PID from lockfile") and [`Unload`] removes libxdp's folder, which
/// another test's xdp-loader may be using.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn loader(args: &[&str]) -> Output {
    // Spawned from this thread: in its network namespace, with the
    // machine's mounts (bpffs; `ip netns exec` would remount /sys).
    Command::new(LOADER)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {LOADER}: {e}"))
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// libxdp's pins outlive the namespace: unload what xdp-loader put there.
struct Unload(String);

impl Drop for Unload {
    fn drop(&mut self) {
        let _ = loader(&["unload", &self.0, "--all"]);
        // libxdp's folders, if it made them and nothing else is in them
        // (not where `xdp` is iproute2's link to its own `tc`).
        let dir = xskit::xdp::dispatcher::libxdp_dir();
        if std::fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir()) {
            let _ = std::fs::remove_dir(dir.join("globals"));
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// (name, priority) of each program `xdp-loader status` lists under a
/// dispatcher on `iface` (its `=>` lines: priority, name, id, tag, chain
/// actions).
fn loader_components(iface: &str) -> Vec<(String, u32)> {
    let o = loader(&["status", iface]);
    let t = text(&o);
    let list: Vec<(String, u32)> = t
        .lines()
        .filter_map(|l| l.split_once("=>"))
        .filter_map(|(_, rest)| {
            let w: Vec<&str> = rest.split_whitespace().collect();
            Some((w.get(1)?.to_string(), w.first()?.parse().ok()?))
        })
        .collect();
    assert_eq!(
        list.len(),
        2,
        "xdp-loader status {iface} lists no two programs:\n{t}"
    );
    list
}

/// `xskit status --json`'s row of `iface`, or `None` where the kernel has
/// no namespace cookies (before 5.14: the operator commands refuse, in one
/// line naming SO_NETNS_COOKIE).
fn status_row(iface: &str) -> Option<serde_json::Value> {
    let o = xskit(&["status", "--json"]);
    if !o.status.success() {
        assert!(
            text(&o).contains("SO_NETNS_COOKIE"),
            "xskit status: {}",
            text(&o)
        );
        return None;
    }
    Some(row(&serde_json::from_slice(&o.stdout).unwrap(), iface))
}

/// The kernel loads extensions: libxdp made a dispatcher of both programs.
fn check_dispatcher(i: &str, doctor: &serde_json::Value, second: &Output) {
    assert!(
        second.status.success(),
        "xdp-loader load {SECOND}: {}",
        text(second)
    );
    assert_eq!(doctor["bpf"]["extensions"]["value"], "yes", "{doctor}");
    let owner = doctor["interfaces"][0]["attached"]["owner"]
        .as_str()
        .unwrap_or("");
    assert!(
        owner.starts_with("a libxdp dispatcher (v2, program id"),
        "{doctor}"
    );
    let want = loader_components(i);
    // xskit joins a dispatcher by default; told --exclusive, it refuses.
    let echo = xskit(&["echo", "-i", i, "-d", "1s", "--exclusive"]);
    let mut refusals = vec![("echo", echo)];
    if let Some(status) = status_row(i) {
        assert_eq!(status["program"], "xdp_dispatcher", "{status}");
        let d = &status["dispatcher"];
        assert_eq!(d["version"], 2, "{status}");
        let mut got: Vec<(String, u32)> = d["programs"]
            .as_array()
            .unwrap_or_else(|| panic!("no dispatcher in xskit status: {status}"))
            .iter()
            .map(|c| {
                assert!(c["id"].as_u64().is_some(), "{status}");
                let name = c["name"].as_str().unwrap().to_string();
                (name, c["priority"].as_u64().unwrap() as u32)
            })
            .collect();
        let mut w = want.clone();
        got.sort();
        w.sort();
        assert_eq!(
            got, w,
            "xskit status {status} against xdp-loader's {want:?}"
        );
        // unload --any leaves a dispatcher to libxdp.
        let un = xskit(&["unload", i, "--any"]);
        assert_eq!(un.status.code(), Some(1), "unload --any: {}", text(&un));
        assert!(
            text(&un).contains("leaving it, also with --any"),
            "{}",
            text(&un)
        );
        let still = status_row(i).unwrap();
        assert_eq!(
            still["id"], status["id"],
            "unload --any took the dispatcher: {still}"
        );
        let t = ok(&["status"]);
        println!("xskit status:\n{t}");
        assert!(
            t.contains("dispatcher by libxdp, version 2: 2 program(s)"),
            "{t}"
        );
        refusals.push(("load", xskit(&["load", "pass", i, "--exclusive"])));
    }
    for (what, o) in refusals {
        let t = text(&o);
        println!("xskit {what}: {t}");
        assert!(!o.status.success(), "xskit {what} beside libxdp: {t}");
        assert!(
            t.contains("a libxdp dispatcher (v2, program id"),
            "{what}: {t}"
        );
        assert!(
            t.contains("xskit joins it unless told --exclusive"),
            "{what}: {t}"
        );
        for (name, prio) in &want {
            assert!(t.contains(&format!("{name} prio {prio}")), "{what}: {t}");
        }
        assert_eq!(t.trim().lines().count(), 1, "{what}: not one line: {t}");
    }
}

/// The kernel refuses extensions: libxdp attached its first program alone
/// and refused the second; xskit sees another tool's program.
fn check_lone(i: &str, doctor: &serde_json::Value, second: &Output, errno: Option<i32>) {
    assert!(
        !second.status.success(),
        "xdp-loader load {SECOND} succeeded: {}",
        text(second)
    );
    let ext = &doctor["bpf"]["extensions"];
    assert_eq!(ext["value"], "no", "{doctor}");
    if errno == Some(libc::EPERM) {
        let why = ext["why"].as_str().unwrap();
        assert!(
            why.starts_with("EPERM: this kernel refuses extension programs"),
            "{why}"
        );
    }
    if let Some(status) = status_row(i) {
        assert_ne!(status["program"], "xdp_dispatcher", "{status}");
        assert!(status.get("dispatcher").is_none(), "{status}");
        let o = xskit(&["load", "pass", i]);
        let refusal = text(&o);
        assert!(!o.status.success(), "xskit load beside libxdp: {refusal}");
        assert!(refusal.contains("another tool's"), "{refusal}");
        assert!(!refusal.contains("dispatcher"), "{refusal}");
    }
}

#[test]
fn libxdp_programs_are_listed_and_refused_by_name() {
    if !have_root("libxdp_programs_are_listed_and_refused_by_name") {
        return;
    }
    let _serial = serial();
    assert!(
        std::path::Path::new(LOADER).exists(),
        "{LOADER} not found: install Debian's xdp-tools (`apt-get install xdp-tools`); this test \
         compares xskit with libxdp's own loader"
    );
    let seen = probe();
    println!("extension probe: {seen:?}");
    in_netns(|| {
        let p = veth_pair().unwrap();
        let i = p.inner.as_str();
        let _unload = Unload(i.to_string());
        let first = loader(&["load", "-m", "skb", i, &format!("{OBJECTS}/{FIRST}")]);
        assert!(
            first.status.success(),
            "xdp-loader load {FIRST}: {}",
            text(&first)
        );
        let second = loader(&["load", "-m", "skb", i, &format!("{OBJECTS}/{SECOND}")]);
        println!(
            "xdp-loader load {SECOND}: {:?} {}",
            second.status,
            text(&second)
        );
        let doctor: serde_json::Value =
            serde_json::from_str(&ok(&["doctor", i, "--json"])).unwrap();
        println!("doctor: extensions {}", doctor["bpf"]["extensions"]);
        match seen {
            ExtSupport::Loads => check_dispatcher(i, &doctor, &second),
            ExtSupport::Refused { errno, .. } => check_lone(i, &doctor, &second, errno),
            ExtSupport::NoTarget(why) => {
                panic!("the extension probe could not load its XDP program: {why}")
            }
        }
    });
}

// xskit's own dispatcher (xskit_xdp::multiprog), laid out as libxdp's
// version 2, with libxdp's xdp-loader joining it and leaving it, and the
// other way round. Where the kernel refuses extension programs, xskit must
// refuse in one line naming them and change nothing.

/// xskit's component: the drop program, after libxdp's default priority
/// (xdp-filter's programs are 10), so that theirs pass each frame on to it.
const OURS: Program = Program::Drop;
const OUR_PRIO: u32 = 60;

/// (name, priority, id) of each program `xdp-loader status` lists under a
/// dispatcher on `iface`.
fn loader_list(iface: &str) -> Vec<(String, u32, u32)> {
    let t = text(&loader(&["status", iface]));
    println!("xdp-loader status {iface}:\n{t}");
    t.lines()
        .filter_map(|l| l.split_once("=>"))
        .filter_map(|(_, rest)| {
            let w: Vec<&str> = rest.split_whitespace().collect();
            Some((
                w.get(1)?.to_string(),
                w.first()?.parse().ok()?,
                w.get(2)?.parse().ok()?,
            ))
        })
        .collect()
}

/// Sends `n` frames to `p.inner` and returns how many more xskit's
/// component dropped and (if given) libxdp's program `theirs` passed.
fn frames(p: &Pair, ours: u32, theirs: Option<u32>, n: usize) -> (u64, Option<u64>) {
    let drops = || counters_of(ours, "xskit_stats").unwrap().dropped.packets;
    let passes = |id| counters_of(id, "xdp_stats_map").unwrap().passed.packets;
    let (d0, p0) = (drops(), theirs.map(passes));
    send_udp(p, Ipv4Addr::new(198, 18, 0, 2), 9, n);
    (drops() - d0, theirs.map(|id| passes(id) - p0.unwrap()))
}

/// A veth pair that carries only the test's frames: IPv6 off (no router
/// solicitations, no DAD) and no addresses (nothing answers them), so the
/// counters count exactly what [`frames`] sends.
fn silent_pair() -> Pair {
    for f in ["all", "default"] {
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{f}/disable_ipv6"), "1").unwrap();
    }
    veth_pair().unwrap()
}

fn dispatch_dirs(ifindex: u32) -> Vec<String> {
    let prefix = format!("dispatch-{ifindex}-");
    std::fs::read_dir(libxdp_dir())
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

fn no_xdp(iface: &str) -> bool {
    let o = Command::new("ip")
        .args(["-d", "link", "show", "dev", iface])
        .output()
        .unwrap();
    let t = String::from_utf8_lossy(&o.stdout);
    !t.contains("prog/xdp")
}

/// Where the kernel refuses extension programs: one line naming them,
/// nothing attached, nothing pinned.
fn check_refused(i: &str) {
    let ifindex = xsk::netdev::ifindex(i).unwrap();
    let e = multiprog::attach(OURS, i, Mode::Skb, RunConfig::default()).unwrap_err();
    let t = e.to_string();
    println!("xskit_xdp::multiprog::attach: {t}");
    assert!(
        matches!(e, MultiprogError::ExtensionsRefused { .. }),
        "{e:?}"
    );
    assert!(
        t.contains("refuses extension programs (BPF_PROG_TYPE_EXT)"),
        "{t}"
    );
    assert!(t.contains(&format!("cannot attach xdp_drop to {i}")), "{t}");
    assert_eq!(t.lines().count(), 1, "not one line: {t}");
    assert!(no_xdp(i), "something is attached to {i} after a refusal");
    assert_eq!(dispatch_dirs(ifindex), Vec::<String>::new());
}

#[test]
fn xskit_dispatcher_first_then_xdp_loader_joins_and_leaves() {
    if !have_root("xskit_dispatcher_first_then_xdp_loader_joins_and_leaves") {
        return;
    }
    let _serial = serial();
    assert!(std::path::Path::new(LOADER).exists(), "{LOADER} not found");
    let seen = probe();
    println!("extension probe: {seen:?}");
    in_netns(|| {
        let p = silent_pair();
        let i = p.inner.as_str();
        let _unload = Unload(i.to_string());
        match seen {
            ExtSupport::Loads => {}
            ExtSupport::Refused { .. } => return check_refused(i),
            ExtSupport::NoTarget(why) => panic!("the extension probe failed: {why}"),
        }
        let ifindex = xsk::netdev::ifindex(i).unwrap();
        let run = RunConfig {
            priority: OUR_PRIO,
            chain_actions: CHAIN_ON_PASS,
        };
        let ours = multiprog::attach(OURS, i, Mode::Skb, run).unwrap();
        println!("attached: {ours:?}");
        assert_eq!(ours.slot, 0);
        assert!(ours.pin_dir.join("prog0-link").exists());
        assert!(ours.pin_dir.join("prog0-prog").exists());
        // xskit's reader of libxdp's dispatchers reads ours.
        let d = dispatcher::inspect(ours.dispatcher_id, ifindex)
            .unwrap()
            .unwrap();
        assert_eq!(
            d.to_string(),
            format!(
                "xskit's dispatcher of libxdp's protocol (v2, program id {}, 1 program: xdp_drop prio {OUR_PRIO})",
                ours.dispatcher_id
            )
        );
        // libxdp reads it too.
        assert_eq!(
            loader_list(i),
            [("xdp_drop".to_string(), OUR_PRIO, ours.program_id)]
        );
        assert_eq!(frames(&p, ours.program_id, None, 5).0, 5);
        // The dispatcher's verdict is ours: the stack sees nothing.
        let tap = PacketSocket::bind(i).unwrap();
        assert!(!flows(&p, &tap), "a frame passed xskit's drop component");

        // xdp-loader adds xdp-filter's allow-all (priority 10) beside it.
        let add = loader(&["load", "-m", "skb", i, &format!("{OBJECTS}/{FIRST}")]);
        assert!(add.status.success(), "xdp-loader load: {}", text(&add));
        let list = loader_list(i);
        assert_eq!(list.len(), 2, "{list:?}");
        assert_eq!((list[0].0.as_str(), list[0].1), ("xdpfilt_alw_all", 10));
        assert_eq!(list[1], ("xdp_drop".to_string(), OUR_PRIO, ours.program_id));
        let theirs = list[0].2;
        // Each frame: theirs passes it on, ours drops it.
        assert_eq!(frames(&p, ours.program_id, Some(theirs), 5), (5, Some(5)));
        assert!(!flows(&p, &tap), "a frame passed both components");

        // Theirs goes; ours stays and still drops.
        let un = loader(&["unload", i, "--id", &theirs.to_string()]);
        assert!(un.status.success(), "xdp-loader unload --id: {}", text(&un));
        assert_eq!(
            loader_list(i),
            [("xdp_drop".to_string(), OUR_PRIO, ours.program_id)]
        );
        assert_eq!(frames(&p, ours.program_id, None, 5).0, 5);
        assert!(!flows(&p, &tap), "a frame passed xskit's drop component");

        // Ours goes: the dispatcher (libxdp's now) and its pins with it.
        let gone = multiprog::detach(i, ours.program_id).unwrap();
        println!("detached: {gone:?}");
        assert!(
            matches!(gone, Detached::DispatcherRemoved { .. }),
            "{gone:?}"
        );
        assert!(no_xdp(i), "XDP still attached to {i}");
        assert_eq!(dispatch_dirs(ifindex), Vec::<String>::new());
        assert!(
            flows(&p, &tap),
            "frames do not reach the stack after the detach"
        );
    });
}

#[test]
fn xdp_loader_first_then_xskit_joins_and_leaves() {
    if !have_root("xdp_loader_first_then_xskit_joins_and_leaves") {
        return;
    }
    let _serial = serial();
    assert!(std::path::Path::new(LOADER).exists(), "{LOADER} not found");
    let seen = probe();
    in_netns(|| {
        let p = silent_pair();
        let i = p.inner.as_str();
        let _unload = Unload(i.to_string());
        let first = loader(&["load", "-m", "skb", i, &format!("{OBJECTS}/{FIRST}")]);
        assert!(first.status.success(), "xdp-loader load: {}", text(&first));
        match seen {
            ExtSupport::Loads => {}
            // libxdp attached its program alone: no dispatcher to join.
            ExtSupport::Refused { .. } => {
                let e = multiprog::attach(OURS, i, Mode::Skb, RunConfig::default()).unwrap_err();
                let t = e.to_string();
                println!("xskit_xdp::multiprog::attach: {t}");
                assert!(t.contains("which is no dispatcher: remove it first"), "{t}");
                assert_eq!(t.lines().count(), 1, "{t}");
                return;
            }
            ExtSupport::NoTarget(why) => panic!("the extension probe failed: {why}"),
        }
        let ifindex = xsk::netdev::ifindex(i).unwrap();
        let theirs = loader_list(i)[0].2;
        let run = RunConfig {
            priority: OUR_PRIO,
            chain_actions: CHAIN_ON_PASS,
        };
        let ours = multiprog::attach(OURS, i, Mode::Skb, run).unwrap();
        println!("attached: {ours:?}");
        assert_eq!(ours.slot, 1);
        let list = loader_list(i);
        assert_eq!(
            list,
            [
                ("xdpfilt_alw_all".to_string(), 10, theirs),
                ("xdp_drop".to_string(), OUR_PRIO, ours.program_id)
            ]
        );
        assert_eq!(
            dispatch_dirs(ifindex),
            [format!("dispatch-{ifindex}-{}", ours.dispatcher_id)]
        );
        assert_eq!(frames(&p, ours.program_id, Some(theirs), 5), (5, Some(5)));
        let tap = PacketSocket::bind(i).unwrap();
        assert!(!flows(&p, &tap), "a frame passed both components");
        // Ours goes; theirs stays in a new dispatcher.
        let gone = multiprog::detach(i, ours.program_id).unwrap();
        println!("detached: {gone:?}");
        assert!(
            matches!(gone, Detached::Rebuilt { components: 1, .. }),
            "{gone:?}"
        );
        assert_eq!(
            loader_list(i),
            [("xdpfilt_alw_all".to_string(), 10, theirs)]
        );
        let before = counters_of(theirs, "xdp_stats_map").unwrap().passed.packets;
        send_udp(&p, Ipv4Addr::new(198, 18, 0, 2), 9, 3);
        assert_eq!(
            counters_of(theirs, "xdp_stats_map").unwrap().passed.packets - before,
            3
        );
        assert!(
            flows(&p, &tap),
            "xdpfilt_alw_all alone does not pass frames"
        );
        // libxdp removes what is left, pins included.
        let un = loader(&["unload", i, "--all"]);
        assert!(
            un.status.success(),
            "xdp-loader unload --all: {}",
            text(&un)
        );
        assert!(no_xdp(i));
        assert_eq!(dispatch_dirs(ifindex), Vec::<String>::new());
    });
}

/// xskit's dispatcher, and the probe object whose `probe_ext_pkt` changes
/// packet data (`bpf_xdp_adjust_head`).
static XSKIT_DISPATCHER: &[u8] =
    aya::include_bytes_aligned!("../../xskit-xdp/bpf/xdp_dispatcher.o");
static EXT_PROBE: &[u8] = aya::include_bytes_aligned!("../../xskit-xdp/bpf/xdp_ext_probe.o");

/// Loads (never attaches) the dispatcher `object` with a configuration of
/// one slot written into its `.rodata` symbol `symbol`; the loaded object
/// and the program's descriptor.
fn loaded_dispatcher(object: &[u8], symbol: &str) -> (aya::Ebpf, aya::programs::ProgramFd) {
    let mut c = dispatcher::DispatcherConfig {
        version: 2,
        num_progs_enabled: 1,
        is_xdp_frags: false,
        is_xdp_devbound: None,
        chain_call_actions: [0; 10],
        run_prios: [0; 10],
        program_flags: [0; 10],
    };
    c.chain_call_actions[0] = CHAIN_ON_PASS | 1 << 31;
    c.run_prios[0] = 50;
    let bytes = c.to_bytes();
    let mut ebpf = aya::EbpfLoader::new()
        .override_global(symbol, bytes.as_slice(), true)
        .load(object)
        .unwrap_or_else(|e| panic!("parsing a dispatcher object: {e}"));
    let xdp: &mut aya::programs::Xdp = ebpf
        .program_mut("xdp_dispatcher")
        .unwrap()
        .try_into()
        .unwrap();
    xdp.load()
        .unwrap_or_else(|e| panic!("loading a dispatcher: {e}"));
    let fd = xdp.fd().unwrap().try_clone().unwrap();
    (ebpf, fd)
}

/// Loads `probe_ext_pkt` in place of `prog0` of `target`; the errno if
/// the kernel refuses.
fn packet_changer_in_place_of_prog0(target: &aya::programs::ProgramFd) -> Result<(), Option<i32>> {
    let mut ebpf = aya::EbpfLoader::new().load(EXT_PROBE).unwrap();
    let ext: &mut aya::programs::Extension = ebpf
        .program_mut("probe_ext_pkt")
        .unwrap()
        .try_into()
        .unwrap();
    ext.load(target.try_clone().unwrap(), "prog0")
        .map_err(|e| match e {
            aya::programs::ProgramError::LoadError { io_error, .. } => io_error.raw_os_error(),
            _ => None,
        })
}

/// The stubs of xskit's dispatcher make a no-op `bpf_xdp_adjust_tail`
/// call, so that a component that changes packet data may replace them
/// where the kernel checks that (6.13, 6.12.25): it must load in place of
/// `prog0` on every kernel that loads extensions. (libxdp 1.3.1's stubs
/// make no such call: what the kernel says of them is printed.)
#[test]
fn packet_changing_components_replace_xskits_stubs() {
    if !have_root("packet_changing_components_replace_xskits_stubs") {
        return;
    }
    let seen = probe();
    let (_ours, ours) = loaded_dispatcher(XSKIT_DISPATCHER, "xskit_disp_config");
    let got = packet_changer_in_place_of_prog0(&ours);
    println!(
        "extension probe: {seen:?}; packet-changing extension in place of xskit's prog0: {got:?}"
    );
    match seen {
        ExtSupport::Loads => assert_eq!(
            got,
            Ok(()),
            "xskit's stub refused a packet-changing component"
        ),
        ExtSupport::Refused { errno, .. } => assert_eq!(got, Err(errno)),
        ExtSupport::NoTarget(why) => panic!("the extension probe failed: {why}"),
    }
    let libxdp = format!("{OBJECTS}/xdp-dispatcher.o");
    if let Ok(object) = std::fs::read(&libxdp) {
        let (_theirs, theirs) = loaded_dispatcher(&object, "conf");
        println!(
            "packet-changing extension in place of libxdp 1.3.1's prog0: {:?}",
            packet_changer_in_place_of_prog0(&theirs)
        );
    }
}
