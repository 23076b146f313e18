//! `xskit doctor` on interfaces whose answers are known: veth (native XDP
//! yes, zero-copy no), a multi-queue veth, and interfaces with programs
//! attached through a BPF link and through netlink.

mod common;

use xskit::app::doctor::rules::Value;
use xskit::app::doctor::{report, Interface};
use xskit::net::netns;
use xskit::testing::{have_root, in_netns, kernel, veth_pair, veth_pair_named};
use xskit::xdp::{HookChoice, Program, XdpProgram};

fn one(name: &str) -> Interface {
    let mut r = report(Some(name)).unwrap();
    assert_eq!(r.interfaces.len(), 1);
    r.interfaces.remove(0)
}

#[test]
fn veth_has_native_xdp_no_zero_copy_and_one_queue() {
    if !have_root("veth_has_native_xdp_no_zero_copy_and_one_queue") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let i = one(&p.inner);
        assert_eq!(i.driver.as_deref(), Some("veth"), "{i:?}");
        assert_eq!(i.native_xdp.value, Value::Yes, "{i:?}");
        assert_eq!(i.zero_copy.value, Value::No, "{i:?}");
        assert_eq!(i.need_wakeup.value, Value::Yes, "{i:?}");
        assert_eq!(i.rx_queues, Some(1), "{i:?}");
        assert_eq!(i.mtu, Some(1500), "{i:?}");
        assert!(i.attached.is_none(), "{i:?}");
        // veth implements the three RX metadata kfuncs and no zero-copy TX
        // metadata; whether frames can carry them also depends on the
        // kernel letting XDP programs call bpf_xdp_adjust_meta.
        let m = &i.metadata;
        if kernel() >= (6, 8) {
            assert_eq!(
                m.rx_kfuncs,
                Some(vec!["hash", "timestamp", "vlan-tag"]),
                "{m:?}"
            );
            assert_eq!(m.tx_zero_copy, Some(vec![]), "{m:?}");
            let allowed = xskit::xdp::meta::kernel_allows_data_meta().unwrap();
            let want = if allowed { Value::Yes } else { Value::No };
            assert_eq!(m.rx.value, want, "{m:?}");
        } else if kernel() < (6, 3) {
            assert_eq!(m.rx.value, Value::No, "{m:?}");
        }
        // Loopback has no XDP in its driver; the answer says no (6.3+) or
        // unknown (older kernels, not in the driver list), never yes.
        let lo = one("lo");
        assert_ne!(lo.native_xdp.value, Value::Yes, "{lo:?}");
        // The whole namespace: both veth ends and lo, nothing else.
        let all = report(None).unwrap();
        let mut names: Vec<&str> = all.interfaces.iter().map(|i| i.name.as_str()).collect();
        names.sort();
        assert_eq!(names, ["lo", "peer0", "xsk0"]);
        // A name that is not there is an error, not an empty report.
        assert!(report(Some("nosuch0")).is_err());
    });
}

#[test]
fn multi_queue_veth_reports_its_queues() {
    if !have_root("multi_queue_veth_reports_its_queues") {
        return;
    }
    in_netns(|| {
        let p = veth_pair_named("mq0", "mqpeer0", 4).unwrap();
        assert_eq!(one(&p.inner).rx_queues, Some(4));
        assert_eq!(one(&p.peer).rx_queues, Some(4));
    });
}

#[test]
fn attached_programs_name_their_owner() {
    if !have_root("attached_programs_name_their_owner") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        // A BPF link held by this process.
        let mut prog = XdpProgram::load(Program::Pass, 1).unwrap();
        prog.attach(&p.inner, HookChoice::Native, false).unwrap();
        let a = one(&p.inner).attached.expect("xdp_pass is attached");
        assert_eq!(a.program, "xdp_pass");
        assert_eq!(a.mode, "native");
        let me = format!("pid {} ", std::process::id());
        assert!(a.owner.contains(&me), "{a:?}");
        prog.detach_all();
        assert!(one(&p.inner).attached.is_none());
        // Attached through netlink, as `ip` does: no link, no holder.
        let obj = std::env::temp_dir().join(format!("xskit-doctor-{}.o", std::process::id()));
        std::fs::write(&obj, Program::Pass.object()).unwrap();
        netns::ip(&[
            "link",
            "set",
            "dev",
            &p.peer,
            "xdpgeneric",
            "obj",
            obj.to_str().unwrap(),
            "sec",
            "xdp",
        ])
        .unwrap();
        let _ = std::fs::remove_file(&obj);
        let a = one(&p.peer).attached.expect("ip attached xdp_pass");
        assert_eq!(a.mode, "skb");
        assert!(a.owner.contains("netlink"), "{a:?}");
        assert!(!a.owner.contains("pid "), "{a:?}");
    });
}

#[test]
fn the_command_prints_text_and_json() {
    if !have_root("the_command_prints_text_and_json") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let run = |args: &[&str]| {
            let o = common::bin().arg("doctor").args(args).output().unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
            String::from_utf8(o.stdout).unwrap()
        };
        let v: serde_json::Value = serde_json::from_str(&run(&[&p.inner, "--json"])).unwrap();
        let i = &v["interfaces"][0];
        assert_eq!(i["name"], p.inner.as_str());
        assert_eq!(i["native_xdp"]["value"], "yes", "{v}");
        assert_eq!(i["zero_copy"]["value"], "no", "{v}");
        assert!(v["kernel"].as_str().is_some_and(|k| !k.is_empty()));
        let caps = v["privileges"]["capabilities"].as_array().unwrap();
        let net_admin = caps.iter().find(|c| c["name"] == "CAP_NET_ADMIN").unwrap();
        assert_eq!(net_admin["held"], true, "root holds CAP_NET_ADMIN: {v}");
        let text = run(&[]);
        for want in [
            "kernel ",
            "CAP_BPF",
            "xsk0 (index",
            "peer0 (index",
            "native XDP",
            "zero-copy",
        ] {
            assert!(text.contains(want), "{want:?} missing:\n{text}");
        }
    });
}

#[test]
fn inside_a_namespace_the_jit_is_read_and_loopback_has_no_maximum_mtu() {
    if !have_root("inside_a_namespace_the_jit_is_read_and_loopback_has_no_maximum_mtu") {
        return;
    }
    in_netns(|| {
        // A namespace has no net.core BPF sysctls: the JIT is read
        // elsewhere, and the report says where.
        let r = report(Some("lo")).unwrap();
        assert!(r.bpf.jit.is_some(), "{:?}", r.bpf);
        assert!(!r.bpf.jit_from.starts_with("unknown"), "{:?}", r.bpf);
        let text = r.to_string();
        assert!(!text.contains("JIT ?"), "{text}");
        assert!(
            text.contains("lo (index 1)")
                && text.contains("mtu 65536 (no maximum set by the driver)"),
            "{text}"
        );
        assert!(!text.contains("(max 0)"), "{text}");
    });
}

/// The virtio-net interfaces this test sees (its own namespace: the host's,
/// read only), with their virtio device's negotiated feature bits.
fn virtio_net_interfaces() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/sys/class/net")
        .into_iter()
        .flatten()
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        let drv = std::fs::read_link(e.path().join("device/driver")).ok();
        let virtio = std::fs::read_to_string(e.path().join("device/features")).ok();
        // The netdev's `device` is the virtio device, bound to virtio_net.
        if let (Some(d), Some(f)) = (drv, virtio) {
            if d.file_name().is_some_and(|n| n == "virtio_net") {
                out.push((name, f.trim().to_string()));
            }
        }
    }
    out
}

#[test]
fn virtio_net_zero_copy_is_yes_only_with_access_platform_on_6_13() {
    if !have_root("virtio_net_zero_copy_is_yes_only_with_access_platform_on_6_13") {
        return;
    }
    let found = virtio_net_interfaces();
    if found.is_empty() {
        eprintln!("SKIPPED virtio_net_zero_copy_...: no virtio-net interface here");
        return;
    }
    let kernel = xskit::testing::kernel();
    for (name, bits) in found {
        // Read only: doctor attaches and binds nothing.
        let i = one(&name);
        assert_eq!(i.driver.as_deref(), Some("virtio_net"), "{i:?}");
        let platform = bits.as_bytes().get(33) == Some(&b'1');
        let reported = i
            .xdp_features
            .as_ref()
            .is_some_and(|f| f.contains(&"xsk-zerocopy"));
        let want = if kernel >= (6, 13) && platform && reported {
            Value::Yes
        } else {
            Value::No
        };
        eprintln!(
            "{name}: kernel {kernel:?}, VIRTIO_F_ACCESS_PLATFORM {platform}, xsk-zerocopy reported {reported}: zero-copy {:?} ({})",
            i.zero_copy.value, i.zero_copy.why
        );
        assert_eq!(
            i.zero_copy.value, want,
            "{name} ({bits}): {:?}",
            i.zero_copy
        );
        if kernel >= (6, 13) && !platform {
            assert!(
                i.zero_copy.why.contains("VIRTIO_F_ACCESS_PLATFORM")
                    && i.zero_copy.why.contains("iommu_platform=on"),
                "{:?}",
                i.zero_copy
            );
        }
    }
}

#[test]
fn try_bind_answers_zero_copy_from_a_real_bind_and_says_so() {
    if !have_root("try_bind_answers_zero_copy_from_a_real_bind_and_says_so") {
        return;
    }
    in_netns(|| {
        let p = veth_pair_named("tb0", "tbpeer0", 2).unwrap();
        let doctor = |args: &[&str]| {
            let o = common::bin().arg("doctor").args(args).output().unwrap();
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stdout).into_owned(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        // veth has no zero-copy: the bind fails, and the line says it tried.
        for (args, queue) in [(vec!["--try-bind"], 0), (vec!["--try-bind", "1"], 1)] {
            let mut a = vec![p.inner.as_str()];
            a.extend(args);
            let (code, out, err) = doctor(&a);
            assert_eq!(code, Some(0), "{out}{err}");
            let line = out
                .lines()
                .find(|l| l.trim_start().starts_with("zero-copy"))
                .unwrap_or_else(|| panic!("{out}"));
            assert!(
                line.contains(" no ")
                    && line.contains(&format!("tried a zero-copy bind on queue {queue}: failed")),
                "{line}"
            );
        }
        // A queue that is not there: unknown, naming it.
        let (_, out, _) = doctor(&[&p.inner, "--try-bind", "7"]);
        if xsk::netdev::rx_queue_count(&p.inner).unwrap().is_some() {
            assert!(
                out.contains("unknown  tried a zero-copy bind on queue 7: queue 7 does not exist"),
                "{out}"
            );
        } else {
            // veth before 5.11 reports no queues: the bind's EINVAL says
            // the queue may not exist.
            assert!(out.contains("queue 7 may not exist"), "{out}");
        }
        // Without it, nothing is tried; without an interface, refused.
        let (_, out, _) = doctor(&[&p.inner]);
        assert!(!out.contains("tried"), "{out}");
        let (code, _, err) = doctor(&["--try-bind"]);
        assert_eq!(code, Some(2), "{err}");
    });
}
