//! The RX metadata program (xskit-xdp's `RxMetaProgram`) on veth, read
//! through xsk's `RxMetadata`: each test in a network namespace of its own.
//!
//! What veth gives (drivers/net/veth.c, from the skb it received):
//! - hash: `skb_get_hash`, the software flow hash; the type is
//!   `XDP_RSS_TYPE_L4_ANY` (the `XDP_RSS_L4` bit alone) when the hash
//!   covered ports (`skb->l4_hash`), as for UDP;
//! - timestamp: the skb's hardware timestamp, 0 for a frame from a veth
//!   peer, which the program reports as absent;
//! - VLAN (Linux 6.8+): the skb's out-of-band (hwaccel) tag, as a VLAN
//!   device over the peer, or `bpf_skb_vlan_push` on its egress, puts it
//!   there (the frame's bytes stay untagged).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use xsk::{FrameCopy, RssHashType, RxMetadata, Vlan, Xsk, XskConfig};
use xskit::app::dump::{self, DumpArgs};
use xskit::net::{netns, packet::PacketSocket, veth};
use xskit::testing::{have_root, in_netns, kernel, push_vlan_on_egress, veth_pair};
use xskit::xdp::{meta, HookChoice, Program, RxMetaProgram, XdpProgram};

/// An IPv4/UDP frame from `src` to `dst` with source port `sport`; the
/// payload carries `tag` to find it again.
fn udp_frame(dst: [u8; 6], src: [u8; 6], sport: u16, tag: u32) -> Vec<u8> {
    let payload = tag.to_be_bytes();
    let udp_len = 8 + payload.len() as u16;
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    let mut ip = vec![
        0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 2, 10, 0, 0, 1,
    ];
    ip[2..4].copy_from_slice(&(20 + udp_len).to_be_bytes());
    let sum = ip
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !((sum & 0xffff) + (sum >> 16)) as u16;
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&9999u16.to_be_bytes());
    f.extend_from_slice(&udp_len.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// Our UDP frame's tag and EtherType, or `None` for another frame.
fn ours(d: &[u8]) -> Option<(u32, u16)> {
    (d.len() == 14 + 20 + 8 + 4 && d[23] == 17).then(|| {
        let tag = u32::from_be_bytes(d[42..46].try_into().unwrap());
        (tag, u16::from_be_bytes([d[12], d[13]]))
    })
}

/// Receives until `want` of our UDP frames arrived (5 s at most): their
/// tags, EtherTypes and metadata, read in a batch (`RxFrame::metadata`) or,
/// with `tokens`, from frames taken with `recv` (`Umem::rx_metadata`).
fn recv_tagged(xsk: &mut Xsk, want: usize, tokens: bool) -> Vec<(u32, u16, Option<RxMetadata>)> {
    let mut got = Vec::new();
    let mut frames = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < want && Instant::now() < deadline {
        xsk.socket()
            .poll_rx(Some(Duration::from_millis(100)))
            .unwrap();
        if tokens {
            xsk.recv(&mut frames, 64);
            for f in frames.drain(..) {
                if let Some((tag, ty)) = ours(xsk.umem().data(&f)) {
                    got.push((tag, ty, xsk.umem().rx_metadata(&f)));
                }
                xsk.release(f);
            }
            xsk.refill(u32::MAX);
            continue;
        }
        xsk.rx_batch(64).dispatch(|f| {
            if let Some((tag, ty)) = ours(f.data()) {
                got.push((tag, ty, f.metadata()));
            }
            xsk::Verdict::Recycle
        });
    }
    got
}

/// Asserts that no program is left on `iface`. The link goes with its
/// last descriptor: a child a parallel test is spawning holds a copy
/// between its fork and its exec (close-on-exec), so allow it a moment.
fn assert_detached(iface: &str) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while netns::xdp_shown_by_ip(iface).unwrap().is_some() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        netns::xdp_shown_by_ip(iface).unwrap(),
        None,
        "left attached after drop"
    );
}

/// What this kernel must answer a load with: `None` where it can load
/// the program, else the refusal's words (before 6.3; or a build whose XDP
/// programs may not call `bpf_xdp_adjust_meta`, as this machine's 6.18 of
/// 2026-12-06: checked with a program of four instructions, not ours).
fn refusal() -> Option<&'static str> {
    if kernel() < (6, 3) {
        return Some("RX metadata needs Linux 6.3");
    }
    if !meta::kernel_allows_data_meta().unwrap() {
        return Some(meta::REFUSES_DATA_META);
    }
    None
}

/// Loads the program on `iface`; `None` where this kernel cannot
/// ([`refusal`]), after checking that it refuses in one clear line.
fn load(iface: &str) -> Option<RxMetaProgram> {
    let r = RxMetaProgram::load(iface, 1);
    if let Some(why) = refusal() {
        let e = r.unwrap_err().to_string();
        assert!(e.contains(why), "{e}");
        assert!(!e.contains('\n'), "{e}");
        return None;
    }
    Some(r.unwrap())
}

#[test]
fn each_frame_has_its_flow_hash_and_no_timestamp() {
    if !have_root("each_frame_has_its_flow_hash_and_no_timestamp") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let Some(mut prog) = load(&p.inner) else {
            return;
        };
        let skb = prog.attach(HookChoice::Skb, false).unwrap_err().to_string();
        assert!(skb.contains("RX metadata needs native mode"), "{skb}");
        prog.attach(HookChoice::Native, false).unwrap();
        assert_eq!(
            netns::xdp_shown_by_ip(&p.inner).unwrap().as_deref(),
            Some("xdp")
        );
        let cfg = XskConfig::default().bind(FrameCopy::Copy);
        let mut xsk = Xsk::new(&p.inner, 0, &cfg).unwrap();
        prog.register(0, &xsk).unwrap();

        let peer = PacketSocket::bind(&p.peer).unwrap();
        let (dst, src) = (veth::mac(&p.inner).unwrap(), veth::mac(&p.peer).unwrap());
        let (flows, per_flow) = (8u16, 5u32);
        for i in 0..per_flow {
            for flow in 0..flows {
                let tag = u32::from(flow) * 1000 + i;
                peer.send(&udp_frame(dst, src, 40000 + flow, tag)).unwrap();
            }
        }
        let got = recv_tagged(&mut xsk, usize::from(flows) * per_flow as usize, false);
        assert_eq!(got.len(), usize::from(flows) * per_flow as usize);
        let mut hashes: HashMap<u32, HashSet<u32>> = HashMap::new();
        for (tag, _, meta) in &got {
            let meta = meta.unwrap_or_else(|| panic!("frame {tag} has no metadata"));
            let hash = meta.hash.unwrap_or_else(|| panic!("frame {tag}: no hash"));
            assert_ne!(hash.value, 0, "frame {tag}");
            assert_eq!(hash.kind, RssHashType(RssHashType::L4), "frame {tag}");
            assert_eq!(meta.timestamp, None, "frame {tag}");
            assert_eq!(meta.vlan, None, "frame {tag}: untagged");
            hashes.entry(tag / 1000).or_default().insert(hash.value);
        }
        for (flow, h) in &hashes {
            assert_eq!(h.len(), 1, "flow {flow}: one 5-tuple, one hash: {h:?}");
        }
        let distinct: HashSet<u32> = hashes.values().flatten().copied().collect();
        assert!(distinct.len() >= 7, "8 flows, {} hashes", distinct.len());

        drop(xsk);
        drop(prog);
        assert_detached(&p.inner);
    });
}

#[test]
fn a_vlan_tag_carried_out_of_band_is_reported() {
    if !have_root("a_vlan_tag_carried_out_of_band_is_reported") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let Some(mut prog) = load(&p.inner) else {
            return;
        };
        assert_eq!(prog.has_vlan(), kernel() >= (6, 8));
        if !prog.has_vlan() {
            // 6.3 to 6.7: the program loads without the VLAN kfunc (its
            // call patched to -EOPNOTSUPP), and untagged frames show no
            // tag (each_frame_has_its_flow_hash_and_no_timestamp).
            return;
        }
        // The tag in the skb, as a NIC's VLAN offload leaves it (a tcx
        // program, Linux 6.6+: this host kernel may have no VLAN devices).
        let _pusher = push_vlan_on_egress(&p.peer, 100).unwrap();
        prog.attach(HookChoice::Native, false).unwrap();
        let cfg = XskConfig::default().bind(FrameCopy::Copy);
        let mut xsk = Xsk::new(&p.inner, 0, &cfg).unwrap();
        prog.register(0, &xsk).unwrap();

        let peer = PacketSocket::bind(&p.peer).unwrap();
        let (dst, src) = (veth::mac(&p.inner).unwrap(), veth::mac(&p.peer).unwrap());
        for i in 0..4 {
            peer.send(&udp_frame(dst, src, 40000, i)).unwrap();
        }
        let got = recv_tagged(&mut xsk, 4, true);
        assert_eq!(got.len(), 4);
        for (tag, ethertype, meta) in got {
            // The tag travels in the skb, not in the frame.
            assert_eq!(ethertype, 0x0800, "frame {tag}");
            let meta = meta.unwrap_or_else(|| panic!("frame {tag} has no metadata"));
            let want = Vlan {
                proto: 0x8100,
                tci: 100,
            };
            assert_eq!(meta.vlan, Some(want), "frame {tag}");
            assert!(meta.hash.is_some(), "frame {tag}");
        }
    });
}

#[test]
fn refusals_are_one_line_and_someone_elses_program_stays() {
    if !have_root("refusals_are_one_line_and_someone_elses_program_stays") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let e = RxMetaProgram::load("nosuch0", 1).unwrap_err().to_string();
        assert!(e.contains("no network interface named"), "{e}");
        // Loopback has no native XDP (no ndo_bpf): nothing can be bound to it.
        let lo = RxMetaProgram::load("lo", 1).unwrap_err().to_string();
        if kernel() >= (6, 3) {
            assert!(lo.contains("has no native XDP"), "{lo}");
        }
        assert!(!lo.contains('\n'), "{lo}");
        let Some(mut prog) = load(&p.inner) else {
            return;
        };
        // Someone else's program on the interface: refused, and it stays.
        let mut theirs = XdpProgram::load(Program::Pass, 1).unwrap();
        theirs.attach(&p.inner, HookChoice::Native, false).unwrap();
        let e = prog
            .attach(HookChoice::Auto, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("another XDP program is attached"), "{e}");
        drop(prog);
        assert_eq!(
            netns::xdp_shown_by_ip(&p.inner).unwrap().as_deref(),
            Some("xdp")
        );
        drop(theirs);
        // Attached once only.
        let mut prog = load(&p.inner).unwrap();
        prog.attach(HookChoice::Native, false).unwrap();
        assert!(prog.is_attached());
        let e = prog
            .attach(HookChoice::Native, false)
            .unwrap_err()
            .to_string();
        assert!(e.contains("already attached"), "{e}");
        prog.detach();
        assert!(!prog.is_attached());
    });
}

#[test]
fn dump_consume_prints_each_frames_hash() {
    if !have_root("dump_consume_prints_each_frames_hash") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let args = DumpArgs {
            interface: Some(p.inner.clone()),
            sandbox: None,
            netns: None,
            queue: 0,
            mode: HookChoice::Native,
            share: Default::default(),
            count: None,
            hex: false,
            write: None,
            pcapng: false,
            packet_buffered: false,
            snaplen: dump::MAX_SNAPLEN,
            read: None,
            consume: true,
            copy: true,
            zero_copy: false,
            force: false,
            rx_meta: true,
            duration: Some(Duration::from_secs(20)),
            metrics_file: None,
            expression: Vec::new(),
        };
        let stop = AtomicBool::new(false);
        let (mut out, mut msg) = (Vec::new(), Vec::new());
        let r = std::thread::scope(|s| {
            let c = s.spawn(|| dump::run(&args, &p.inner, &stop, &mut out, &mut msg));
            let end = Instant::now() + Duration::from_secs(20);
            while netns::xdp_shown_by_ip(&p.inner).unwrap().is_none() && !c.is_finished() {
                assert!(Instant::now() < end, "dump never attached");
                std::thread::sleep(Duration::from_millis(20));
            }
            std::thread::sleep(Duration::from_millis(200));
            let peer = PacketSocket::bind(&p.peer).unwrap();
            let (dst, src) = (veth::mac(&p.inner).unwrap(), veth::mac(&p.peer).unwrap());
            for i in 0..4 {
                peer.send(&udp_frame(dst, src, 40000 + i as u16, i))
                    .unwrap();
            }
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Relaxed);
            c.join().unwrap()
        });
        if let Some(why) = refusal() {
            let e = format!("{:#}", r.unwrap_err());
            assert!(e.contains(why), "{e}");
            return;
        }
        r.unwrap();
        let msg = String::from_utf8(msg).unwrap();
        assert!(
            msg.contains("xdp_redirect_meta on xsk0 queue 0: XDP native mode"),
            "{msg}"
        );
        let text = String::from_utf8(out).unwrap();
        let ours: Vec<&str> = text.lines().filter(|l| l.contains("9999")).collect();
        assert_eq!(ours.len(), 4, "{text}");
        for l in ours {
            assert!(l.contains("[hash 0x") && l.contains(" L4]"), "{l}");
        }
        assert_detached(&p.inner);
    });
}
