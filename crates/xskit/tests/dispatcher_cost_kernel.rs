//! What a dispatcher costs per packet, and that it runs its component:
//! BPF_PROG_TEST_RUN of xskit's drop program alone and of the dispatcher
//! it is the one component of, on the same frame, in alternating rounds
//! on the same kernel (BENCHMARKS.md). The dispatcher's verdict must be
//! the component's (XDP_DROP); with the component taken out, nothing is
//! attached and its pins are gone.
//!
//! Where the kernel refuses extension programs (this development
//! machine), the attach must say so in one line and change nothing.

use std::os::fd::{AsFd, AsRawFd};
use xskit::net::netns;
use xskit::testing::{have_root, in_netns, veth_pair};
use xskit::xdp::ext_probe::{probe, ExtSupport};
use xskit::xdp::live::test_run;
use xskit::xdp::multiprog::{self, Detached, Mode, MultiprogError, RunConfig};
use xskit::xdp::{Program, XdpProgram};

const XDP_DROP: u32 = 1;
const REPEAT: u32 = 200_000;
const ROUNDS: usize = 5;

fn median(mut v: Vec<u32>) -> u32 {
    v.sort_unstable();
    v[v.len() / 2]
}

#[test]
fn a_dispatcher_runs_its_component_and_its_cost_per_packet_is_measured() {
    if !have_root("a_dispatcher_runs_its_component_and_its_cost_per_packet_is_measured") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let i = p.inner.as_str();
        if let ExtSupport::Refused { .. } = probe() {
            let e =
                multiprog::attach(Program::Drop, i, Mode::Skb, RunConfig::default()).unwrap_err();
            assert!(
                matches!(e, MultiprogError::ExtensionsRefused { .. }),
                "{e:?}"
            );
            assert_eq!(e.to_string().lines().count(), 1, "{e}");
            assert_eq!(netns::xdp_shown_by_ip(i).unwrap(), None);
            return;
        }
        let mut alone = XdpProgram::load(Program::Drop, 1).unwrap();
        let alone_fd = alone.program_fd().unwrap();
        let c = multiprog::attach(Program::Drop, i, Mode::Skb, RunConfig::default()).unwrap();
        let disp = aya::programs::loaded_programs()
            .filter_map(Result::ok)
            .find(|p| p.id() == c.dispatcher_id)
            .expect("the dispatcher is loaded")
            .fd()
            .unwrap();
        let disp_fd = disp.as_fd().as_raw_fd();
        // 64 bytes of zeros: the drop program decides without reading them.
        let frame = [0u8; 64];
        let (mut a, mut d) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let (verdict, ns) = test_run(alone_fd, &frame, REPEAT).unwrap();
            assert_eq!(verdict, XDP_DROP);
            a.push(ns);
            let (verdict, ns) = test_run(disp_fd, &frame, REPEAT).unwrap();
            assert_eq!(
                verdict, XDP_DROP,
                "the dispatcher did not run its component"
            );
            d.push(ns);
        }
        let counted = c.counters().unwrap().dropped.packets;
        assert!(
            counted >= u64::from(REPEAT) * ROUNDS as u64,
            "the component counted {counted} drops"
        );
        let (a, d) = (median(a), median(d));
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        println!(
            "BPF_PROG_TEST_RUN, {REPEAT} runs x {ROUNDS} rounds, kernel {}: xdp_drop alone {a} ns, \
             in a dispatcher {d} ns per packet ({:+} ns, {:.2}x)",
            release.trim(),
            i64::from(d) - i64::from(a),
            f64::from(d) / f64::from(a.max(1))
        );
        let pin_dir = c.pin_dir.clone();
        assert!(pin_dir.join("prog0-prog").exists());
        assert_eq!(
            multiprog::detach(i, c.program_id).unwrap(),
            Detached::DispatcherRemoved {
                dispatcher_id: c.dispatcher_id
            }
        );
        assert_eq!(netns::xdp_shown_by_ip(i).unwrap(), None);
        assert!(!pin_dir.exists(), "{} is left", pin_dir.display());
    });
}
