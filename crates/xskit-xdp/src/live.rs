//! BPF_PROG_RUN with BPF_F_TEST_XDP_LIVE_FRAMES: the kernel runs an XDP
//! program on frames built from a template and transmits those it returns
//! XDP_TX for, out of the given interface, without socket buffers; and
//! plain BPF_PROG_RUN ([`test_run`]): a verdict and the time per run.
//! aya 0.14 has no wrapper for this command, hence the raw bpf(2) call.

use std::io;
use std::mem::size_of;
use std::os::fd::RawFd;

const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// The `test` member of `union bpf_attr` (linux/bpf.h).
#[repr(C, align(8))]
#[derive(Default)]
struct TestRunAttr {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

/// `struct xdp_md` as BPF_PROG_RUN takes it for the context.
#[repr(C)]
#[derive(Default)]
struct XdpMd {
    data: u32,
    data_end: u32,
    data_meta: u32,
    ingress_ifindex: u32,
    rx_queue_index: u32,
    egress_ifindex: u32,
}

/// Runs `prog_fd` on `repeat` copies of `frame` as if received on queue
/// `queue` of `ifindex`, transmitting what it returns XDP_TX for.
pub fn run_live(
    prog_fd: RawFd,
    ifindex: u32,
    queue: u32,
    frame: &[u8],
    repeat: u32,
    batch: u32,
) -> io::Result<()> {
    let ctx = XdpMd {
        data_end: frame.len() as u32,
        ingress_ifindex: ifindex,
        rx_queue_index: queue,
        ..Default::default()
    };
    let mut attr = TestRunAttr {
        prog_fd: prog_fd as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat,
        ctx_size_in: size_of::<XdpMd>() as u32,
        ctx_in: &ctx as *const XdpMd as u64,
        flags: BPF_F_TEST_XDP_LIVE_FRAMES,
        batch_size: batch,
        ..Default::default()
    };
    // SAFETY: `attr`'s input pointers are `frame` and `ctx`, borrowed for
    // this whole function; no output pointers are set.
    unsafe { prog_test_run(&mut attr) }.map(drop)
}

/// bpf(BPF_PROG_TEST_RUN) with `attr`; returns `attr` with the kernel's
/// results (retval, duration, data_size_out).
///
/// # Safety
///
/// `attr.data_in` and `attr.ctx_in` (if not zero) point to readable
/// buffers of `data_size_in` and `ctx_size_in` bytes that stay valid for
/// the call, and `data_out` and `ctx_out` are zero.
unsafe fn prog_test_run(attr: &mut TestRunAttr) -> io::Result<&TestRunAttr> {
    // SAFETY: the kernel reads `attr` and the input buffers the caller
    // vouches for, and writes its results back into `attr`, mutable and
    // ours for the call; there are no output buffers.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            attr as *mut TestRunAttr,
            size_of::<TestRunAttr>() as u32,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(attr)
}

/// Runs `prog_fd` `repeat` times on `frame` (nothing is sent): its verdict
/// and the kernel's mean time per run in nanoseconds.
///
/// # Errors
/// The kernel's, from bpf(BPF_PROG_TEST_RUN).
pub fn test_run(prog_fd: RawFd, frame: &[u8], repeat: u32) -> io::Result<(u32, u32)> {
    let mut attr = TestRunAttr {
        prog_fd: prog_fd as u32,
        data_size_in: frame.len() as u32,
        data_in: frame.as_ptr() as u64,
        repeat,
        ..Default::default()
    };
    // SAFETY: `attr`'s one input pointer is `frame`, borrowed for this
    // whole function; no context and no output pointers are set.
    let done = unsafe { prog_test_run(&mut attr) }?;
    Ok((done.retval, done.duration))
}

/// Whether this kernel runs XDP programs on live frames (5.18+, and not
/// refused: this machine's 6.18 build of 2026-12-06 answers EPERM even
/// to root). Probed by running a two-instruction `XDP_DROP` program on one
/// frame as if received on loopback (interface 1): the frame is dropped,
/// nothing is sent.
///
/// # Errors
/// Loading the probe's program (EPERM without CAP_BPF), or a run error
/// other than the refusal (EPERM) or an unknown flag (EINVAL, before 5.18).
pub fn live_frames_allowed() -> io::Result<bool> {
    use crate::raw::{insn, load_insns};
    use std::os::fd::AsRawFd;
    const BPF_PROG_TYPE_XDP: u32 = 6;
    const BPF_XDP: u32 = 37;
    // r0 = XDP_DROP; exit
    let prog = [insn(0xb7, 0x00, 1), insn(0x95, 0x00, 0)].concat();
    let fd = load_insns(BPF_PROG_TYPE_XDP, BPF_XDP, &prog, "live_probe")?;
    match run_live(fd.as_raw_fd(), 1, 0, &[0u8; 64], 1, 0) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EINVAL)) => Ok(false),
        Err(e) => Err(e),
    }
}
