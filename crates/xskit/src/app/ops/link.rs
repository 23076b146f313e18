//! Detaching an XDP program that is attached through a BPF link xskit
//! does not hold (`xskit unload --any`): another process's link (a
//! running `xskit dump` or `echo`, another tool) or one pinned in bpffs by
//! another tool. Such an attachment cannot be replaced or removed through
//! netlink (`ip link set ... xdp off` fails with "Can't replace active BPF
//! XDP link"); it goes only through the link: BPF_LINK_DETACH (Linux 5.9,
//! as XDP links themselves). aya 0.14 lists links ([`loaded_links`]: id,
//! program id, type) but says neither a link's interface nor detaches a
//! link it did not make, so the two calls it lacks are made here with
//! bpf(2): BPF_LINK_GET_FD_BY_ID and BPF_OBJ_GET_INFO_BY_FD (for
//! `bpf_link_info.xdp.ifindex`), then BPF_LINK_DETACH.
//!
//! [`loaded_links`]: aya::programs::loaded_links

use anyhow::{bail, Context, Result};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

// enum bpf_cmd of linux/bpf.h.
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
const BPF_LINK_GET_FD_BY_ID: libc::c_long = 30;
const BPF_LINK_DETACH: libc::c_long = 34;
/// enum bpf_link_type: BPF_LINK_TYPE_XDP.
const BPF_LINK_TYPE_XDP: u32 = 6;

/// `union bpf_attr`, as zeroed bytes of a size every command used here
/// fits in (the kernel checks that bytes past what it knows are zero).
#[repr(C, align(8))]
struct Attr([u8; 64]);

impl Attr {
    fn new() -> Attr {
        Attr([0; 64])
    }

    fn put_u32(&mut self, at: usize, v: u32) {
        self.0[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    }

    fn put_u64(&mut self, at: usize, v: u64) {
        self.0[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    }
}

/// bpf(2) with `attr`; the return value, or the OS error.
fn bpf(cmd: libc::c_long, attr: &mut Attr) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a live, exclusively borrowed buffer of the size
    // passed; the kernel reads and writes at most that many bytes of it,
    // and the commands used here write nothing else but what `attr`
    // points to (BPF_OBJ_GET_INFO_BY_FD's `info`, whose pointer and length
    // the caller sets to a buffer of its own that outlives the call).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.0.as_mut_ptr(),
            std::mem::size_of::<Attr>() as libc::c_uint,
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// A descriptor of the link with id `id`.
fn link_fd(id: u32) -> std::io::Result<OwnedFd> {
    let mut a = Attr::new();
    a.put_u32(0, id); // link_id
    let fd = bpf(BPF_LINK_GET_FD_BY_ID, &mut a)?;
    // SAFETY: the kernel returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// (type, program id, XDP interface index) of the link behind `fd`.
fn link_info(fd: &OwnedFd) -> std::io::Result<(u32, u32, u32)> {
    // struct bpf_link_info: type, id, prog_id (u32 each), then an 8-byte
    // aligned union whose `xdp.ifindex` is its first u32 (offset 16).
    let mut info = [0u64; 16];
    let mut a = Attr::new();
    a.put_u32(0, fd.as_raw_fd() as u32); // info.bpf_fd
    a.put_u32(4, std::mem::size_of_val(&info) as u32); // info.info_len
    a.put_u64(8, info.as_mut_ptr() as u64); // info.info
    bpf(BPF_OBJ_GET_INFO_BY_FD, &mut a)?;
    let word = |i: usize| {
        let b = info[i / 2].to_ne_bytes();
        let half = if i.is_multiple_of(2) {
            &b[..4]
        } else {
            &b[4..]
        };
        // Native order: the u32 at byte offset 4 * i of the struct.
        u32::from_ne_bytes(half.try_into().expect("4 bytes"))
    };
    Ok((word(0), word(2), word(4)))
}

/// Detaches the XDP program `prog_id` from the interface of index
/// `ifindex` (this namespace's) through its BPF link: returns the link's
/// id, or None if no link attaches it there (a netlink attachment).
pub fn detach_xdp_link(prog_id: u32, ifindex: u32) -> Result<Option<u32>> {
    for info in aya::programs::loaded_links() {
        let Ok(info) = info else { continue };
        if info.program_id() != prog_id {
            continue;
        }
        // Gone since it was listed: not this one.
        let Ok(fd) = link_fd(info.id()) else { continue };
        let (kind, prog, index) = link_info(&fd).context("reading a BPF link's information")?;
        if kind != BPF_LINK_TYPE_XDP || prog != prog_id || index != ifindex {
            continue;
        }
        let mut a = Attr::new();
        a.put_u32(0, fd.as_raw_fd() as u32); // link_detach.link_fd
        if let Err(e) = bpf(BPF_LINK_DETACH, &mut a) {
            bail!("BPF_LINK_DETACH of link {}: {e}", info.id());
        }
        return Ok(Some(info.id()));
    }
    Ok(None)
}
