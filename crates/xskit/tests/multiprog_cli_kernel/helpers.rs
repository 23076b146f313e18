//! The set-up and checks the tests beside xdp-filter share.

use super::common::{self, row, xskit};
use std::io::{BufRead, BufReader};
use std::net::{IpAddr, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;
use xskit::app::measure::demo::ping_series_within;
use xskit::app::shared::sandbox::State;
use xskit::net::netns;
use xskit::testing::{in_inner, in_outer};

pub(crate) const FILTER: &str = "/usr/sbin/xdp-filter";
pub(crate) const LOADER: &str = "/usr/sbin/xdp-loader";
/// The port xdp-filter denies, and one it does not.
pub(crate) const DENIED: u16 = 7777;
pub(crate) const OPEN: u16 = 7778;
/// echo's program as the kernel names it (15 bytes of xdp_redirect_echo).
pub(crate) const ECHO_PROG: &str = "xdp_redirect_ec";

/// One test at a time: libxdp's tools refuse to run beside themselves
/// ("Unable to read PID from lockfile").
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub(crate) fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub(crate) fn run(tool: &str, args: &[&str]) -> Output {
    Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"))
}

pub(crate) fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

/// xdp-filter's program and its pins go, whatever the test did.
pub(crate) struct FilterGuard<'a>(&'a State);

impl Drop for FilterGuard<'_> {
    fn drop(&mut self) {
        in_inner(self.0, || {
            let _ = run(FILTER, &["unload", &self.0.inner_if]);
            let _ = run(LOADER, &["unload", &self.0.inner_if, "--all"]);
        });
    }
}

/// Where the kernel refuses extension programs: `o` failed in one line
/// naming them, and nothing is attached to the sandbox's inner end.
pub(crate) fn refused_in_one_line(st: &State, what: &str, o: &Output) {
    let t = text(o);
    println!("{what}: {t}");
    assert!(!o.status.success(), "{t}");
    assert!(t.contains("refuses extension programs"), "{t}");
    assert_eq!(t.trim().lines().count(), 1, "not one line: {t}");
    assert_eq!(
        in_inner(st, || netns::xdp_shown_by_ip(&st.inner_if).unwrap()),
        None
    );
}

/// xdp-filter on the sandbox's inner end (libxdp makes its dispatcher),
/// denying UDP to [`DENIED`]; unloaded when the guard goes.
pub(crate) fn xdp_filter(st: &State) -> FilterGuard<'_> {
    let guard = FilterGuard(st);
    in_inner(st, || {
        let l = run(FILTER, &["load", "-m", "skb", &st.inner_if]);
        assert!(l.status.success(), "xdp-filter load: {}", text(&l));
        let p = run(FILTER, &["port", &DENIED.to_string()]);
        assert!(p.status.success(), "xdp-filter port: {}", text(&p));
    });
    guard
}

/// Of `n` UDP datagrams sent from the outer end to the inner address on
/// `port`, how many a socket bound there received.
pub(crate) fn udp_arrivals(st: &State, port: u16, n: usize) -> usize {
    let sock = in_inner(st, || UdpSocket::bind((st.inner_v4, port)).unwrap());
    sock.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    in_outer(st, || {
        let s = UdpSocket::bind((st.outer_v4, 0)).unwrap();
        for _ in 0..n {
            s.send_to(b"xskit", (st.inner_v4, port)).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let mut got = 0;
    let mut buf = [0u8; 64];
    while sock.recv_from(&mut buf).is_ok() {
        got += 1;
    }
    got
}

/// 20 pings over each family, 3 s each at most: (IPv6, IPv4) answered
/// correctly.
pub(crate) fn pings(st: &State) -> (u32, u32) {
    let wait = Duration::from_secs(3);
    in_outer(st, || {
        (
            ping_series_within(IpAddr::V6(st.inner_v6), 20, 56, Duration::ZERO, wait)
                .unwrap()
                .correct,
            ping_series_within(IpAddr::V4(st.inner_v4), 20, 56, Duration::ZERO, wait)
                .unwrap()
                .correct,
        )
    })
}

/// True where the kernel has namespace cookies (5.14+): before, xskit's
/// operator commands (`status`, `load`, `unload`) refuse in one line naming
/// SO_NETNS_COOKIE.
pub(crate) fn cookies(st: &State) -> bool {
    let o = xskit(&["status", "--sandbox", &st.name]);
    if o.status.success() {
        return true;
    }
    assert!(
        text(&o).contains("SO_NETNS_COOKIE"),
        "xskit status: {}",
        text(&o)
    );
    false
}

/// (name, owner) of each program `xskit status` lists in the inner
/// interface's dispatcher; where the kernel has no namespace cookies, the
/// names `xdp-loader status` lists, owned by "?".
pub(crate) fn components(st: &State) -> Vec<(String, String)> {
    if !cookies(st) {
        return loader_status(st)
            .lines()
            .filter_map(|l| l.split_once("=>"))
            .filter_map(|(_, rest)| rest.split_whitespace().nth(1))
            .map(|n| (n.to_string(), "?".to_string()))
            .collect();
    }
    let o = xskit(&["status", "--sandbox", &st.name, "--json"]);
    assert!(o.status.success(), "xskit status: {}", text(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let r = row(&v, &st.inner_if);
    r["dispatcher"]["programs"]
        .as_array()
        .unwrap_or_else(|| panic!("no dispatcher in xskit status: {r}"))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or("").to_string(),
                c["owner"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The program id `xdp-loader status` gives echo's component.
pub(crate) fn left_id(st: &State) -> u32 {
    loader_status(st)
        .lines()
        .filter_map(|l| l.split_once("=>"))
        .map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>())
        .find(|w| w.get(1) == Some(&ECHO_PROG))
        .and_then(|w| w.get(2)?.parse().ok())
        .expect("xdp-loader lists echo's component with its id")
}

pub(crate) fn loader_status(st: &State) -> String {
    let t = text(&in_inner(st, || run(LOADER, &["status", &st.inner_if])));
    println!("xdp-loader status:\n{t}");
    t
}

/// Reads `stream` up to and including the first line for which `last`
/// holds; the rest is read on a thread (or the child would block on a
/// full pipe, or write into a closed one), whose handle gives it once the
/// child ends.
pub(crate) fn read_until(
    stream: impl std::io::Read + Send + 'static,
    last: impl Fn(&str) -> bool,
) -> (String, std::thread::JoinHandle<String>) {
    let mut lines = BufReader::new(stream).lines();
    let mut seen = String::new();
    for l in lines.by_ref() {
        let l = l.unwrap();
        seen += &l;
        seen += "\n";
        if last(&l) {
            break;
        }
    }
    let rest = std::thread::spawn(move || {
        lines
            .map_while(Result::ok)
            .fold(String::new(), |t, l| t + &l + "\n")
    });
    (seen, rest)
}

/// Starts `xskit echo --sandbox NAME` and reads its output up to the line
/// that says where its program went; the rest of its output comes from the
/// handle once it ends.
pub(crate) fn start_echo(st: &State) -> (Child, String, std::thread::JoinHandle<String>) {
    let mut child = common::bin()
        .args(["echo", "--sandbox", &st.name, "-p", "-n", "10s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let (seen, rest) = read_until(out, |l| l.contains(" on xsk0 queue 0:"));
    (child, seen, rest)
}

/// Starts `xskit dump --sandbox NAME -d 60s EXTRA` and reads its messages
/// up to "capturing on ..."; the frames are its stdout, the rest of its
/// messages come from the handle.
pub(crate) fn start_dump(
    st: &State,
    extra: &[&str],
) -> (Child, String, std::thread::JoinHandle<String>) {
    let mut child = common::bin()
        .args(["dump", "--sandbox", &st.name, "-d", "60s"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let err = child.stderr.take().unwrap();
    let (said, rest) = read_until(err, |l| l.starts_with("capturing on"));
    println!("xskit dump:\n{said}");
    (child, said, rest)
}

/// dump's frames (its stdout) and its other messages, once it ended by
/// itself with success.
pub(crate) fn dump_output(dump: Child, rest: std::thread::JoinHandle<String>) -> String {
    let out = dump.wait_with_output().unwrap();
    let frames = String::from_utf8_lossy(&out.stdout).into_owned();
    let summary = rest.join().unwrap();
    println!("captured:\n{frames}{summary}");
    assert!(out.status.success(), "{}: {frames}{summary}", out.status);
    frames
}

pub(crate) fn stop(child: &mut Child, signal: i32) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    child.wait().unwrap();
}
