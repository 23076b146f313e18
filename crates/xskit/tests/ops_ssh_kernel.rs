//! The rails around the operator's own session (issue 29, item 8): the SSH
//! guard finds a session without the command's own SSH_CONNECTION (in the
//! namespace's TCP connections to port 22, in a parent's environment), and
//! a filter change that can drop traffic on the default-route interface
//! waits for confirmation, is undone unless confirmed, and is undone by the
//! next command if its process was killed (the kernel passing all traffic
//! from the deadline meanwhile). The real binary, in namespaces of each
//! test's own.

mod common;

use common::*;
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};
use xskit::net::packet::PacketSocket;
use xskit::testing::{have_root, in_inner, in_netns, in_outer, sandbox};

fn stderr_of(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

#[test]
fn the_guard_finds_a_session_without_ssh_connection_by_its_tcp_connection_to_port_22() {
    if !have_root("the_guard_finds_a_session_without_ssh_connection") {
        return;
    }
    let g = sandbox("sshsock").unwrap();
    let st = &g.0;
    let sb = st.name.as_str();
    // An SSH-like session: a listener on port 22 of the inner end and a
    // client connected to it from the outer namespace.
    let at = format!("{}:22", st.inner_v4);
    let listener = in_inner(st, || TcpListener::bind(&at).unwrap());
    let client = in_outer(st, || TcpStream::connect(&at).unwrap());
    let (server, _) = listener.accept().unwrap();
    // The commands run without SSH_CONNECTION (common::cmd removes it).
    let run = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--sandbox", sb]);
        cmd(&a).stdin(Stdio::null()).output().unwrap()
    };
    for rule in [
        &["deny", "tcp", "dst", "22"][..],
        &["deny", "src", "198.18.0.0/16"],
        &["deny", "tcp"],
    ] {
        let mut a = vec!["filter", "add"];
        a.extend_from_slice(rule);
        let o = run(&a);
        let e = stderr_of(&o);
        assert_eq!(o.status.code(), Some(1), "{rule:?}: {e}");
        assert!(
            e.contains(&format!(
                "would cut your SSH session ({} -> {}:22, found in an established TCP connection to port 22 in this namespace)",
                st.outer_v4, st.inner_v4
            )),
            "{rule:?}: {e}"
        );
    }
    // A rule that spares it passes; so does `default deny` once SSH is allowed.
    assert!(run(&["filter", "add", "allow", "tcp", "dst", "22"])
        .status
        .success());
    assert!(run(&["filter", "default", "deny"]).status.success());
    let o = run(&["filter", "del", "allow", "tcp", "dst", "22"]);
    assert!(
        !o.status.success() && stderr_of(&o).contains("established TCP connection to port 22"),
        "{}",
        stderr_of(&o)
    );
    // Loading a filter whose rules cut it on its interface is refused too.
    assert!(run(&["filter", "add", "deny", "arp", "--force"])
        .status
        .success());
    let o = run(&["load", "filter", &st.inner_if, "--confirm-within", "0"]);
    let e = stderr_of(&o);
    assert!(
        !o.status.success() && e.contains("refusing to load the filter") && e.contains("ARP"),
        "{e}"
    );
    // Once the session is closed, nothing is refused.
    drop((client, server, listener));
    let t = Instant::now();
    loop {
        let o = run(&["load", "filter", &st.inner_if, "--confirm-within", "0"]);
        if o.status.success() {
            break;
        }
        // The closed connection may linger in the table a moment.
        assert!(t.elapsed() < Duration::from_secs(5), "{}", stderr_of(&o));
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(run(&["unload", &st.inner_if]).status.success());
}

#[test]
fn the_guard_reads_ssh_connection_of_the_commands_parents() {
    if !have_root("the_guard_reads_ssh_connection_of_the_commands_parents") {
        return;
    }
    in_netns(|| {
        let _p = quiet_pair();
        let _cleanup = Cleanup;
        // As under `sudo`: the shell has SSH_CONNECTION, the command not.
        let run = |args: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("env -u SSH_CONNECTION {BIN} {args}; exit $?"))
                .env("SSH_CONNECTION", "198.18.0.2 50000 198.18.0.1 22")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        };
        let o = run("filter add deny tcp dst 22");
        let e = stderr_of(&o);
        assert!(
            !o.status.success()
                && e.contains("would cut your SSH session (198.18.0.2 -> 198.18.0.1:22, found in SSH_CONNECTION of pid")
                && e.contains("(sh)"),
            "{e}"
        );
        // A session of another namespace (its local address is not here)
        // is not this namespace's to guard.
        let o = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "env -u SSH_CONNECTION {BIN} filter add deny tcp dst 22; exit $?"
            ))
            .env("SSH_CONNECTION", "203.0.113.9 50000 192.0.2.77 22")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr_of(&o));
    });
}

fn default_policy() -> String {
    let v: serde_json::Value = serde_json::from_str(&ok(&["filter", "list", "--json"])).unwrap();
    v["default"].as_str().unwrap().to_string()
}

#[test]
fn default_deny_on_the_default_route_interface_waits_for_confirmation() {
    in_quiet_netns(
        "default_deny_on_the_default_route_interface_waits_for_confirmation",
        |p| {
            default_route_via(p);
            let tap = PacketSocket::bind(&p.inner).unwrap();
            // The question states each program's own risk: xdp_pass cannot
            // cut the session, xdp_drop drops all of it.
            for (prog, risk) in [
                ("pass", "xdp_pass passes every frame, so it does not cut it"),
                ("drop", "xdp_drop drops all of it"),
            ] {
                let mut a = vec!["load", prog, &p.inner, "--confirm-within", "5s"];
                if prog == "drop" {
                    a.push("--force");
                }
                let mut w = Waiting::start(&a);
                let asked = &w.asked;
                assert!(
                    asked.contains(&format!("{} carries the default route: {risk}", p.inner))
                        && !asked.contains("xdp_pass can drop"),
                    "{asked}"
                );
                w.type_line("no");
                assert_eq!(w.end(Duration::from_secs(30)).0, Some(2));
                ok(&["unload", &p.inner]);
            }
            // An empty filter drops nothing: loaded without a question.
            let out = ok(&["load", "filter", &p.inner]);
            assert!(!out.contains("type `yes`"), "{out}");

            // `default deny` asks (30 s by default), and `no` undoes it at once.
            let mut w = Waiting::start(&["filter", "default", "deny"]);
            let asked = &w.asked;
            assert!(
                asked.contains(&format!(
                    "{} carries the default route; `default deny` can drop some of its traffic.",
                    p.inner
                )) && asked.contains("type `yes` within 30s"),
                "{asked}"
            );
            assert_eq!(default_policy(), "deny");
            assert!(!flows(p, &tap), "default deny let a frame through");
            let r = row(&status_json(), &p.inner);
            assert_eq!(r["waiting"]["change"], "default deny", "{r}");
            assert_eq!(r["waiting"]["pid"], w.pid(), "{r}");
            w.type_line("no");
            let (code, out) = w.end(Duration::from_secs(30));
            assert_eq!(code, Some(2));
            assert!(
                out.contains(
                    "not confirmed (`no`): undid `default deny` (default policy allow again)"
                ),
                "{out}"
            );
            assert_eq!(default_policy(), "allow");
            assert!(flows(p, &tap));
            assert!(row(&status_json(), &p.inner).get("waiting").is_none());

            // `yes` keeps it; so does `xskit confirm PID`, for a deny rule.
            let mut w = Waiting::start(&["filter", "default", "deny"]);
            w.type_line("yes");
            let (code, out) = w.end(Duration::from_secs(30));
            assert_eq!(code, Some(0));
            assert!(
                out.contains("confirmed: keeping `default deny` (the filter on"),
                "{out}"
            );
            assert_eq!(default_policy(), "deny");
            // What cannot drop more asks nothing: `default allow`, an allow rule.
            for args in [
                &["filter", "default", "allow"][..],
                &["filter", "add", "allow", "udp", "dst", "7"],
            ] {
                let out = ok(args);
                assert!(!out.contains("type `yes`"), "{args:?}: {out}");
            }
            let w = Waiting::start(&["filter", "add", "deny", "udp", "dst", "9"]);
            let pid = w.pid().to_string();
            let out = ok(&["confirm", &pid]);
            assert!(
                out.contains(&format!(
                    "confirmed the filter change of pid {pid}: keeping `add deny udp dst 9`"
                )),
                "{out}"
            );
            let (code, rest) = w.end(Duration::from_secs(30));
            assert_eq!(code, Some(0));
            assert!(rest.contains("confirmed: keeping `add deny udp dst 9`"));
            assert!(!flows(p, &tap), "the confirmed deny rule is not there");
            ok(&["filter", "flush", "--confirm-within", "0"]);

            // Killed while waiting: from the deadline the kernel passes all
            // traffic, and the next command undoes the change and says so.
            let mut w = Waiting::start(&["filter", "default", "deny", "--confirm-within", "5s"]);
            let started = Instant::now();
            assert!(!flows(p, &tap));
            w.sigkill();
            while !flows(p, &tap) {
                assert!(
                    started.elapsed() < Duration::from_secs(7),
                    "traffic still dropped 2 s after the deadline"
                );
            }
            assert!(
                started.elapsed() > Duration::from_secs(4),
                "reverted before its deadline"
            );
            let out = ok(&["status"]);
            assert!(
            out.contains("the filter change `default deny` of pid")
                && out.contains("was never confirmed and its process is gone: undone (default policy allow again)")
                && out.contains("the kernel passed all traffic on"),
            "{out}"
        );
            assert_eq!(default_policy(), "allow");
            // The filter works again with the rules as they were (the guard cleared).
            ok(&[
                "filter",
                "add",
                "deny",
                "udp",
                "dst",
                "9",
                "--confirm-within",
                "0",
            ]);
            assert!(!flows(p, &tap), "the guard still passes everything");
            ok(&["unload", &p.inner]);
        },
    );
}
