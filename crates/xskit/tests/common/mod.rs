//! Helpers of the kernel tests that run the `xskit` binary and read what it
//! says; a quiet veth pair and UDP senders for them. (The library-side
//! helpers, namespaces, sandboxes, frames and options, are
//! `xskit::testing`.)
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Lines};
use std::net::Ipv4Addr;
use std::process::{Child, ChildStderr, ChildStdout, Command, Output, Stdio};
use std::time::Duration;
use xskit::app::shared::records::state;
use xskit::net::{netns, packet::PacketSocket, veth};
use xskit::testing::{veth_pair, Pair};
use xskit::wire::build;

mod modes;
mod ops;
#[allow(unused_imports)]
pub use modes::*;
#[allow(unused_imports)]
pub use ops::*;

/// Where the `xskit` binary under test is.
pub const BIN: &str = env!("CARGO_BIN_EXE_xskit");

/// The `xskit` binary under test, with no SSH session (the SSH guard is
/// tested on its own).
pub fn bin() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove("SSH_CONNECTION");
    c
}

/// The binary with `args`.
pub fn cmd(args: &[&str]) -> Command {
    let mut c = bin();
    c.args(args);
    c
}

pub fn xskit(args: &[&str]) -> Output {
    cmd(args).stdin(Stdio::null()).output().unwrap()
}

/// Runs `xskit ARGS`, fails the test unless it succeeds (showing both
/// outputs), and returns its standard output.
pub fn stdout_ok(args: &[&str]) -> String {
    let o = xskit(args);
    assert!(
        o.status.success(),
        "xskit {args:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Runs `xskit ARGS`, fails the test unless it succeeds, and returns its
/// standard output and error together.
pub fn ok(args: &[&str]) -> String {
    let o = xskit(args);
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "xskit {args:?} failed: {text}");
    text
}

/// Starts `xskit dump --sandbox SB ARGS` with `stdout`, reads the first
/// line of its stderr and returns the child, that line and the rest of
/// stderr (the caller keeps draining it, or dump may block on it).
pub fn spawn_dump(
    sb: &str,
    args: &[&str],
    stdout: Stdio,
) -> (Child, String, BufReader<ChildStderr>) {
    let mut c = bin()
        .args(["dump", "--sandbox", sb])
        .args(args)
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(c.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    (c, line, err)
}

/// As [`spawn_dump`] with stdout piped, and the rest of stderr read to its
/// end by a thread (so the child never blocks on it).
pub fn spawn_dump_drained(
    sb: &str,
    args: &[&str],
) -> (Child, String, std::thread::JoinHandle<String>) {
    use std::io::Read;
    let (c, line, mut err) = spawn_dump(sb, args, Stdio::piped());
    let rest = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).unwrap();
        s
    });
    (c, line, rest)
}

/// Starts `xskit load ARGS` and returns it, and the question it asked,
/// once it asks for confirmation.
pub fn load_waiting(args: &[&str]) -> (std::process::Child, String) {
    let child = cmd(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_question(child)
}

/// Reads the child's output until it asks for confirmation; returns it
/// and the question.
pub fn wait_for_question(mut child: std::process::Child) -> (std::process::Child, String) {
    let (seen, lines) = read_to_question(&mut child);
    // Keep reading, or the child dies writing to a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    let question = seen.lines().last().unwrap_or_default().to_string();
    (child, question)
}

/// Reads the child's stdout up to and with the line that asks for
/// confirmation (`type `yes` ...`): what it said so far, a line each, and
/// the rest of its lines, still to read.
pub fn read_to_question(child: &mut Child) -> (String, Lines<BufReader<ChildStdout>>) {
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = String::new();
    loop {
        match lines.next() {
            Some(Ok(l)) => {
                seen += &l;
                seen.push('\n');
                if l.contains("type `yes`") {
                    return (seen, lines);
                }
            }
            _ => panic!("xskit did not ask for confirmation: {seen}"),
        }
    }
}

pub fn status_json() -> serde_json::Value {
    serde_json::from_str(&ok(&["status", "--json"])).unwrap()
}

pub fn row(v: &serde_json::Value, iface: &str) -> serde_json::Value {
    v.as_array()
        .unwrap()
        .iter()
        .find(|r| r["iface"] == iface)
        .cloned()
        .unwrap()
}

/// A quiet test link: IPv6 off so the kernel sends nothing of its own.
pub fn quiet_pair() -> Pair {
    for f in ["all", "default"] {
        std::fs::write(format!("/proc/sys/net/ipv6/conf/{f}/disable_ipv6"), "1").unwrap();
    }
    let p = veth_pair().unwrap();
    netns::ip(&["addr", "add", "198.18.0.1/24", "dev", &p.inner]).unwrap();
    netns::ip(&["addr", "add", "198.18.0.2/24", "dev", &p.peer]).unwrap();
    p
}

/// Sends `n` UDP datagrams from the peer end to the inner end, at once.
pub fn send_udp_quick(p: &Pair, src: Ipv4Addr, dport: u16, n: usize) {
    let sock = PacketSocket::bind(&p.peer).unwrap();
    let (smac, dmac) = (veth::mac(&p.peer).unwrap(), veth::mac(&p.inner).unwrap());
    let f = build::udp_v4(
        smac,
        dmac,
        src,
        Ipv4Addr::new(198, 18, 0, 1),
        4000,
        dport,
        b"xskit filter test",
    );
    for _ in 0..n {
        sock.send(&f).unwrap();
    }
}

/// Sends `n` UDP datagrams from the peer end to the inner end, then gives
/// the receiving side 100 ms.
pub fn send_udp(p: &Pair, src: Ipv4Addr, dport: u16, n: usize) {
    send_udp_quick(p, src, dport, n);
    std::thread::sleep(Duration::from_millis(100));
}

pub fn cleanup() {
    let _ = state::forget_namespace(state::netns_id().unwrap());
}

/// Removes this namespace's pins even when the test fails half-way
/// (bpffs outlives the namespace, and a recycled inode would find them).
pub struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        cleanup();
    }
}
