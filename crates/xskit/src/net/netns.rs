//! Network namespaces and the `ip` command, for the sandbox and the tests.
//!
//! Links and addresses are made with iproute2's `ip`, which every Linux
//! machine of this kind has: writing rtnetlink messages by hand for veth
//! pairs, addresses and namespaces would add a lot of code for no gain.

use anyhow::{bail, Context, Result};
use std::fs::File;
use std::os::fd::AsFd;
use std::process::Command;

/// Moves the calling thread into a new, empty network namespace.
/// Only this thread (and processes it starts) see the new namespace.
pub fn unshare_thread() -> Result<()> {
    if let Err(e) = crate::sys::unshare_net() {
        bail!("unshare(CLONE_NEWNET) failed: {e} (needs CAP_SYS_ADMIN: run as root)");
    }
    ip(&["link", "set", "lo", "up"])
}

/// Moves the calling thread into the named namespace (`ip netns add NAME`).
pub fn enter(name: &str) -> Result<()> {
    let path = format!("/run/netns/{name}");
    let f = File::open(&path).with_context(|| format!("no network namespace {name:?} ({path})"))?;
    if let Err(e) = rustix::thread::move_into_link_name_space(
        f.as_fd(),
        Some(rustix::thread::LinkNameSpaceType::Network),
    ) {
        let e = std::io::Error::from(e);
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

/// The XDP program on `iface`, as `ip -d -j link` reports it: (name, id,
/// mode), mode being `native`, `skb`, `offload` or `multi`.
pub fn xdp_attachment(iface: &str) -> Result<Option<(String, u32, &'static str)>> {
    use serde_json::Value;
    let text = ip_output(&["-d", "-j", "link", "show", "dev", iface])?;
    let v: Value = serde_json::from_str(&text).context("parsing `ip -j link` output")?;
    let Some(x) = v.get(0).and_then(|l| l.get("xdp")) else {
        return Ok(None);
    };
    let mode = match x.get("mode").and_then(Value::as_u64) {
        Some(1) => "native",
        Some(2) => "skb",
        Some(3) => "offload",
        Some(4) => "multi",
        _ => "?",
    };
    let prog = x.get("prog").or_else(|| {
        x.get("attached")
            .and_then(|a| a.get(0))
            .and_then(|a| a.get("prog"))
    });
    let name = prog
        .and_then(|p| p.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let id = prog
        .and_then(|p| p.get("id"))
        .and_then(Value::as_u64)
        .unwrap_or(0) as u32;
    Ok(Some((name, id, mode)))
}

/// The XDP attachment on `iface` in `ip link`'s words: `Some("xdp")`
/// (native), `Some("xdpgeneric")` (SKB), `Some("xdpoffload")`,
/// `Some("xdpmulti")`, or `None`.
#[cfg(any(test, feature = "test-util"))]
pub fn xdp_shown_by_ip(iface: &str) -> Result<Option<String>> {
    Ok(xdp_attachment(iface)?.map(|(_, _, mode)| {
        match mode {
            "native" => "xdp",
            "skb" => "xdpgeneric",
            "offload" => "xdpoffload",
            "multi" => "xdpmulti",
            _ => "xdp?",
        }
        .to_string()
    }))
}
