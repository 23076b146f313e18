//! Does this kernel load extension programs (`BPF_PROG_TYPE_EXT`, the
//! "freplace" programs libxdp's multi-program dispatcher is built from)?
//! Answered by trying: an XDP program with a global function
//! (`bpf/xdp_ext_probe.c`) is loaded, then an extension program against
//! that function. Nothing is attached; both go when the answer is made.

use aya::programs::{Extension, ProgramError, Xdp};
use aya::EbpfLoader;

static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_ext_probe.o");

/// What the kernel did with the probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtSupport {
    /// The extension program loaded.
    Loads,
    /// The kernel refused the extension program: its error number (if it
    /// gave one) and the error in words.
    Refused {
        /// The error number.
        errno: Option<i32>,
        /// The error in words.
        error: String,
    },
    /// The probe's XDP program itself did not load, so nothing is known.
    NoTarget(String),
}

pub(crate) fn errno(e: &ProgramError) -> Option<i32> {
    match e {
        ProgramError::LoadError { io_error, .. } => io_error.raw_os_error(),
        ProgramError::SyscallError(s) => s.io_error.raw_os_error(),
        _ => None,
    }
}

/// Tries to load an extension program and says what happened.
pub fn probe() -> ExtSupport {
    let mut ebpf = match EbpfLoader::new().extension("probe_ext").load(OBJECT) {
        Ok(e) => e,
        Err(e) => return ExtSupport::NoTarget(format!("parsing the probe object: {e}")),
    };
    let target = (|| -> Result<_, ProgramError> {
        let xdp: &mut Xdp = ebpf
            .program_mut("probe_target")
            .ok_or(ProgramError::NotLoaded)?
            .try_into()?;
        xdp.load()?;
        Ok(xdp.fd()?.try_clone()?)
    })();
    let fd = match target {
        Ok(fd) => fd,
        Err(e) => return ExtSupport::NoTarget(format!("loading the probe's XDP program: {e}")),
    };
    let ext: Result<&mut Extension, _> = match ebpf.program_mut("probe_ext") {
        Some(p) => p.try_into(),
        None => return ExtSupport::NoTarget("the probe object has no probe_ext".into()),
    };
    let ext = match ext {
        Ok(x) => x,
        Err(e) => return ExtSupport::NoTarget(e.to_string()),
    };
    match ext.load(fd, "probe_stub") {
        Ok(()) => ExtSupport::Loads,
        Err(e) => ExtSupport::Refused {
            errno: errno(&e),
            error: e.to_string(),
        },
    }
}
