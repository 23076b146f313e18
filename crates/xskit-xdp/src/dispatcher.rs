//! Recognising a libxdp multi-program dispatcher on an interface, read
//! only (joining one, or making one libxdp can join: [`crate::multiprog`]).
//!
//! libxdp (xdp-tools) shares an interface by attaching one program named
//! `xdp_dispatcher` that calls up to ten stub functions in turn; each
//! component is a `BPF_PROG_TYPE_EXT` program linked in place of a stub.
//! The dispatcher's only map is its frozen `.rodata`, one value holding
//! its configuration, in this layout (native byte order):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | magic, 236 (`'X' + 'D' + 'P'`) |
//! | 1 | 1 | dispatcher version (2 or 3) |
//! | 2 | 1 | number of slots in use |
//! | 3 | 1 | built with XDP frags support |
//! | 4 | 40 | per slot: chain-call actions, a bit per XDP action (bit 31 is the dispatcher's own "no program here" return value) |
//! | 44 | 40 | per slot: run priority |
//! | 84 | 40 | per slot: program flags (`BPF_F_XDP_HAS_FRAGS`) |
//! | 124 | 1 | version 3 only: bound to a device (the value is 128 bytes with padding) |
//!
//! Version 2 values are 124 bytes. Version 1 (no magic) and versions
//! newer than 3 are refused with the reason. libxdp pins each component
//! under `<bpffs>/xdp/dispatch-IFINDEX-DISPATCHERID/prog{N}-prog`
//! (`<bpffs>` is `$LIBXDP_BPFFS`, else `/sys/fs/bpf`), which is where the
//! components' names and ids are read from.

use aya::maps::{Array, Map, MapData};
use aya::programs::ProgramInfo;
use std::fmt;
use std::path::PathBuf;

/// The dispatcher's magic byte.
pub const MAGIC: u8 = 236;
/// Slots a dispatcher has.
pub const SLOTS: usize = 10;
/// The attached program's name when it is a dispatcher.
pub const PROGRAM_NAME: &str = "xdp_dispatcher";
/// The newest dispatcher version this module reads.
pub const NEWEST: u8 = 3;
/// Bytes of a version 2 configuration.
pub const V2_LEN: usize = 124;
/// Bytes of a version 3 configuration (125 and padding).
pub const V3_LEN: usize = 128;
/// The chain-call bit the dispatcher sets for itself, not an action.
pub(crate) const OWN_RETVAL_BIT: u32 = 1 << 31;
/// `BPF_F_XDP_HAS_FRAGS`.
const HAS_FRAGS: u32 = 1 << 5;

/// A dispatcher's configuration, as parsed from its `.rodata`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DispatcherConfig {
    /// 2 or 3.
    pub version: u8,
    /// Slots in use (0 to 10).
    pub num_progs_enabled: u8,
    /// Built with XDP frags support.
    pub is_xdp_frags: bool,
    /// Bound to a device (version 3; `None` for version 2).
    pub is_xdp_devbound: Option<bool>,
    /// Per slot: the actions after which the next slot runs, a bit per
    /// XDP action code.
    pub chain_call_actions: [u32; SLOTS],
    /// Per slot: the run priority (lower runs first).
    pub run_prios: [u32; SLOTS],
    /// Per slot: program flags.
    pub program_flags: [u32; SLOTS],
}

/// Why a dispatcher's configuration cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// No magic byte: version 1 (libxdp before 1.2) or not a dispatcher.
    #[error("its configuration has no magic byte (a version 1 dispatcher of libxdp before 1.2, which xskit does not read)")]
    NoMagic,
    /// A version this module does not know.
    #[error("dispatcher version {0} is newer than the newest xskit reads ({NEWEST})")]
    Newer(u8),
    /// A version older than 2 with a magic byte.
    #[error("dispatcher version {0} is not one xskit reads (2 or 3)")]
    Unknown(u8),
    /// The value's size does not fit its version.
    #[error("a version {version} configuration of {len} bytes (expected {expected})")]
    Size {
        /// The version the magic header says.
        version: u8,
        /// Bytes of the value.
        len: usize,
        /// Bytes that version has.
        expected: usize,
    },
    /// More slots in use than a dispatcher has.
    #[error("{0} slots in use, more than a dispatcher has ({SLOTS})")]
    TooManyPrograms(u8),
}

fn words(b: &[u8], at: usize) -> [u32; SLOTS] {
    let mut w = [0u32; SLOTS];
    for (i, v) in w.iter_mut().enumerate() {
        let o = at + 4 * i;
        *v = u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    }
    w
}

impl DispatcherConfig {
    /// Parses the value of a dispatcher's `.rodata` map.
    pub fn parse(b: &[u8]) -> Result<DispatcherConfig, ConfigError> {
        if b.len() < 2 || b[0] != MAGIC {
            return Err(ConfigError::NoMagic);
        }
        let version = b[1];
        let expected = match version {
            2 => V2_LEN,
            3 => V3_LEN,
            v if v > NEWEST => return Err(ConfigError::Newer(v)),
            v => return Err(ConfigError::Unknown(v)),
        };
        if b.len() != expected {
            return Err(ConfigError::Size {
                version,
                len: b.len(),
                expected,
            });
        }
        if usize::from(b[2]) > SLOTS {
            return Err(ConfigError::TooManyPrograms(b[2]));
        }
        Ok(DispatcherConfig {
            version,
            num_progs_enabled: b[2],
            is_xdp_frags: b[3] != 0,
            is_xdp_devbound: (version >= 3).then(|| b[124] != 0),
            chain_call_actions: words(b, 4),
            run_prios: words(b, 44),
            program_flags: words(b, 84),
        })
    }
}

impl DispatcherConfig {
    /// This configuration in its version's layout (the table above), as a
    /// dispatcher's `.rodata` holds it: [`V2_LEN`] bytes for version 2,
    /// [`V3_LEN`] for version 3 (libxdp wants exactly its version's size).
    /// Any version but 3 is written as 2.
    pub fn to_bytes(&self) -> Vec<u8> {
        let v3 = self.version == 3;
        let mut b = vec![0u8; if v3 { V3_LEN } else { V2_LEN }];
        b[0] = MAGIC;
        b[1] = if v3 { 3 } else { 2 };
        b[2] = self.num_progs_enabled;
        b[3] = u8::from(self.is_xdp_frags);
        for i in 0..SLOTS {
            b[4 + 4 * i..8 + 4 * i].copy_from_slice(&self.chain_call_actions[i].to_ne_bytes());
            b[44 + 4 * i..48 + 4 * i].copy_from_slice(&self.run_prios[i].to_ne_bytes());
            b[84 + 4 * i..88 + 4 * i].copy_from_slice(&self.program_flags[i].to_ne_bytes());
        }
        if v3 {
            b[124] = u8::from(self.is_xdp_devbound == Some(true));
        }
        b
    }
}

/// The XDP actions of a chain-call mask, by their kernel names
/// (`XDP_PASS`, ...); the dispatcher's own bit is left out, and an unknown
/// bit is shown as its action code.
pub fn action_names(mask: u32) -> Vec<String> {
    const NAMES: [&str; 5] = [
        "XDP_ABORTED",
        "XDP_DROP",
        "XDP_PASS",
        "XDP_TX",
        "XDP_REDIRECT",
    ];
    (0..31)
        .filter(|b| mask & !OWN_RETVAL_BIT & (1 << b) != 0)
        .map(|b| match NAMES.get(b as usize) {
            Some(n) => (*n).to_string(),
            None => format!("action {b}"),
        })
        .collect()
}

/// One program in a dispatcher's slot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Component {
    /// The slot (0 runs first).
    pub slot: u8,
    /// The program's name (the kernel keeps 15 bytes); `None` if its pin
    /// could not be read.
    pub name: Option<String>,
    /// Its program id.
    pub id: Option<u32>,
    /// Its run priority.
    pub priority: u32,
    /// The actions after which the next slot runs (`XDP_PASS`, ...).
    pub chain_actions: Vec<String>,
    /// Frags-aware.
    pub frags: bool,
}

/// A libxdp dispatcher attached to an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dispatcher {
    /// The dispatcher's program id.
    pub id: u32,
    /// Its configuration, or why it cannot be read.
    pub config: Result<DispatcherConfig, ConfigError>,
    /// Its components in slot order (empty if the configuration could not
    /// be read).
    pub components: Vec<Component>,
    /// libxdp's pin folder for it.
    pub pin_dir: PathBuf,
    /// Why some components' names or ids are missing, if they are.
    pub note: Option<String>,
    /// Who loaded it: `"xskit"` ([`crate::multiprog`]) or `"libxdp"`, told
    /// by its configuration map's name (libbpf prefixes the object's,
    /// `xdp_disp.rodata`; aya does not, `.rodata`).
    pub by: &'static str,
}

impl fmt::Display for Dispatcher {
    /// `a libxdp dispatcher (v2, program id 57, 2 programs: xdp_pass prio
    /// 50, xsk_def_prog prio 20)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.config {
            Err(e) => write!(
                f,
                "{} (program id {}) that xskit cannot read: {e}",
                self.kind(),
                self.id
            ),
            Ok(c) => {
                let n = self.components.len();
                write!(
                    f,
                    "{} (v{}, program id {}, {n} program{}",
                    self.kind(),
                    c.version,
                    self.id,
                    if n == 1 { "" } else { "s" }
                )?;
                let list: Vec<String> = self
                    .components
                    .iter()
                    .map(|p| {
                        format!(
                            "{} prio {}",
                            p.name.as_deref().unwrap_or("(unknown)"),
                            p.priority
                        )
                    })
                    .collect();
                if !list.is_empty() {
                    write!(f, ": {}", list.join(", "))?;
                }
                write!(f, ")")
            }
        }
    }
}

impl Dispatcher {
    fn kind(&self) -> &'static str {
        if self.by == "xskit" {
            "xskit's dispatcher of libxdp's protocol"
        } else {
            "a libxdp dispatcher"
        }
    }
}

/// libxdp's pin folder: `$LIBXDP_BPFFS/xdp`, else `/sys/fs/bpf/xdp`.
pub fn libxdp_dir() -> PathBuf {
    let base = std::env::var_os("LIBXDP_BPFFS")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/sys/fs/bpf"), PathBuf::from);
    base.join("xdp")
}

/// The components of a dispatcher with `config`, by slot, named from
/// libxdp's pins in `dir`; the note says which pins were missing.
fn components(
    config: &DispatcherConfig,
    dir: &std::path::Path,
) -> (Vec<Component>, Option<String>) {
    let mut missing = Vec::new();
    let list = (0..config.num_progs_enabled)
        .map(|slot| {
            let i = usize::from(slot);
            let pin = dir.join(format!("prog{slot}-prog"));
            let info = ProgramInfo::from_pin(&pin).ok();
            if info.is_none() {
                missing.push(pin.display().to_string());
            }
            Component {
                slot,
                name: info
                    .as_ref()
                    .map(|p| String::from_utf8_lossy(p.name()).into_owned()),
                id: info.as_ref().map(ProgramInfo::id),
                priority: config.run_prios[i],
                chain_actions: action_names(config.chain_call_actions[i]),
                frags: config.program_flags[i] & HAS_FRAGS != 0,
            }
        })
        .collect();
    let note = (!missing.is_empty()).then(|| {
        format!(
            "libxdp's pins {} cannot be read, so those programs' names and ids are unknown",
            missing.join(", ")
        )
    });
    (list, note)
}

/// Reads the one-entry `.rodata` array of map `map_id` as bytes.
fn read_config(map_id: u32) -> Result<Vec<u8>, String> {
    let data = MapData::from_id(map_id).map_err(|e| format!("opening map id {map_id}: {e}"))?;
    let size = data
        .info()
        .map_err(|e| format!("reading map id {map_id}'s information: {e}"))?
        .value_size() as usize;
    let map = Map::from_map_data(data).map_err(|e| format!("map id {map_id}: {e}"))?;
    fn get<const N: usize>(map: Map) -> Result<Vec<u8>, String> {
        let a: Array<MapData, [u8; N]> = Array::try_from(map).map_err(|e| e.to_string())?;
        a.get(&0, 0).map(|v| v.to_vec()).map_err(|e| e.to_string())
    }
    match size {
        V2_LEN => get::<V2_LEN>(map),
        V3_LEN => get::<V3_LEN>(map),
        // The parser says what is wrong with it: the first two bytes tell.
        _ => get::<2>(map).or_else(|_| Ok(vec![MAGIC, 0])).map(|mut v| {
            v.resize(size.max(2), 0);
            v
        }),
    }
}

/// The libxdp dispatcher that program `prog_id`, attached to the interface
/// of index `ifindex`, is; `Ok(None)` if it is not one (another name, or
/// more than one map). Reading programs and maps by id needs
/// CAP_SYS_ADMIN.
pub fn inspect(prog_id: u32, ifindex: u32) -> Result<Option<Dispatcher>, String> {
    let info = match crate::loader::loaded_program(prog_id) {
        Ok(Some(info)) => info,
        Err(e) => return Err(format!("cannot open XDP program id {prog_id}: {e}")),
        Ok(None) => return Err(format!("XDP program id {prog_id} is gone")),
    };
    if info.name() != PROGRAM_NAME.as_bytes() {
        return Ok(None);
    }
    let maps = info
        .map_ids()
        .map_err(|e| format!("listing the maps of program id {prog_id}: {e}"))?
        .unwrap_or_default();
    let [map_id] = maps[..] else {
        return Ok(None);
    };
    let pin_dir = libxdp_dir().join(format!("dispatch-{ifindex}-{prog_id}"));
    let by = match MapData::from_id(map_id).ok().and_then(|d| d.info().ok()) {
        Some(i) if i.name_as_str() == Some(".rodata") => "xskit",
        _ => "libxdp",
    };
    let config = DispatcherConfig::parse(&read_config(map_id)?);
    let (components, note) = match &config {
        Ok(c) => components(c, &pin_dir),
        Err(_) => (Vec::new(), None),
    };
    Ok(Some(Dispatcher {
        id: prog_id,
        config,
        components,
        pin_dir,
        note,
        by,
    }))
}

#[cfg(test)]
mod tests;
