//! The RX metadata program (`bpf/xdp_meta.c`): every frame of an rx queue
//! to the AF_XDP socket registered there, with its RSS hash, hardware
//! timestamp and VLAN tag written in front of it (read them with
//! `xsk::RxMetadata`).
//!
//! The metadata kfuncs (Linux 6.3; the VLAN one 6.8) need a device-bound
//! program (`BPF_F_XDP_DEV_BOUND_ONLY`, loaded for one interface and
//! attached to it in native mode), which aya 0.14 cannot load: it has no
//! kfunc relocation and no `prog_ifindex`. So this program has a loader of
//! its own, small because the program is: one function in one section, one
//! map (the XSKMAP, created here). Each kfunc call is pointed at the
//! kernel's function by its vmlinux BTF id; a kfunc the kernel lacks (the
//! VLAN one before 6.8) becomes `r0 = -EOPNOTSUPP`, so the program loads
//! and reports that field absent.

use crate::error::LoaderError;
use crate::hook::HookChoice;
use crate::netif::default_route_interfaces;
use crate::raw::{name16, owned, sys_bpf, MapCreate, MapElem, ProgLoad};
use aya_obj::btf::{Btf, BtfKind};
use object::{Object, ObjectSection, ObjectSymbol, RelocationTarget};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};

/// The program's function and section in its object.
const FUNCTION: &str = "xdp_redirect_meta";
const XSKMAP: &str = "xsks_map";
// Aligned: the ELF parser reads its headers in place.
static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_meta.o");

/// The kfuncs the program calls, and the Linux version that has each.
const KFUNCS: [(&str, &str); 3] = [
    ("bpf_xdp_metadata_rx_hash", "6.3"),
    ("bpf_xdp_metadata_rx_timestamp", "6.3"),
    ("bpf_xdp_metadata_rx_vlan_tag", "6.8"),
];

// bpf(2) commands, types and flags (include/uapi/linux/bpf.h).
const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_MAP_DELETE_ELEM: libc::c_long = 3;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_XSKMAP: u32 = 17;
const BPF_PROG_TYPE_XDP: u32 = 6;
const BPF_XDP: u32 = 37;
const BPF_F_XDP_DEV_BOUND_ONLY: u32 = 1 << 6;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const BPF_PSEUDO_MAP_FD: u8 = 1;
const BPF_PSEUDO_KFUNC_CALL: u8 = 2;

/// The loaded RX metadata program, bound to one interface: attach it
/// there ([`attach`](Self::attach)), register sockets by rx queue
/// ([`register`](Self::register)). Dropping it detaches what it attached
/// (its BPF link is closed) and nothing else.
#[derive(Debug)]
pub struct RxMetaProgram {
    iface: String,
    ifindex: u32,
    prog: OwnedFd,
    xskmap: OwnedFd,
    queues: u32,
    vlan: bool,
    link: Option<OwnedFd>,
}

fn load_err(e: impl std::fmt::Display) -> LoaderError {
    LoaderError::Load {
        program: FUNCTION.into(),
        source: anyhow::anyhow!("{e}"),
    }
}

fn map_error(what: String, call: &'static str, io_error: io::Error) -> LoaderError {
    LoaderError::Map {
        what,
        source: aya::maps::MapError::SyscallError(aya::sys::SyscallError { call, io_error }),
    }
}

/// How one relocated instruction of the program is patched.
#[derive(Debug, PartialEq)]
enum Patch {
    /// `ld_imm64` of the XSKMAP: its descriptor.
    Map,
    /// A kfunc call: its vmlinux BTF id, or `None` where the kernel lacks it.
    Kfunc(&'static str),
}

/// Per relocated instruction (its index), what to patch there.
type Patches = Vec<(usize, Patch)>;

/// The program's instructions and what to patch in them.
fn parse(elf: &[u8]) -> Result<(Vec<u8>, Patches), String> {
    let file = object::File::parse(elf).map_err(|e| format!("parsing the object: {e}"))?;
    let section = file
        .section_by_name("xdp")
        .ok_or("the object has no xdp section")?;
    let insns = section
        .data()
        .map_err(|e| format!("reading its xdp section: {e}"))?
        .to_vec();
    let mut patches = Vec::new();
    for (offset, rel) in section.relocations() {
        let RelocationTarget::Symbol(idx) = rel.target() else {
            return Err(format!("a relocation at {offset} against no symbol"));
        };
        let name = file
            .symbol_by_index(idx)
            .and_then(|s| s.name())
            .map_err(|e| format!("the symbol of a relocation: {e}"))?;
        let patch = match KFUNCS.iter().find(|(k, _)| *k == name) {
            Some((k, _)) => Patch::Kfunc(k),
            None if name == XSKMAP => Patch::Map,
            None => {
                return Err(format!(
                    "a relocation against {name}, which it does not know"
                ))
            }
        };
        patches.push((offset as usize / 8, patch));
    }
    if insns.len() % 8 != 0 || patches.iter().any(|(i, _)| (i + 1) * 8 > insns.len()) {
        return Err("its instructions are malformed".into());
    }
    Ok((insns, patches))
}

/// Patches instruction `i` of `insns` (8 bytes each): for a map, the
/// `ld_imm64`'s source register and immediate; for a kfunc with a BTF id,
/// the call's; for a kfunc without, the call becomes `r0 = -EOPNOTSUPP`.
fn patch(insns: &mut [u8], i: usize, p: &Patch, map_fd: i32, btf_id: Option<u32>) {
    let insn = &mut insns[i * 8..i * 8 + 8];
    let (code, dst_src, imm) = match (p, btf_id) {
        (Patch::Map, _) => (insn[0], (insn[1] & 0x0f) | (BPF_PSEUDO_MAP_FD << 4), map_fd),
        (Patch::Kfunc(_), Some(id)) => (insn[0], BPF_PSEUDO_KFUNC_CALL << 4, id as i32),
        // BPF_ALU64 | BPF_MOV | BPF_K, dst r0.
        (Patch::Kfunc(_), None) => (0xb7, 0, -libc::EOPNOTSUPP),
    };
    insn.copy_from_slice(&crate::raw::insn(code, dst_src, imm));
}

/// The refusal on a kernel whose XDP programs may not call
/// `bpf_xdp_adjust_meta` (seen on a custom 6.18 build: "program of this
/// type cannot use helper"), without which nothing can be put in front of
/// a frame for the socket to read.
pub const REFUSES_DATA_META: &str = "this kernel refuses bpf_xdp_adjust_meta in XDP programs \
     (a build without XDP metadata support), so no RX metadata can reach the socket; \
     the plain redirect programs work without it";

/// Whether this kernel lets an XDP program call `bpf_xdp_adjust_meta`
/// (room for metadata in front of a frame), checked by loading a
/// four-instruction program that does and nothing else.
///
/// # Errors
/// The load's error other than the verifier's refusal of the helper
/// (EPERM without CAP_BPF, for one).
pub fn kernel_allows_data_meta() -> io::Result<bool> {
    const BPF_FUNC_XDP_ADJUST_META: i32 = 54;
    use crate::raw::insn;
    // r2 = -8; call bpf_xdp_adjust_meta; r0 = XDP_PASS; exit
    let insns = [
        insn(0xb7, 0x02, -8),
        insn(0x85, 0x00, BPF_FUNC_XDP_ADJUST_META),
        insn(0xb7, 0x00, 2),
        insn(0x95, 0x00, 0),
    ]
    .concat();
    match crate::raw::load_insns(BPF_PROG_TYPE_XDP, BPF_XDP, &insns, "adjust_meta") {
        Ok(_) => Ok(true),
        // The verifier's "cannot use helper" (the only EINVAL these four
        // instructions can earn on a kernel that has XDP at all).
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(false),
        Err(e) => Err(e),
    }
}

impl RxMetaProgram {
    /// Loads the RX metadata program bound to `iface` (of the calling
    /// thread's network namespace), its XSKMAP sized to `queues` slots.
    ///
    /// # Errors
    /// [`LoaderError::NoSuchInterface`]; [`LoaderError::Load`] if the kernel
    /// is older than 6.3 ("RX metadata needs Linux 6.3") or has no BTF, if
    /// the driver of `iface` has no native XDP, or the verifier refuses
    /// (its last lines in the message).
    pub fn load(iface: &str, queues: u32) -> Result<RxMetaProgram, LoaderError> {
        let ifindex = xsk::netdev::ifindex(iface)
            .map_err(|_| LoaderError::NoSuchInterface(iface.to_string()))?;
        let btf = Btf::from_sys_fs().map_err(|e| {
            load_err(format!(
                "RX metadata needs Linux 6.3 with BTF (CONFIG_DEBUG_INFO_BTF): cannot read /sys/kernel/btf/vmlinux: {e}"
            ))
        })?;
        let id = |name: &str| btf.id_by_type_name_kind(name, BtfKind::Func).ok();
        if id(KFUNCS[0].0).is_none() {
            return Err(load_err(format!(
                "RX metadata needs Linux 6.3 (this kernel has no {} kfunc)",
                KFUNCS[0].0
            )));
        }
        let (mut insns, patches) = parse(OBJECT).map_err(load_err)?;
        let mut attr = MapCreate {
            map_type: BPF_MAP_TYPE_XSKMAP,
            key_size: 4,
            value_size: 4,
            max_entries: queues.max(1),
            map_name: name16(XSKMAP),
            ..Default::default()
        };
        let xskmap = owned(sys_bpf(BPF_MAP_CREATE, &mut attr).map_err(|e| {
            load_err(format!(
                "creating its socket map: {e} (needs CAP_BPF and CAP_NET_ADMIN: run as root)"
            ))
        })?);
        let mut vlan = false;
        for (i, p) in &patches {
            let btf_id = match p {
                Patch::Map => None,
                Patch::Kfunc(k) => id(k),
            };
            vlan |= matches!(p, Patch::Kfunc(k) if k.ends_with("vlan_tag")) && btf_id.is_some();
            patch(&mut insns, *i, p, xskmap.as_raw_fd(), btf_id);
        }
        let prog = prog_load(&insns, ifindex, iface)?;
        Ok(RxMetaProgram {
            iface: iface.to_string(),
            ifindex,
            prog,
            xskmap,
            queues: queues.max(1),
            vlan,
            link: None,
        })
    }

    /// Attaches to the interface it was loaded for, in native mode, as a
    /// BPF link this value owns. The program takes all traffic, so it is
    /// refused on the default-route interface unless `force`.
    ///
    /// # Errors
    /// [`LoaderError::Attach`]: SKB mode asked for (a device-bound program
    /// runs in the driver only), already attached, the driver refuses, or
    /// another program is there; [`LoaderError::DefaultRoute`].
    pub fn attach(&mut self, mode: HookChoice, force: bool) -> Result<(), LoaderError> {
        let err = |reason: String, errno: Option<i32>| LoaderError::Attach {
            program: FUNCTION.into(),
            iface: self.iface.clone(),
            mode: "native",
            reason,
            errno,
        };
        if mode == HookChoice::Skb {
            return Err(LoaderError::Attach {
                program: FUNCTION.into(),
                iface: self.iface.clone(),
                mode: "skb",
                reason:
                    "RX metadata needs native mode: a device-bound program cannot run in SKB mode"
                        .into(),
                errno: None,
            });
        }
        if self.link.is_some() {
            return Err(err("it is already attached".into(), None));
        }
        if !force && default_route_interfaces().contains(&self.iface) {
            return Err(LoaderError::DefaultRoute {
                program: FUNCTION.into(),
                iface: self.iface.clone(),
            });
        }
        let link = crate::raw::link_create(&self.prog, self.ifindex, BPF_XDP, XDP_FLAGS_DRV_MODE)
            .map_err(|e| {
            let why = match e.raw_os_error() {
                Some(libc::EBUSY | libc::EEXIST) => format!(
                    "{e} (another XDP program is attached to {}; `ip link show dev {}` names it)",
                    self.iface, self.iface
                ),
                Some(libc::ERANGE) => format!(
                    "{e} (the MTU of {} is too large for native XDP: lower it)",
                    self.iface
                ),
                _ => e.to_string(),
            };
            err(why, e.raw_os_error())
        })?;
        self.link = Some(link);
        Ok(())
    }

    /// True while attached.
    pub fn is_attached(&self) -> bool {
        self.link.is_some()
    }

    /// Detaches (closes its link); nothing else's program is touched.
    pub fn detach(&mut self) {
        self.link = None;
    }

    /// The interface it is bound to.
    pub fn iface(&self) -> &str {
        &self.iface
    }

    /// True if this kernel has the VLAN kfunc (Linux 6.8): without it the
    /// program reports no VLAN tag on any frame.
    pub fn has_vlan(&self) -> bool {
        self.vlan
    }

    /// Sends frames of rx `queue` to `socket`.
    ///
    /// # Errors
    /// [`LoaderError::Map`] (with the kernel's reason) if the kernel
    /// refuses, e.g. `queue` is past the map's slots.
    pub fn register(&mut self, queue: u32, socket: &impl AsRawFd) -> Result<(), LoaderError> {
        let (key, value) = (queue, socket.as_raw_fd() as u32);
        let mut attr = MapElem {
            map_fd: self.xskmap.as_raw_fd() as u32,
            key: &key as *const u32 as u64,
            value: &value as *const u32 as u64,
            ..Default::default()
        };
        sys_bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map_err(|e| {
            map_error(
                format!(
                    "registering the socket for queue {queue} (map has {} slots)",
                    self.queues
                ),
                "bpf_map_update_elem",
                e,
            )
        })?;
        Ok(())
    }

    /// Stops sending frames of rx `queue` to a socket.
    ///
    /// # Errors
    /// [`LoaderError::Map`] if the kernel refuses (no socket there).
    pub fn unregister(&mut self, queue: u32) -> Result<(), LoaderError> {
        let key = queue;
        let mut attr = MapElem {
            map_fd: self.xskmap.as_raw_fd() as u32,
            key: &key as *const u32 as u64,
            ..Default::default()
        };
        sys_bpf(BPF_MAP_DELETE_ELEM, &mut attr).map_err(|e| {
            map_error(
                format!("unregistering queue {queue}"),
                "bpf_map_delete_elem",
                e,
            )
        })?;
        Ok(())
    }
}

/// BPF_PROG_LOAD, device-bound to `ifindex`; on failure, again with a
/// verifier log, whose last lines go in the error.
fn prog_load(insns: &[u8], ifindex: u32, iface: &str) -> Result<OwnedFd, LoaderError> {
    let license = CString::new("GPL").expect("no NUL");
    let mut log = vec![0u8; 1 << 20];
    let mut attempt = |with_log: bool| {
        let mut attr = ProgLoad {
            prog_type: BPF_PROG_TYPE_XDP,
            insn_cnt: (insns.len() / 8) as u32,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            prog_flags: BPF_F_XDP_DEV_BOUND_ONLY,
            prog_name: name16(FUNCTION),
            prog_ifindex: ifindex,
            expected_attach_type: BPF_XDP,
            ..Default::default()
        };
        if with_log {
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
        }
        sys_bpf(BPF_PROG_LOAD, &mut attr)
    };
    let first = match attempt(false) {
        Ok(fd) => return Ok(owned(fd)),
        Err(e) => e,
    };
    let second = attempt(true);
    let text =
        String::from_utf8_lossy(&log[..log.iter().position(|&b| b == 0).unwrap_or(0)]).into_owned();
    if let Ok(fd) = second {
        return Ok(owned(fd));
    }
    let tail: Vec<&str> = text.lines().rev().take(4).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(load_err(match first.raw_os_error() {
        Some(libc::EPERM) => {
            format!("{first} (loading BPF programs needs CAP_BPF and CAP_NET_ADMIN: run as root)")
        }
        // Refused before verification, for want of ndo_bpf (6.18 says
        // EOPNOTSUPP for lo; EINVAL is what the code of 6.3 reads as).
        Some(libc::EINVAL | libc::EOPNOTSUPP) if text.trim().is_empty() => format!(
            "{first} (the driver of {iface} has no native XDP, so no program can be bound to it)"
        ),
        _ if text.trim().is_empty() => first.to_string(),
        _ if text.contains("cannot use helper bpf_xdp_adjust_meta") => REFUSES_DATA_META.into(),
        _ => format!("{first}; verifier: {}", tail.join(" | ")),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_has_the_map_and_three_kfunc_calls() {
        let (insns, patches) = parse(OBJECT).unwrap();
        assert_eq!(patches.iter().filter(|(_, p)| *p == Patch::Map).count(), 1);
        for (k, _) in KFUNCS {
            let calls: Vec<_> = patches
                .iter()
                .filter(|(_, p)| *p == Patch::Kfunc(k))
                .collect();
            assert_eq!(calls.len(), 1, "{k}");
            // BPF_JMP | BPF_CALL
            assert_eq!(insns[calls[0].0 * 8], 0x85, "{k}");
        }
    }

    #[test]
    fn patches_a_call_to_a_btf_id_or_to_eopnotsupp() {
        let mut insns = vec![0x85, 0x10, 0, 0, 0xff, 0xff, 0xff, 0xff];
        let p = Patch::Kfunc(KFUNCS[0].0);
        patch(&mut insns, 0, &p, 0, Some(1234));
        assert_eq!(insns, [0x85, 0x20, 0, 0, 0xd2, 0x04, 0, 0]);
        patch(&mut insns, 0, &p, 0, None);
        assert_eq!(insns[..2], [0xb7, 0]);
        assert_eq!(i32::from_le_bytes(insns[4..].try_into().unwrap()), -95);
        let mut ld = vec![0x18, 0x02, 0, 0, 0, 0, 0, 0];
        patch(&mut ld, 0, &Patch::Map, 7, None);
        assert_eq!(ld, [0x18, 0x12, 0, 0, 7, 0, 0, 0]);
    }
}
