//! Which dispatcher version a new dispatcher gets, chosen as libxdp would.
//!
//! A dispatcher that replaces another keeps its version. Where none is
//! attached, libxdp writes its own version, and the versions do not mix:
//! libxdp up to 1.5 (Debian 12 has 1.3.1) refuses a dispatcher newer than
//! version 2, and 1.6 and later ("Refusing transparent upgrade") refuse to
//! add to or change a version 2 one. So xskit writes the version of the
//! libxdp installed here, which libxdp's tools will meet: that of the
//! `xdp-dispatcher.o` libxdp would load, found where libxdp looks
//! (`$LIBXDP_OBJECT_PATH` only, if set; else the usual install folders),
//! read from the size of its configuration (124 bytes: version 2; 128:
//! version 3). With no libxdp installed, version 2, which every libxdp
//! since 1.2 reads. Where several are installed, the newest wins.

use super::{failed, MultiprogError};
use crate::dispatcher::{V2_LEN, V3_LEN};
use object::{Object, ObjectSection, ObjectSymbol};
use std::path::{Path, PathBuf};

/// libxdp's own variable naming the folder of its objects.
pub const OBJECT_PATH_VAR: &str = "LIBXDP_OBJECT_PATH";

/// The folders libxdp's objects are installed in: `$LIBXDP_OBJECT_PATH`
/// alone if set (as libxdp does), else the prefixes of source builds and
/// of distributions (Debian's multiarch folder, Fedora's lib64).
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

/// The dispatcher version of libxdp's `xdp-dispatcher.o` at `path`, from
/// the size of its configuration variable `conf` (else of `.rodata`).
///
/// # Errors
/// The file cannot be read, is not an ELF object, or its configuration
/// has a size no version has.
pub fn of_object(path: &Path) -> Result<u8, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let obj = object::File::parse(bytes.as_slice())
        .map_err(|e| format!("{} is not an ELF object: {e}", path.display()))?;
    let size = obj
        .symbols()
        .find(|s| s.name() == Ok("conf"))
        .map(|s| s.size())
        .or_else(|| obj.section_by_name(".rodata").map(|s| s.size()));
    match size.map(|s| s as usize) {
        Some(V2_LEN) => Ok(2),
        Some(V3_LEN) => Ok(3),
        Some(n) => Err(format!(
            "{}: a dispatcher configuration of {n} bytes, which no version xskit knows has",
            path.display()
        )),
        None => Err(format!("{}: no dispatcher configuration", path.display())),
    }
}

/// The installed libxdp's dispatcher version and where it was read, or
/// `None` where no libxdp object is found.
///
/// # Errors
/// An `xdp-dispatcher.o` that cannot be read, or is of a version xskit
/// does not write (it would be refused by libxdp's tools either way).
pub fn installed() -> Result<Option<(u8, PathBuf)>, String> {
    let mut best: Option<(u8, PathBuf)> = None;
    for dir in object_dirs() {
        let path = dir.join("xdp-dispatcher.o");
        if !path.exists() {
            continue;
        }
        let v = of_object(&path)?;
        if best.as_ref().is_none_or(|(b, _)| v > *b) {
            best = Some((v, path));
        }
    }
    Ok(best)
}

/// The version a new dispatcher gets: the installed libxdp's, else 2.
pub(crate) fn for_new_dispatcher() -> Result<u8, MultiprogError> {
    match installed() {
        Ok(found) => Ok(found.map_or(2, |(v, _)| v)),
        Err(e) => Err(failed(format!(
            "cannot tell which dispatcher version libxdp's tools here read: {e}; set \
             {OBJECT_PATH_VAR} to the folder of the libxdp in use"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xskits_own_objects_read_as_their_versions() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("bpf");
        // xskit's symbol is not libxdp's `conf`: read from `.rodata`.
        assert_eq!(of_object(&dir.join("xdp_dispatcher.o")), Ok(2));
        assert_eq!(of_object(&dir.join("xdp_dispatcher_v3.o")), Ok(3));
        let e = of_object(&dir.join("xdp_pass.o")).unwrap_err();
        assert!(e.contains("no dispatcher configuration"), "{e}");
        assert!(of_object(&dir.join("missing.o")).is_err());
    }
}
