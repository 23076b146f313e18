//! Multi-buffer frames: a veth at MTU 9000 in native XDP mode with the frags-aware
//! program, and multi-buffer sockets that receive 9000-byte frames as
//! chains of 4096-byte frames and send them back out whole.

mod common;

use std::time::{Duration, Instant};
use xsk::{Frame, FrameCopy, Verdict, Xsk, XskConfig};
use xskit::net::{netns, packet::PacketSocket, veth};
use xskit::testing::{experimental_frame, have_root, in_netns, is_experimental, kernel, veth_pair};

/// Multi-buffer AF_XDP came with 6.6: before it the bind must fail clearly.
fn multi_buffer_or_clear_error(iface: &str) -> Option<Xsk> {
    let r = Xsk::new(iface, 0, &config());
    if kernel() >= (6, 6) {
        return Some(r.unwrap());
    }
    let e = r.unwrap_err();
    assert_eq!(e.kind(), xsk::ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("6.6"), "{e}");
    None
}
use xskit::xdp::{HookChoice, Program, XdpHook, XdpProgram};

/// Frags-aware programs came with 5.18: before it the load must fail in
/// one line that says so.
fn frags_program_or_clear_error(program: Program) -> Option<XdpProgram> {
    let r = XdpProgram::load(program, 1);
    if kernel() >= (5, 18) {
        return Some(r.unwrap());
    }
    let Err(e) = r else {
        panic!("a frags-aware program loaded before 5.18");
    };
    let e = e.to_string();
    assert!(e.contains("5.18") && e.lines().count() == 1, "{e}");
    None
}

fn multi_buffer_link() -> xskit::testing::Pair {
    let p = veth_pair().unwrap();
    for i in [&p.inner, &p.peer] {
        netns::ip(&["link", "set", "dev", i, "mtu", "9000"]).unwrap();
    }
    p
}

fn config() -> XskConfig {
    XskConfig::default()
        .bind(FrameCopy::Copy)
        .multi_buffer(true)
}

/// Frames of 9000 bytes (and a few other sizes around a frame's edge),
/// each with its own byte pattern.
fn multi_buffer_frames(src: [u8; 6]) -> Vec<Vec<u8>> {
    [9000usize, 4096, 3840, 8192, 60, 9000, 7000]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let payload: Vec<u8> = (0..len - 14).map(|j| (i * 37 + j * 11) as u8).collect();
            experimental_frame(src, &payload)
        })
        .collect()
}

/// `xskit echo --mode native` at MTU 9000 without -F: one line that names
/// `-F/--multi-buffer`, exit 1.
#[test]
fn echo_native_at_mtu_9000_names_the_multi_buffer_option() {
    if !have_root("echo_native_at_mtu_9000_names_the_multi_buffer_option") {
        return;
    }
    in_netns(|| {
        let p = multi_buffer_link();
        // Spawned from this thread, the command runs in its namespace.
        let o = common::bin()
            .args(["echo", "-i", &p.inner, "--mode", "native", "-d", "1s"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("-F/--multi-buffer"), "{err}");
    });
}

#[test]
fn native_mode_at_mtu_9000_needs_and_gets_the_frags_aware_program() {
    if !have_root("native_mode_at_mtu_9000_needs_and_gets_the_frags_aware_program") {
        return;
    }
    in_netns(|| {
        let p = multi_buffer_link();
        let mut plain = XdpProgram::load(Program::Redirect, 1).unwrap();
        let e = plain
            .attach(&p.inner, HookChoice::Native, false)
            .unwrap_err();
        assert!(e.to_string().to_lowercase().contains("mtu"), "{e}");
        // The error names the way out: the frags-aware program.
        assert!(e.mtu_too_large(), "{e:?}");
        assert!(e.to_string().contains("frags-aware"), "{e}");
        drop(plain);
        let Some(mut frags) = frags_program_or_clear_error(Program::RedirectMultiBuffer) else {
            return;
        };
        let a = frags.attach(&p.inner, HookChoice::Native, false).unwrap();
        assert_eq!(a.mode, XdpHook::Native);
    });
}

#[test]
fn multi_buffer_frames_arrive_as_chains_and_go_back_out_whole() {
    if !have_root("multi_buffer_frames_arrive_as_chains_and_go_back_out_whole") {
        return;
    }
    in_netns(|| {
        let p = multi_buffer_link();
        let Some(mut prog) = frags_program_or_clear_error(Program::RedirectMultiBuffer) else {
            return;
        };
        prog.attach(&p.inner, HookChoice::Native, false).unwrap();
        let Some(mut xsk) = multi_buffer_or_clear_error(&p.inner) else {
            return;
        };
        assert!(xsk.is_multi_buffer());
        prog.register(0, &xsk).unwrap();
        xsk.refill(u32::MAX);
        let peer = PacketSocket::bind(&p.peer).unwrap();
        let src = veth::mac(&p.peer).unwrap();
        let sent = multi_buffer_frames(src);

        // Receive with the token API: chains reassembled byte for byte.
        for f in &sent {
            peer.send(f).unwrap();
        }
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut packet = Vec::new();
        let mut batch: Vec<Frame> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while got.len() < sent.len() && Instant::now() < deadline {
            xsk.socket()
                .poll_rx(Some(Duration::from_millis(100)))
                .unwrap();
            xsk.recv(&mut batch, 64);
            for f in batch.drain(..) {
                packet.extend_from_slice(xsk.umem().data(&f));
                let more = f.is_continued();
                xsk.release(f);
                if !more {
                    if is_experimental(&packet) {
                        got.push(std::mem::take(&mut packet));
                    }
                    packet.clear();
                }
            }
            xsk.refill(u32::MAX);
        }
        assert_eq!(got.len(), sent.len());
        assert!(got == sent, "reassembled bytes differ");

        // Forward with the batch API (l2fwd): each packet leaves whole.
        for f in &sent {
            peer.send(f).unwrap();
        }
        let mut forwarded = 0;
        let deadline = Instant::now() + Duration::from_secs(5);
        while forwarded < sent.len() && Instant::now() < deadline {
            xsk.socket()
                .poll_rx(Some(Duration::from_millis(100)))
                .unwrap();
            xsk.complete_to_fill(u32::MAX);
            let m = xsk.rx_batch(64).dispatch(|f| {
                if !f.starts_packet() {
                    return Verdict::Transmit; // the first buffer's verdict counts
                }
                if let Some(macs) = f.data_mut().get_mut(..12) {
                    macs.rotate_left(6);
                }
                Verdict::Transmit
            });
            forwarded += m.tx_packets as usize;
            xsk.flush().unwrap();
        }
        let mut back = Vec::new();
        while back.len() < sent.len() {
            match peer.recv_incoming(Duration::from_secs(3)).unwrap() {
                Some(f) if is_experimental(&f) => back.push(f),
                Some(_) => {}
                None => break,
            }
        }
        let want: Vec<Vec<u8>> = sent
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f[..12].rotate_left(6);
                f
            })
            .collect();
        assert_eq!(back.len(), want.len(), "forwarded {forwarded}");
        for (i, (b, w)) in back.iter().zip(&want).enumerate() {
            let at = b.iter().zip(w).position(|(x, y)| x != y);
            assert!(
                b == w,
                "frame {i}: {} bytes back, {} sent, first difference at {at:?}",
                b.len(),
                w.len()
            );
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while xsk.accounting().tx + xsk.accounting().completion > 0 && Instant::now() < deadline {
            xsk.flush().unwrap();
            xsk.complete_to_fill(u32::MAX);
        }
        let acc = xsk.accounting();
        assert!(acc.is_consistent(), "{acc:?}");
    });
}

#[test]
fn a_packet_larger_than_a_frame_leaves_as_one_chain() {
    if !have_root("a_packet_larger_than_a_frame_leaves_as_one_chain") {
        return;
    }
    in_netns(|| {
        let p = multi_buffer_link();
        let Some(mut xsk) = multi_buffer_or_clear_error(&p.inner) else {
            return;
        };
        let peer = PacketSocket::bind(&p.peer).unwrap();
        let src = veth::mac(&p.inner).unwrap();
        let sent = multi_buffer_frames(src);
        for f in &sent {
            assert_eq!(xsk.transmit_packets(1, f), 1);
            xsk.flush().unwrap();
            xsk.complete(u32::MAX);
        }
        let mut got = Vec::new();
        while got.len() < sent.len() {
            match peer.recv_incoming(Duration::from_secs(3)).unwrap() {
                Some(f) if is_experimental(&f) => got.push(f),
                Some(_) => {}
                None => break,
            }
        }
        assert_eq!(got.len(), sent.len());
        for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
            assert!(
                g == s,
                "frame {i}: {} bytes arrived, {} sent",
                g.len(),
                s.len()
            );
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        while xsk.free_frames() < 4096 && Instant::now() < deadline {
            xsk.flush().unwrap();
            xsk.complete(u32::MAX);
        }
        assert!(xsk.accounting().is_consistent(), "{:?}", xsk.accounting());
        assert_eq!(xsk.statistics().unwrap().tx_invalid_descs, 0);
    });
}

#[test]
fn echo_answers_8000_byte_pings_in_native_mode_at_mtu_9000() {
    if !have_root("echo_answers_8000_byte_pings_in_native_mode_at_mtu_9000") {
        return;
    }
    use std::net::IpAddr;
    use xskit::app::echo;
    use xskit::app::measure::demo::ping_series;
    use xskit::testing::{in_outer, sandbox};
    let g = sandbox("jumbo").unwrap();
    let st = &g.0;
    for (ns, iface) in [(&st.inner_ns, &st.inner_if), (&st.outer_ns, &st.outer_if)] {
        netns::ip(&["-n", ns, "link", "set", "dev", iface, "mtu", "9000"]).unwrap();
    }
    let mut a = xskit::testing::echo_args(&st.inner_if);
    a.socket.mode = HookChoice::Native;
    a.socket.multi_buffer = true;
    let responder = match echo::Background::start(st, a, None, Box::new(std::io::sink())) {
        Err(e) if kernel() < (6, 6) => {
            assert!(format!("{e:#}").contains("6.6"), "{e:#}");
            return;
        }
        r => r.unwrap(),
    };
    let (v6, v4, small) = in_outer(st, || {
        (
            ping_series(IpAddr::V6(st.inner_v6), 10, 8000, Duration::ZERO).unwrap(),
            ping_series(IpAddr::V4(st.inner_v4), 10, 8000, Duration::ZERO).unwrap(),
            ping_series(IpAddr::V4(st.inner_v4), 10, 56, Duration::ZERO).unwrap(),
        )
    });
    let sum = responder.stop().unwrap();
    assert_eq!((v6.correct, v6.wrong), (10, 0), "IPv6 8000 B");
    assert_eq!((v4.correct, v4.wrong), (10, 0), "IPv4 8000 B");
    assert_eq!((small.correct, small.wrong), (10, 0), "IPv4 56 B");
    assert_eq!((sum.answered_v6, sum.answered_v4), (10, 20), "{sum:?}");
    assert!(sum.accounting.is_consistent(), "{:?}", sum.accounting);
}
