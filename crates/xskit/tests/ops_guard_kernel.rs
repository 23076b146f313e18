//! The confirm-or-revert guard of `xskit load` when the session dies, and
//! attachments that die with their process: the real binary, in a network
//! namespace of each test's own.

mod common;

use common::*;
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use xskit::app::shared::records::state;
use xskit::net::{netns, packet::PacketSocket};
use xskit::testing::{have_root, in_netns, veth_pair};
use xskit::xdp::{HookChoice, Program, XdpProgram};

const DEADLINE: Duration = Duration::from_secs(5);

fn no_pending_of(pid: u32) -> bool {
    !std::path::Path::new(&format!("/run/xskit/pending/{pid}.json")).exists()
}

/// Loads drop with a 5 s guard (the shortest allowed), ends the load process with `end`, and
/// checks that traffic flows again by the deadline + 1 s, that `status`
/// reports the revert and that nothing is left behind. Returns how long
/// after the deadline traffic flowed again (negative: before it).
fn reverts_after(end: impl FnOnce(&mut Child)) -> f64 {
    reverts_after_under(&[], end)
}

/// As [`reverts_after`], with xskit started by the command `under` (which
/// runs the rest of its arguments; the pid checked is then `under`'s).
fn reverts_after_under(under: &[&str], end: impl FnOnce(&mut Child)) -> f64 {
    let p = quiet_pair();
    let _cleanup = Cleanup;
    let tap = PacketSocket::bind(&p.inner).unwrap();
    let started = Instant::now();
    let args = ["load", "drop", &p.inner, "--confirm-within", "5s"];
    let mut c = match under.split_first() {
        None => cmd(&args),
        Some((first, rest)) => {
            let mut c = std::process::Command::new(first);
            c.args(rest)
                .arg(BIN)
                .args(args)
                .env_remove("SSH_CONNECTION");
            c
        }
    };
    c.process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    let (mut child, asked) = wait_for_question(c.spawn().unwrap());
    assert!(asked.contains("within 5s"), "{asked}");
    let pid = child.id();
    assert!(!flows(&p, &tap), "xdp_drop let a frame through");
    end(&mut child);
    let _ = child.wait();
    let deadline = started + DEADLINE;
    let restored = loop {
        if flows(&p, &tap) {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs_f64();
            break (Instant::now(), unix);
        }
        assert!(
            Instant::now() < deadline + Duration::from_secs(1),
            "traffic still dropped 1 s after the deadline"
        );
    };
    let text = ok(&["status"]);
    assert!(
        text.contains("xdp_drop reverted at") && text.contains("never confirmed"),
        "{text}"
    );
    let r = row(&status_json(), &p.inner);
    assert_eq!(r["program"], serde_json::Value::Null, "{r}");
    // When the revert took effect, as recorded (the kernel deadline, or
    // the moment a signal made `load` revert), to when a frame got through.
    eprintln!(
        "traffic flowed {:.3}s after the recorded revert time",
        restored.1 - r["reverted"]["at"].as_f64().unwrap()
    );
    let restored = restored.0;
    assert!(r["reverted"]["text"]
        .as_str()
        .unwrap()
        .contains("xdp_drop reverted at"));
    assert!(!state::iface_dir(&p.inner).unwrap().exists());
    assert!(no_pending_of(pid), "pending state of pid {pid} left behind");
    let out = ok(&["unload", &p.inner]);
    assert!(out.contains("record cleared"), "{out}");
    assert!(row(&status_json(), &p.inner).get("reverted").is_none());
    if restored > deadline {
        (restored - deadline).as_secs_f64()
    } else {
        -(deadline - restored).as_secs_f64()
    }
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) on a child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

#[test]
fn sigkill_of_the_load_process_reverts_in_the_kernel_on_time() {
    if !have_root("sigkill_of_the_load_process_reverts_in_the_kernel_on_time") {
        return;
    }
    let late = in_netns(|| reverts_after(|c| signal(c, libc::SIGKILL)));
    eprintln!("SIGKILL: traffic flowed again {late:+.3}s after the deadline");
    assert!(late >= -0.2, "reverted long before the deadline: {late}");
}

#[test]
fn sighup_of_the_load_process_reverts() {
    if !have_root("sighup_of_the_load_process_reverts") {
        return;
    }
    let late = in_netns(|| reverts_after(|c| signal(c, libc::SIGHUP)));
    eprintln!("SIGHUP: traffic flowed again {late:+.3}s after the deadline");
    // A hang-up reverts at once, not at the deadline.
    assert!(late < -0.5, "SIGHUP did not revert at once: {late:+.3}s");
}

#[test]
fn killing_the_whole_process_group_reverts_in_the_kernel_on_time() {
    if !have_root("killing_the_whole_process_group_reverts_in_the_kernel_on_time") {
        return;
    }
    let late = in_netns(|| {
        reverts_after(|c| {
            // SAFETY: kill(2) of the process group the child leads.
            assert_eq!(unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) }, 0);
        })
    });
    eprintln!("SIGKILL to the process group: traffic flowed again {late:+.3}s after the deadline");
    assert!(late >= -0.2, "reverted long before the deadline: {late}");
}

/// The guard's deadline is on the clock of bpf_ktime_get_ns, the host's
/// CLOCK_MONOTONIC. A process in a time namespace sees that clock shifted
/// by the namespace's offset; `load` takes the offset back out, or here
/// (+100,000 s) its deadline would lie a day ahead and the kernel would
/// keep dropping everything: a lock-out.
#[test]
fn the_guard_keeps_its_deadline_from_inside_a_time_namespace() {
    if !have_root("the_guard_keeps_its_deadline_from_inside_a_time_namespace") {
        return;
    }
    let under = [
        "unshare",
        "--time",
        "--monotonic",
        "100000",
        "--fork",
        "--kill-child",
    ];
    let late = in_netns(|| {
        reverts_after_under(&under, |c| {
            // SAFETY: kill(2) of the process group the child leads.
            assert_eq!(unsafe { libc::kill(-(c.id() as i32), libc::SIGKILL) }, 0);
        })
    });
    eprintln!("in a time namespace: traffic flowed again {late:+.3}s after the deadline");
    assert!(late >= -0.2, "reverted long before the deadline: {late}");
}

#[test]
fn a_confirmed_load_survives_its_deadline_and_its_process() {
    in_quiet_netns(
        "a_confirmed_load_survives_its_deadline_and_its_process",
        |p| {
            let tap = PacketSocket::bind(&p.inner).unwrap();
            let (mut child, _) =
                load_waiting(&["load", "drop", &p.inner, "--confirm-within", "5s"]);
            let pid = child.id();
            let out = ok(&["confirm", &pid.to_string()]);
            assert!(
                out.contains(&format!("confirmed the load of pid {pid}")),
                "{out}"
            );
            assert!(child.wait().unwrap().success());
            assert!(no_pending_of(pid));
            std::thread::sleep(DEADLINE + Duration::from_millis(500));
            assert!(!flows(p, &tap), "a confirmed xdp_drop let a frame through");
            let r = row(&status_json(), &p.inner);
            assert_eq!(
                (r["program"].as_str(), r["xskit"].as_bool()),
                (Some("xdp_drop"), Some(true)),
                "{r}"
            );
            assert!(
                r.get("reverted").is_none() && r.get("waiting").is_none(),
                "{r}"
            );
            // Confirming twice: nothing waits any more.
            let o = xskit(&["confirm", &pid.to_string()]);
            assert_eq!(o.status.code(), Some(1));
            ok(&["unload", &p.inner]);
            assert!(flows(p, &tap));
        },
    );
}

#[test]
fn confirm_of_a_dead_or_unknown_load_fails_and_cleans_up() {
    in_quiet_netns(
        "confirm_of_a_dead_or_unknown_load_fails_and_cleans_up",
        |p| {
            let (mut child, _) =
                load_waiting(&["load", "drop", &p.inner, "--confirm-within", "30s"]);
            let pid = child.id();
            signal(&child, libc::SIGKILL);
            child.wait().unwrap();
            assert!(!no_pending_of(pid), "the test needs the stale file");
            let o = xskit(&["confirm", &pid.to_string()]);
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(o.status.code(), Some(1), "{text}");
            assert!(
                text.contains("process is gone") && text.contains("reverts it at"),
                "{text}"
            );
            assert!(no_pending_of(pid));
            // Still guarded in the kernel; `status` says so.
            let r = row(&status_json(), &p.inner);
            assert!(r["waiting"]["seconds_left"].as_f64().unwrap() > 20.0, "{r}");
            let o = xskit(&["confirm", "4000000"]);
            assert_eq!(o.status.code(), Some(1));
            // Nothing to confirm is an error: one line on stderr.
            let err = String::from_utf8_lossy(&o.stderr);
            assert!(
                err.contains("no xskit load or filter change of pid 4000000 is waiting"),
                "{err}"
            );
            assert_eq!(err.lines().count(), 1, "{err}");
            ok(&["unload", &p.inner]);
        },
    );
}

#[test]
fn attachments_are_bpf_links_that_die_with_their_process() {
    if !have_root("attachments_are_bpf_links_that_die_with_their_process") {
        return;
    }
    in_netns(|| {
        let p = veth_pair().unwrap();
        let mut prog = XdpProgram::load(Program::Pass, 1).unwrap();
        let a = prog.attach(&p.inner, HookChoice::Skb, false).unwrap();
        let (link_id, kind) = a.link_info().expect("the attachment holds a BPF link");
        assert!(link_id > 0);
        assert_eq!(kind, Some(aya::programs::links::LinkType::Xdp));
        drop(prog);
        assert_eq!(netns::xdp_shown_by_ip(&p.inner).unwrap(), None);

        // The real binary, killed: the kernel removes what it attached.
        let mut child = cmd(&["dump", "-i", &p.inner, "--mode", "skb"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let t = Instant::now();
        while netns::xdp_shown_by_ip(&p.inner).unwrap().is_none() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "dump attached nothing"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        signal(&child, libc::SIGKILL);
        child.wait().unwrap();
        let t = Instant::now();
        while netns::xdp_shown_by_ip(&p.inner).unwrap().is_some() {
            assert!(
                t.elapsed() < Duration::from_secs(2),
                "the attachment outlived its SIGKILLed process"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    });
}
