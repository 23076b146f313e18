//! xskit's programs as components of a multi-program dispatcher that
//! libxdp's tools can join, or of one of libxdp's.
//!
//! The dispatcher is xskit's own (`bpf/xdp_dispatcher.c`), laid out as
//! libxdp's version 2 or 3 dispatcher ([`crate::dispatcher`] documents the
//! configuration), and it is kept as libxdp keeps its own, so that
//! `xdp-loader status` lists xskit's component and `xdp-loader load` /
//! `unload` add and remove theirs beside it. The version is chosen as
//! libxdp chooses it: a dispatcher replaced keeps its version; a new one
//! gets the installed libxdp's ([`version`]: libxdp up to 1.5 reads only
//! up to version 2, 1.6 and later refuse to change a version 2 one).
//!
//! - every change is made under `flock(LOCK_EX)` on libxdp's pin folder
//!   (`<bpffs>/xdp`, [`crate::dispatcher::libxdp_dir`]), libxdp's lock;
//! - a change builds a new dispatcher whose configuration lists the
//!   components in order of priority (then name), links each component
//!   (an extension program, `BPF_PROG_TYPE_EXT`) in place of the stub
//!   `prog{N}` of its slot, pins link and program as
//!   `<bpffs>/xdp/dispatch-IFINDEX-DISPATCHERID/prog{N}-link` and
//!   `prog{N}-prog`, attaches the dispatcher through netlink (a BPF link
//!   could not be replaced by libxdp), with `XDP_FLAGS_UPDATE_IF_NOEXIST`
//!   on a free interface or `XDP_FLAGS_REPLACE` in place of the old
//!   dispatcher, and then removes the old dispatcher's pins;
//! - components already there (libxdp's or xskit's) are carried over by
//!   their pinned programs, with the priority and chain-call actions the
//!   old dispatcher's configuration gives them.
//!
//! An xskit program goes in whole: its entry function replaces the stub.
//! Its priority and chain-call actions are the caller's ([`RunConfig`]),
//! written into the dispatcher's configuration, where libxdp reads them
//! back. The kernel must load extension programs (see
//! [`crate::ext_probe`]); where it refuses them, [`attach`] says so in one
//! line and leaves the interface as it was.

use crate::abi::Counter;
use crate::counters::ActionCounters;
use crate::dispatcher::SLOTS;
use crate::programs::Program;
use aya::maps::{MapData, PerCpuArray};
use aya::programs::ProgramError;
use aya::{Ebpf, EbpfLoader};
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

mod build;
mod netlink;
#[cfg(test)]
mod tests;
pub mod version;

use build::{current, install, lock, unpin, Member, Source};

/// xskit's dispatcher object, version 2.
pub(crate) static OBJECT: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_dispatcher.o");
/// The same with version 3's configuration (`bpf/xdp_dispatcher_v3.c`).
pub(crate) static OBJECT_V3: &[u8] = aya::include_bytes_aligned!("../bpf/xdp_dispatcher_v3.o");
/// The symbol of its configuration in `.rodata`.
pub(crate) const CONFIG_SYMBOL: &str = "xskit_disp_config";
/// libxdp's default priority (`XDP_DEFAULT_RUN_PRIO`).
pub const DEFAULT_PRIORITY: u32 = 50;
/// `XDP_PASS` as a chain-call bit, libxdp's default chain-call actions.
pub const CHAIN_ON_PASS: u32 = 1 << 2;
const STATS_MAP: &str = "xskit_stats";

/// The hook a dispatcher is attached at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Generic XDP (`XDP_FLAGS_SKB_MODE`, `xdp-loader -m skb`).
    Skb,
    /// In the driver (`XDP_FLAGS_DRV_MODE`, `xdp-loader -m native`).
    Native,
}

impl Mode {
    fn flag(self) -> u32 {
        match self {
            Mode::Skb => netlink::SKB_MODE,
            Mode::Native => netlink::DRV_MODE,
        }
    }
}

/// Where a component runs and when the next one does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunConfig {
    /// Lower runs first (libxdp's default is [`DEFAULT_PRIORITY`]).
    pub priority: u32,
    /// The XDP actions after which the next component runs, a bit per
    /// action code (`1 << XDP_PASS` is [`CHAIN_ON_PASS`]).
    pub chain_actions: u32,
}

impl Default for RunConfig {
    fn default() -> RunConfig {
        RunConfig {
            priority: DEFAULT_PRIORITY,
            chain_actions: CHAIN_ON_PASS,
        }
    }
}

/// Why a component was not attached or removed.
#[derive(Debug, thiserror::Error)]
pub enum MultiprogError {
    /// The kernel refused to load the component as an extension program.
    #[error(
        "cannot attach {program} to {iface} in a dispatcher: this kernel refuses extension \
         programs (BPF_PROG_TYPE_EXT), of which a multi-program dispatcher is made ({error}); \
         nothing was attached"
    )]
    ExtensionsRefused {
        /// The program's name.
        program: String,
        /// The interface.
        iface: String,
        /// The kernel's error.
        error: String,
    },
    /// Anything else, in one line.
    #[error("{0}")]
    Failed(String),
}

fn failed(s: impl Into<String>) -> MultiprogError {
    MultiprogError::Failed(s.into())
}

/// The error of a program call in one line: the kernel's error without
/// aya's verifier log.
fn short(e: &ProgramError) -> String {
    match e {
        ProgramError::LoadError { io_error, .. } => io_error.to_string(),
        ProgramError::SyscallError(s) => format!("{}: {}", s.call, s.io_error),
        e => e.to_string(),
    }
}

/// xskit's component in a dispatcher, as [`attach`] left it. Its program
/// id and counters stay valid while it is a component; the dispatcher id,
/// slot and pin folder are those of the moment: any later change (libxdp's
/// or xskit's) replaces the dispatcher.
pub struct Component {
    /// The interface's index.
    pub ifindex: u32,
    /// The dispatcher's program id.
    pub dispatcher_id: u32,
    /// The component's program id (what [`detach`] takes).
    pub program_id: u32,
    /// Its slot in the dispatcher (0 runs first).
    pub slot: u8,
    /// The dispatcher's pin folder.
    pub pin_dir: PathBuf,
    stats: Option<PerCpuArray<MapData, Counter>>,
    /// The loaded object, program included: held while the component is,
    /// so that `xskit status` sees a live holder, not a left-over.
    _object: Box<Ebpf>,
}

impl std::fmt::Debug for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Component")
            .field("ifindex", &self.ifindex)
            .field("dispatcher_id", &self.dispatcher_id)
            .field("program_id", &self.program_id)
            .field("slot", &self.slot)
            .field("pin_dir", &self.pin_dir)
            .finish_non_exhaustive()
    }
}

impl Component {
    /// The component's per-action counters.
    ///
    /// # Errors
    ///
    /// The program has no counter map, or reading it failed.
    pub fn counters(&self) -> Result<ActionCounters, MultiprogError> {
        let map = self
            .stats
            .as_ref()
            .ok_or_else(|| failed("the component has no counter map"))?;
        ActionCounters::read(map).map_err(|e| failed(format!("reading the counters: {e}")))
    }
}

/// What [`detach`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Detached {
    /// The component was the only one: the dispatcher is gone too.
    DispatcherRemoved {
        /// The removed dispatcher's program id.
        dispatcher_id: u32,
    },
    /// A new dispatcher runs the other components.
    Rebuilt {
        /// Its program id.
        dispatcher_id: u32,
        /// How many components it runs.
        components: usize,
    },
}

/// Attaches `program` to `iface` as a component of a dispatcher, with
/// `run`'s priority and chain-call actions: in a new dispatcher if nothing
/// is attached (in `mode`), else beside the components of the version 2
/// dispatcher there (libxdp's or xskit's, in its mode), which is replaced
/// by one running them all. Programs with an XSKMAP go in empty: load them
/// with [`crate::XdpProgram::load_component`] to register sockets first.
///
/// # Errors
///
/// [`MultiprogError::ExtensionsRefused`] where the kernel refuses
/// extension programs; [`MultiprogError::Failed`] if another program that
/// is no dispatcher is attached, the dispatcher there is not version 2 or
/// has ten components, its pins cannot be read, `mode` differs from the
/// mode it runs in, or a load, link, pin or the netlink attachment fails.
/// Nothing is changed then.
///
/// # Examples
///
/// ```no_run
/// use xskit_xdp::multiprog::{self, Mode, RunConfig};
/// use xskit_xdp::Program;
///
/// let c = multiprog::attach(Program::Pass, "eth1", Mode::Native, RunConfig::default())?;
/// println!("slot {} of dispatcher id {}", c.slot, c.dispatcher_id);
/// multiprog::detach("eth1", c.program_id)?;
/// # Ok::<(), multiprog::MultiprogError>(())
/// ```
pub fn attach(
    program: Program,
    iface: &str,
    mode: Mode,
    run: RunConfig,
) -> Result<Component, MultiprogError> {
    let function = program.function();
    let mut ebpf = EbpfLoader::new()
        .extension(function)
        .load(program.object())
        .map_err(|e| failed(format!("loading {program}'s object: {e}")))?;
    let j = join(&mut ebpf, function, iface, Some(mode), run, true)?;
    let stats = ebpf
        .take_map(STATS_MAP)
        .and_then(|map| PerCpuArray::try_from(map).ok());
    Ok(Component {
        ifindex: j.ifindex,
        dispatcher_id: j.dispatcher_id,
        program_id: j.program_id,
        slot: j.slot,
        pin_dir: j.pin_dir,
        stats,
        _object: Box::new(ebpf),
    })
}

/// Where [`join`] put a component.
#[derive(Debug)]
pub(crate) struct Joined {
    pub(crate) ifindex: u32,
    pub(crate) dispatcher_id: u32,
    pub(crate) program_id: u32,
    pub(crate) slot: u8,
    pub(crate) pin_dir: PathBuf,
    pub(crate) mode: Mode,
    /// Why native mode was not used, when no mode was asked for and a new
    /// dispatcher went in SKB mode.
    pub(crate) fallback_reason: Option<String>,
}

/// Puts `function` of `ebpf` (loaded with `EbpfLoader::extension`, its
/// program not yet loaded) in a dispatcher on `iface`, as [`attach`] says.
/// `mode` `None`: the attached dispatcher's mode, or for a new one native
/// mode, then SKB mode if the driver refuses. Unless `make`, only a
/// dispatcher attached already is joined (decided under the lock: one seen
/// a moment before may have gone).
pub(crate) fn join(
    ebpf: &mut Ebpf,
    function: &str,
    iface: &str,
    mode: Option<Mode>,
    run: RunConfig,
    make: bool,
) -> Result<Joined, MultiprogError> {
    let ifindex = xsk::netdev::ifindex(iface).map_err(|e| failed(e.to_string()))?;
    let _lock = lock()?;
    let (old, mut members, mode) = match current(ifindex, iface)? {
        None if !make => {
            return Err(failed(format!(
                "the dispatcher on {iface} went while {function} was loaded to join it: nothing \
                 was attached; run the command again"
            )))
        }
        None => (None, Vec::new(), mode),
        Some((old, now, members)) => {
            if mode.is_some_and(|m| m != now) {
                return Err(failed(format!(
                    "{iface}'s dispatcher runs in {now:?} mode, not {:?}",
                    mode.unwrap_or(now)
                )));
            }
            (Some(old), members, Some(now))
        }
    };
    if members.len() >= SLOTS {
        return Err(failed(format!(
            "{iface}'s dispatcher has all its {SLOTS} slots in use"
        )));
    }
    members.push(Member {
        name: function.to_string(),
        id: 0,
        run,
        flags: 0,
        source: Source::Fresh { ebpf, function },
    });
    // libxdp's order: priority, then name.
    members.sort_by(|a, b| (a.run.priority, &a.name).cmp(&(b.run.priority, &b.name)));
    let v = match &old {
        Some(o) => o.version,
        None => version::for_new_dispatcher()?,
    };
    let (installed, used, fallback_reason) = match mode {
        Some(m) => (
            install(ifindex, iface, m, v, &mut members, old.as_ref())?,
            m,
            None,
        ),
        None => match install(ifindex, iface, Mode::Native, v, &mut members, old.as_ref()) {
            Ok(i) => (i, Mode::Native, None),
            Err(e @ MultiprogError::ExtensionsRefused { .. }) => return Err(e),
            Err(native) => {
                let i = install(ifindex, iface, Mode::Skb, v, &mut members, old.as_ref())
                    .map_err(|e| failed(format!("{e} (after native mode failed: {native})")))?;
                (i, Mode::Skb, Some(native.to_string()))
            }
        },
    };
    let slot = members
        .iter()
        .position(|m| matches!(m.source, Source::Fresh { .. }))
        .expect("the new component is a member");
    Ok(Joined {
        ifindex,
        dispatcher_id: installed.id,
        program_id: members[slot].id,
        slot: slot as u8,
        pin_dir: installed.dir,
        mode: used,
        fallback_reason,
    })
}

/// Removes the component of program id `program_id` from the dispatcher
/// on `iface`, leaving the others: the dispatcher is replaced by one
/// without it, or detached (and its pins removed) if it was the only one.
///
/// # Errors
///
/// Nothing or no version 2 dispatcher is attached, `program_id` is not one
/// of its components, its pins cannot be read, or a load, link, pin or
/// netlink call fails.
pub fn detach(iface: &str, program_id: u32) -> Result<Detached, MultiprogError> {
    let ifindex = xsk::netdev::ifindex(iface).map_err(|e| failed(e.to_string()))?;
    detach_index(ifindex, iface, program_id)
}

/// [`detach`] by interface index (`iface` names it in errors).
///
/// # Errors
///
/// As [`detach`].
pub fn detach_index(
    ifindex: u32,
    iface: &str,
    program_id: u32,
) -> Result<Detached, MultiprogError> {
    detach_from(ifindex, iface, program_id, false)?.ok_or_else(|| {
        failed(format!(
            "program id {program_id} is not a component of the dispatcher on {iface}"
        ))
    })
}

/// [`detach_index`]; `Ok(None)` where `program_id` is not a component (or
/// nothing is attached) and `if_present`.
fn detach_from(
    ifindex: u32,
    iface: &str,
    program_id: u32,
    if_present: bool,
) -> Result<Option<Detached>, MultiprogError> {
    let _lock = lock()?;
    let Some((old, mode, members)) = current(ifindex, iface)? else {
        if if_present {
            return Ok(None);
        }
        return Err(failed(format!("{iface} has no XDP program attached")));
    };
    let before = members.len();
    let mut members: Vec<Member> = members.into_iter().filter(|m| m.id != program_id).collect();
    if members.len() == before {
        if if_present {
            return Ok(None);
        }
        return Err(failed(format!(
            "program id {program_id} is not a component of the dispatcher on {iface} \
             (id {})",
            old.id
        )));
    }
    if members.is_empty() {
        netlink::set_xdp(
            ifindex,
            None::<&OwnedFd>,
            mode.flag() | netlink::REPLACE,
            Some(&old.fd.as_fd()),
        )
        .map_err(|e| {
            failed(format!(
                "detaching dispatcher id {} from {iface} through netlink: {e}",
                old.id
            ))
        })?;
        unpin(&old.dir, SLOTS);
        return Ok(Some(Detached::DispatcherRemoved {
            dispatcher_id: old.id,
        }));
    }
    let installed = install(ifindex, iface, mode, old.version, &mut members, Some(&old))?;
    Ok(Some(Detached::Rebuilt {
        dispatcher_id: installed.id,
        components: members.len(),
    }))
}

/// Takes component `program_id` out of whichever dispatcher runs it in the
/// calling thread's namespace, found by libxdp's pins (so by program id,
/// whatever the interface is called now; `iface`, its name when attached,
/// names it in errors); if its interface is gone, only the pins go.
/// `Ok(None)` if no dispatcher's pins hold it.
///
/// # Errors
///
/// As [`detach`].
pub fn detach_program(program_id: u32, iface: &str) -> Result<Option<Detached>, MultiprogError> {
    let Some(ifindex) = folder_of(program_id) else {
        return Ok(None);
    };
    if forget_gone_interface(ifindex, program_id)? > 0 {
        return Ok(None);
    }
    // The pins were read without the lock: another process may have taken
    // it out since (a load reverting at its deadline while `status` tidies
    // the same record), and then the folder read was the old dispatcher's.
    detach_from(ifindex, iface, program_id, true)
}

/// The interface index of the dispatcher folder whose pins hold component
/// `program_id`.
fn folder_of(program_id: u32) -> Option<u32> {
    let rd = std::fs::read_dir(crate::dispatcher::libxdp_dir()).ok()?;
    rd.flatten().find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        let ifindex: u32 = name
            .strip_prefix("dispatch-")?
            .split('-')
            .next()?
            .parse()
            .ok()?;
        (0..SLOTS)
            .any(|i| {
                aya::programs::ProgramInfo::from_pin(e.path().join(format!("prog{i}-prog")))
                    .is_ok_and(|p| p.id() == program_id)
            })
            .then_some(ifindex)
    })
}

/// Removes libxdp's pins of the dispatcher that runs component
/// `program_id` on interface index `ifindex`, if no interface of the
/// calling thread's namespace has that index any more (it was removed, or
/// its namespace went): nothing detaches those, and the pins would keep
/// the programs loaded. Only a folder holding that component goes (libxdp's
/// folder names carry no namespace, and another namespace's interface may
/// have the same index). Returns how many folders went.
///
/// # Errors
///
/// libxdp's lock cannot be taken.
pub fn forget_gone_interface(ifindex: u32, program_id: u32) -> Result<usize, MultiprogError> {
    let _lock = lock()?;
    match netlink::get_xdp(ifindex) {
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {}
        _ => return Ok(0),
    }
    let prefix = format!("dispatch-{ifindex}-");
    let mut n = 0;
    if let Ok(rd) = std::fs::read_dir(crate::dispatcher::libxdp_dir()) {
        for e in rd.flatten() {
            if !e.file_name().to_string_lossy().starts_with(&prefix) {
                continue;
            }
            let holds = (0..SLOTS).any(|i| {
                aya::programs::ProgramInfo::from_pin(e.path().join(format!("prog{i}-prog")))
                    .is_ok_and(|p| p.id() == program_id)
            });
            if holds {
                unpin(&e.path(), SLOTS);
                n += 1;
            }
        }
    }
    Ok(n)
}

/// The per-action counters of program `program_id` in its per-CPU map
/// named `map` of one `{packets, bytes}` pair per XDP action: xskit's
/// `xskit_stats`, or libxdp's `xdp_stats_map` (xdp-filter's programs keep
/// the same layout), summed over CPUs.
///
/// # Errors
///
/// The program or the map is not there (opening them by id needs
/// CAP_SYS_ADMIN), or the map is of another layout.
pub fn counters_of(program_id: u32, map: &str) -> Result<ActionCounters, MultiprogError> {
    let data = map_of(program_id, map)?
        .ok_or_else(|| failed(format!("program id {program_id} has no map named {map}")))?;
    let m = aya::maps::Map::from_map_data(data).map_err(|e| failed(e.to_string()))?;
    let array: PerCpuArray<MapData, Counter> = PerCpuArray::try_from(m)
        .map_err(|e| failed(format!("{map} of program id {program_id}: {e}")))?;
    ActionCounters::read(&array)
        .map_err(|e| failed(format!("reading {map} of program id {program_id}: {e}")))
}

/// True if program `program_id` is one of xskit's: it has xskit's counter
/// map (`xskit_stats`). False where it cannot be opened.
pub fn is_xskit_program(program_id: u32) -> bool {
    map_of(program_id, STATS_MAP).is_ok_and(|m| m.is_some())
}

/// Program `program_id`'s map named `map`, if it has one.
fn map_of(program_id: u32, map: &str) -> Result<Option<MapData>, MultiprogError> {
    let info = crate::loader::loaded_program(program_id)
        .map_err(|e| failed(format!("opening program id {program_id}: {e}")))?
        .ok_or_else(|| failed(format!("program id {program_id} is gone")))?;
    let ids = info
        .map_ids()
        .map_err(|e| failed(format!("listing the maps of program id {program_id}: {e}")))?
        .unwrap_or_default();
    Ok(ids
        .into_iter()
        .filter_map(|id| MapData::from_id(id).ok())
        .find(|d| d.info().ok().is_some_and(|i| i.name_as_str() == Some(map))))
}
