//! The copy-mode TX budget (XDP_MAX_TX_SKB_BUDGET, Linux 6.17) against the
//! real kernel: the socket layer in a network namespace of its own with a
//! veth pair, `--tx-budget` of `txonly`, `l2fwd` and `echo` in a sandbox.
//! Every kernel runs every test (CI's VMs: 5.10, 6.1, 6.12, 7.2): each
//! takes the branch the running kernel's version says, none is skipped.

mod common;

use xsk::{ErrorKind, FrameCopy, Xsk, XskConfig};
use xskit::net::{packet::PacketSocket, veth};
use xskit::testing::{
    collect_at_peer, experimental_frame, have_root, in_netns, kernel, sandbox, veth_pair,
};

fn copy_config() -> XskConfig {
    XskConfig::default().bind(FrameCopy::Copy)
}

/// Whether the running kernel has the TX budget (Linux 6.17 and later).
fn has_tx_budget() -> bool {
    kernel() >= (6, 17)
}

#[test]
fn tx_budget_is_taken_from_32_to_the_tx_ring_size_and_refused_past_it() {
    if !have_root("tx_budget_is_taken_from_32_to_the_tx_ring_size_and_refused_past_it") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let ring = 512;
        let config = |b: Option<u32>| copy_config().tx_size(ring).prefill(0).tx_budget(b);
        let out_of_range = |e: &xsk::Error, says: &str| {
            assert_eq!(e.kind(), ErrorKind::InvalidConfig, "{e}");
            let text = e.to_string();
            assert!(text.contains(says) && !text.contains('\n'), "{text}");
        };
        // Outside 32..=512: refused before any system call, on every kernel.
        for bad in [0, 31, ring + 1, u32::MAX] {
            let e = Xsk::new(&p.inner, 0, &config(Some(bad))).unwrap_err();
            out_of_range(&e, "the kernel takes 32 to the TX ring size (512)");
            assert!(e.to_string().contains(&format!("TX budget {bad} ")), "{e}");
        }
        if has_tx_budget() {
            for good in [32, ring] {
                let xsk = Xsk::new(&p.inner, 0, &config(Some(good)))
                    .unwrap_or_else(|e| panic!("TX budget {good}: {e}"));
                // Changed on the bound socket: in range taken, out of range
                // refused by the check of `Xsk` and by the kernel itself
                // (`Socket` does not know the ring's size).
                xsk.set_tx_budget(64).unwrap();
                xsk.socket().set_tx_budget(ring).unwrap();
                out_of_range(
                    &xsk.set_tx_budget(ring + 1).unwrap_err(),
                    "32 to the TX ring size (512)",
                );
                out_of_range(
                    &xsk.set_tx_budget(31).unwrap_err(),
                    "32 to the TX ring size (512)",
                );
                let e = xsk.socket().set_tx_budget(ring + 1).unwrap_err();
                out_of_range(
                    &e,
                    "the kernel takes 32 to the size of the socket's TX ring",
                );
                let e = xsk.socket().set_tx_budget(31).unwrap_err();
                out_of_range(
                    &e,
                    "the kernel takes 32 to the size of the socket's TX ring",
                );
            }
        } else {
            let needs = |e: xsk::Error| {
                assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
                assert!(
                    e.to_string().starts_with(
                        "the TX budget (XDP_MAX_TX_SKB_BUDGET) needs Linux 6.17 or later"
                    ),
                    "{e}"
                );
                assert_eq!(e.raw_os_error(), Some(libc::ENOPROTOOPT), "{e}");
            };
            for good in [32, ring] {
                needs(Xsk::new(&p.inner, 0, &config(Some(good))).unwrap_err());
            }
            // Without a budget the socket opens; setting one later is refused alike.
            let xsk = Xsk::new(&p.inner, 0, &config(None)).unwrap();
            needs(xsk.set_tx_budget(64).unwrap_err());
            needs(xsk.socket().set_tx_budget(ring).unwrap_err());
        }
    });
}

#[test]
fn one_wake_up_sends_up_to_the_tx_budget_and_the_frames_arrive() {
    if !have_root("one_wake_up_sends_up_to_the_tx_budget_and_the_frames_arrive") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let peer = PacketSocket::bind(&p.peer).unwrap();
        let src = veth::mac(&p.inner).unwrap();
        const FRAMES: usize = 200;
        for budget in [None, Some(512)] {
            let config = copy_config().tx_size(512).prefill(0).tx_budget(budget);
            let mut xsk = match Xsk::new(&p.inner, 0, &config) {
                Ok(x) => x,
                Err(e) if budget.is_some() && !has_tx_budget() => {
                    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
                    assert!(e.to_string().contains("needs Linux 6.17"), "{e}");
                    continue;
                }
                Err(e) => panic!("TX budget {budget:?} on {:?}: {e}", kernel()),
            };
            let mut sent = Vec::new();
            let mut batch = Vec::new();
            for i in 0..FRAMES as u32 {
                let frame = experimental_frame(src, &[&i.to_be_bytes()[..], &[0xb5; 44]].concat());
                let mut f = xsk.alloc().unwrap();
                xsk.umem().buffer_mut(&mut f)[..frame.len()].copy_from_slice(&frame);
                xsk.umem().set_len(&mut f, frame.len()).unwrap();
                batch.push(f);
                sent.push(frame);
            }
            assert_eq!(xsk.send(&mut batch) as usize, FRAMES);
            // One copy-mode wake-up: the kernel takes at most the budget
            // off the TX ring (32 by default). Older kernels take a fixed
            // batch of at most 32 and may publish their consumer index
            // later, so there only the bound is checked.
            xsk.socket().kick_tx().unwrap();
            let taken = FRAMES - xsk.accounting().tx;
            match budget {
                Some(_) => assert_eq!(taken, FRAMES, "a budget of 512 takes all in one wake-up"),
                None if has_tx_budget() => assert_eq!(taken, 32, "the kernel's default budget"),
                None => assert!(taken <= 32, "{taken} frames in one wake-up"),
            }
            let got = collect_at_peer(&mut xsk, &peer, sent.len());
            assert_eq!(
                got.len(),
                sent.len(),
                "budget {budget:?}: frames at the peer"
            );
            assert!(
                got == sent,
                "budget {budget:?}: the frames arrived changed or reordered"
            );
        }
    });
}

/// `ip -s link`'s stats64 `dir.what` (e.g. rx.packets) of `dev` in `ns`.
fn link_stat(ns: &str, dev: &str, dir: &str, what: &str) -> u64 {
    let o = std::process::Command::new("ip")
        .args(["-j", "-s", "-n", ns, "link", "show", dev])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    v[0]["stats64"][dir][what].as_u64().unwrap()
}

/// Runs `xskit ARGS`; returns its exit code, standard output and the
/// non-empty lines of its standard error.
fn run_xskit(args: &[&str]) -> (Option<i32>, String, Vec<String>) {
    let o = common::xskit(args);
    let err = String::from_utf8_lossy(&o.stderr);
    let lines = err.lines().filter(|l| !l.trim().is_empty());
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        lines.map(str::to_string).collect(),
    )
}

#[test]
fn tx_budget_option_sends_on_6_17_and_is_refused_in_one_line_otherwise() {
    if !have_root("tx_budget_option_sends_on_6_17_and_is_refused_in_one_line_otherwise") {
        return;
    }
    let g = sandbox("txbudget").unwrap();
    let st = &g.0;
    let has = has_tx_budget();
    let sb = st.name.as_str();
    let before = link_stat(&st.outer_ns, &st.outer_if, "rx", "packets");
    let (code, out, err) = run_xskit(&[
        "txonly",
        "--sandbox",
        sb,
        "-Q",
        "--json",
        "-c",
        "--tx-budget",
        "512",
        "-C",
        "2000",
    ]);
    if has {
        assert_eq!(code, Some(0), "{err:?}");
        let v: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
        assert_eq!(v["tx_packets"].as_u64(), Some(2000), "{out}");
        let arrived = link_stat(&st.outer_ns, &st.outer_if, "rx", "packets") - before;
        assert!(arrived >= 2000, "{arrived} frames reached the outer end");
    } else {
        assert_eq!(code, Some(1), "{err:?}");
        assert_eq!(err.len(), 1, "{err:?}");
        assert!(err[0].contains("needs Linux 6.17"), "{err:?}");
    }
    // l2fwd and echo take it too (here in auto mode: copy on a veth).
    for cmd in ["l2fwd", "echo"] {
        let (code, out, err) = run_xskit(&[
            cmd,
            "--sandbox",
            sb,
            "-Q",
            "-d",
            "200ms",
            "--tx-budget",
            "64",
        ]);
        match has {
            true => {
                assert_eq!(code, Some(0), "{cmd}: {err:?}");
                // The socket was opened with it (its line says so).
                assert!(
                    out.contains("copy bind") && out.contains(", TX budget 64"),
                    "{out}"
                );
            }
            false => {
                assert_eq!(code, Some(1), "{cmd}: {err:?}");
                assert!(
                    err.len() == 1 && err[0].contains("needs Linux 6.17"),
                    "{cmd}: {err:?}"
                );
            }
        }
    }
    // Bad values: one line, no panic, on every kernel.
    let above = "--tx-budget 4096 is above the TX ring size (2048): use 32 to 2048, \
                 or a larger --tx-size";
    for cmd in ["txonly", "l2fwd", "echo"] {
        for (value, code, says) in [
            ("0", 2, "0 is not a TX budget: use 32 to the TX ring size"),
            ("31", 2, "31 is not a TX budget"),
            ("abc", 2, "\"abc\" is not a number of frames"),
            ("4096", 1, above),
        ] {
            let args = [cmd, "--sandbox", sb, "-Q", "-d", "200ms", "-c"];
            let (got, _, err) = run_xskit(&[&args[..], &["--tx-budget", value]].concat());
            let what = format!("{cmd} --tx-budget {value}: {err:?}");
            assert_eq!(got, Some(code), "{what}");
            assert_eq!(err.len(), 1, "{what}");
            assert!(
                err[0].contains(says) && !err[0].contains("panicked"),
                "{what}"
            );
        }
    }
}
