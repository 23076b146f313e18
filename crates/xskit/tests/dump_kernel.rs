//! `xskit dump` writes pcap files that read back as what was sent.

use pcap_file::pcap::PcapReader;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use xskit::app::dump::{self, DumpArgs};
use xskit::net::{packet::PacketSocket, veth};
use xskit::testing::{experimental_frame, have_root, in_outer, is_experimental, sandbox};
use xskit::xdp::HookChoice;

fn args(path: &std::path::Path, consume: bool, count: Option<u64>) -> DumpArgs {
    DumpArgs {
        interface: None,
        sandbox: None,
        netns: None,
        queue: 0,
        mode: HookChoice::Auto,
        share: Default::default(),
        count,
        hex: false,
        write: Some(path.to_path_buf()),
        pcapng: false,
        packet_buffered: false,
        snaplen: dump::MAX_SNAPLEN,
        read: None,
        consume,
        copy: false,
        zero_copy: false,
        force: false,
        rx_meta: false,
        duration: Some(Duration::from_secs(20)),
        metrics_file: None,
        expression: Vec::new(),
    }
}

fn read_pcap(path: &std::path::Path) -> Vec<(u32, Vec<u8>)> {
    let mut r = PcapReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some(p) = r.next_packet() {
        let p = p.unwrap();
        out.push((p.orig_len, p.data.into_owned()));
    }
    out
}

/// Waits (in the caller's namespace) until an XDP program is attached to
/// `iface`, then a little longer for the socket to be registered: on a
/// loaded machine loading and attaching take far longer than usual.
fn wait_attached(iface: &str) {
    let end = std::time::Instant::now() + Duration::from_secs(60);
    while xskit::net::netns::xdp_shown_by_ip(iface).unwrap().is_none() {
        assert!(std::time::Instant::now() < end, "dump never attached");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
}

#[test]
fn pcap_file_reads_back_as_sent_in_pass_and_consume_mode() {
    if !have_root("pcap_file_reads_back_as_sent_in_pass_and_consume_mode") {
        return;
    }
    for consume in [false, true] {
        let g = sandbox("dump").unwrap();
        let st = &g.0;
        let path =
            std::env::temp_dir().join(format!("xskit-dump-{}-{consume}.pcap", std::process::id()));
        let stop = AtomicBool::new(false);
        let (tx, rx) = std::sync::mpsc::channel();
        let sent: Vec<Vec<u8>> = std::thread::scope(|s| {
            let h = s.spawn(|| {
                // Owned here: if this thread fails before it signals, the
                // sender goes with it and the main thread's recv fails
                // instead of waiting forever.
                let tx = tx;
                st.enter_inner().unwrap();
                let mut out = Vec::new();
                // Start capturing, then tell the sender.
                let a = args(&path, consume, None);
                let r = std::thread::scope(|s2| {
                    let c =
                        s2.spawn(|| dump::run(&a, &st.inner_if, &stop, &mut out, &mut Vec::new()));
                    wait_attached(&st.inner_if);
                    tx.send(()).unwrap();
                    c.join().unwrap()
                });
                r.unwrap()
            });
            if rx.recv().is_err() {
                // The capture thread failed: its panic is the test's error.
                std::panic::resume_unwind(h.join().unwrap_err());
            }
            let sent = in_outer(st, || {
                let sock = PacketSocket::bind(&st.outer_if).unwrap();
                let src = veth::mac(&st.outer_if).unwrap();
                let frames: Vec<Vec<u8>> = (0..50u8)
                    .map(|i| experimental_frame(src, &vec![i; 46 + i as usize * 28]))
                    .collect();
                for f in &frames {
                    sock.send(f).unwrap();
                }
                frames
            });
            std::thread::sleep(Duration::from_millis(300));
            stop.store(true, Ordering::Relaxed);
            let summary = h.join().unwrap();
            assert!(summary.captured >= 50, "{summary:?}");
            assert_eq!(summary.lost, 0);
            sent
        });
        let got: Vec<(u32, Vec<u8>)> = read_pcap(&path)
            .into_iter()
            .filter(|(_, d)| is_experimental(d))
            .collect();
        assert_eq!(got.len(), sent.len(), "consume={consume}");
        for ((len, data), want) in got.iter().zip(&sent) {
            assert_eq!(*len as usize, want.len());
            assert_eq!(data, want, "consume={consume}");
        }
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn count_stops_the_capture() {
    if !have_root("count_stops_the_capture") {
        return;
    }
    let g = sandbox("dumpcount").unwrap();
    let st = &g.0;
    let path = std::env::temp_dir().join(format!("xskit-dump-count-{}.pcap", std::process::id()));
    let stop = AtomicBool::new(false);
    let summary = std::thread::scope(|s| {
        let h = s.spawn(|| {
            st.enter_inner().unwrap();
            dump::run(
                &args(&path, false, Some(3)),
                &st.inner_if,
                &stop,
                &mut Vec::new(),
                &mut Vec::new(),
            )
            .unwrap()
        });
        st.in_inner(|| wait_attached(&st.inner_if)).unwrap();
        in_outer(st, || {
            let sock = PacketSocket::bind(&st.outer_if).unwrap();
            let src = veth::mac(&st.outer_if).unwrap();
            for _ in 0..10 {
                sock.send(&experimental_frame(src, &[7; 60])).unwrap();
            }
        });
        h.join().unwrap()
    });
    assert_eq!(summary.captured, 3);
    assert_eq!(read_pcap(&path).len(), 3);
    let _ = std::fs::remove_file(&path);
}
