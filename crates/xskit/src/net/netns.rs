//! Network namespaces and the `ip` command, for the sandbox and the tests.
//!
//! Links and addresses are made with iproute2's `ip`, which every Linux
//! machine of this kind has: writing rtnetlink messages by hand for veth
//! pairs, addresses and namespaces would add a lot of code for no gain.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

/// Moves the calling thread into a new, empty network namespace.
/// Only this thread (and processes it starts) see the new namespace.
pub fn unshare_thread() -> Result<()> {
    // SAFETY: unshare(2) affects only the calling thread's namespaces.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        let e = std::io::Error::last_os_error();
        bail!("unshare(CLONE_NEWNET) failed: {e} (needs CAP_SYS_ADMIN: run as root)");
    }
    ip(&["link", "set", "lo", "up"])
}

/// Moves the calling thread into the named namespace (`ip netns add NAME`).
pub fn enter(name: &str) -> Result<()> {
    let path = format!("/run/netns/{name}");
    let f = File::open(&path).with_context(|| format!("no network namespace {name:?} ({path})"))?;
    // SAFETY: setns(2) on a namespace file we hold open; affects only this thread.
    if unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        let e = std::io::Error::last_os_error();
        bail!("cannot enter network namespace {name}: {e}");
    }
    Ok(())
}

/// Runs `f` on a thread of its own inside the named namespace and returns
/// what it returns; a panic in `f` is passed on. The calling thread stays
/// where it is.
pub fn run_in<R: Send>(name: &str, f: impl FnOnce() -> R + Send) -> Result<R> {
    std::thread::scope(|s| {
        s.spawn(|| -> Result<R> {
            enter(name)?;
            Ok(f())
        })
        .join()
        .unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

/// True if a named network namespace exists.
pub fn exists(name: &str) -> bool {
    std::path::Path::new(&format!("/run/netns/{name}")).exists()
}

/// Runs `ip ARGS...`; an error carries what `ip` printed.
pub fn ip(args: &[&str]) -> Result<()> {
    ip_output(args).map(|_| ())
}

/// Runs `ip ARGS...` and returns its standard output.
pub fn ip_output(args: &[&str]) -> Result<String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("cannot run `ip` (install iproute2)")?;
    if !out.status.success() {
        bail!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The XDP attachment `ip link` shows on `iface`: `Some("xdp")` (native),
/// `Some("xdpgeneric")` (SKB), `Some("xdpoffload")`, or `None`.
pub fn xdp_shown_by_ip(iface: &str) -> Result<Option<String>> {
    let out = ip_output(&["-d", "link", "show", "dev", iface])?;
    for word in out.split_whitespace() {
        if let Some(kind) = ["xdpgeneric", "xdpoffload", "xdpdrv", "xdp"]
            .into_iter()
            .find(|k| word == *k || word.starts_with(&format!("{k}/")))
        {
            return Ok(Some(kind.to_string()));
        }
    }
    Ok(None)
}
