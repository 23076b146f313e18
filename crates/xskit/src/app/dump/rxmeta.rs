//! `xskit dump --consume --rx-meta`: the frames taken by the RX metadata
//! program (xskit-xdp's `RxMetaProgram`, Linux 6.3+, native mode), each
//! printed with its RX hash, timestamp and VLAN tag.

use crate::app::shared::args::SocketArgs;
use crate::app::shared::session::{with_option_hint, xskmap_slots};
use crate::xdp::RxMetaProgram;
use anyhow::{Context, Result};
use std::io::Write;
use xsk::{RxMetadata, Xsk};

/// The socket and the metadata program feeding it.
pub struct MetaSession {
    /// The bound socket.
    pub xsk: Xsk,
    prog: RxMetaProgram,
}

impl MetaSession {
    /// Loads the program for `iface`, binds and registers the socket, then
    /// attaches (in that order, as `Session` does); says so on `out`.
    pub fn open(iface: &str, args: &SocketArgs, out: &mut dyn Write) -> Result<MetaSession> {
        crate::app::shared::args::check_frame_size(args.frame_size, false, false)?;
        let mut prog = RxMetaProgram::load(iface, xskmap_slots(iface, args.queue)?)?;
        let mut xsk = Xsk::new(iface, args.queue, &args.xsk_config()).map_err(with_option_hint)?;
        xsk.refill(u32::MAX);
        prog.register(args.queue, &xsk)
            .with_context(|| format!("registering the socket for queue {}", args.queue))?;
        prog.attach(args.attach_mode(), args.force)?;
        writeln!(
            out,
            "xdp_redirect_meta on {iface} queue {}: XDP native mode, {} bind{}",
            args.queue,
            if xsk.is_zero_copy() {
                "zero-copy"
            } else {
                "copy"
            },
            if prog.has_vlan() {
                ""
            } else {
                " (no VLAN tags: Linux 6.8 has them)"
            }
        )?;
        Ok(MetaSession { xsk, prog })
    }
}

impl Drop for MetaSession {
    fn drop(&mut self) {
        // Detached first, as Session does: unregistered while attached, the
        // program would pass the frames of the moment to the stack.
        self.prog.detach();
        let _ = self.prog.unregister(self.xsk.queue());
    }
}

/// The metadata as dump prints it: `hash 0x1a2b3c4d L4, vlan 100 (0x8100,
/// pcp 0), ts 123` (fields it lacks left out), or `no metadata`.
pub fn describe(meta: Option<RxMetadata>) -> String {
    let Some(m) = meta else {
        return "no metadata".into();
    };
    let mut parts = Vec::new();
    match m.hash {
        Some(h) if h.kind.is_l4() => parts.push(format!("hash {:#010x} L4", h.value)),
        Some(h) if h.kind.0 != 0 => parts.push(format!("hash {:#010x} L3", h.value)),
        Some(h) => parts.push(format!("hash {:#010x}", h.value)),
        None => parts.push("no hash".into()),
    }
    if let Some(v) = m.vlan {
        parts.push(format!(
            "vlan {} ({:#06x}, pcp {})",
            v.id(),
            v.proto,
            v.tci >> 13
        ));
    }
    if let Some(ts) = m.timestamp {
        parts.push(format!("ts {ts}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use xsk::{RssHashType, RxHash, Vlan};

    #[test]
    fn describes_what_is_there() {
        assert_eq!(describe(None), "no metadata");
        assert_eq!(describe(Some(RxMetadata::default())), "no hash");
        let m = RxMetadata {
            hash: Some(RxHash {
                value: 0x1a2b3c4d,
                kind: RssHashType(RssHashType::L4),
            }),
            timestamp: Some(7),
            vlan: Some(Vlan {
                proto: 0x8100,
                tci: 0x6064,
            }),
        };
        assert_eq!(
            describe(Some(m)),
            "hash 0x1a2b3c4d L4, vlan 100 (0x8100, pcp 3), ts 7"
        );
    }
}
