//! AF_XDP TX metadata (Linux 6.8+) against the real kernel, in copy mode
//! over a sandbox's veth pair: UDP frames whose checksum field holds only
//! the pseudo-header sum are taken by the outer namespace's own UDP socket
//! when they ask for the checksum offload, and dropped as checksum errors
//! when they do not; with the kernel computing the checksum in software
//! (XDP_UMEM_TX_SW_CSUM) the outer end checks the checksum itself. The
//! copy-mode TX timestamp (a software CLOCK_TAI time the kernel writes
//! when it frees the frame's socket buffer) comes back with the completion.
//! `xskit txonly --tx-checksum` sends such frames too. Below 6.8 the
//! tests check the one-line refusals instead.

mod common;

use std::net::{IpAddr, UdpSocket};
use std::time::{Duration, Instant};
use xsk::{ErrorKind, FrameCopy, TxChecksum, TxMetadata, UmemConfig, Xsk, XskConfig};
use xskit::app::shared::sandbox::State;
use xskit::net::veth;
use xskit::testing::{have_root, in_inner, in_outer, kernel, sandbox};
use xskit::wire::{build, checksum};

const FRAMES: usize = 16;

fn config(umem: UmemConfig) -> XskConfig {
    XskConfig::default()
        .bind(FrameCopy::Copy)
        .prefill(0)
        .umem(umem.frame_count(64).frame_size(2048))
}

/// The frames of one case: UDP to `port`, the checksum field holding the
/// pseudo-header sum only; and where the checksum lies.
fn frames(st: &State, port: u16) -> (Vec<Vec<u8>>, TxChecksum) {
    let src = in_inner(st, || veth::mac(&st.inner_if)).unwrap();
    let dst = in_outer(st, || veth::mac(&st.outer_if)).unwrap();
    let mut at = None;
    let frames = (0..FRAMES)
        .map(|i| {
            let payload: Vec<u8> = (0..40).map(|b| (b as u8) ^ (i as u8)).collect();
            let (s, d) = (IpAddr::V4(st.inner_v4), IpAddr::V4(st.outer_v4));
            let mut f = build::udp(src, dst, s, d, 4000, port, &payload);
            let c = checksum::udp_partial(&mut f).expect("a UDP frame");
            at = Some(TxChecksum::new(c.start, c.offset));
            f
        })
        .collect();
    (frames, at.expect("frames"))
}

/// A UDP socket on the outer end, port `port`.
fn listener(st: &State, port: u16) -> UdpSocket {
    let s = in_outer(st, || UdpSocket::bind((st.outer_v4, port))).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    s
}

/// Datagrams `s` receives until it waits 300 ms for the next.
fn received(s: &UdpSocket) -> usize {
    let mut buf = [0u8; 2048];
    let mut n = 0;
    while s.recv(&mut buf).is_ok() {
        n += 1;
    }
    n
}

/// The outer namespace's UDP InCsumErrors (/proc/net/snmp of the thread).
fn csum_errors(st: &State) -> u64 {
    in_outer(st, || {
        let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
        let udp: Vec<&str> = snmp.lines().filter(|l| l.starts_with("Udp:")).collect();
        let names: Vec<&str> = udp[0].split_whitespace().collect();
        let values: Vec<&str> = udp[1].split_whitespace().collect();
        let i = names.iter().position(|n| *n == "InCsumErrors").unwrap();
        values[i].parse().unwrap()
    })
}

fn tai_ns() -> u64 {
    let t = rustix::time::clock_gettime_dynamic(rustix::time::DynamicClockId::Tai).unwrap();
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Sends `frames` on the inner end, each with `meta` if given (tokens:
/// `alloc`, `set_tx_metadata`, `send`), waits for every completion and
/// returns the TX timestamps of the completed frames.
fn send(
    st: &State,
    umem: UmemConfig,
    frames: &[Vec<u8>],
    meta: Option<TxMetadata>,
) -> Vec<Option<u64>> {
    in_inner(st, || {
        let mut xsk = Xsk::new(&st.inner_if, 0, &config(umem)).unwrap();
        let mut out = Vec::new();
        for data in frames {
            let mut f = xsk.alloc().unwrap();
            xsk.umem().buffer_mut(&mut f)[..data.len()].copy_from_slice(data);
            xsk.umem().set_len(&mut f, data.len()).unwrap();
            if let Some(m) = &meta {
                xsk.umem().set_tx_metadata(&mut f, m).unwrap();
            }
            out.push(f);
        }
        assert_eq!(xsk.send(&mut out), frames.len() as u32);
        wait_completed(&mut xsk, frames.len());
        // The completed tokens, back from the free list.
        let mut stamps = Vec::new();
        let mut back = Vec::new();
        while let Some(f) = xsk.alloc() {
            stamps.push(xsk.umem().tx_timestamp(&f));
            back.push(f);
        }
        for f in back {
            xsk.release(f);
        }
        assert_eq!(xsk.statistics().unwrap().tx_invalid_descs, 0);
        // The frames sent last come off the free list first.
        stamps.truncate(frames.len());
        stamps
    })
}

fn wait_completed(xsk: &mut Xsk, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut done = 0;
    while done < n && Instant::now() < deadline {
        xsk.flush().unwrap();
        done += xsk.complete(u32::MAX) as usize;
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(done, n, "frames completed");
}

#[test]
fn checksum_offload_and_tx_timestamp_in_copy_mode_over_veth() {
    if !have_root("checksum_offload_and_tx_timestamp_in_copy_mode_over_veth") {
        return;
    }
    let guard = sandbox("txmeta").unwrap();
    let st = &guard.0;
    let umem = UmemConfig::default().tx_metadata(true);
    if kernel() < (6, 8) {
        let e = in_inner(st, || Xsk::new(&st.inner_if, 0, &config(umem)).unwrap_err());
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(
            e.to_string()
                .starts_with("AF_XDP TX metadata needs Linux 6.8")
                && !e.to_string().contains('\n'),
            "{e}"
        );
        return;
    }

    // Asked for: the peer takes every frame, checksum field unfinished
    // (a veth peer trusts CHECKSUM_PARTIAL), and each has a TX time.
    let (data, at) = frames(st, 7001);
    let sock = listener(st, 7001);
    let meta = TxMetadata::default().checksum(Some(at)).timestamp(true);
    let before = tai_ns();
    let stamps = send(st, umem, &data, Some(meta));
    let after = tai_ns();
    assert_eq!(
        received(&sock),
        FRAMES,
        "offloaded frames taken by the peer's UDP socket"
    );
    for t in &stamps {
        let t = t.expect("copy mode writes a TX timestamp");
        assert!(before <= t && t <= after, "TAI {before} <= {t} <= {after}");
    }

    // Not asked for: the same bytes are checksum errors to the peer.
    let (data, _) = frames(st, 7002);
    let sock = listener(st, 7002);
    let errors = csum_errors(st);
    let stamps = send(st, umem, &data, None);
    assert_eq!(
        received(&sock),
        0,
        "frames with a pseudo-header sum only are dropped"
    );
    assert_eq!(csum_errors(st) - errors, FRAMES as u64, "UDP InCsumErrors");
    assert!(
        stamps.iter().all(Option::is_none),
        "no request, no time: {stamps:?}"
    );

    // Computed by the kernel (XDP_UMEM_TX_SW_CSUM), through the batch
    // path: the peer checks a real checksum.
    let (data, at) = frames(st, 7003);
    let sock = listener(st, 7003);
    let errors = csum_errors(st);
    let sw = umem.tx_software_checksum(true);
    in_inner(st, || {
        let mut xsk = Xsk::new(&st.inner_if, 0, &config(sw)).unwrap();
        let meta = TxMetadata::default().checksum(Some(at));
        let n = xsk
            .transmit_new_with(FRAMES as u32, &meta, copy_in(&data))
            .unwrap();
        assert_eq!(n as usize, FRAMES);
        wait_completed(&mut xsk, FRAMES);
    });
    assert_eq!(
        received(&sock),
        FRAMES,
        "software-checksummed frames taken by the peer"
    );
    assert_eq!(csum_errors(st), errors, "and none was a checksum error");

    // The same through a split socket's TX half.
    let (data, at) = frames(st, 7005);
    let sock = listener(st, 7005);
    in_inner(st, || {
        let xsk = Xsk::new(&st.inner_if, 0, &config(sw)).unwrap();
        let (_rx, mut tx) = xsk.split();
        let meta = TxMetadata::default().checksum(Some(at));
        let n = tx
            .transmit_new_with(FRAMES as u32, &meta, copy_in(&data))
            .unwrap();
        assert_eq!(n as usize, FRAMES);
        let deadline = Instant::now() + Duration::from_secs(3);
        let mut done = 0;
        while done < FRAMES && Instant::now() < deadline {
            tx.flush().unwrap();
            done += tx.complete(u32::MAX) as usize;
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(done, FRAMES, "frames completed");
    });
    assert_eq!(
        received(&sock),
        FRAMES,
        "the TX half's frames taken by the peer"
    );
    assert_eq!(csum_errors(st), errors, "and none was a checksum error");
}

#[test]
fn txonly_tx_checksum_frames_are_taken_by_the_peer() {
    if !have_root("txonly_tx_checksum_frames_are_taken_by_the_peer") {
        return;
    }
    let guard = sandbox("txmetacli").unwrap();
    let st = &guard.0;
    let sock = listener(st, 7004);
    let errors = csum_errors(st);
    let dst = in_outer(st, || veth::mac(&st.outer_if)).unwrap();
    let dst = dst.map(|b| format!("{b:02x}")).join(":");
    let (src_ip, dst_ip) = (st.inner_v4.to_string(), st.outer_v4.to_string());
    let o = common::xskit(&[
        "txonly",
        "--sandbox",
        &st.name,
        "-Q",
        "--json",
        "-c",
        "-C",
        "64",
        "--tx-checksum",
        "--dst-mac",
        &dst,
        "--src-ip",
        &src_ip,
        "--dst-ip",
        &dst_ip,
        "--dst-port",
        "7004",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    if kernel() < (6, 8) {
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains("--tx-checksum: AF_XDP TX metadata needs Linux 6.8"),
            "{err}"
        );
        return;
    }
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert_eq!(
        received(&sock),
        64,
        "txonly --tx-checksum frames taken by the peer"
    );
    assert_eq!(csum_errors(st), errors, "and none was a checksum error");
}

/// A `transmit_new_with` filler: each call writes the next of `frames`
/// into the buffer and returns its length.
fn copy_in(frames: &[Vec<u8>]) -> impl FnMut(&mut [u8]) -> usize + '_ {
    let mut next = frames.iter();
    move |buf| {
        let f = next.next().expect("no more frames than asked for");
        buf[..f.len()].copy_from_slice(f);
        f.len()
    }
}
