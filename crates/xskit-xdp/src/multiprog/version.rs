//! Which dispatcher version a new dispatcher gets, chosen as libxdp would.
//!
//! A dispatcher that replaces another keeps its version. Where none is
//! attached, libxdp writes the version it was compiled with, and the
//! versions do not mix: libxdp up to 1.5 (Debian 12 has 1.3.1) refuses a
//! dispatcher newer than version 2, and 1.6 and later ("Refusing
//! transparent upgrade") refuse to add to or change a version 2 one. So
//! xskit writes the version of the libxdp that the tools here run, the
//! first of:
//!
//! 1. `$XSKIT_DISPATCHER_VERSION` (2 or 3), said by the operator;
//! 2. the dispatcher object built into the first `xdp-loader` or
//!    `xdp-filter` on `$PATH` (then `/usr/local/sbin`, `/usr/sbin`):
//!    xdp-tools link libxdp into them by default, and libxdp then loads its
//!    own embedded `xdp-dispatcher.o`, whatever is installed elsewhere;
//! 3. the `xdp-dispatcher.o` a shared libxdp would load
//!    (`$LIBXDP_OBJECT_PATH` alone if set, else the usual install folders;
//!    the first found);
//! 4. else version 2, which every libxdp since 1.2 reads.
//!
//! An object's version is the size of its configuration (`conf`, else
//! `.rodata`): 124 bytes for version 2, 128 for version 3.

use super::{failed, MultiprogError};
use crate::dispatcher::{V2_LEN, V3_LEN};
use object::{Object, ObjectSection, ObjectSymbol};
use std::path::{Path, PathBuf};

/// The operator's choice of version, read first.
pub const VERSION_VAR: &str = "XSKIT_DISPATCHER_VERSION";
/// libxdp's own variable naming the folder of its objects.
pub const OBJECT_PATH_VAR: &str = "LIBXDP_OBJECT_PATH";
/// libxdp's tools, whose built-in dispatcher tells the version.
const TOOLS: [&str; 2] = ["xdp-loader", "xdp-filter"];

/// The folders a shared libxdp's objects are installed in:
/// `$LIBXDP_OBJECT_PATH` alone if set (as libxdp does), else the prefixes
/// of source builds and of distributions (Debian's multiarch folder,
/// Fedora's lib64).
pub fn object_dirs() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os(OBJECT_PATH_VAR) {
        return vec![PathBuf::from(p)];
    }
    [
        "/usr/local/lib/bpf".to_string(),
        "/usr/lib/bpf".to_string(),
        format!("/usr/lib/{}-linux-gnu/bpf", std::env::consts::ARCH),
        "/usr/lib64/bpf".to_string(),
    ]
    .into_iter()
    .map(PathBuf::from)
    .collect()
}

/// The version of a dispatcher object, from the size of its
/// configuration (`conf`, libxdp's; else all of `.rodata`); `None` if
/// `elf` is no dispatcher object.
fn of_elf(elf: &[u8]) -> Option<Result<u8, usize>> {
    let obj = object::File::parse(elf).ok()?;
    let size = obj
        .symbols()
        .find(|s| s.name() == Ok("conf"))
        .map(|s| s.size())
        .or_else(|| {
            obj.symbols()
                .any(|s| s.name() == Ok("xdp_dispatcher"))
                .then(|| obj.section_by_name(".rodata").map(|s| s.size()))
                .flatten()
        })? as usize;
    Some(match size {
        V2_LEN => Ok(2),
        V3_LEN => Ok(3),
        n => Err(n),
    })
}

/// The dispatcher version of the object file at `path`.
///
/// # Errors
/// The file cannot be read, is no dispatcher object, or has a
/// configuration of a size no version has.
pub fn of_object(path: &Path) -> Result<u8, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    match of_elf(&bytes) {
        Some(Ok(v)) => Ok(v),
        Some(Err(n)) => Err(format!(
            "{}: a dispatcher configuration of {n} bytes, which no version xskit knows has",
            path.display()
        )),
        None => Err(format!("{}: no dispatcher object", path.display())),
    }
}

/// The version of the dispatcher object built into the program at `path`
/// (a BPF ELF object inside it); `Ok(None)` if it has none (a tool linked
/// to a shared libxdp).
///
/// # Errors
/// The file cannot be read, or its dispatcher's configuration has a size
/// no version has.
pub fn of_tool(path: &Path) -> Result<Option<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    // The host's own ELF header is at 0; embedded objects follow it.
    let starts = bytes
        .windows(4)
        .enumerate()
        .skip(1)
        .filter(|(_, w)| *w == b"\x7fELF")
        .map(|(i, _)| i);
    for i in starts {
        match of_elf(&bytes[i..]) {
            Some(Ok(v)) => return Ok(Some(v)),
            Some(Err(n)) => {
                return Err(format!(
                    "{}: a built-in dispatcher configuration of {n} bytes, which no version \
                     xskit knows has",
                    path.display()
                ))
            }
            None => continue,
        }
    }
    Ok(None)
}

/// The version a new dispatcher gets and where it was learnt, in the order
/// the module documents.
///
/// # Errors
/// `$XSKIT_DISPATCHER_VERSION` other than 2 or 3, or a libxdp tool or
/// object that cannot be read.
pub fn chosen() -> Result<(u8, String), String> {
    if let Some(v) = std::env::var_os(VERSION_VAR) {
        return match v.to_str() {
            Some("2") => Ok((2, format!("{VERSION_VAR}=2"))),
            Some("3") => Ok((3, format!("{VERSION_VAR}=3"))),
            _ => Err(format!("{VERSION_VAR}={v:?}: use 2 or 3")),
        };
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/local/sbin", "/usr/sbin"].map(PathBuf::from));
    for dir in &dirs {
        for tool in TOOLS {
            let path = dir.join(tool);
            if path.is_file() {
                if let Some(v) = of_tool(&path)? {
                    return Ok((v, path.display().to_string()));
                }
            }
        }
    }
    for dir in object_dirs() {
        let path = dir.join("xdp-dispatcher.o");
        if path.exists() {
            return Ok((of_object(&path)?, path.display().to_string()));
        }
    }
    Ok((2, "no libxdp found".to_string()))
}

/// The version a new dispatcher gets ([`chosen`]).
pub(crate) fn for_new_dispatcher() -> Result<u8, MultiprogError> {
    chosen().map(|(v, _)| v).map_err(|e| {
        failed(format!(
            "cannot tell which dispatcher version libxdp's tools here read: {e}; set \
             {VERSION_VAR} to 2 (libxdp up to 1.5) or 3 (1.6 and later)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bpf(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf").join(name)
    }

    #[test]
    fn xskits_own_objects_read_as_their_versions() {
        // xskit's symbol is not libxdp's `conf`: read from `.rodata`.
        assert_eq!(of_object(&bpf("xdp_dispatcher.o")), Ok(2));
        assert_eq!(of_object(&bpf("xdp_dispatcher_v3.o")), Ok(3));
        let e = of_object(&bpf("xdp_pass.o")).unwrap_err();
        assert!(e.contains("no dispatcher object"), "{e}");
        assert!(of_object(&bpf("missing.o")).is_err());
    }

    #[test]
    fn a_dispatcher_built_into_a_program_is_found_after_its_header() {
        let dir = std::env::temp_dir().join(format!("xskit-version-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // A host ELF header, another BPF object, then the dispatcher.
        let mut tool = b"\x7fELF not a real program header".to_vec();
        tool.extend(std::fs::read(bpf("xdp_pass.o")).unwrap());
        tool.extend(std::fs::read(bpf("xdp_dispatcher_v3.o")).unwrap());
        std::fs::write(dir.join("tool"), &tool).unwrap();
        assert_eq!(of_tool(&dir.join("tool")), Ok(Some(3)));
        std::fs::write(dir.join("plain"), b"\x7fELF nothing inside").unwrap();
        assert_eq!(of_tool(&dir.join("plain")), Ok(None));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
