//! Faults on zero-copy NICs: a bind under a program already attached, and a
//! NIC hot-unplugged (PCI remove, as a VM's host can do) under a command.

use super::common;
use super::nics::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use xsk::Xsk;
use xskit::net::netns;
use xskit::xdp::{HookChoice, Program, XdpProgram};

#[test]
#[ignore = "needs two zero-copy NICs: scripts/vm-test --zero-copy"]
fn a_bind_under_an_attached_program_receives() {
    let n = nics("a_bind_under_an_attached_program_receives");
    // The program first, as a library user attaching with aya would, then
    // the socket: FILL must hold frames when the bind sets the driver's ring
    // up (`XskConfig::prefill`, on by default). igb took no FILL frame
    // given after such a bind: its RX wake-up reaches the TX interrupt.
    let mut prog = XdpProgram::load(Program::Redirect, 1).unwrap();
    prog.attach(&n.a, HookChoice::Native, false)
        .unwrap_or_else(|e| panic!("native XDP on {}: {e}", n.a));
    wait_carrier(&n.a);
    let mut xsk = Xsk::new(&n.a, 0, &config()).unwrap();
    assert_zero_copy(&xsk, &n.a);
    prog.register(0, &xsk).unwrap();
    wait_carrier(&n.a);
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        until_path_open(&n.b, &mut xsk, 0x30)
    }));
    let acc = xsk.accounting();
    drop(prog);
    drop(xsk);
    wait_carrier(&n.a);
    assert!(
        opened.is_ok(),
        "nothing arrived on a socket bound under an attached program: {acc:?}"
    );
}

/// The PCI device of `iface`: its `device` link (igb), or the nearest
/// ancestor of it that has a `remove` file (virtio-net's link names the
/// virtio device, a child of the PCI function).
fn pci_device(iface: &str) -> PathBuf {
    let dev = std::fs::canonicalize(format!("/sys/class/net/{iface}/device"))
        .unwrap_or_else(|e| panic!("{iface}: no device link: {e}"));
    dev.ancestors()
        .find(|p| p.join("remove").exists() && p.join("vendor").exists())
        .unwrap_or_else(|| panic!("{iface}: no PCI device above {}", dev.display()))
        .to_path_buf()
}

/// Brings the removed NIC back (a PCI rescan), under its old name, as the
/// runner set it up: IPv6 off, up, one queue, carrier.
fn rescan_and_restore(iface: &str, mac: [u8; 6]) {
    std::fs::write("/sys/bus/pci/rescan", "1").unwrap();
    let end = Instant::now() + Duration::from_secs(20);
    let name = loop {
        let found = std::fs::read_dir("/sys/class/net")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| xskit::net::veth::mac(n).ok() == Some(mac));
        if let Some(n) = found {
            break n;
        }
        assert!(
            Instant::now() < end,
            "{iface}: not back 20 s after a PCI rescan"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    if name != iface {
        netns::ip(&["link", "set", &name, "name", iface]).unwrap();
    }
    let _ = Command::new("sysctl")
        .args(["-qw", &format!("net.ipv6.conf.{iface}.disable_ipv6=1")])
        .status();
    netns::ip(&["link", "set", iface, "up"]).unwrap();
    let _ = Command::new("ethtool")
        .args(["-L", iface, "combined", "1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    wait_carrier(iface);
}

#[test]
#[ignore = "needs two zero-copy NICs: scripts/vm-test --zero-copy"]
fn a_nic_removed_under_a_command_ends_it_within_2_s_with_one_line() {
    use std::io::{BufRead, Read};
    let n = nics("a_nic_removed_under_a_command_ends_it_within_2_s_with_one_line");
    let pci = pci_device(&n.a);
    let mac = xskit::net::veth::mac(&n.a).unwrap();
    for args in [
        vec!["echo", "-i", &n.a, bind_flag(), "-N", "-Q"],
        vec!["rxdrop", "-i", &n.a, bind_flag(), "-N", "-Q", "-p"],
    ] {
        let mut child = spawn_xskit(&args);
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        // The attach resets igb's link; the command runs on.
        wait_carrier(&n.a);
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} ended before the removal: {first}"
        );
        let removed = Instant::now();
        // The write returns once the driver let the device go: in a thread,
        // so that a removal that hangs shows as the command not ending.
        let remove = pci.join("remove");
        let writer = std::thread::spawn(move || std::fs::write(remove, "1"));
        let end = removed + Duration::from_secs(10);
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break Some(s);
            }
            if Instant::now() > end {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let took = removed.elapsed();
        let mut rest = String::new();
        let _ = stdout.read_to_string(&mut rest);
        let mut err = String::new();
        let _ = child.stderr.take().unwrap().read_to_string(&mut err);
        let _ = child.wait();
        let wrote = writer.join().unwrap();
        rescan_and_restore(&n.a, mac);
        wrote.unwrap_or_else(|e| panic!("PCI remove of {}: {e}", pci.display()));
        let Some(status) = status else {
            panic!("{args:?} still running 10 s after the NIC was removed: {first}{rest}{err}")
        };
        assert!(
            first.contains("zero-copy"),
            "{args:?} did not bind zero-copy: {first}"
        );
        assert!(
            took < Duration::from_secs(2),
            "{args:?} took {took:?} to end: {err}"
        );
        assert!(!status.success(), "{args:?} exited 0: {err}");
        assert!(err.contains("gone"), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: one line: {err}");
        eprintln!("{args:?}: ended {took:?} after the removal: {}", err.trim());
        assert!(Path::new(&format!("/sys/class/net/{}", n.a)).exists());
    }
}

/// The guest's virtio-net NIC without VIRTIO_F_ACCESS_PLATFORM (QEMU's
/// iommu_platform off), found by the MAC `scripts/vm-test` gives it.
fn plain_virtio() -> String {
    let mac = [0x52, 0x54, 0, 0, 0x12, 0x01];
    let find = || {
        std::fs::read_dir("/sys/class/net")
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| xskit::net::veth::mac(n).ok() == Some(mac))
    };
    if let Some(n) = find() {
        return n;
    }
    // The runner loads each model's driver when its turn comes: in igb's,
    // virtio_net may not be loaded yet.
    let _ = Command::new("modprobe").arg("virtio_net").status();
    let end = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(n) = find() {
            return n;
        }
        assert!(
            Instant::now() < end,
            "the runner's plain virtio-net NIC (MAC 52:54:00:00:12:01) is not there"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs two zero-copy NICs: scripts/vm-test --zero-copy"]
fn virtio_net_without_access_platform_refuses_zero_copy_and_says_why() {
    let _n = nics("virtio_net_without_access_platform_refuses_zero_copy_and_says_why");
    let plain = plain_virtio();
    netns::ip(&["link", "set", &plain, "up"]).unwrap();
    // The mutation check binds in copy mode, which succeeds: then this
    // test fails as every other one does.
    match Xsk::new(&plain, 0, &config()) {
        Ok(xsk) => panic!(
            "{plain}: bound ({}) without VIRTIO_F_ACCESS_PLATFORM",
            if xsk.is_zero_copy() {
                "zero-copy"
            } else {
                "copy"
            }
        ),
        Err(e) => {
            assert_eq!(e.kind(), xsk::ErrorKind::ZeroCopyUnsupported, "{e}");
            let text = format!("{e}");
            assert!(text.contains("VIRTIO_F_ACCESS_PLATFORM"), "{text}");
        }
    }
    // The command says the same, with its flag, in one line.
    let o = common::xskit(&["rxdrop", "-i", &plain, "-z", "-Q", "-d", "1s"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "rxdrop -z on {plain}: exited 0: {err}");
    assert!(
        err.contains("VIRTIO_F_ACCESS_PLATFORM") && err.contains("-c"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    // doctor says no, with the reason.
    let o = common::xskit(&["doctor", &plain]);
    let out = String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
    let zc = out
        .lines()
        .find(|l| l.to_lowercase().contains("zero-copy"))
        .unwrap_or_default()
        .to_string();
    assert!(
        zc.contains("no") && zc.contains("ACCESS_PLATFORM"),
        "doctor on {plain}: {zc}\n{out}"
    );
}
