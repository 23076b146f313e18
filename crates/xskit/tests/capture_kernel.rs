//! `xskit dump` with tcpdump's habits: `-w -` read live by `tcpdump -r -`,
//! a SIGKILLed `-w` file that still holds every packet, and filter
//! expressions that keep exactly what tcpdump keeps. Needs tcpdump (CI
//! installs it); without it the comparisons fail saying so.

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xskit::app::shared::sandbox::State;
use xskit::net::{packet::PacketSocket, veth};
use xskit::testing::{experimental_frame, have_root, in_outer, sandbox};
use xskit::wire::build;

mod common;

const XSKIT: &str = env!("CARGO_BIN_EXE_xskit");

fn tcpdump() -> Command {
    assert!(
        Command::new("tcpdump").arg("--version").output().is_ok(),
        "tcpdump is not installed (apt-get install tcpdump)"
    );
    Command::new("tcpdump")
}

/// Starts `xskit dump --sandbox SB ARGS` and waits for its "capturing" line.
fn start_dump(sb: &str, args: &[&str], stdout: Stdio) -> Child {
    let (c, line, mut err) = common::spawn_dump(sb, args, stdout);
    assert!(line.contains("capturing on"), "{line}");
    // Keep draining stderr so the summary never blocks.
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    c
}

fn send(st: &State, frames: &[Vec<u8>]) {
    in_outer(st, || {
        let sock = PacketSocket::bind(&st.outer_if).unwrap();
        for f in frames {
            sock.send(f).unwrap();
        }
    });
}

fn interrupt(c: &mut Child) {
    // SAFETY: kill sends a signal to our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGINT) };
    assert!(c.wait().unwrap().success());
}

/// Frames of a pcap file as tcpdump reads them (`-x` hex), one per line.
fn tcpdump_read(path: &str, expr: &[&str]) -> Vec<String> {
    let o = tcpdump()
        .args(["-nr", path, "-w", "-"])
        .args(expr)
        .stderr(Stdio::null())
        .output()
        .unwrap();
    assert!(o.status.success(), "tcpdump {expr:?}");
    frames_of(&o.stdout)
}

/// The frame bytes of a pcap stream, hex, one entry per frame.
fn frames_of(pcap: &[u8]) -> Vec<String> {
    if pcap.is_empty() {
        return Vec::new();
    }
    let mut r = pcap_file::pcap::PcapReader::new(pcap).unwrap();
    let mut v = Vec::new();
    while let Some(p) = r.next_raw_packet() {
        let p = p.unwrap();
        v.push(p.data.iter().map(|b| format!("{b:02x}")).collect());
    }
    v
}

#[test]
fn dump_to_stdout_is_read_live_by_tcpdump() {
    if !have_root("dump_to_stdout_is_read_live_by_tcpdump") {
        return;
    }
    let g = sandbox("live").unwrap();
    let mut dump = start_dump(&g.0.name, &["-w", "-"], Stdio::piped());
    let mut td = tcpdump()
        .args(["-nlr", "-"])
        .stdin(dump.stdout.take().unwrap())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // tcpdump's lines arrive on a channel, so a capture that never shows
    // up fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    let td_out = td.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(td_out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let src = in_outer(&g.0, || veth::mac(&g.0.outer_if).unwrap());
    let t = Instant::now();
    send(&g.0, &[experimental_frame(src, &[0x42; 60])]);
    // tcpdump prints the frame while dump still runs: nothing waits for
    // a buffer to fill or for the capture to end.
    let line = loop {
        let l = rx.recv_timeout(Duration::from_secs(5));
        match l {
            Ok(l) if l.contains("ethertype Unknown (0x88b5)") => break l,
            Ok(_) => {}
            Err(_) => {
                let _ = dump.kill();
                let _ = td.kill();
                panic!("tcpdump did not print the frame within 5 s of the last line");
            }
        }
    };
    let secs = t.elapsed().as_secs_f64();
    eprintln!("tcpdump printed the frame {secs:.3}s after it was sent: {line}");
    assert!(secs < 2.0);
    assert!(dump.try_wait().unwrap().is_none(), "dump still running");
    interrupt(&mut dump);
    let _ = td.wait();
}

#[test]
fn a_sigkilled_dump_leaves_a_file_with_every_packet() {
    if !have_root("a_sigkilled_dump_leaves_a_file_with_every_packet") {
        return;
    }
    let g = sandbox("kill").unwrap();
    let path = std::env::temp_dir().join(format!("xskit-kill-{}.pcap", std::process::id()));
    let p = path.to_str().unwrap();
    let mut dump = start_dump(&g.0.name, &["-w", p], Stdio::null());
    let src = in_outer(&g.0, || veth::mac(&g.0.outer_if).unwrap());
    let sent: Vec<Vec<u8>> = (0..20u8)
        .map(|i| experimental_frame(src, &[i; 64]))
        .collect();
    send(&g.0, &sent);
    std::thread::sleep(Duration::from_millis(500));
    dump.kill().unwrap();
    dump.wait().unwrap();
    let got = tcpdump_read(p, &["ether", "proto", "0x88b5"]);
    let want: Vec<String> = sent
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let _ = std::fs::remove_file(&path);
    assert_eq!(got, want, "every frame sent before the kill is in the file");
}

fn with_vlan(f: &[u8], id: u16) -> Vec<u8> {
    let mut v = f[..12].to_vec();
    v.extend_from_slice(&[0x81, 0x00]);
    v.extend_from_slice(&id.to_be_bytes());
    v.extend_from_slice(&f[12..]);
    v
}

fn arp(src: [u8; 6], spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&src);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    f.resize(60, 0);
    f
}

/// A mix of frames: UDP and "TCP" (UDP with protocol 6) over IPv4 and
/// IPv6, ICMP and ICMPv6 echo, ARP, VLAN-tagged UDP, an experimental frame.
fn mix(src: [u8; 6], dst: [u8; 6]) -> Vec<Vec<u8>> {
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    let (a4, b4, c4) = (ip("198.18.0.2"), ip("198.18.0.1"), ip("198.19.7.9"));
    let (a6, b6) = (ip("fc00:dead:beef::2"), ip("fc00:dead:beef::1"));
    let tcp = |mut f: Vec<u8>, v6: bool| {
        f[if v6 { 20 } else { 23 }] = 6;
        f
    };
    let mut v = vec![
        build::udp(src, dst, a4, b4, 1024, 53, &[1; 20]),
        build::udp(src, dst, c4, b4, 53, 4000, &[2; 20]),
        tcp(build::udp(src, dst, a4, b4, 40000, 22, &[3; 20]), false),
        tcp(build::udp(src, dst, a6, b6, 40001, 80, &[4; 20]), true),
        build::udp(src, dst, a6, b6, 5353, 53, &[5; 20]),
        arp(src, [198, 18, 0, 2], [198, 18, 0, 1]),
        arp(src, [198, 19, 0, 5], [198, 19, 0, 6]),
        experimental_frame(src, &[6; 50]),
    ];
    if let (IpAddr::V4(s), IpAddr::V4(d)) = (a4, b4) {
        v.push(build::echo_request_v4(src, dst, s, d, 7, 1, &[7; 16]));
    }
    if let (IpAddr::V6(s), IpAddr::V6(d)) = (a6, b6) {
        v.push(build::echo_request_v6(src, dst, s, d, 8, 1, &[8; 16]));
    }
    let u = build::udp(src, dst, a4, b4, 7, 53, &[9; 20]);
    v.push(with_vlan(&u, 10));
    v.push(with_vlan(&u, 20));
    v
}

const EXPRESSIONS: &[&str] = &[
    "udp",
    "tcp",
    "icmp",
    "icmp6",
    "arp",
    "ip",
    "ip6",
    "host 198.18.0.1",
    "src host 198.19.7.9",
    "dst host fc00:dead:beef::1",
    "net 198.19.0.0/16",
    "src net fc00::/7",
    "port 53",
    "src port 53",
    "dst port 22 or dst port 80",
    "udp and port 53 and not ip6",
    "tcp or (icmp6 and host fc00:dead:beef::2)",
    "not (arp or ip or ip6)",
    "vlan",
    "vlan 10",
    "vlan and udp port 53",
    "not vlan and udp",
    "port 53 or 22",
    "ether src 02:00:00:00:00:07 or ether dst host 02:00:00:00:00:08",
    "! udp && ! arp",
    "portrange 20-60",
    "udp dst portrange 50-4000",
    "src portrange 5000-60000 or tcp",
    "ip proto 6",
    "ip6 proto 17",
    "proto 17",
    "greater 80",
    "less 70",
    "len > 70 and udp",
    "len != 82",
    "len>70&&udp",
    "ip6&&!tcp",
    "net 198.19",
];

#[test]
fn expressions_keep_exactly_what_tcpdump_keeps() {
    if !have_root("expressions_keep_exactly_what_tcpdump_keeps") {
        return;
    }
    let g = sandbox("expr").unwrap();
    let dir = std::env::temp_dir();
    let all = dir.join(format!("xskit-expr-{}.pcap", std::process::id()));
    let live = dir.join(format!("xskit-expr-live-{}.pcap", std::process::id()));
    let frames = mix([2, 0, 0, 0, 0, 7], [2, 0, 0, 0, 0, 8]);
    // Everything, and live with an expression (one capture at a time: one
    // XDP program per interface).
    for (path, expr) in [(&all, None), (&live, Some("udp and port 53 or arp"))] {
        let mut a = vec!["-w", path.to_str().unwrap()];
        a.extend(expr);
        let mut d = start_dump(&g.0.name, &a, Stdio::null());
        send(&g.0, &frames);
        std::thread::sleep(Duration::from_millis(400));
        interrupt(&mut d);
    }
    let sent: Vec<String> = frames
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect())
        .collect();
    let ours =
        |v: Vec<String>| -> Vec<String> { v.into_iter().filter(|f| sent.contains(f)).collect() };
    let all_s = all.to_str().unwrap();
    assert_eq!(ours(tcpdump_read(all_s, &[])), sent, "every frame captured");
    let live_got = ours(frames_of(&std::fs::read(&live).unwrap()));
    let live_want = ours(tcpdump_read(all_s, &["udp and port 53 or arp"]));
    assert!(!live_want.is_empty());
    assert_eq!(live_got, live_want, "live capture with an expression");
    for e in EXPRESSIONS {
        let o = Command::new(XSKIT)
            .args(["dump", "-r", all_s, "-w", "-", e])
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "{e}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let got = ours(frames_of(&o.stdout));
        let want = ours(tcpdump_read(all_s, &[e]));
        eprintln!("{e:<60} {} of {} frames", want.len(), sent.len());
        assert_eq!(got, want, "expression {e:?}");
    }
    // A file cut short by a snap length: `len`, `greater` and `less` still
    // judge the length on the wire (the pcap record's), as tcpdump does.
    let cut = dir.join(format!("xskit-expr-cut-{}.pcap", std::process::id()));
    let cut_s = cut.to_str().unwrap();
    let o = Command::new(XSKIT)
        .args(["dump", "-r", all_s, "-s", "40", "-w", cut_s])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for e in ["greater 80", "less 70", "len > 70 and ip6"] {
        let o = Command::new(XSKIT)
            .args(["dump", "-r", cut_s, "-w", "-", e])
            .output()
            .unwrap();
        // Both read the same file: every frame counts, ours or not.
        let got = frames_of(&o.stdout);
        let want = tcpdump_read(cut_s, &[e]);
        assert!(!want.is_empty(), "{e}: tcpdump kept nothing");
        assert_eq!(got, want, "expression {e:?} on frames cut to 40 bytes");
    }
    let _ = std::fs::remove_file(&cut);
    let _ = std::fs::remove_file(&all);
    let _ = std::fs::remove_file(&live);
}

#[test]
fn pcapng_names_the_interface_and_comments_each_packet_and_snaplen_cuts() {
    if !have_root("pcapng_names_the_interface_and_comments_each_packet_and_snaplen_cuts") {
        return;
    }
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
    use pcap_file::pcapng::Block;
    let g = sandbox("pcapng").unwrap();
    let path = std::env::temp_dir().join(format!("xskit-{}.pcapng", std::process::id()));
    let p = path.to_str().unwrap();
    let mut d = start_dump(
        &g.0.name,
        &[
            "--pcapng",
            "-s",
            "40",
            "-w",
            p,
            "ether",
            "src",
            "02:00:00:00:00:07",
        ],
        Stdio::null(),
    );
    let frames = mix([2, 0, 0, 0, 0, 7], [2, 0, 0, 0, 0, 8]);
    send(&g.0, &frames);
    std::thread::sleep(Duration::from_millis(400));
    interrupt(&mut d);
    let mut r = pcap_file::pcapng::PcapNgReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let (mut names, mut packets) = (Vec::new(), Vec::new());
    while let Some(b) = r.next_block() {
        match b.unwrap() {
            Block::InterfaceDescription(i) => {
                assert_eq!(i.snaplen, 40);
                for o in i.options {
                    if let InterfaceDescriptionOption::IfName(n) = o {
                        names.push(n.into_owned());
                    }
                }
            }
            Block::EnhancedPacket(e) => {
                let comment = e.options.iter().find_map(|o| match o {
                    EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                    _ => None,
                });
                packets.push((
                    e.original_len,
                    e.data.len(),
                    comment.expect("a comment on each packet"),
                ));
            }
            _ => {}
        }
    }
    // `dump -r` reads it back: text lines, and pcap with the same frames,
    // lengths and times.
    let read = |extra: &[&str]| {
        let o = Command::new(XSKIT)
            .args(["dump", "-r", p])
            .args(extra)
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "dump -r {extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    let text = String::from_utf8(read(&[])).unwrap();
    let pcap = read(&["-w", "-"]);
    let _ = std::fs::remove_file(&path);
    // Lines describe the 40 bytes kept, with each frame's whole length.
    assert_eq!(text.lines().count(), frames.len(), "{text}");
    for (l, f) in text.lines().zip(&frames) {
        assert!(l.ends_with(&format!("length {}", f.len())), "{l}");
    }
    let cut: Vec<String> = frames
        .iter()
        .map(|f| {
            f[..f.len().min(40)]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect()
        })
        .collect();
    assert_eq!(frames_of(&pcap), cut);
    let mut r = pcap_file::pcap::PcapReader::new(&pcap[..]).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for f in &frames {
        let p = r.next_raw_packet().unwrap().unwrap();
        assert_eq!(p.orig_len as usize, f.len());
        assert!(
            u64::from(p.ts_sec).abs_diff(now) < 600,
            "time {} read back, now {now}",
            p.ts_sec
        );
    }
    assert_eq!(names, std::slice::from_ref(&g.0.inner_if));
    assert_eq!(packets.len(), frames.len(), "{packets:?}");
    for ((orig, kept, comment), f) in packets.iter().zip(&frames) {
        assert_eq!((*orig as usize, *kept), (f.len(), f.len().min(40)));
        assert!(comment.contains("copied by xdp_capture"), "{comment}");
    }
    assert!(
        packets[0].2.contains("IPv4 198.18.0.2 > 198.18.0.1"),
        "{}",
        packets[0].2
    );
    // tcpdump reads the file too.
    assert!(tcpdump().args(["-nr", p]).output().is_ok());
}
