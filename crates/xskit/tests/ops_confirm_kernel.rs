//! Confirmations made from what the kernel says now: a waiting `load
//! --confirm-within` and `xskit confirm` confirm only the program (by id)
//! they attached while it is still the one attached, `no` reverts at once,
//! and `status` says "waiting" only while the waiting process runs. The
//! real binary, in a network namespace of each test's own.

mod common;

use common::*;
use std::time::Duration;
use xskit::net::netns;

// One test at a time (`serial()`): any xskit command forgets the
// waiting-load records of processes that are gone, including the one a
// test forges.

fn prog_id(iface: &str) -> Option<u32> {
    netns::xdp_attachment(iface).unwrap().map(|x| x.1)
}

fn attached(iface: &str) -> Option<String> {
    netns::xdp_attachment(iface).unwrap().map(|x| x.0)
}

#[test]
fn yes_after_an_unload_confirms_nothing_and_says_nothing_is_attached() {
    let _serial = serial();
    in_quiet_netns(
        "yes_after_an_unload_confirms_nothing_and_says_nothing_is_attached",
        |p| {
            let mut w = Waiting::drop_on(&p.inner, "20s");
            let id = prog_id(&p.inner).unwrap();
            ok(&["unload", &p.inner]);
            w.type_line("yes");
            let (code, out) = w.end(Duration::from_secs(5));
            assert_eq!(code, Some(1), "{out}");
            assert!(!out.contains("confirmed: keeping"), "{out}");
            assert!(
            out.contains(&format!(
                "{}: xdp_drop (program id {id}) is no longer attached there (attached now: nothing): cannot confirm it",
                p.inner
            )),
            "{out}"
        );
            assert_eq!(attached(&p.inner), None);
        },
    );
}

#[test]
fn a_waiting_load_does_not_confirm_or_remove_a_newer_load_on_its_interface() {
    let _serial = serial();
    in_quiet_netns(
        "a_waiting_load_does_not_confirm_or_remove_a_newer_load_on_its_interface",
        |p| {
            // `yes` typed after another load took the interface.
            let mut w = Waiting::drop_on(&p.inner, "20s");
            let old = prog_id(&p.inner).unwrap();
            ok(&["unload", &p.inner]);
            ok(&["load", "pass", &p.inner, "--confirm-within", "0"]);
            let new = prog_id(&p.inner).unwrap();
            assert_ne!(old, new);
            // The newer load's cleared guard is no confirmation of the older.
            std::thread::sleep(Duration::from_millis(500));
            w.type_line("yes");
            let (code, out) = w.end(Duration::from_secs(5));
            assert_eq!(code, Some(1), "{out}");
            assert!(!out.contains("confirmed: keeping"), "{out}");
            assert!(
            out.contains(&format!(
                "xdp_drop (program id {old}) is no longer attached there (attached now: xdp_pass (program id {new}))"
            )),
            "{out}"
        );
            assert_eq!(prog_id(&p.inner), Some(new));
            ok(&["unload", &p.inner]);

            // The deadline passes after another load took the interface: the
            // newer load stays.
            let w = Waiting::drop_on(&p.inner, "5s");
            let old = prog_id(&p.inner).unwrap();
            ok(&["unload", &p.inner]);
            ok(&["load", "pass", &p.inner, "--confirm-within", "0"]);
            let new = prog_id(&p.inner).unwrap();
            let (code, out) = w.end(Duration::from_secs(9));
            assert_eq!(code, Some(1), "{out}");
            assert!(
            out.contains(&format!(
                "xdp_drop (program id {old}) is no longer attached there (attached now: xdp_pass (program id {new})): nothing to remove"
            )) && !out.contains("removed xdp_drop"),
            "{out}"
        );
            assert_eq!(
                prog_id(&p.inner),
                Some(new),
                "the old load removed the new one"
            );
            let r = row(&status_json(), &p.inner);
            assert_eq!(
                (r["program"].as_str(), r["xskit"].as_bool()),
                (Some("xdp_pass"), Some(true)),
                "{r}"
            );
            assert!(r.get("reverted").is_none(), "{r}");
            ok(&["unload", &p.inner]);
        },
    );
}

#[test]
fn confirm_pid_confirms_only_an_attached_program_of_a_live_load_and_names_its_id() {
    let _serial = serial();
    in_quiet_netns(
        "confirm_pid_confirms_only_an_attached_program_of_a_live_load_and_names_its_id",
        |p| {
            // After an unload: nothing to confirm, said with what is attached.
            let w = Waiting::drop_on(&p.inner, "5s");
            let pid = w.pid();
            let id = prog_id(&p.inner).unwrap();
            ok(&["unload", &p.inner]);
            let o = xskit(&["confirm", &pid.to_string()]);
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(o.status.code(), Some(1), "{text}");
            assert!(
            text.contains(&format!(
                "cannot confirm the load of pid {pid} on {}: xdp_drop (program id {id}) is no longer attached there (attached now: nothing)",
                p.inner
            )) && !text.contains("confirmed the load"),
            "{text}"
        );
            let (code, out) = w.end(Duration::from_secs(9));
            assert_eq!(code, Some(1), "{out}");
            assert!(out.contains("nothing to remove"), "{out}");

            // Attached: confirmed, naming the program id kept.
            let w = Waiting::drop_on(&p.inner, "20s");
            let pid = w.pid();
            let id = prog_id(&p.inner).unwrap();
            let out = ok(&["confirm", &pid.to_string()]);
            assert!(
                out.contains(&format!(
                    "confirmed the load of pid {pid}: keeping xdp_drop on {} (program id {id})",
                    p.inner
                )),
                "{out}"
            );
            let (code, out) = w.end(Duration::from_secs(5));
            assert_eq!(code, Some(0), "{out}");
            assert!(
                out.contains(&format!(
                    "confirmed: keeping xdp_drop on {} (program id {id})",
                    p.inner
                )),
                "{out}"
            );
            assert_eq!(prog_id(&p.inner), Some(id));
            ok(&["unload", &p.inner]);

            // A record whose pid now belongs to another process (its start
            // time differs) is not that load.
            let mut other = std::process::Command::new("sleep")
                .arg("30")
                .spawn()
                .unwrap();
            let fake = serde_json::json!({
                "pid": other.id(),
                "start": 1,
                "netns_cookie": xskit::app::shared::records::state::netns_id().unwrap(),
                "attached": [{"iface": p.inner, "prog_id": id}],
                "program": "xdp_drop",
                "deadline": [u64::MAX, 0.0],
            });
            let path = format!("/run/xskit/pending/{}.json", other.id());
            std::fs::create_dir_all("/run/xskit/pending").unwrap();
            std::fs::write(&path, fake.to_string()).unwrap();
            let o = xskit(&["confirm", &other.id().to_string()]);
            let _ = other.kill();
            let _ = other.wait();
            let text = String::from_utf8_lossy(&o.stdout);
            assert_eq!(o.status.code(), Some(1), "{text}");
            assert!(text.contains("its process is gone"), "{text}");
            assert!(!std::path::Path::new(&path).exists());
        },
    );
}

#[test]
fn no_reverts_at_once() {
    let _serial = serial();
    in_quiet_netns("no_reverts_at_once", |p| {
        let mut w = Waiting::drop_on(&p.inner, "30s");
        assert!(attached(&p.inner).is_some());
        w.type_line("no");
        let (code, out) = w.end(Duration::from_secs(3));
        assert_eq!(code, Some(2), "{out}");
        assert!(
            out.contains(&format!(
                "not confirmed (`no`): removed xdp_drop from {} again",
                p.inner
            )),
            "{out}"
        );
        assert_eq!(attached(&p.inner), None);
        let text = ok(&["status"]);
        assert!(text.contains("xdp_drop reverted at"), "{text}");
        ok(&["unload", &p.inner]);
    });
}

#[test]
fn status_says_waiting_only_while_the_waiting_process_lives() {
    let _serial = serial();
    in_quiet_netns(
        "status_says_waiting_only_while_the_waiting_process_lives",
        |p| {
            let w = Waiting::drop_on(&p.inner, "30s");
            let pid = w.pid();
            let text = ok(&["status"]);
            assert!(
                text.contains(&format!("waiting for confirmation (pid {pid})")),
                "{text}"
            );
            let r = row(&status_json(), &p.inner);
            assert_eq!(r["waiting"]["process_alive"], true, "{r}");
            // The process dies without reverting (as by SIGPIPE or SIGKILL).
            // SAFETY: kill(2) on a child we spawned and have not reaped.
            assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
            let (code, _) = w.end(Duration::from_secs(3));
            assert_eq!(code, None);
            let text = ok(&["status"]);
            assert!(!text.contains("waiting for confirmation"), "{text}");
            assert!(
                text.contains(&format!(
                    "not confirmed, and its load process (pid {pid}) is gone"
                )) && text.contains("the kernel guard reverts it at"),
                "{text}"
            );
            let r = row(&status_json(), &p.inner);
            assert_eq!(r["waiting"]["process_alive"], false, "{r}");
            assert!(r["waiting"]["seconds_left"].as_f64().unwrap() > 20.0, "{r}");
            ok(&["unload", &p.inner]);
        },
    );
}
