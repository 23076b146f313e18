//! The loader as a library: the caller's own program carrying frames to a
//! socket through `register`, and the port program with the `udp_echo`
//! example answering UDP while the kernel keeps ARP, ND and ping; the
//! redirect program loaded without its counters.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use xsk::{FrameCopy, Xsk, XskConfig};
use xskit::app::measure::demo::ping_series;
use xskit::net::{netns, packet::PacketSocket, veth};
use xskit::testing::{
    experimental_frame, have_root, in_inner, in_netns, in_outer, recv_experimental, sandbox,
    veth_pair,
};
use xskit::xdp::{HookChoice, LoadOptions, Program, XdpProgram};

/// One of our objects, loaded from its ELF bytes as the caller's own would
/// be: the socket registered in the XSKMAP it names receives the frames.
#[test]
fn a_foreign_program_carries_frames_to_a_socket_through_register() {
    if !have_root("a_foreign_program_carries_frames_to_a_socket_through_register") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let cfg = XskConfig::default().bind(FrameCopy::Copy);
        let mut xsk = Xsk::new(&p.inner, 0, &cfg).unwrap();
        xsk.refill(u32::MAX);
        let elf = Program::Redirect.object();
        let mut prog = XdpProgram::load_elf(elf, "xdp_redirect", Some("xsks_map"), 1).unwrap();
        assert_eq!(prog.builtin(), None);
        assert_eq!(prog.name(), "xdp_redirect");
        prog.register(0, &xsk).unwrap();
        prog.attach(&p.inner, HookChoice::Skb, false).unwrap();
        let peer = PacketSocket::bind(&p.peer).unwrap();
        let src = veth::mac(&p.peer).unwrap();
        let sent: Vec<Vec<u8>> = (0..20u8)
            .map(|i| experimental_frame(src, &[i; 100]))
            .collect();
        for f in &sent {
            peer.send(f).unwrap();
        }
        let got = recv_experimental(&mut xsk, sent.len());
        assert_eq!(got, sent);
        // A name that is no XSKMAP, or no program, is refused clearly.
        let e = XdpProgram::load_elf(elf, "xdp_redirect", Some("xskit_stats"), 1).unwrap_err();
        assert!(e.to_string().contains("not an XSKMAP"), "{e}");
        let e = XdpProgram::load_elf(elf, "no_such", None, 1).unwrap_err();
        assert!(e.to_string().contains("no program named no_such"), "{e}");
    });
}

/// An example of xskit-xdp (`udp_echo`, ...), built beside this test by
/// `cargo test --workspace`.
fn example(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let path = dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (scripts/test), which builds the examples",
        path.display()
    );
    path
}

/// Starts the example `name` on the sandbox's inner end, port 7, and
/// waits for its `ready` line.
fn start_example(st: &xskit::app::shared::sandbox::State, name: &str) -> Kill {
    let path = example(name);
    let mut child = Kill(in_inner(st, || {
        Command::new(&path)
            .args([&st.inner_if, "7"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap()
    }));
    let mut line = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("ready"), "{name} said {line:?}");
    child
}

/// Sends `n` datagrams of each family to port 7 of the inner end from the
/// outer one; returns how many came back whole from port 7.
fn echoed(st: &xskit::app::shared::sandbox::State, n: u32) -> u32 {
    in_outer(st, || exchange(st, n))
}

/// As [`echoed`], from the calling thread (in the outer namespace).
fn exchange(st: &xskit::app::shared::sandbox::State, n: u32) -> u32 {
    let mut answered = 0;
    for dst in [IpAddr::V4(st.inner_v4), IpAddr::V6(st.inner_v6)] {
        let any: SocketAddr = if dst.is_ipv4() {
            "0.0.0.0:0".parse().unwrap()
        } else {
            "[::]:0".parse().unwrap()
        };
        let s = UdpSocket::bind(any).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        for i in 0..n {
            let msg = format!("datagram {i} to {dst}");
            s.send_to(msg.as_bytes(), (dst, 7)).unwrap();
            let mut buf = [0u8; 1500];
            if let Ok((len, from)) = s.recv_from(&mut buf) {
                answered +=
                    u32::from(&buf[..len] == msg.as_bytes() && from == SocketAddr::new(dst, 7));
            }
        }
    }
    answered
}

/// The split socket's examples, a thread per direction and a task per
/// direction on tokio, answer as the single-threaded one does.
#[test]
fn the_split_examples_answer_udp_from_two_threads_and_two_tasks() {
    if !have_root("the_split_examples_answer_udp_from_two_threads_and_two_tasks") {
        return;
    }
    for name in ["udp_echo_threads", "udp_echo_async"] {
        let g = sandbox("udpsplit").unwrap();
        let st = &g.0;
        let errors_before = in_outer(st, udp_csum_errors);
        let child = start_example(st, name);
        assert_eq!(echoed(st, 100), 200, "{name}");
        assert_eq!(
            in_outer(st, udp_csum_errors),
            errors_before,
            "{name}: bad checksums"
        );
        drop(child);
    }
}

/// Ends the example when the test ends, however it ends.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The UdpInCsumErrors counter of this thread's namespace.
fn udp_csum_errors() -> u64 {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp").unwrap();
    let mut udp = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let (names, values) = (udp.next().unwrap(), udp.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "InCsumErrors")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

/// The port program redirects only UDP to port 7: the example answers
/// every datagram of both families with a checksum the client's kernel
/// accepts, while the kernel still resolves ARP and ND, answers ping, and
/// refuses other ports; killing the example leaves nothing attached.
#[test]
fn the_port_program_answers_udp_while_the_kernel_keeps_arp_nd_and_ping() {
    if !have_root("the_port_program_answers_udp_while_the_kernel_keeps_arp_nd_and_ping") {
        return;
    }
    let g = sandbox("udpecho").unwrap();
    let st = &g.0;
    let child = start_example(st, "udp_echo");

    let (errors_before, answered, refused) = in_outer(st, || {
        let before = udp_csum_errors();
        // Every datagram of both families comes back whole from port 7.
        let answered = exchange(st, 20);
        // Another port is the kernel's: nothing listens, so it refuses.
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.connect((st.inner_v4, 9)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.send(b"x").unwrap();
        let refused = s.recv(&mut [0u8; 16]).unwrap_err().kind();
        // A datagram in fragments goes to the kernel whole, the first
        // fragment too: the kernel reassembles it, and refuses it (nothing
        // of its own listens on 7). Were the first fragment taken by the
        // socket, neither side could reassemble: no answer at all.
        let s = UdpSocket::bind("0.0.0.0:0").unwrap();
        s.connect((st.inner_v4, 7)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        s.send(&[7u8; 3000]).unwrap();
        let fragmented = s.recv(&mut [0u8; 16]).unwrap_err().kind();
        (before, answered, (refused, fragmented))
    });
    assert_eq!(answered, 40);
    assert_eq!(refused.0, std::io::ErrorKind::ConnectionRefused);
    assert_eq!(
        refused.1,
        std::io::ErrorKind::ConnectionRefused,
        "a fragmented datagram did not reach the kernel whole"
    );
    let errors_after = in_outer(st, udp_csum_errors);
    assert_eq!(
        errors_after, errors_before,
        "replies with bad UDP checksums"
    );

    // The kernel answers ping over both families, and resolved the
    // neighbours (ARP, ND) the datagrams needed.
    for dst in [IpAddr::V4(st.inner_v4), IpAddr::V6(st.inner_v6)] {
        let s = in_outer(st, || ping_series(dst, 5, 56, Duration::ZERO).unwrap());
        assert_eq!((s.correct, s.wrong), (5, 0), "ping {dst}");
    }
    let neigh = in_outer(st, || {
        netns::ip_output(&["neigh", "show", "dev", &st.outer_if])
    })
    .unwrap();
    for addr in [st.inner_v4.to_string(), st.inner_v6.to_string()] {
        assert!(
            neigh
                .lines()
                .any(|l| l.starts_with(&format!("{addr} ")) && l.contains("lladdr")),
            "no neighbour entry for {addr}: {neigh}"
        );
    }
    drop(child);
    let deadline = Instant::now() + Duration::from_secs(2);
    while in_inner(st, || netns::xdp_shown_by_ip(&st.inner_if).unwrap()).is_some() {
        assert!(
            Instant::now() < deadline,
            "the program outlived the example"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The redirect program loaded without counters: its frames still reach
/// the socket, the kernel dropped the counting code (the program it runs
/// is shorter by it), and `counters()` refuses instead of reporting zeros.
#[test]
fn an_uncounted_redirect_program_runs_without_its_counting_code() {
    if !have_root("an_uncounted_redirect_program_runs_without_its_counting_code") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let peer = PacketSocket::bind(&p.peer).unwrap();
        let src = veth::mac(&p.peer).unwrap();
        let mut sizes = Vec::new();
        for uncounted in [false, true] {
            let cfg = XskConfig::default().bind(FrameCopy::Copy);
            let mut xsk = Xsk::new(&p.inner, 0, &cfg).unwrap();
            xsk.refill(u32::MAX);
            let mut options = LoadOptions::default();
            if uncounted {
                options = options.uncounted();
            }
            let mut prog = XdpProgram::load_with(Program::Redirect, 1, options).unwrap();
            assert_eq!(prog.is_counted(), !uncounted);
            prog.register(0, &xsk).unwrap();
            prog.attach(&p.inner, HookChoice::Skb, false).unwrap();
            let sent: Vec<Vec<u8>> = (0..20u8)
                .map(|i| experimental_frame(src, &[i; 100]))
                .collect();
            for f in &sent {
                peer.send(f).unwrap();
            }
            assert_eq!(
                recv_experimental(&mut xsk, sent.len()),
                sent,
                "uncounted: {uncounted}"
            );
            match prog.counters() {
                Ok(c) if !uncounted => assert_eq!(c.redirected.packets, 20, "{c:?}"),
                Err(e) if uncounted => {
                    assert!(e.to_string().contains("without counters"), "{e}")
                }
                other => panic!("uncounted: {uncounted}: counters {other:?}"),
            }
            let info = prog.program_info().expect("the program's info");
            sizes.push(info.size_translated().expect("its translated size"));
            // Still known as one of xskit's (by its counter map, which the
            // program keeps though its code no longer touches it): what a
            // dispatcher's listing and `unload` go by.
            assert!(
                xskit::xdp::multiprog::is_xskit_program(info.id()),
                "uncounted: {uncounted}"
            );
        }
        // In the kernel's translation: the counted program's counting code
        // (a map lookup and two additions: over 15 instructions) is gone.
        let insn = 8;
        assert!(
            sizes[1] + 15 * insn <= sizes[0],
            "translated bytes, counted and uncounted: {sizes:?}"
        );
    });
}
