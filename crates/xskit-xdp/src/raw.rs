//! Programs given as a few instructions, loaded and attached through
//! bpf(2) directly: for probes and tests that need a program type or flag
//! aya 0.14 cannot load (a tcx program, a device-bound XDP program with
//! kfunc calls), and the plumbing [`crate::RxMetaProgram`] loads with.
//!
//! aya covers loading from ELF objects; what it lacks here is a
//! `prog_ifindex`, kfunc relocation and hand-assembled instructions, so
//! these few calls are written out against `union bpf_attr`'s prefixes.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// bpf(2) with `attr` of `size_of::<A>()` bytes; the new descriptor, or
/// the call's result as a number.
pub(crate) fn sys_bpf<A>(cmd: libc::c_long, attr: &mut A) -> io::Result<i64> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct of the
    // layout bpf(2) expects for `cmd` (a prefix of union bpf_attr; the
    // kernel treats the missing tail as zero), and the size passed is its
    // size. Pointers inside it point into buffers the caller keeps alive
    // for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut A as *mut libc::c_void,
            std::mem::size_of::<A>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

pub(crate) fn owned(fd: i64) -> OwnedFd {
    // SAFETY: `fd` was just returned by bpf(2) as a new descriptor, owned by
    // nobody else.
    unsafe { OwnedFd::from_raw_fd(fd as RawFd) }
}

#[repr(C)]
#[derive(Default)]
pub(crate) struct MapCreate {
    pub(crate) map_type: u32,
    pub(crate) key_size: u32,
    pub(crate) value_size: u32,
    pub(crate) max_entries: u32,
    pub(crate) map_flags: u32,
    pub(crate) inner_map_fd: u32,
    pub(crate) numa_node: u32,
    pub(crate) map_name: [u8; 16],
}

#[repr(C)]
#[derive(Default)]
pub(crate) struct MapElem {
    pub(crate) map_fd: u32,
    pub(crate) _pad: u32,
    pub(crate) key: u64,
    pub(crate) value: u64,
    pub(crate) flags: u64,
}

#[repr(C)]
#[derive(Default)]
pub(crate) struct ProgLoad {
    pub(crate) prog_type: u32,
    pub(crate) insn_cnt: u32,
    pub(crate) insns: u64,
    pub(crate) license: u64,
    pub(crate) log_level: u32,
    pub(crate) log_size: u32,
    pub(crate) log_buf: u64,
    pub(crate) kern_version: u32,
    pub(crate) prog_flags: u32,
    pub(crate) prog_name: [u8; 16],
    pub(crate) prog_ifindex: u32,
    pub(crate) expected_attach_type: u32,
}

#[repr(C)]
struct LinkCreate {
    pub(crate) prog_fd: u32,
    pub(crate) target_ifindex: u32,
    pub(crate) attach_type: u32,
    pub(crate) flags: u32,
}

pub(crate) fn name16(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, b) in n.iter_mut().zip(s.bytes().take(15)) {
        *d = b;
    }
    n
}

/// One eBPF instruction: opcode `code`, registers `regs` (source in the
/// high four bits, destination in the low four), offset 0, immediate `imm`.
pub fn insn(code: u8, regs: u8, imm: i32) -> [u8; 8] {
    let mut b = [code, regs, 0, 0, 0, 0, 0, 0];
    b[4..].copy_from_slice(&imm.to_le_bytes());
    b
}

/// Loads `insns` (8-byte eBPF instructions) as a GPL program of
/// `prog_type` (`BPF_PROG_TYPE_*` of include/uapi/linux/bpf.h) expecting
/// `attach_type` (`BPF_*` attach types), named `name` (15 bytes kept).
///
/// # Errors
///
/// bpf(2)'s error: EPERM without CAP_BPF, EINVAL for what the verifier or
/// the kernel refuses (no verifier log is asked for).
pub fn load_insns(
    prog_type: u32,
    attach_type: u32,
    insns: &[u8],
    name: &str,
) -> io::Result<OwnedFd> {
    const LICENSE: &CStr = c"GPL";
    const BPF_PROG_LOAD: libc::c_long = 5;
    if insns.is_empty() || !insns.len().is_multiple_of(8) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "eBPF instructions are 8 bytes each",
        ));
    }
    let mut attr = ProgLoad {
        prog_type,
        insn_cnt: (insns.len() / 8) as u32,
        insns: insns.as_ptr() as u64,
        license: LICENSE.as_ptr() as u64,
        prog_name: name16(name),
        expected_attach_type: attach_type,
        ..Default::default()
    };
    sys_bpf(BPF_PROG_LOAD, &mut attr).map(owned)
}

/// Attaches `prog` to interface `ifindex` at `attach_type` with a BPF
/// link (`BPF_LINK_CREATE`); closing the returned descriptor detaches it.
///
/// # Errors
///
/// bpf(2)'s error (EEXIST or EBUSY where the hook is taken, EINVAL where
/// the attach type does not fit the program).
pub fn link_create(
    prog: &OwnedFd,
    ifindex: u32,
    attach_type: u32,
    flags: u32,
) -> io::Result<OwnedFd> {
    const BPF_LINK_CREATE: libc::c_long = 28;
    let mut attr = LinkCreate {
        prog_fd: prog.as_raw_fd() as u32,
        target_ifindex: ifindex,
        attach_type,
        flags,
    };
    sys_bpf(BPF_LINK_CREATE, &mut attr).map(owned)
}
