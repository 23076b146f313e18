//! The `xskit` command as users meet it: capabilities instead of root,
//! an idle echo that sleeps in poll(), quiet ends on closed pipes, hints
//! that name what was made.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use xskit::testing::{have_root, sandbox};

const CAPS: &str = "+net_admin,+net_raw,+bpf,+sys_admin,+ipc_lock";

/// `xskit ARGS` as user and group 65534 (nobody) holding `caps` only.
fn as_nobody(caps: &str, args: &[&str]) -> Output {
    Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            &format!("--inh-caps={caps}"),
            &format!("--ambient-caps={caps}"),
            common::BIN,
        ])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("setpriv (util-linux) runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn a_non_root_user_holding_the_capabilities_runs_echo_dump_and_status() {
    if !have_root("a_non_root_user_holding_the_capabilities_runs_echo_dump_and_status") {
        return;
    }
    let g = sandbox("caps").unwrap();
    let sb = g.0.name.as_str();
    for args in [
        vec!["echo", "--sandbox", sb, "-d", "300ms"],
        vec!["rxdrop", "--sandbox", sb, "-d", "300ms"],
        vec!["dump", "--sandbox", sb, "-d", "300ms"],
        vec!["status", "--sandbox", sb],
    ] {
        let o = as_nobody(CAPS, &args);
        assert!(
            o.status.success(),
            "{args:?}: {:?} {}{}",
            o.status,
            text(&o.stdout),
            text(&o.stderr)
        );
    }
}

#[test]
fn without_the_capabilities_the_error_names_the_missing_ones() {
    if !have_root("without_the_capabilities_the_error_names_the_missing_ones") {
        return;
    }
    let g = sandbox("nocaps").unwrap();
    let o = as_nobody(
        "+net_admin,+net_raw",
        &["echo", "--sandbox", &g.0.name, "-d", "300ms"],
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let missing = err.split("missing").nth(1).expect("names what is missing");
    for cap in ["CAP_BPF", "CAP_IPC_LOCK", "CAP_SYS_ADMIN"] {
        assert!(missing.contains(cap), "{err}");
    }
    for cap in ["CAP_NET_ADMIN", "CAP_NET_RAW"] {
        assert!(!missing.contains(cap), "{err}");
    }
    // With -i in its own namespace the command needs no CAP_SYS_ADMIN.
    let o = as_nobody("+net_admin,+net_raw,+bpf", &["status"]);
    let err = text(&o.stderr);
    assert!(err.contains("missing CAP_SYS_ADMIN:"), "{err}");
}

/// CPU ticks (1/100 s) `pid` used so far.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat(5): utime, stime (11 and 12 after the name).
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Ticks an idle `xskit echo EXTRA` uses in one second once it is up.
fn idle_echo_ticks(sb: &str, extra: &[&str]) -> u64 {
    let mut child = common::bin()
        .args(["echo", "--sandbox", sb, "-Q", "-d", "20s"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The first line says the socket is up.
    let mut out = child.stdout.take().unwrap();
    let mut first = [0u8; 1];
    std::io::Read::read_exact(&mut out, &mut first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let t0 = cpu_ticks(child.id());
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(child.id()) - t0;
    // SAFETY: kill sends a signal to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    used
}

#[test]
fn an_idle_echo_sleeps_in_poll_unless_asked_to_spin() {
    if !have_root("an_idle_echo_sleeps_in_poll_unless_asked_to_spin") {
        return;
    }
    let g = sandbox("idle").unwrap();
    let polled = idle_echo_ticks(&g.0.name, &[]);
    let spun = idle_echo_ticks(&g.0.name, &["--spin"]);
    eprintln!("idle echo, CPU ticks in 1 s: {polled} in poll(), {spun} with --spin");
    assert!(
        polled <= 5,
        "default echo used {polled}% of a CPU while idle"
    );
    assert!(spun >= 20, "--spin used only {spun}% of a CPU");
}

#[test]
fn a_closed_pipe_ends_xskit_quietly() {
    if !have_root("a_closed_pipe_ends_xskit_quietly") {
        return;
    }
    let g = sandbox("pipe").unwrap();
    let mut child = common::bin()
        .args(["status", "--sandbox", &g.0.name, "--watch", "-n", "1ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let t = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(t.elapsed() < Duration::from_secs(5));
    assert!(
        o.status.signal() == Some(libc::SIGPIPE) || o.status.code() == Some(0),
        "{:?}",
        o.status
    );
    assert_eq!(text(&o.stderr), "", "nothing said on a closed pipe");
}

/// Waits up to 10 s for the named sandbox's namespaces to exist or not.
fn wait_for_netns(name: &str, present: bool) -> bool {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        let there = std::path::Path::new(&format!("/run/netns/{name}-in")).exists()
            || std::path::Path::new(&format!("/run/netns/{name}-out")).exists();
        if there == present {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// The commands that make a sandbox of their own remove it when a closed
/// pipe or a signal ends them (the kernel does not remove named
/// namespaces with the process): quietly on a closed pipe, 128 + the
/// signal's number on SIGINT.
#[test]
fn a_benchmark_ended_by_a_closed_pipe_or_a_signal_leaves_no_namespaces() {
    if !have_root("a_benchmark_ended_by_a_closed_pipe_or_a_signal_leaves_no_namespaces") {
        return;
    }
    let name = format!("xt{}-bpipe", std::process::id());
    let mut child = common::bin()
        .args(["bench", "--name", &name, "--modes", "rxdrop", "--runs", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The header is written before the sandbox is made; close the pipe
    // once it exists, so the next line meets a closed pipe.
    assert!(wait_for_netns(&name, true), "bench made no sandbox");
    drop(child.stdout.take());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(128 + libc::SIGPIPE), "{:?}", o.status);
    assert_eq!(text(&o.stderr), "", "nothing said on a closed pipe");
    assert!(
        wait_for_netns(&name, false),
        "bench left its sandbox behind"
    );

    let name = format!("xt{}-lsig", std::process::id());
    let mut child = common::bin()
        .args(["latency", "--name", &name, "--rates", "100", "-c", "500"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_for_netns(&name, true), "latency made no sandbox");
    // SAFETY: kill(2) of a child we spawned and have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGINT), "{status:?}");
    assert!(
        wait_for_netns(&name, false),
        "latency left its sandbox behind"
    );
}

#[test]
fn sandbox_up_suggests_echo_in_the_sandbox_it_made() {
    if !have_root("sandbox_up_suggests_echo_in_the_sandbox_it_made") {
        return;
    }
    let name = format!("xth{}", std::process::id());
    let o = common::bin()
        .args(["sandbox", "up", "--name", &name])
        .output()
        .unwrap();
    let _ = common::bin()
        .args(["sandbox", "down", "--name", &name])
        .output();
    let out = text(&o.stdout);
    assert!(o.status.success(), "{out}{}", text(&o.stderr));
    assert!(
        out.contains(&format!("xskit echo --sandbox {name} ")),
        "{out}"
    );
}

/// Errors name the options of the command that printed them: `echo` takes
/// no `-u`, so a frame size it cannot use does not suggest it; a zero-copy
/// bind the driver refuses (veth) names `-c/--copy`.
#[test]
fn errors_name_the_options_of_the_command_that_printed_them() {
    if !have_root("errors_name_the_options_of_the_command_that_printed_them") {
        return;
    }
    xskit::testing::in_netns(|| {
        let p = xskit::testing::veth_pair().unwrap();
        // Spawned from this thread, the commands run in its namespace.
        let run = |args: &[&str]| {
            let o = common::cmd(args).output().unwrap();
            (
                o.status.code(),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        };
        let (code, err) = run(&["echo", "-i", &p.inner, "-f", "3000", "-d", "1s"]);
        assert_eq!(code, Some(1), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("3000") && !err.contains("-u"), "{err}");
        let (code, err) = run(&["echo", "-i", &p.inner, "-z", "-d", "1s"]);
        assert_eq!(code, Some(1), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("-c/--copy"), "{err}");
        let (code, err) = run(&["rxdrop", "-i", &p.inner, "-f", "3000", "-d", "1s"]);
        assert_eq!(code, Some(1), "{err}");
        assert!(err.contains("-u allows"), "{err}");
    });
}
