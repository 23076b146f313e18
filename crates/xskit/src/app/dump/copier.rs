//! Where a capture that passes frames on gets its copies: dump's own
//! `xdp_capture` program (alone, or in a dispatcher of libxdp's protocol),
//! or the capture tap of an xskit program already attached (alone, or the
//! one xskit component of a dispatcher); and why it refuses beside other
//! tools' programs.

use super::sink::Verdict;
use super::DumpArgs;
use crate::app::shared::session::attach;
use crate::xdp::dispatcher::PROGRAM_NAME;
use crate::xdp::tap::{self, Tap};
use crate::xdp::{HookChoice, Program, XdpProgram};
use anyhow::{bail, Result};
use aya::maps::{MapData, RingBuf};
use std::io::Write;

/// What copies frames in the kernel for a capture that passes them on.
pub(super) enum Copier {
    /// dump's own `xdp_capture`, attached for this capture.
    Own {
        prog: XdpProgram,
        ring: RingBuf<MapData>,
        /// Its program id, as the interface reported it once attached.
        id: Option<u32>,
    },
    /// The tap of the xskit program that was attached already, alone or
    /// as a component of the dispatcher attached.
    Tap {
        tap: Tap,
        id: u32,
        name: String,
        in_dispatcher: bool,
    },
}

/// One frame from a [`Copier`]'s ring.
pub(super) struct Copied<'a> {
    pub(super) ktime_ns: u64,
    pub(super) len: u32,
    pub(super) data: &'a [u8],
    pub(super) verdict: Option<Verdict>,
}

impl Copier {
    /// The tap of the program attached to `iface`, or dump's own program
    /// when nothing is attached; refuses beside other tools' programs.
    pub(super) fn open(
        args: &DumpArgs,
        iface: &str,
        msg: &mut dyn Write,
        note: &str,
    ) -> Result<Copier> {
        // Where `ip` cannot say (no such interface), attaching says why.
        let attached = crate::net::netns::xdp_attachment(iface).ok().flatten();
        let joins = args.share.joins(iface)?;
        let Some((name, id, mode)) = attached.clone().filter(|_| !joins) else {
            let dispatcher = attached.filter(|(n, _, _)| n.as_str() == PROGRAM_NAME);
            // Unless dump's own program is asked for (--multiprog,
            // --priority): beside the xskit component there, as alone.
            if let Some((_, disp, mode)) = dispatcher {
                if !args.share.multiprog && args.share.priority.is_none() {
                    if let Some(c) = Copier::component_tap(args, iface, disp, mode, msg, note)? {
                        return Ok(c);
                    }
                }
            }
            return Copier::own(args, iface, msg, note);
        };
        let ifindex = xsk::netdev::ifindex(iface)?;
        // A tap runs where its program is attached: a different --mode
        // cannot be honoured, and is refused rather than ignored, before the
        // tap is switched on (a foreign program gets its own refusal below).
        let wanted = match args.mode {
            HookChoice::Auto => None,
            HookChoice::Native => Some("native"),
            HookChoice::Skb => Some("skb"),
        };
        // ("multi" or "?": the program's own mode is not known here.)
        let known = matches!(mode, "native" | "skb");
        if let Some(w) = wanted.filter(|w| known && *w != mode) {
            if Tap::exists(id)? {
                bail!(
                    "--mode {w}: {iface} already has {name} (program id {id}) in {mode} mode, and dump \
                     captures beside it there: leave out --mode, or detach that program first"
                );
            }
        }
        // Filters and summaries want the headers even with a small -s.
        if let Some(tap) = Tap::open(id, ifindex, args.snaplen.max(256))? {
            let verdicts = verdicts(args);
            writeln!(
                msg,
                "capturing on {iface} beside {name} (program id {id}, {mode} mode), {verdicts}{note}"
            )?;
            return Ok(Copier::Tap {
                tap,
                id,
                name,
                in_dispatcher: false,
            });
        }
        bail!(refusal(
            iface,
            &name,
            id,
            mode,
            crate::app::shared::ns::thread_netns_name().as_deref()
        ))
    }

    /// The tap of the one xskit component with a tap in the dispatcher
    /// `disp` on `iface`; `None` if there is none, or more than one (dump
    /// then joins with its own program).
    fn component_tap(
        args: &DumpArgs,
        iface: &str,
        disp: u32,
        mode: &str,
        msg: &mut dyn Write,
        note: &str,
    ) -> Result<Option<Copier>> {
        let ifindex = xsk::netdev::ifindex(iface)?;
        let Ok(Some(d)) = crate::xdp::dispatcher::inspect(disp, ifindex) else {
            return Ok(None);
        };
        let tapped: Vec<_> = d
            .components
            .iter()
            .filter_map(|c| Some((c.id?, c)))
            .filter(|(id, _)| Tap::exists(*id).unwrap_or(false))
            .collect();
        let [(id, c)] = tapped[..] else {
            return Ok(None);
        };
        let Some(tap) = Tap::open(id, ifindex, args.snaplen.max(256))? else {
            return Ok(None);
        };
        let name = c.name.clone().unwrap_or_else(|| "?".into());
        writeln!(
            msg,
            "capturing on {iface} beside {name} (program id {id}) in slot {} of its dispatcher \
             (program id {disp}, {mode} mode), {}; frames a program before it ended do not reach \
             it{note}",
            c.slot,
            verdicts(args)
        )?;
        Ok(Some(Copier::Tap {
            tap,
            id,
            name,
            in_dispatcher: true,
        }))
    }

    /// dump's own `xdp_capture`: alone on a free interface, or in the
    /// dispatcher (joined, or made with --multiprog) ahead of the programs
    /// there unless --priority says otherwise.
    fn own(args: &DumpArgs, iface: &str, msg: &mut dyn Write, note: &str) -> Result<Copier> {
        let mut share = args.share.clone();
        share.priority.get_or_insert(0);
        let mut prog =
            crate::app::shared::share::load(Program::Capture, 1, iface, &share, None, false)?;
        // Before attaching: a component's object is linked in by then.
        let ring = prog.take_capture_ring()?;
        let mode = attach(&mut prog, iface, args.mode, false, msg)?;
        if prog.is_component() {
            writeln!(
                msg,
                "capturing on {iface} ({mode} mode) in its dispatcher at priority {}: frames are \
                 copied as they come, before the programs after it decide their verdicts{note}",
                share.priority()
            )?;
            // The dispatcher is what the interface reports; a component's
            // removal is noticed by its owner record, not here.
            return Ok(Copier::Own {
                prog,
                ring,
                id: None,
            });
        }
        writeln!(
            msg,
            "capturing on {iface} ({mode} mode), frames pass on to the kernel{note}"
        )?;
        let id = crate::net::netns::xdp_attachment(iface)
            .ok()
            .flatten()
            .filter(|(n, _, _)| n == "xdp_capture")
            .map(|(_, id, _)| id);
        Ok(Copier::Own { prog, ring, id })
    }

    pub(super) fn ring(&mut self) -> &mut RingBuf<MapData> {
        match self {
            Copier::Own { ring, .. } => ring,
            Copier::Tap { tap, .. } => tap.ring(),
        }
    }

    pub(super) fn lost(&self) -> Result<u64> {
        Ok(match self {
            Copier::Own { prog, .. } => prog.capture_lost()?,
            Copier::Tap { tap, .. } => tap.lost()?,
        })
    }

    /// Records older than this are left from an earlier capture.
    pub(super) fn since_ns(&self) -> u64 {
        match self {
            Copier::Own { .. } => 0,
            Copier::Tap { tap, .. } => tap.since_ns,
        }
    }

    /// Reads one record: `struct capture_record` of bpf/xdp_capture.c or
    /// `struct xskit_tap_record` of bpf/tap.h.
    pub(super) fn parse(tapped: bool, rec: &[u8]) -> Option<Copied<'_>> {
        if tapped {
            let r = tap::Record::parse(rec)?;
            return Some(Copied {
                ktime_ns: r.ktime_ns,
                len: r.len,
                data: r.data,
                verdict: Some(Verdict {
                    action: tap::verdict_name(r.action),
                    rx_queue: r.rx_queue,
                }),
            });
        }
        if rec.len() < 24 {
            return None;
        }
        let caplen = u32::from_ne_bytes(rec[12..16].try_into().expect("4 bytes")) as usize;
        Some(Copied {
            ktime_ns: u64::from_ne_bytes(rec[0..8].try_into().expect("8 bytes")),
            len: u32::from_ne_bytes(rec[8..12].try_into().expect("4 bytes")),
            data: &rec[24..(24 + caplen).min(rec.len())],
            verdict: None,
        })
    }

    /// Ends the capture if the tapped program is no longer attached (its
    /// `echo` ended, `xskit unload`): its ring would stay silent.
    pub(super) fn check_attached(&self, iface: &str) -> Result<()> {
        let now = crate::net::netns::xdp_attachment(iface)?.map(|(_, i, _)| i);
        match self {
            Copier::Tap {
                id,
                name,
                in_dispatcher: true,
                ..
            } => {
                // Every change makes a new dispatcher: look in the one now.
                let ifindex = xsk::netdev::ifindex(iface)?;
                let there = now
                    .and_then(|d| crate::xdp::dispatcher::inspect(d, ifindex).ok().flatten())
                    .is_some_and(|d| d.components.iter().any(|c| c.id == Some(*id)));
                if !there {
                    bail!(
                        "{name} (program id {id}) is no longer in the dispatcher on {iface}; capture ended"
                    );
                }
                Ok(())
            }
            Copier::Tap { id, .. } if now != Some(*id) => bail!(
                "the program captured beside (id {id}) is no longer attached to {iface}; capture ended"
            ),
            Copier::Own { id, .. } => {
                if id.is_some() && now != *id {
                    bail!(
                        "dump's xdp_capture is no longer attached to {iface} (detached by `xskit unload --any`?); capture ended"
                    );
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// How the verdicts a tap gives are kept: plain pcap has no place for
/// one (said, not promised).
fn verdicts(args: &DumpArgs) -> &'static str {
    match (&args.write, args.pcapng) {
        (None, _) => "each frame with its verdict",
        (Some(_), true) => "each frame's verdict in its pcapng comment",
        (Some(_), false) => "verdicts not kept: plain pcap cannot carry them (--pcapng keeps them)",
    }
}

/// Why dump cannot capture beside the program attached to `iface`; the
/// commands it suggests act in `netns` (a name of `ip netns`) if given.
fn refusal(iface: &str, name: &str, id: u32, mode: &str, netns: Option<&str>) -> String {
    let (xskit, exec) = match netns {
        Some(n) => match n
            .strip_suffix("-in")
            .filter(|sb| crate::app::shared::sandbox::State::load(sb).is_ok_and(|s| s.is_some()))
        {
            Some(sb) => (format!(" --sandbox {sb}"), format!("ip netns exec {n} ")),
            None => (format!(" --netns {n}"), format!("ip netns exec {n} ")),
        },
        None => (String::new(), String::new()),
    };
    // The kernel keeps 15 bytes of a name: xdp_redirect_echo_frags is
    // xdp_redirect_ec.
    let ours =
        ["xdp_drop", "xdp_pass", "xdp_filter"].contains(&name) || name.starts_with("xdp_redirect");
    if name == "xdp_capture" {
        format!(
            "{iface} has xdp_capture (program id {id}) attached: another `xskit dump` is capturing there; \
             one capture per interface at a time"
        )
    } else if name == crate::xdp::dispatcher::PROGRAM_NAME {
        format!(
            "--exclusive: {iface} has a multi-program dispatcher (program id {id}, {mode} mode); leave \
             out --exclusive and dump captures in it, ahead of its programs"
        )
    } else if ours {
        format!(
            "{iface} has xskit's {name} (program id {id}, {mode} mode), loaded by an xskit without capture taps: \
             attach it again with this xskit (`xskit unload {iface}{xskit}` and `xskit load ...{xskit}`, or restart the command \
             that attached it), then capture"
        )
    } else {
        format!(
            "{iface} has another tool's XDP program {name} (program id {id}, {mode} mode): xskit dump captures only \
             beside xskit's own programs; use that tool's capture, or `{exec}tcpdump -i {iface}` (it sees the frames the \
             program passes), or detach it (`{exec}ip link set dev {iface} xdp off`, or `xskit unload {iface} --any{xskit}` \
             for a BPF link) and run xskit dump again"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::refusal;

    #[test]
    fn refusals_tell_xskit_programs_without_taps_from_other_tools_and_dumps() {
        let r = refusal("eth1", "xdp_redirect_ec", 7, "native", None);
        assert!(
            r.contains("without capture taps") && r.contains("xskit unload eth1"),
            "{r}"
        );
        let r = refusal("eth1", "xdp_capture", 7, "skb", None);
        assert!(r.contains("another `xskit dump`"), "{r}");
        let r = refusal("eth1", "xdp_dispatcher", 7, "skb", None);
        assert!(
            r.contains("leave out --exclusive") && !r.contains("xdp off"),
            "{r}"
        );
        let r = refusal("eth1", "fw_edge", 7, "native", None);
        assert!(
            r.contains("another tool's XDP program fw_edge")
                && r.contains("ip link set dev eth1 xdp off"),
            "{r}"
        );
        // In a named namespace, every suggested command acts there.
        let r = refusal("eth1", "fw_edge", 7, "native", Some("opsA"));
        assert!(
            r.contains("ip netns exec opsA tcpdump -i eth1")
                && r.contains("ip netns exec opsA ip link set dev eth1 xdp off")
                && r.contains("xskit unload eth1 --any --netns opsA"),
            "{r}"
        );
        let r = refusal("eth1", "xdp_pass", 7, "native", Some("opsA"));
        assert!(r.contains("`xskit unload eth1 --netns opsA`"), "{r}");
    }
}
