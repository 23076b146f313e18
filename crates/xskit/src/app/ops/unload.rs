//! `xskit unload`: detach what `xskit load` attached.

use super::clock::utc;
use super::link;
use super::ns::NsArgs;
use super::owner::{self, ComponentOwner, Owner};
use super::state;
use super::tidy::tidy;
use crate::net::addrs::interfaces;
use crate::net::netns;
use anyhow::Result;
use std::io::Write;

/// Options of `xskit unload`.
#[derive(clap::Args, Clone, Debug)]
pub struct UnloadArgs {
    /// Interfaces to detach from
    #[arg(required_unless_present = "all", conflicts_with = "all")]
    pub ifaces: Vec<String>,
    /// Every interface xskit pinned a program on in this namespace
    #[arg(long)]
    pub all: bool,
    /// Also detach programs xskit did not pin: other tools', and those of
    /// running xskit commands (`dump`, `echo`, ...), each named in a
    /// warning; a BPF link is detached through the link (BPF_LINK_DETACH)
    #[arg(long)]
    pub any: bool,
    /// Keep the filter's rule maps when the last filter goes (by default
    /// they are removed with it)
    #[arg(long)]
    pub keep_rules: bool,
    #[command(flatten)]
    pub ns: NsArgs,
}

/// `xskit unload`.
pub fn unload(args: &UnloadArgs, out: &mut dyn Write) -> Result<i32> {
    args.ns.enter()?;
    state::ensure_bpffs()?;
    let reverted = tidy(out)?;
    let ifaces: Vec<String> = if args.all {
        let mut v = state::pinned_ifaces()?;
        v.extend(state::metas()?.into_iter().map(|(i, _)| i));
        if args.any {
            v.extend(interfaces().into_iter().filter(|i| i != "lo"));
        }
        v.sort();
        v.dedup();
        v
    } else {
        args.ifaces.clone()
    };
    let hint = args.ns.hint();
    let mut status = 0;
    let mut removed_filter = false;
    for i in &ifaces {
        let meta = state::load_meta(i)?;
        if state::unpin(i)? {
            writeln!(out, "{i}: removed what xskit loaded")?;
            removed_filter |= meta.as_ref().is_some_and(|m| m.program == "xdp_filter");
            continue;
        }
        if let Some(m) = meta.filter(|m| m.reverted_at.is_some()) {
            state::remove_meta(i)?;
            if !reverted.contains(i) {
                writeln!(
                    out,
                    "{i}: {} had been reverted at {} (never confirmed); record cleared",
                    m.program,
                    utc(m.reverted_at.unwrap_or(0.0))
                )?;
            }
            removed_filter |= m.program == "xdp_filter";
            continue;
        }
        if xsk::netdev::ifindex(i).is_err() {
            writeln!(
                out,
                "{i}: no such interface and nothing xskit pinned for it"
            )?;
            status = 1;
            continue;
        }
        let Some(a) = owner::attached(i)? else {
            if !args.all {
                writeln!(out, "{i}: no XDP program attached")?;
            }
            continue;
        };
        if let Some(d) = &a.dispatcher {
            // Only xskit's components: detaching the dispatcher itself
            // would leave libxdp's pins and lock state behind.
            let (ours, failed) = remove_left_components(i, d, out)?;
            if failed {
                status = 1;
            } else if !ours {
                writeln!(
                    out,
                    "{i}: nothing of xskit's to remove: {}; leaving it, also with --any (xdp-loader \
                     removes libxdp's programs with their pins)",
                    a.what()
                )?;
                status = 1;
            }
            continue;
        }
        if !args.any {
            let what = match a.owner {
                Owner::Xskit(..) => "not pinned by `xskit load`",
                _ => "not attached by xskit",
            };
            writeln!(
                out,
                "{i}: {what}: {}; leaving it (`--any` detaches it now)",
                a.describe(&hint)
            )?;
            status = 1;
            continue;
        }
        writeln!(out, "warning: {i}: detaching {}", a.what())?;
        if let Err(e) = detach_any(&a) {
            writeln!(out, "{i}: could not detach {}: {e:#}", a.program)?;
            status = 1;
        }
    }
    if removed_filter {
        let users: Vec<String> = state::metas()?
            .into_iter()
            .filter(|(_, m)| m.program == "xdp_filter" && m.reverted_at.is_none())
            .map(|(i, _)| i)
            .collect();
        if let Some(rules) = state::existing_rules()? {
            if !users.is_empty() {
                writeln!(
                    out,
                    "keeping the filter's rules in {}: the filter is still loaded on {}",
                    rules.dir().display(),
                    users.join(", ")
                )?;
            } else if args.keep_rules {
                writeln!(
                    out,
                    "keeping the filter's rules in {} (--keep-rules); `xskit filter flush --maps{hint}` removes them",
                    rules.dir().display()
                )?;
            } else {
                let dir = rules.dir().display().to_string();
                rules.remove()?;
                writeln!(
                    out,
                    "removed the filter's rules and maps ({dir}): no interface of this namespace uses them any more"
                )?;
            }
        }
    }
    state::forget_if_empty()?;
    Ok(status)
}

/// Detaches a program xskit did not pin: through its BPF link if one
/// attaches it (the only way: netlink cannot replace or remove a link's
/// program), else through netlink as `ip link set ... xdp off`.
fn detach_any(a: &owner::Attached) -> Result<()> {
    let ifindex = xsk::netdev::ifindex(&a.iface)?;
    if link::detach_xdp_link(a.id, ifindex)?.is_some() {
        return Ok(());
    }
    let off = match a.mode {
        "skb" => "xdpgeneric",
        "offload" => "xdpoffload",
        _ => "xdpdrv",
    };
    netns::ip(&["link", "set", "dev", &a.iface, off, "off"])
}

/// Takes out of dispatcher `d` on `iface` xskit's components that nothing
/// holds any more (left by a killed `echo`, `rxdrop`, ...), and says which
/// running xskit commands' it leaves. Returns (any of xskit's seen, any
/// removal failed).
fn remove_left_components(
    iface: &str,
    d: &crate::xdp::dispatcher::Dispatcher,
    out: &mut dyn Write,
) -> Result<(bool, bool)> {
    let (mut ours, mut failed) = (false, false);
    for c in &d.components {
        let (Some(id), name) = (c.id, c.name.as_deref().unwrap_or("?")) else {
            continue;
        };
        match owner::component_owner(iface, id) {
            ComponentOwner::Left => match crate::xdp::multiprog::detach(iface, id) {
                Ok(_) => {
                    writeln!(
                        out,
                        "{iface}: removed {name} (program id {id}) from the dispatcher: xskit's, \
                         left by a command that ended without removing it"
                    )?;
                    ours = true;
                }
                Err(e) => {
                    writeln!(
                        out,
                        "{iface}: could not remove {name} (program id {id}): {e}"
                    )?;
                    failed = true;
                }
            },
            ComponentOwner::Xskit(pid, cmd) => {
                writeln!(
                    out,
                    "{iface}: leaving {name} (program id {id}) of a running `{cmd}` (pid {pid}): \
                     it leaves the dispatcher when that command ends"
                )?;
                ours = true;
            }
            ComponentOwner::Held(h) => {
                writeln!(
                    out,
                    "{iface}: leaving {name} (program id {id}), held by {}: it leaves the \
                     dispatcher when they drop it",
                    h.join(", ")
                )?;
                ours = true;
            }
            ComponentOwner::Load | ComponentOwner::Other => {}
        }
    }
    Ok((ours, failed))
}
