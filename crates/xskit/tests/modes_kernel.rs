//! rxdrop, l2fwd, txonly, multi-queue and the generator against the real
//! kernel, each test in a sandbox of its own.

mod common;

use clap::Parser;
use std::net::{IpAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use xsk::{FrameCopy, Xsk, XskConfig};
use xskit::app::measure::gen::{self, GenArgs};
use xskit::app::modes::{
    self, udp_template, Benchmark, List, ModeArgs, Running, Worker, WorkerConfig,
};
use xskit::app::shared::sandbox::{Guard, State, UpArgs};
use xskit::net::{packet::PacketSocket, veth};
use xskit::testing::{
    experimental_frame, have_root, in_inner, in_netns, in_outer, is_experimental, sandbox,
    veth_pair,
};
use xskit::xdp::live::live_frames_allowed;
use xskit::xdp::{HookChoice, Program, XdpProgram};

#[derive(Parser)]
struct G {
    #[command(flatten)]
    g: GenArgs,
}

/// rxdrop's or l2fwd's options on the sandbox's inner end.
fn mode_args(st: &State, extra: &[&str]) -> ModeArgs {
    let mut argv = vec!["-i", &st.inner_if, "-Q"];
    argv.extend_from_slice(extra);
    common::rx_mode_args(&argv)
}

/// txonly's options on the sandbox's inner end.
fn tx_args(st: &State, extra: &[&str]) -> ModeArgs {
    let mut argv = vec!["-i", &st.inner_if, "-Q"];
    argv.extend_from_slice(extra);
    common::tx_mode_args(&argv)
}

fn start(st: &State, mode: Benchmark, args: ModeArgs) -> Running {
    in_inner(st, || {
        modes::start(mode, &args, &st.inner_if, &mut std::io::sink()).unwrap()
    })
}

/// Runs the generator from the outer end with these options.
fn generate(st: &State, extra: &[&str]) -> gen::GenSummary {
    let name = st.name.clone();
    in_outer(st, || {
        let mut argv = vec!["gen", "--sandbox", &name, "-Q"];
        argv.extend_from_slice(extra);
        // An emulated CPU (scripts/vm-test) cannot receive 100,000 frames a
        // second: the rx ring overflows. Same frames, lower rate.
        if xskit::testing::slow() {
            if let Some(i) = argv.iter().position(|a| *a == "-r") {
                argv[i + 1] = "5000";
            }
        }
        let args = G::parse_from(argv).g;
        let plan = args.plan().unwrap();
        gen::run(&args, &plan, &AtomicBool::new(false), &mut std::io::sink()).unwrap()
    })
}

/// These tests saturate CPUs on purpose; on a 2-core machine they would
/// starve each other's receive threads, so they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Frames the inner end of the veth dropped before XDP saw them (its
/// `rx_dropped`: under emulation the generator's bursts can overflow the
/// veth's 256-slot ring). They never reached the socket, so the tests
/// count them against what the generator sent.
/// Frames the veth pair dropped between the generator and the inner end's
/// XDP program: the inner end's receive drops, and the outer end's
/// transmit drops (veth counts a frame there when the peer's ring is full:
/// 3,876 of a burst of the generator's AF_XDP fallback in one run here).
fn veth_rx_dropped(st: &State) -> u64 {
    let stat = |ns: &str, dev: &str, dir: &str| {
        let o = std::process::Command::new("ip")
            .args(["-j", "-s", "-n", ns, "link", "show", dev])
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v[0]["stats64"][dir]["dropped"]
            .as_u64()
            .expect("ip -j -s link gives stats64.{rx,tx}.dropped")
    };
    stat(&st.inner_ns, &st.inner_if, "rx") + stat(&st.outer_ns, &st.outer_if, "tx")
}

/// `ip -s -s link` of both ends, to say where missing frames went.
fn link_stats(st: &State) -> String {
    let mut s = String::new();
    for (ns, dev) in [(&st.inner_ns, &st.inner_if), (&st.outer_ns, &st.outer_if)] {
        let o = std::process::Command::new("ip")
            .args(["-n", ns, "-s", "-s", "link", "show", dev])
            .output()
            .unwrap();
        s.push_str(&String::from_utf8_lossy(&o.stdout));
    }
    s
}

fn wait_for(mut ok: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !ok() && Instant::now() < end {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rxdrop_counts_every_frame_the_generator_sent() {
    if !have_root("rxdrop_counts_every_frame_the_generator_sent") {
        return;
    }
    let _serial = serial();
    // Waiting in poll() and napping while frames flow (the default),
    // in poll() only, and napping whenever the ring runs dry; with -x, the
    // XDP program's counters too.
    for wait in [
        &["-p"][..],
        &["-p", "--nap", "off"],
        &["--nap", "100us"],
        &["--nap", "100us", "-x"],
    ] {
        rxdrop_counts_every_frame(wait);
    }
}

fn rxdrop_counts_every_frame(wait: &[&str]) {
    let g = sandbox("rxdrop").unwrap();
    let st = &g.0;
    let running = start(
        st,
        Benchmark::Rxdrop,
        mode_args(st, &[wait, &["--frames", "32768", "-f", "2048"]].concat()),
    );
    let dropped_before = veth_rx_dropped(st);
    let sent = generate(st, &["-C", "100000", "-r", "200000"]);
    // BPF_PROG_RUN live frames where the kernel runs them (5.18+, unless
    // refused); elsewhere the AF_XDP fallback.
    assert_eq!(sent.live_frames, live_frames_allowed().unwrap());
    assert_eq!(sent.sent, 100_000);
    let arrived = || sent.sent - (veth_rx_dropped(st) - dropped_before);
    wait_for(|| running.totals().rx_packets >= arrived());
    // The program counts only for -x: without it, it was loaded without
    // its counters, which cannot be read then.
    match running.extra() {
        Ok(x) if wait.contains(&"-x") => assert!(
            x.xdp.redirected.packets >= arrived(),
            "{wait:?}: {:?}",
            x.xdp
        ),
        Err(e) if !wait.contains(&"-x") => {
            assert!(e.to_string().contains("without counters"), "{e}")
        }
        other => panic!("{wait:?}: extra counters {:?}", other.map(|x| x.xdp)),
    }
    let sum = running.stop(1.0).unwrap();
    // The veth's drops include frames its XDP program could not redirect
    // (the socket's ring full): the socket must have lost none.
    let k = &sum.queues[0].2;
    assert_eq!(
        (k.rx_dropped, k.rx_ring_full, k.rx_fill_ring_empty_descs),
        (0, Some(0), Some(0)),
        "{wait:?}: the socket dropped frames"
    );
    // The generator's frames that reached the interface, and perhaps a few
    // the kernel sent by itself.
    assert!(
        sum.total.rx_packets >= arrived(),
        "{wait:?}: {} < {}; socket {:?}; links:\n{}",
        sum.total.rx_packets,
        sent.sent,
        sum.queues[0].2,
        link_stats(st)
    );
    assert!(sum.total.rx_packets <= sent.sent + 20, "{wait:?}: {sum:?}");
    assert_eq!(sum.frames_unaccounted, 0);
    assert_eq!(sum.queues[0].2.rx_dropped, 0, "{wait:?}");
}

#[test]
fn unaligned_chunks_of_any_size_receive_and_forward() {
    if !have_root("unaligned_chunks_of_any_size_receive_and_forward") {
        return;
    }
    let _serial = serial();
    let g = sandbox("unaligned").unwrap();
    let st = &g.0;
    for mode in [Benchmark::Rxdrop, Benchmark::L2fwd] {
        let running = start(
            st,
            mode,
            mode_args(st, &["-p", "-u", "-f", "3000", "--frames", "16384"]),
        );
        let dropped_before = veth_rx_dropped(st);
        let sent = generate(st, &["-C", "20000", "-r", "100000"]);
        // Under emulation veth may drop a few frames before XDP (its own
        // ring full; counted as the interface's rx drops): every frame that
        // arrived must be received.
        let arrived = || sent.sent - (veth_rx_dropped(st) - dropped_before);
        wait_for(|| running.totals().rx_packets >= arrived());
        let sum = running.stop(1.0).unwrap();
        let arrived = arrived();
        assert!(
            sum.total.rx_packets >= arrived,
            "{mode:?}: {arrived} arrived: {sum:?}\n{}",
            link_stats(st)
        );
        if mode == Benchmark::L2fwd {
            assert!(sum.total.tx_packets >= arrived, "{sum:?}");
        }
        assert_eq!(sum.frames_unaccounted, 0);
    }
}

#[test]
fn generator_reaches_the_receiver_and_the_drop_counter_matches() {
    if !have_root("generator_reaches_the_receiver_and_the_drop_counter_matches") {
        return;
    }
    let _serial = serial();
    let g = sandbox("gen").unwrap();
    let st = &g.0;
    let prog = in_inner(st, || {
        let mut p = XdpProgram::load(Program::Drop, 1).unwrap();
        p.attach(&st.inner_if, HookChoice::Native, false).unwrap();
        p
    });
    let dropped_before = veth_rx_dropped(st);
    let sent = generate(st, &["-C", "200000"]);
    // Live frames reach the program whole; the AF_XDP fallback's skbs can
    // find veth's ring full, and veth counts those as its own rx drops.
    let arrived = || 200_000 - (veth_rx_dropped(st) - dropped_before);
    wait_for(|| prog.counters().unwrap().dropped.packets >= arrived());
    let c = prog.counters().unwrap();
    assert!(
        c.dropped.packets >= arrived() && c.dropped.packets <= arrived() + 20,
        "{c:?}, {} dropped by veth: {}",
        200_000 - arrived(),
        link_stats(st)
    );
    if sent.live_frames {
        assert_eq!(arrived(), 200_000, "live frames dropped by veth");
    }
    assert_eq!(sent.sent, 200_000);
    // BPF_PROG_RUN live frames where the kernel runs them (5.18+, unless
    // refused); elsewhere the AF_XDP fallback.
    assert_eq!(sent.live_frames, live_frames_allowed().unwrap());
    // The AF_XDP fallback (txonly with the generator's frame) reaches it too.
    let before = prog.counters().unwrap().dropped.packets;
    let af = generate(st, &["-C", "5000", "--af-xdp"]);
    assert!(!af.live_frames);
    assert_eq!(af.sent, 5000);
    wait_for(|| prog.counters().unwrap().dropped.packets >= before + 5000);
    // (the kernel on the outer end may add a router solicitation or two)
    let after = prog.counters().unwrap().dropped.packets;
    assert!(
        after >= before + 5000 && after <= before + 5020,
        "{after} vs {before} + 5000"
    );
    // IPv6 and ICMP templates reach it too.
    let before = prog.counters().unwrap().dropped.packets;
    generate(st, &["-C", "1000", "-6", "-s", "70"]);
    generate(st, &["-C", "1000", "--icmp"]);
    wait_for(|| prog.counters().unwrap().dropped.packets >= before + 2000);
    assert!(prog.counters().unwrap().dropped.packets >= before + 2000);
}

#[test]
fn l2fwd_sends_frames_back_with_macs_swapped() {
    if !have_root("l2fwd_sends_frames_back_with_macs_swapped") {
        return;
    }
    let _serial = serial();
    // In poll() and in a busy loop: the busy loop must kick TX for frames
    // still on the ring once nothing more arrives (the kernel asked for a
    // wake-up and sends nothing until it gets one).
    for wait in [&["-p"][..], &[]] {
        l2fwd_returns_every_frame(wait);
    }
}

fn l2fwd_returns_every_frame(wait: &[&str]) {
    let g = sandbox("l2fwd").unwrap();
    let st = &g.0;
    let inner_mac = in_inner(st, || veth::mac(&st.inner_if).unwrap());
    let running = start(st, Benchmark::L2fwd, mode_args(st, wait));
    let (sent, back) = in_outer(st, || {
        let sock = PacketSocket::bind(&st.outer_if).unwrap();
        let outer_mac = veth::mac(&st.outer_if).unwrap();
        let mut sent = Vec::new();
        for i in 0..500u16 {
            let mut f = experimental_frame(outer_mac, &i.to_be_bytes().repeat(30));
            f[..6].copy_from_slice(&inner_mac);
            sock.send(&f).unwrap();
            sent.push(f);
        }
        let mut back = Vec::new();
        while back.len() < sent.len() {
            match sock.recv_incoming(Duration::from_secs(3)).unwrap() {
                Some(f) if is_experimental(&f) => back.push(f),
                Some(_) => {}
                None => break,
            }
        }
        (sent, back)
    });
    let sum = running.stop(1.0).unwrap();
    assert_eq!(back.len(), sent.len(), "{wait:?}: {sum:?}");
    for (s, b) in sent.iter().zip(&back) {
        assert_eq!(&b[..6], &s[6..12], "destination is the old source");
        assert_eq!(&b[6..12], &s[..6], "source is the old destination");
        assert_eq!(&b[12..], &s[12..]);
    }
    assert_eq!(sum.frames_unaccounted, 0);
}

fn big_rcvbuf(sock: &UdpSocket) {
    let size: libc::c_int = 32 << 20;
    // SAFETY: SO_RCVBUFFORCE reads one c_int.
    unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as u32,
        );
    }
}

fn csum_errors() -> u64 {
    // Every InCsumErrors column of this thread's namespace's SNMP counters.
    let mut n = 0;
    for file in ["/proc/thread-self/net/snmp", "/proc/thread-self/net/snmp6"] {
        let text = std::fs::read_to_string(file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for (i, l) in lines.iter().enumerate() {
            if file.ends_with("snmp6") {
                if l.contains("InCsumErrors") {
                    n += l.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap();
                }
            } else if l.starts_with("Udp:") && l.contains("InCsumErrors") {
                let col = l
                    .split_whitespace()
                    .position(|w| w == "InCsumErrors")
                    .unwrap();
                n += lines[i + 1]
                    .split_whitespace()
                    .nth(col)
                    .unwrap()
                    .parse::<u64>()
                    .unwrap();
            }
        }
    }
    n
}

#[test]
fn txonly_frames_are_valid_udp_to_the_peers_kernel() {
    if !have_root("txonly_frames_are_valid_udp_to_the_peers_kernel") {
        return;
    }
    let _serial = serial();
    let g = sandbox("txonly").unwrap();
    let st = &g.0;
    let outer_mac = in_outer(st, || veth::mac(&st.outer_if).unwrap());
    let mac = outer_mac
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    for (src, dst, size) in [
        (IpAddr::V4(st.inner_v4), IpAddr::V4(st.outer_v4), "64"),
        (IpAddr::V6(st.inner_v6), IpAddr::V6(st.outer_v6), "1000"),
    ] {
        let sock = in_outer(st, || {
            let s = UdpSocket::bind((dst, 9)).unwrap();
            big_rcvbuf(&s);
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            (s, csum_errors())
        });
        let (src_s, dst_s) = (src.to_string(), dst.to_string());
        let args = tx_args(
            st,
            &[
                "-C",
                "3000",
                "-s",
                size,
                "--dst-mac",
                &mac,
                "--src-ip",
                &src_s,
                "--dst-ip",
                &dst_s,
            ],
        );
        let running = start(st, Benchmark::Txonly, args);
        wait_for(|| running.finished());
        let sum = running.stop(1.0).unwrap();
        assert_eq!(sum.total.tx_packets, 3000);
        let (got, errors) = in_outer(st, || {
            let mut buf = [0u8; 2048];
            let mut got = 0;
            while got < 3000 {
                match sock.0.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        assert_eq!(from.ip(), src);
                        assert_eq!(
                            n + 4 + 8 + 14 + if src.is_ipv4() { 20 } else { 40 },
                            size.parse::<usize>().unwrap()
                        );
                        got += 1;
                    }
                    Err(_) => break,
                }
            }
            (got, csum_errors() - sock.1)
        });
        assert_eq!(got, 3000, "{src}: datagrams the peer's kernel accepted");
        assert_eq!(errors, 0, "checksum errors counted by the peer");
    }
}

/// A turn of txonly fills TX to its room, not a batch: a NIC that sends
/// from TX in its poll (igb in zero-copy) keeps polling only while TX holds
/// more than one poll sends (BENCHMARKS.md, "txonly fills TX to its room").
#[test]
fn a_turn_of_txonly_fills_tx_to_its_room() {
    if !have_root("a_turn_of_txonly_fills_tx_to_its_room") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let ring = 512;
        let config = XskConfig::default()
            .bind(FrameCopy::Copy)
            .tx_size(ring)
            .prefill(0);
        let xsk = Xsk::new(&p.inner, 0, &config).unwrap();
        let tmpl = udp_template(
            [2, 0, 0, 0, 0, 1],
            [0xff; 6],
            "198.18.0.1".parse().unwrap(),
            "198.18.0.2".parse().unwrap(),
            1,
            9,
            64,
        )
        .unwrap();
        let config = WorkerConfig::default();
        assert!(config.batch < ring / 4, "{}", config.batch);
        let mut w = Worker::new(xsk, Benchmark::Txonly, &config, &tmpl).unwrap();
        let before = w.xsk.accounting();
        assert!(w.step().unwrap());
        let a = w.xsk.accounting();
        // One turn: no completion to send again yet, so exactly TX's size
        // left the free list (the kernel sends part of it in the wake-up).
        assert_eq!(before.free - a.free, ring as usize, "{before:?} then {a:?}");
        assert_eq!(a.tx + a.kernel + a.completion, ring as usize, "{a:?}");
        assert!(a.is_consistent(), "{a:?}");
    });
}

#[test]
fn two_queues_share_one_umem_and_split_the_traffic() {
    if !have_root("two_queues_share_one_umem_and_split_the_traffic") {
        return;
    }
    let _serial = serial();
    let name: String = format!("xt{}-mq", std::process::id());
    let st = xskit::app::shared::sandbox::up(&UpArgs {
        queues: 2,
        ..UpArgs::named(&name)
    })
    .unwrap();
    let _g = Guard(st.clone());
    let mut args = mode_args(&st, &["-p", "--frames", "32768", "-f", "2048"]);
    args.queues = Some(List(vec![0, 1]));
    let running = start(&st, Benchmark::Rxdrop, args);
    let dropped_before = veth_rx_dropped(&st);
    // veth picks the receive queue from the sending CPU: one thread per CPU.
    let sent = generate(&st, &["-C", "200000", "-r", "100000", "--cpus", "0,1"]);
    let arrived = || sent.sent - (veth_rx_dropped(&st) - dropped_before);
    wait_for(|| running.totals().rx_packets >= arrived());
    let per = running.per_queue();
    let sum = running.stop(1.0).unwrap();
    for (q, _, k) in &sum.queues {
        assert_eq!(
            (k.rx_dropped, k.rx_ring_full, k.rx_fill_ring_empty_descs),
            (0, Some(0), Some(0)),
            "queue {q}: the socket dropped frames"
        );
    }
    assert_eq!(per.len(), 2);
    assert!(
        per[0].1.rx_packets > 0 && per[1].1.rx_packets > 0,
        "{per:?}"
    );
    assert!(
        sum.total.rx_packets >= arrived() && sum.total.rx_packets <= sent.sent + 20,
        "{sum:?} vs {} sent, {} arrived",
        sent.sent,
        arrived()
    );
    assert_eq!(sum.frames_unaccounted, 0);
}

#[test]
fn resident_memory_stays_within_umem_plus_16_mib() {
    if !have_root("resident_memory_stays_within_umem_plus_16_mib") {
        return;
    }
    let _serial = serial();
    let g = sandbox("rss").unwrap();
    let st = &g.0;
    let duration = if xskit::testing::slow() { "30s" } else { "3s" };
    let child = common::bin()
        .args([
            "rxdrop",
            "--sandbox",
            &st.name,
            "-d",
            duration,
            "--json",
            "-Q",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Traffic once the receiver's program is attached (loading takes
    // seconds in an emulated VM), and its socket registered.
    wait_for(|| {
        st.in_inner(|| xskit::net::netns::xdp_attachment(&st.inner_if))
            .unwrap()
            .unwrap()
            .is_some()
    });
    std::thread::sleep(Duration::from_millis(500));
    generate(st, &["-d", "1.5s"]);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let rss = v["rss_bytes"].as_u64().unwrap();
    let umem = v["umem_bytes"].as_u64().unwrap();
    // Enough frames that every UMEM chunk was used. Under emulation
    // (XSKIT_TEST_SLOW, scripts/vm-test) a few tens of thousands arrive.
    let want = if xskit::testing::slow() {
        10_000
    } else {
        100_000
    };
    assert!(v["rx_packets"].as_u64().unwrap() > want, "{text}");
    assert!(
        rss <= umem + (16 << 20),
        "resident {rss} > UMEM {umem} + 16 MiB"
    );
}
