//! `xskit echo` as a hostile peer meets it: forged sources and destinations
//! are refused and counted by class in `--json` and `-x`, and one source
//! gets no more replies than the rate limit allows.

mod common;

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use xskit::app::shared::sandbox::State;
use xskit::net::{packet::PacketSocket, veth};
use xskit::testing::{have_root, in_inner, in_outer, sandbox};
use xskit::wire::build;

const IDENT: u16 = 0x7a11;

fn spawn(
    st: &State,
    args: &[&str],
) -> (Child, std::io::Lines<BufReader<std::process::ChildStdout>>) {
    let mut child = common::bin()
        .args(["echo", "--sandbox", &st.name, "-p"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The first line (a notice, or the first periodic JSON line) comes once
    // the program is attached and the socket bound.
    lines.next().unwrap().unwrap();
    (child, lines)
}

fn stop(mut child: Child, lines: std::io::Lines<BufReader<std::process::ChildStdout>>) -> String {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out: Vec<String> = lines.map(|l| l.unwrap()).collect();
    assert!(child.wait().unwrap().success());
    out.join("\n")
}

/// Requests from forged sources and to addresses that must not be
/// answered, each once, with the reason xskit counts it under.
fn forged(st: &State, mac: ([u8; 6], [u8; 6])) -> Vec<(Vec<u8>, &'static str)> {
    let (a, b) = mac;
    let v4 = |src: &str, dst: Ipv4Addr| {
        build::echo_request_v4(a, b, src.parse().unwrap(), dst, IDENT, 1, b"forged")
    };
    let v6 = |src: &str, dst: Ipv6Addr| {
        build::echo_request_v6(a, b, src.parse().unwrap(), dst, IDENT, 1, b"forged")
    };
    let (i4, i6) = (st.inner_v4, st.inner_v6);
    let bcast = Ipv4Addr::from(u32::from(i4) | 0xff);
    vec![
        (v4("224.0.0.1", i4), "src_multicast"),
        (v6("ff02::1", i6), "src_multicast"),
        (v4("255.255.255.255", i4), "src_broadcast"),
        (v4(&bcast.to_string(), i4), "src_broadcast"),
        (v4("0.0.0.0", i4), "src_unspecified"),
        (v6("::", i6), "src_unspecified"),
        (v4("127.0.0.1", i4), "src_loopback"),
        (v6("::1", i6), "src_loopback"),
        (v4(&i4.to_string(), i4), "src_own"),
        (v6(&i6.to_string(), i6), "src_own"),
        (v6("::ffff:198.18.0.2", i6), "src_mapped"),
        (v4(&st.outer_v4.to_string(), bcast), "dst_broadcast"),
        (
            v6(&st.outer_v6.to_string(), "ff02::2".parse().unwrap()),
            "dst_multicast",
        ),
    ]
}

/// Sends `frames` from the outer end and counts the echo replies to them.
fn send_and_count(st: &State, frames: &[Vec<u8>]) -> (usize, Vec<IpAddr>) {
    in_outer(st, || {
        let sock = PacketSocket::bind(&st.outer_if).unwrap();
        for f in frames {
            sock.send(f).unwrap();
        }
        let (mut n, mut to) = (0, Vec::new());
        let end = Instant::now() + Duration::from_millis(500);
        while let Some(f) = sock
            .recv_incoming(end.saturating_duration_since(Instant::now()))
            .unwrap()
        {
            let v4 = f.len() >= 42 && f[12..14] == [8, 0] && f[23] == 1 && f[34] == 0;
            let v6 = f.len() >= 62 && f[12..14] == [0x86, 0xdd] && f[20] == 58 && f[54] == 129;
            let icmp = if v4 { 34 } else { 54 };
            if (v4 || v6) && f[icmp + 4..icmp + 6] == IDENT.to_be_bytes() {
                n += 1;
                to.push(if v4 {
                    IpAddr::V4(<[u8; 4]>::try_from(&f[30..34]).unwrap().into())
                } else {
                    IpAddr::V6(<[u8; 16]>::try_from(&f[38..54]).unwrap().into())
                });
            }
        }
        (n, to)
    })
}

#[test]
fn forged_requests_are_refused_and_counted_and_a_source_is_rate_limited() {
    if !have_root("forged_requests_are_refused_and_counted_and_a_source_is_rate_limited") {
        return;
    }
    let g = sandbox("policy").unwrap();
    let st = &g.0;
    let mac = (
        in_outer(st, || veth::mac(&st.outer_if).unwrap()),
        in_inner(st, || veth::mac(&st.inner_if).unwrap()),
    );
    let (child, lines) = spawn(
        st,
        &[
            "--json",
            "-n",
            "100ms",
            "--rate-limit",
            "10",
            "--rate-burst",
            "5",
        ],
    );
    let forged = forged(st, mac);
    let mut frames: Vec<Vec<u8>> = forged.iter().map(|(f, _)| f.clone()).collect();
    // IPv4 multicast and limited broadcast destinations: the XDP program
    // leaves them to the kernel (which ignores them), so user space never
    // counts them.
    for dst in ["224.0.0.1", "255.255.255.255"] {
        let dst: Ipv4Addr = dst.parse().unwrap();
        frames.push(build::echo_request_v4(
            mac.0,
            [0xff; 6],
            st.outer_v4,
            dst,
            IDENT,
            1,
            b"group",
        ));
    }
    for seq in 0..20 {
        frames.push(build::echo_request_v4(
            mac.0,
            mac.1,
            st.outer_v4,
            st.inner_v4,
            IDENT,
            100 + seq,
            b"flood",
        ));
    }
    let (replies, to) = send_and_count(st, &frames);
    let out = stop(child, lines);
    let summary: serde_json::Value = serde_json::from_str(out.lines().last().unwrap()).unwrap();
    let rejected = &summary["rejected"];
    for (_, why) in &forged {
        let want = forged.iter().filter(|(_, w)| w == why).count() as u64;
        assert_eq!(rejected[*why], want, "{why}: {summary}");
    }
    assert_eq!(
        summary["rx_packets"].as_u64().unwrap(),
        (forged.len() + 20) as u64,
        "{summary}"
    );
    // 5 at once, then 10 a second: sending takes milliseconds.
    let limited = rejected["rate_limited"].as_u64().unwrap();
    assert!((14..=15).contains(&limited), "{summary}");
    assert_eq!(summary["answered_v4"].as_u64().unwrap(), 20 - limited);
    assert_eq!(replies as u64, 20 - limited, "replies seen");
    assert!(to.iter().all(|a| *a == IpAddr::V4(st.outer_v4)), "{to:?}");
    assert_eq!(summary["frames_accounted"], true);

    // The same classes on the periodic lines of -x.
    let (child, lines) = spawn(st, &["-x", "-n", "100ms"]);
    let (replies, _) = send_and_count(st, &frames[..2]);
    std::thread::sleep(Duration::from_millis(200));
    let out = stop(child, lines);
    assert_eq!(replies, 0);
    assert!(out.contains("not answered: 2 src_multicast"), "{out}");
}
