//! veth pairs: the test links of the sandbox and of the kernel tests.

use super::netns::ip;
use anyhow::Result;

/// Creates a veth pair `a`–`b` in the calling thread's namespace, with `b`
/// moved into namespace `b_netns` if given, and brings both ends up.
/// `queues` sets the rx/tx queue count of each end (veth default: 1).
pub fn create(a: &str, b: &str, b_netns: Option<&str>, queues: u32) -> Result<()> {
    create_in(None, a, b, b_netns, queues)
}

/// Deletes `iface` (and so its veth peer) in the calling thread's namespace.
pub fn delete(iface: &str) -> Result<()> {
    ip(&["link", "del", "dev", iface])
}

/// Like [`create`], but `a` is made in the named namespace `a_netns`.
pub fn create_in(
    a_netns: Option<&str>,
    a: &str,
    b: &str,
    b_netns: Option<&str>,
    queues: u32,
) -> Result<()> {
    let q = queues.max(1).to_string();
    let mut args = Vec::new();
    if let Some(ns) = a_netns {
        args.extend(["-n", ns]);
    }
    args.extend([
        "link",
        "add",
        "dev",
        a,
        "numrxqueues",
        &q,
        "numtxqueues",
        &q,
        "type",
        "veth",
    ]);
    args.extend(["peer", "name", b, "numrxqueues", &q, "numtxqueues", &q]);
    if let Some(ns) = b_netns {
        args.extend(["netns", ns]);
    }
    ip(&args)?;
    for (ns, dev) in [(a_netns, a), (b_netns, b)] {
        match ns {
            Some(ns) => ip(&["-n", ns, "link", "set", "dev", dev, "up"])?,
            None => ip(&["link", "set", "dev", dev, "up"])?,
        }
    }
    Ok(())
}

/// MAC address of `iface` in this thread's namespace.
pub fn mac(iface: &str) -> Result<[u8; 6]> {
    let out = super::netns::ip_output(&["-o", "link", "show", "dev", iface])?;
    let word = out
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("{iface} has no Ethernet address"))?;
    crate::wire::parse_mac(word)
}
