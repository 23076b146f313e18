//! `xskit dump -i IFACE` beside xskit's own programs: the attached
//! program's capture tap (bpf/tap.h) copies each frame with the verdict it
//! gave, to a separate `xskit dump` process; a killed dump leaves a
//! deadline that passes, and the kernel stops copying by itself.

mod common;

use common::{ok, xskit};
use std::io::Read;
use std::net::IpAddr;
use std::process::Child;
use std::time::{Duration, Instant};
use xskit::app::echo;
use xskit::app::measure::demo::ping_series;
use xskit::app::shared::records::state;
use xskit::app::shared::sandbox::State;
use xskit::net::{netns, packet::PacketSocket, veth};
use xskit::testing::{have_root, in_inner, in_outer, sandbox};
use xskit::wire::build;
use xskit::xdp::tap;

/// Starts `xskit dump --sandbox SB ARGS`, waits for its first line on
/// stderr and returns it with the child (stdout piped).
fn start_dump(sb: &str, args: &[&str]) -> (Child, String) {
    let (c, first, _rest) = common::spawn_dump_drained(sb, args);
    (c, first)
}

/// Waits up to 30 s for `c` to exit and returns its standard output.
fn finish(mut c: Child) -> String {
    let end = Instant::now() + Duration::from_secs(30);
    while c.try_wait().unwrap().is_none() {
        if Instant::now() > end {
            let _ = c.kill();
            let _ = c.wait();
            panic!("dump did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    c.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    assert!(c.wait().unwrap().success(), "{out}");
    out
}

/// `n` UDP datagrams from the outer end to the inner one.
fn send_udp(st: &State, n: usize) {
    send_udp_to(st, 9, n);
}

/// `n` UDP datagrams from the outer end to port `dport` of the inner one.
fn send_udp_to(st: &State, dport: u16, n: usize) {
    let dmac = in_inner(st, || veth::mac(&st.inner_if).unwrap());
    in_outer(st, || {
        let sock = PacketSocket::bind(&st.outer_if).unwrap();
        let f = build::udp_v4(
            veth::mac(&st.outer_if).unwrap(),
            dmac,
            st.outer_v4,
            st.inner_v4,
            4000,
            dport,
            b"xskit tap test",
        );
        for _ in 0..n {
            sock.send(&f).unwrap();
        }
    });
}

/// The id of the program attached to the sandbox's inner end.
fn prog_id(st: &State) -> u32 {
    in_inner(st, || netns::xdp_attachment(&st.inner_if).unwrap())
        .expect("a program is attached")
        .1
}

#[test]
fn dump_beside_echo_shows_the_pings_it_redirects() {
    if !have_root("dump_beside_echo_shows_the_pings_it_redirects") {
        return;
    }
    let g = sandbox("tapecho").unwrap();
    let st = &g.0;
    let a = xskit::testing::echo_args(&st.inner_if);
    let responder = echo::Background::start(st, a, None, Box::new(std::io::sink())).unwrap();
    let (dump, first) = start_dump(&st.name, &["-c", "5", "icmp"]);
    assert!(
        first.contains("capturing on") && first.contains("beside xdp_redirect"),
        "{first}"
    );
    let pings = in_outer(st, || {
        ping_series(IpAddr::V4(st.inner_v4), 5, 56, Duration::ZERO).unwrap()
    });
    let out = finish(dump);
    let sum = responder.stop().unwrap();
    // The capture took nothing away: every ping was answered.
    assert_eq!(pings.correct, 5, "{pings:?}");
    assert_eq!(sum.answered_v4, 5);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    for l in lines {
        assert!(
            l.contains("[redirect q0]") && l.contains("echo request"),
            "{l}"
        );
    }
}

#[test]
fn dump_beside_load_drop_pass_and_filter_shows_their_verdicts_in_lines_and_pcapng() {
    if !have_root("dump_beside_load_drop_pass_and_filter_shows_their_verdicts_in_lines_and_pcapng")
    {
        return;
    }
    use pcap_file::pcapng::blocks::enhanced_packet::EnhancedPacketOption;
    use pcap_file::pcapng::Block;
    let g = sandbox("tapload").unwrap();
    let st = &g.0;

    ok(&["load", "drop", "--sandbox", &st.name, &st.inner_if]);
    let (dump, first) = start_dump(&st.name, &["-c", "3", "udp"]);
    assert!(first.contains("beside xdp_drop"), "{first}");
    send_udp(st, 3);
    let out = finish(dump);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for l in lines {
        assert!(l.contains("[drop q0]") && l.contains("UDP"), "{l}");
    }
    // A dump that ends switches the tap off at once.
    let (deadline, _) = tap::read_switch(prog_id(st)).unwrap().unwrap();
    assert_eq!(deadline, 0, "the switch after the dump ended");
    ok(&["unload", "--sandbox", &st.name, &st.inner_if]);

    ok(&["load", "pass", "--sandbox", &st.name, &st.inner_if]);
    let path = std::env::temp_dir().join(format!("xskit-tap-{}.pcapng", std::process::id()));
    let (dump, first) = start_dump(
        &st.name,
        &["-c", "3", "--pcapng", "-w", path.to_str().unwrap(), "udp"],
    );
    assert!(first.contains("beside xdp_pass"), "{first}");
    send_udp(st, 3);
    finish(dump);
    let mut r = pcap_file::pcapng::PcapNgReader::new(std::fs::File::open(&path).unwrap()).unwrap();
    let mut comments = Vec::new();
    while let Some(b) = r.next_block() {
        if let Block::EnhancedPacket(e) = b.unwrap() {
            comments.extend(e.options.iter().filter_map(|o| match o {
                EnhancedPacketOption::Comment(c) => Some(c.to_string()),
                _ => None,
            }));
        }
    }
    let _ = std::fs::remove_file(&path);
    assert_eq!(comments.len(), 3, "{comments:?}");
    for c in &comments {
        assert!(
            c.starts_with("verdict pass, rx queue 0;") && c.contains("capture tap of xdp_pass"),
            "{c}"
        );
    }
    ok(&["unload", "--sandbox", &st.name, &st.inner_if]);

    // The filter: each frame with the verdict of the rule that decided it.
    ok(&["load", "filter", "--sandbox", &st.name, &st.inner_if]);
    ok(&[
        "filter",
        "add",
        "deny",
        "udp",
        "dst",
        "9",
        "--sandbox",
        &st.name,
    ]);
    let (dump, first) = start_dump(&st.name, &["-c", "4", "udp"]);
    assert!(first.contains("beside xdp_filter"), "{first}");
    send_udp_to(st, 9, 2);
    send_udp_to(st, 10, 2);
    let out = finish(dump);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    for l in lines {
        let want = if l.contains("> 9 ") {
            "[drop q0]"
        } else {
            "[pass q0]"
        };
        assert!(l.contains(want), "{l}");
    }
    ok(&["unload", "--sandbox", &st.name, &st.inner_if]);
}

#[test]
fn a_killed_dump_leaves_the_tap_to_switch_itself_off_and_one_dump_at_a_time() {
    if !have_root("a_killed_dump_leaves_the_tap_to_switch_itself_off_and_one_dump_at_a_time") {
        return;
    }
    let g = sandbox("tapkill").unwrap();
    let st = &g.0;
    ok(&["load", "pass", "--sandbox", &st.name, &st.inner_if]);
    let id = prog_id(st);
    let (off, _) = tap::read_switch(id).unwrap().expect("xdp_pass has a tap");
    assert_eq!(off, 0, "off before any capture");

    let (mut dump, first) = start_dump(&st.name, &[]);
    assert!(first.contains("beside xdp_pass"), "{first}");
    let (deadline, _) = tap::read_switch(id).unwrap().unwrap();
    assert!(
        deadline > state::monotonic_ns(),
        "the capture switched the tap on"
    );

    // A second capture of the same program is refused, saying why.
    let second = xskit(&["dump", "--sandbox", &st.name, "-c", "1", "-d", "2s"]);
    assert!(!second.status.success());
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains("another `xskit dump` is capturing"), "{why}");
    // So is one from another network namespace (this thread's): program
    // ids are global, and so is the claim. Refused before it touches the
    // switch.
    let other = tap::Tap::open(id, 1, 256)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(
        other.contains("another `xskit dump` is capturing"),
        "{other}"
    );

    dump.kill().unwrap(); // SIGKILL: no chance to switch anything off
    dump.wait().unwrap();
    std::thread::sleep(tap::TTL + Duration::from_secs(1));
    let (deadline, _) = tap::read_switch(id).unwrap().unwrap();
    assert!(
        deadline <= state::monotonic_ns(),
        "the deadline of the killed capture passed: {deadline}"
    );

    // The kernel copies nothing any more, though frames keep coming.
    let mut ring = tap::ring_of(id).unwrap().unwrap();
    while ring.next().is_some() {}
    let before = in_inner(st, || state::read_stats(&st.inner_if).unwrap().unwrap());
    send_udp(st, 20);
    std::thread::sleep(Duration::from_millis(300));
    let after = in_inner(st, || state::read_stats(&st.inner_if).unwrap().unwrap());
    assert!(
        after.passed.packets >= before.passed.packets + 20,
        "the frames reached the program: {before:?} {after:?}"
    );
    let mut copied = 0;
    while ring.next().is_some() {
        copied += 1;
    }
    assert_eq!(copied, 0, "frames copied after the deadline");
    // The killed capture's claim went with it: the next one takes it, and
    // leaves no file behind when it ends.
    let next = tap::Tap::open(id, 1, 256).unwrap().expect("a tap");
    drop(next);
    assert!(!std::path::Path::new(&format!("/run/xskit/taps/{id}.lock")).exists());
    ok(&["unload", "--sandbox", &st.name, &st.inner_if]);
}

#[test]
fn dump_refuses_beside_another_tools_program_saying_what_to_do() {
    if !have_root("dump_refuses_beside_another_tools_program_saying_what_to_do") {
        return;
    }
    let g = sandbox("tapforeign").unwrap();
    let st = &g.0;
    // A program of "another tool": one without a tap (xskit's generator
    // program, never attached by xskit) attached with ip(8).
    let obj = concat!(env!("CARGO_MANIFEST_DIR"), "/../xskit-xdp/bpf/xdp_gen.o");
    netns::ip(&[
        "-n",
        &st.inner_ns,
        "link",
        "set",
        "dev",
        &st.inner_if,
        "xdpgeneric",
        "obj",
        obj,
        "sec",
        "xdp",
    ])
    .unwrap();
    let o = xskit(&["dump", "--sandbox", &st.name, "-c", "1", "-d", "2s"]);
    let _ = netns::ip(&[
        "-n",
        &st.inner_ns,
        "link",
        "set",
        "dev",
        &st.inner_if,
        "xdpgeneric",
        "off",
    ]);
    assert!(!o.status.success());
    let why = String::from_utf8_lossy(&o.stderr);
    assert!(
        why.contains("another tool's XDP program xdp_gen")
            && why.contains(&format!("ip link set dev {} xdp off", st.inner_if)),
        "{why}"
    );
}

#[test]
fn dump_refuses_a_mode_other_than_the_tapped_programs_and_takes_its_own() {
    if !have_root("dump_refuses_a_mode_other_than_the_tapped_programs_and_takes_its_own") {
        return;
    }
    let g = sandbox("tapmode").unwrap();
    let st = &g.0;
    ok(&[
        "load",
        "pass",
        "--mode",
        "native",
        "--sandbox",
        &st.name,
        &st.inner_if,
    ]);
    let o = xskit(&[
        "dump",
        "--sandbox",
        &st.name,
        "--mode",
        "skb",
        "-c",
        "1",
        "-d",
        "2s",
    ]);
    let why = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{why}");
    assert!(
        why.contains("--mode skb") && why.contains("xdp_pass") && why.contains("native mode"),
        "{why}"
    );
    let (dump, first) = start_dump(&st.name, &["--mode", "native", "-c", "1", "udp"]);
    assert!(first.contains("beside xdp_pass"), "{first}");
    send_udp(st, 1);
    assert!(finish(dump).contains("[pass q0]"));
    ok(&["unload", "--sandbox", &st.name, &st.inner_if]);
}

#[test]
fn the_frags_aware_program_taps_multi_buffer_frames_with_their_whole_length() {
    if !have_root("the_frags_aware_program_taps_multi_buffer_frames_with_their_whole_length") {
        return;
    }
    use xskit::testing::{experimental_frame, in_netns, is_experimental, veth_pair};
    use xskit::xdp::{HookChoice, Program, XdpProgram};
    in_netns(|| {
        let p = veth_pair().unwrap();
        for i in [&p.inner, &p.peer] {
            netns::ip(&["link", "set", "dev", i, "mtu", "9000"]).unwrap();
        }
        // No socket registered: the program passes every frame.
        let mut prog = XdpProgram::load(Program::RedirectMultiBuffer, 1).unwrap();
        prog.attach(&p.inner, HookChoice::Native, false).unwrap();
        let (_, id, _) = netns::xdp_attachment(&p.inner).unwrap().unwrap();
        let ifindex = xsk::netdev::ifindex(&p.inner).unwrap();
        let mut t = tap::Tap::open(id, ifindex, 4096).unwrap().expect("a tap");
        let src = veth::mac(&p.peer).unwrap();
        let frames: Vec<Vec<u8>> = [9000usize, 60, 2047, 2049, 5000]
            .iter()
            .map(|&n| experimental_frame(src, &(0..n - 14).map(|j| j as u8).collect::<Vec<_>>()))
            .collect();
        let sock = PacketSocket::bind(&p.peer).unwrap();
        for f in &frames {
            sock.send(f).unwrap();
        }
        std::thread::sleep(Duration::from_millis(300));
        let mut got = Vec::new();
        while let Some(item) = t.ring().next() {
            let r = tap::Record::parse(&item).unwrap();
            if is_experimental(r.data) {
                got.push((r.len as usize, r.data.to_vec(), r.action, r.ifindex));
            }
        }
        assert_eq!(got.len(), frames.len());
        for ((len, data, action, ifi), f) in got.iter().zip(&frames) {
            assert_eq!(*len, f.len(), "the whole length, all buffers");
            // At most MAX_COPY bytes, from the first buffer.
            assert!(!data.is_empty() && data.len() <= tap::MAX_COPY as usize);
            assert_eq!(data.len(), f.len().min(tap::MAX_COPY as usize), "{len}");
            assert_eq!(data[..], f[..data.len()]);
            assert_eq!((tap::verdict_name(*action), *ifi), ("pass", ifindex));
        }
        assert_eq!(t.lost().unwrap(), 0);
    });
}

#[test]
fn a_dump_held_up_by_its_reader_says_the_capture_was_off() {
    if !have_root("a_dump_held_up_by_its_reader_says_the_capture_was_off") {
        return;
    }
    let g = sandbox("tapslow").unwrap();
    let st = &g.0;
    ok(&["load", "pass", "--sandbox", &st.name, &st.inner_if]);
    // Standard output is a pipe nobody reads for a while: once its 64 KiB
    // are full, dump blocks in a write and cannot move the deadline.
    let (mut c, first, stderr) = common::spawn_dump_drained(&st.name, &["-d", "8s", "udp"]);
    assert!(first.contains("beside xdp_pass"), "{first}");
    send_udp(st, 3000);
    std::thread::sleep(tap::TTL + Duration::from_millis(1500));
    let mut out = c.stdout.take().unwrap();
    let reader = std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()).unwrap());
    send_udp(st, 10);
    assert!(c.wait().unwrap().success());
    let lines = reader.join().unwrap();
    let said = stderr.join().unwrap();
    assert!(lines > 0);
    assert!(
        said.contains("the capture was off for"),
        "no word of the gap: {said}"
    );
    ok(&["unload", "--sandbox", &st.name, &st.inner_if]);
}
