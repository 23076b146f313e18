//! Loads xskit's XDP programs, attaches them to interfaces in native or SKB
//! mode, and detaches exactly what it attached.
//!
//! Attachments are BPF links, owned by the [`Attachment`]: the kernel
//! removes them when the last file descriptor closes, so even a killed
//! process leaves no program behind. aya falls back to a netlink attachment
//! (which outlives the process) when the kernel refuses `bpf_link_create`
//! (before Linux 5.9); xskit refuses that instead, undoing the netlink
//! attachment, so what is attached never outlives its holder by accident.

pub use crate::error::LoaderError;
pub use crate::hook::{HookChoice, XdpHook};
use crate::netif::default_route_interfaces;
use crate::programs::Program;
use aya::maps::{Array, MapData, PerCpuArray, RingBuf, XskMap};
use aya::programs::links::{FdLink, LinkType};
use aya::programs::{ProgramError, Xdp, XdpMode};
use aya::Ebpf;
use std::fmt;

mod component;
mod load;
pub use crate::multiprog::RunConfig;
pub use component::InDispatcher;
pub use load::LoadOptions;
use std::os::fd::{AsFd, AsRawFd, RawFd};

pub use crate::abi::Counter;
use crate::abi::GenConfig;
pub use crate::counters::ActionCounters;
use crate::netif::interfaces;

/// One interface the program is attached to.
#[derive(Debug)]
pub struct Attachment {
    /// Interface name.
    pub iface: String,
    /// Interface index.
    pub ifindex: u32,
    /// Mode in use.
    pub mode: XdpHook,
    /// Why native mode was not used, when auto fell back to SKB.
    pub fallback_reason: Option<String>,
    /// The BPF link: closing it (dropping the attachment) detaches. `None`
    /// once pinned ([`XdpProgram::pin_attachment`]), or for a component.
    link: Option<FdLink>,
    /// Where the program runs as a component of a dispatcher, if it does.
    pub(crate) component: Option<InDispatcher>,
}

impl Attachment {
    /// The kernel's record of the link: (link id, link type). xskit only
    /// makes links of type XDP; a netlink attachment has no link at all.
    pub fn link_info(&self) -> Option<(u32, Option<LinkType>)> {
        let info = self.link.as_ref()?.info().ok()?;
        Some((info.id(), info.link_type().ok()))
    }

    /// The dispatcher the program runs in, if it was attached as a
    /// component ([`XdpProgram::load_component`]).
    pub fn in_dispatcher(&self) -> Option<&InDispatcher> {
        self.component.as_ref()
    }
}

pub(crate) const XSKMAP: &str = "xsks_map";

/// "`program` has no map `name`" as a [`LoaderError`].
pub(crate) fn missing_map(program: &str, name: &str, what: &str) -> LoaderError {
    LoaderError::Map {
        what: format!("{program} has no {what}"),
        source: aya::maps::MapError::InvalidName { name: name.into() },
    }
}

/// Wraps an aya map error with what was being done.
pub(crate) fn map_err(what: &'static str) -> impl Fn(aya::maps::MapError) -> LoaderError {
    move |source| LoaderError::Map {
        what: what.into(),
        source,
    }
}
pub(crate) const STATS: &str = "xskit_stats";
const GUARD: &str = "xskit_guard";

/// A loaded XDP program, one of ours or the caller's own, and the
/// interfaces it is attached to.
pub struct XdpProgram {
    pub(crate) ebpf: Ebpf,
    /// The program's function name in its object.
    pub(crate) function: String,
    /// Which of the built-in programs it is, if it is one.
    pub(crate) builtin: Option<Program>,
    /// The name of its XSKMAP, if it has one.
    pub(crate) xskmap: Option<String>,
    pub(crate) attachments: Vec<Attachment>,
    /// Its run configuration if it was loaded as a component of a
    /// dispatcher ([`XdpProgram::load_component`]).
    pub(crate) component: Option<RunConfig>,
    /// A component joins only a dispatcher attached already, never makes
    /// one ([`XdpProgram::set_join_only`]).
    pub(crate) join_only: bool,
    /// False if loaded without its counters ([`LoadOptions::uncounted`]).
    pub(crate) counted: bool,
}

impl fmt::Debug for XdpProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XdpProgram")
            .field("function", &self.function)
            .field("attachments", &self.attachments)
            .finish()
    }
}

pub(crate) fn errno(e: &ProgramError) -> Option<i32> {
    match e {
        ProgramError::SyscallError(s) => s.io_error.raw_os_error(),
        _ => None,
    }
}

/// The kernel's reason, in words, with what to do about it.
fn explain(e: &ProgramError, iface: &str, frags_aware: bool) -> String {
    let base = e.to_string();
    match errno(e) {
        Some(libc::ERANGE) if frags_aware => format!(
            "{base} (the MTU of {iface} is too large for native XDP on this driver: lower it, e.g. `ip link set dev {iface} mtu 1500`)"
        ),
        Some(libc::ERANGE) => format!(
            "{base} (the MTU of {iface} is too large for a program that is not frags-aware in native mode: lower it, e.g. `ip link set dev {iface} mtu 1500`, or load the frags-aware variant with multi-buffer sockets, Linux 6.6+)"
        ),
        Some(libc::EOPNOTSUPP) => format!("{base} (the driver of {iface} has no native XDP support)"),
        Some(libc::EBUSY) | Some(libc::EEXIST) => format!(
            "{base} (another XDP program is attached to {iface}, perhaps by another tool or in the other mode; `ip link show dev {iface}` names it)"
        ),
        Some(libc::EPERM) => format!("{base} (attaching XDP programs needs CAP_NET_ADMIN and CAP_BPF: run as root)"),
        _ => base,
    }
}

/// BPF helpers xskit's programs call that older kernels lack: number (as
/// the verifier names an unknown one), name, first Linux version.
const NEWER_HELPERS: [(u32, &str, &str); 5] = [
    (130, "bpf_ringbuf_output", "5.8"),
    (131, "bpf_ringbuf_reserve", "5.8"),
    (132, "bpf_ringbuf_submit", "5.8"),
    (188, "bpf_xdp_get_buff_len", "5.18"),
    (189, "bpf_xdp_load_bytes", "5.18"),
];

/// "this kernel lacks the BPF helper ..." where the verifier refused `e`
/// for a helper this kernel does not have ("invalid func unknown#N").
pub(crate) fn missing_helper(e: &ProgramError) -> Option<String> {
    let ProgramError::LoadError { verifier_log, .. } = e else {
        return None;
    };
    let log = verifier_log.to_string();
    let id = log
        .split("invalid func unknown#")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse::<u32>().ok())?;
    Some(match NEWER_HELPERS.iter().find(|h| h.0 == id) {
        Some((_, name, linux)) => {
            format!("this kernel lacks the BPF helper {name} (Linux {linux} and later)")
        }
        None => format!("this kernel lacks BPF helper #{id}: it is older than this program needs"),
    })
}

/// A program load error in one line where the kernel is too old for the
/// program (the verifier's "invalid func unknown#N" for a helper it does
/// not have, or a frags-aware program refused before verification); the
/// error with its verifier log otherwise.
fn kernel_too_old(frags_aware: bool, e: ProgramError) -> anyhow::Error {
    if let Some(why) = missing_helper(&e) {
        return anyhow::anyhow!(why);
    }
    if let ProgramError::LoadError {
        io_error,
        verifier_log,
    } = &e
    {
        let log = verifier_log.to_string();
        if frags_aware && io_error.raw_os_error() == Some(libc::EINVAL) && log.trim().is_empty() {
            return anyhow::anyhow!(
                "this kernel refuses frags-aware XDP programs (BPF_F_XDP_HAS_FRAGS, Linux 5.18; \
                 multi-buffer AF_XDP needs 6.6): run without multi-buffer"
            );
        }
    }
    e.into()
}

impl XdpProgram {
    /// The kernel's record of the loaded program (its id as `bpftool prog`
    /// lists it, its size after verification, ...); `None` for a
    /// component, whose program is loaded only when it is attached.
    pub fn program_info(&self) -> Option<aya::programs::ProgramInfo> {
        self.ebpf.program(&self.function)?.info().ok()
    }

    /// False if it was loaded without its per-action counters
    /// ([`LoadOptions::uncounted`]).
    pub fn is_counted(&self) -> bool {
        self.counted
    }

    /// Which built-in program this is; `None` for the caller's own
    /// ([`XdpProgram::from_ebpf`]).
    pub fn builtin(&self) -> Option<Program> {
        self.builtin
    }

    /// The program's function name in its object (`xdp_redirect`, ...).
    pub fn name(&self) -> &str {
        &self.function
    }

    /// True if the program takes multi-buffer frames (`xdp.frags`); the
    /// caller's own programs are taken not to be.
    pub fn is_frags_aware(&self) -> bool {
        self.builtin.is_some_and(Program::is_frags_aware)
    }

    /// True if sockets can be registered in it (it has an XSKMAP).
    pub fn has_xskmap(&self) -> bool {
        self.xskmap.is_some()
    }

    /// Where it is attached.
    pub fn attachments(&self) -> &[Attachment] {
        &self.attachments
    }

    fn xdp(&mut self) -> &mut Xdp {
        self.ebpf
            .program_mut(&self.function)
            .expect("checked at load")
            .try_into()
            .expect("checked at load")
    }

    /// What [`attach`](Self::attach) checks before it touches `iface`: that
    /// it exists (returns its index), and that a program taking all traffic
    /// is not put on the default-route interface without `force`. For
    /// callers that set up sockets on the interface before attaching.
    ///
    /// # Errors
    /// [`LoaderError::NoSuchInterface`], [`LoaderError::DefaultRoute`].
    pub fn check_attach(&self, iface: &str, force: bool) -> Result<u32, LoaderError> {
        let ifindex = xsk::netdev::ifindex(iface)
            .map_err(|_| LoaderError::NoSuchInterface(iface.to_string()))?;
        // The caller's own program may take anything: treated as if it
        // took all traffic.
        if self.builtin.is_none_or(Program::takes_all_traffic)
            && !force
            && default_route_interfaces().iter().any(|d| d == iface)
        {
            return Err(LoaderError::DefaultRoute {
                program: self.function.clone(),
                iface: iface.to_string(),
            });
        }
        Ok(ifindex)
    }

    /// Attaches to `iface`. With [`HookChoice::Auto`] native mode is tried
    /// first and SKB mode used if the driver refuses, the reason kept in
    /// [`Attachment::fallback_reason`]. Programs that take all traffic are
    /// refused on the default-route interface unless `force`.
    pub fn attach(
        &mut self,
        iface: &str,
        mode: HookChoice,
        force: bool,
    ) -> Result<&Attachment, LoaderError> {
        let ifindex = self.check_attach(iface, force)?;
        if let Some(run) = self.component {
            let make = !self.join_only;
            return self.attach_component(iface, mode, run, make);
        }
        let (program, frags_aware) = (self.function.clone(), self.is_frags_aware());
        let attach_err = |mode: &'static str, e: &ProgramError| LoaderError::Attach {
            program: program.clone(),
            iface: iface.to_string(),
            mode,
            reason: explain(e, iface, frags_aware),
            errno: errno(e),
        };
        let (link, used, fallback_reason) = match mode {
            HookChoice::Native => {
                let l = self
                    .xdp()
                    .attach_to_if_index(ifindex, XdpMode::Driver)
                    .map_err(|e| attach_err("native", &e))?;
                (l, XdpHook::Native, None)
            }
            HookChoice::Skb => {
                let l = self
                    .xdp()
                    .attach_to_if_index(ifindex, XdpMode::Skb)
                    .map_err(|e| attach_err("skb", &e))?;
                (l, XdpHook::Skb, None)
            }
            HookChoice::Auto => match self.xdp().attach_to_if_index(ifindex, XdpMode::Driver) {
                Ok(l) => (l, XdpHook::Native, None),
                // Someone else's program is there: SKB mode would not help.
                Err(e) if matches!(errno(&e), Some(libc::EBUSY | libc::EEXIST | libc::EPERM)) => {
                    return Err(attach_err("native", &e));
                }
                Err(native) => {
                    let why = explain(&native, iface, frags_aware);
                    let l = self
                        .xdp()
                        .attach_to_if_index(ifindex, XdpMode::Skb)
                        .map_err(|e| attach_err("skb (after native failed)", &e))?;
                    (l, XdpHook::Skb, Some(why))
                }
            },
        };
        let link = self.own_link(link, iface, used)?;
        self.attachments.push(Attachment {
            iface: iface.to_string(),
            ifindex,
            mode: used,
            fallback_reason,
            link: Some(link),
            component: None,
        });
        Ok(self.attachments.last().expect("just pushed"))
    }

    /// Takes the link out of aya's keeping and checks it is a BPF link. If
    /// aya fell back to netlink (a kernel without BPF links for XDP), the
    /// attachment is undone and refused: it would outlive this process.
    fn own_link(
        &mut self,
        id: aya::programs::xdp::XdpLinkId,
        iface: &str,
        used: XdpHook,
    ) -> Result<FdLink, LoaderError> {
        let program = self.function.clone();
        let err = |reason: String| LoaderError::Attach {
            program: program.clone(),
            iface: iface.to_string(),
            mode: if used == XdpHook::Native {
                "native"
            } else {
                "skb"
            },
            reason,
            errno: None,
        };
        let link = self
            .xdp()
            .take_link(id)
            .map_err(|e| err(format!("taking the link: {e}")))?;
        match FdLink::try_from(link) {
            Ok(l) => Ok(l),
            Err(_) => {
                let off = if used == XdpHook::Native {
                    "xdpdrv"
                } else {
                    "xdpgeneric"
                };
                let undone = ip_link_off(iface, off);
                Err(err(format!(
                    "the kernel made a netlink attachment, not a BPF link (Linux before 5.9 has no XDP links), \
                     which would outlive this process; {}",
                    match undone {
                        Ok(()) => "it was detached again".to_string(),
                        Err(e) => format!("detaching it again failed: {e}"),
                    }
                )))
            }
        }
    }

    /// Attaches to every interface of this network namespace but loopback.
    /// Returns one result per interface; a failure on one does not stop the rest.
    pub fn attach_all(
        &mut self,
        mode: HookChoice,
        force: bool,
    ) -> Vec<(String, Result<XdpHook, LoaderError>)> {
        let mut out = Vec::new();
        for iface in interfaces() {
            if iface == "lo" {
                continue;
            }
            let r = self.attach(&iface, mode, force).map(|a| a.mode);
            out.push((iface, r));
        }
        out
    }

    /// Detaches from `iface` what this program attached there (nothing else).
    pub fn detach(&mut self, iface: &str) -> Result<(), LoaderError> {
        let pos = self
            .attachments
            .iter()
            .position(|a| a.iface == iface)
            .ok_or_else(|| LoaderError::NotAttached(iface.to_string()))?;
        // Closing the link's descriptor detaches.
        drop(self.attachments.remove(pos));
        Ok(())
    }

    /// Detaches everything this program attached.
    pub fn detach_all(&mut self) {
        self.attachments.clear();
    }

    /// Arms the dead man's switch (bpf/guard.h): past `deadline_ns`
    /// (CLOCK_MONOTONIC, as `bpf_ktime_get_ns`) the program passes every
    /// frame unless the deadline was cleared first. Call before attaching.
    pub fn arm_guard(&mut self, deadline_ns: u64) -> Result<(), LoaderError> {
        let map = self
            .ebpf
            .map_mut(GUARD)
            .ok_or_else(|| missing_map(&self.function, GUARD, "confirmation guard"))?;
        let mut arr: Array<&mut MapData, u64> =
            Array::try_from(map).map_err(map_err("opening the guard"))?;
        arr.set(0, deadline_ns, 0)
            .map_err(map_err("writing the guard's deadline"))
    }

    fn xskmap(&mut self) -> Result<XskMap<&mut MapData>, LoaderError> {
        // Only the map the program was given with: a caller's own program
        // without one has none to register in.
        let name = self.xskmap.as_deref().unwrap_or(XSKMAP);
        if self.xskmap.is_none() && self.builtin.is_none() {
            return Err(missing_map(
                &self.function,
                name,
                "socket map (none was named)",
            ));
        }
        let map = self
            .ebpf
            .map_mut(name)
            .ok_or_else(|| missing_map(&self.function, name, "socket map"))?;
        XskMap::try_from(map).map_err(map_err("opening the socket map"))
    }

    /// Number of queue slots in the socket map.
    pub fn xskmap_len(&mut self) -> Result<u32, LoaderError> {
        Ok(self.xskmap()?.len())
    }

    /// Sends frames of rx `queue` to `socket`.
    pub fn register(&mut self, queue: u32, socket: &impl AsRawFd) -> Result<(), LoaderError> {
        let mut map = self.xskmap()?;
        let len = map.len();
        map.set(queue, socket.as_raw_fd(), 0)
            .map_err(|source| LoaderError::Map {
                what: format!("registering the socket for queue {queue} (map has {len} slots)"),
                source,
            })
    }

    /// Stops sending frames of rx `queue` to a socket (they are passed again).
    pub fn unregister(&mut self, queue: u32) -> Result<(), LoaderError> {
        self.xskmap()?
            .unset(queue)
            .map_err(|source| LoaderError::Map {
                what: format!("unregistering queue {queue}"),
                source,
            })
    }

    /// Makes the attachment on `iface` outlive this process: pins its BPF
    /// link at `dir/link`, the program's counter map at `dir/stats` and its
    /// guard (if it has one) at `dir/guard`. The program then stays
    /// attached until the link pin is removed. A component of a dispatcher
    /// stays anyway (its link is pinned in libxdp's folder): its program is
    /// pinned at `dir/prog`, and it stays until taken out of the dispatcher
    /// ([`crate::multiprog::detach`]).
    pub fn pin_attachment(&mut self, iface: &str, dir: &std::path::Path) -> anyhow::Result<u32> {
        let (link_path, stats_path) = (dir.join("link"), dir.join("stats"));
        let pos = self
            .attachments
            .iter()
            .position(|a| a.iface == iface)
            .ok_or_else(|| LoaderError::NotAttached(iface.to_string()))?;
        if let Some(stats) = self.ebpf.map(STATS) {
            stats.pin(&stats_path).map_err(|e| {
                anyhow::anyhow!("pinning the counters at {}: {e}", stats_path.display())
            })?;
        }
        if let Some(g) = self.ebpf.map(GUARD) {
            let p = dir.join("guard");
            g.pin(&p)
                .map_err(|e| anyhow::anyhow!("pinning the guard at {}: {e}", p.display()))?;
        }
        let mut a = self.attachments.remove(pos);
        if let Some(c) = a.component.as_mut() {
            // Its link is pinned by libxdp's protocol already; the program
            // is pinned here too, to tell which component is ours.
            let p = dir.join("prog");
            self.ebpf
                .program_mut(&self.function)
                .ok_or_else(|| anyhow::anyhow!("{} is gone from its object", self.function))?
                .pin(&p)
                .map_err(|e| anyhow::anyhow!("pinning the program at {}: {e}", p.display()))?;
            c.kept = true;
            return Ok(c.program_id);
        }
        let fd_link = a
            .link
            .take()
            .expect("an attachment holds its link until pinned");
        let prog_id = fd_link.info().map(|i| i.program_id()).unwrap_or(0);
        fd_link
            .pin(&link_path)
            .map_err(|e| anyhow::anyhow!("pinning the link at {}: {e}", link_path.display()))?;
        Ok(prog_id)
    }

    /// The loaded program's file descriptor (for BPF_PROG_RUN).
    pub fn program_fd(&mut self) -> Result<RawFd, LoaderError> {
        let program = self.function.clone();
        if self.component.is_some() {
            return Err(LoaderError::Load {
                program,
                source: anyhow::anyhow!("a component's program is loaded only once it is attached"),
            });
        }
        let fd = self.xdp().fd().map_err(|e| LoaderError::Load {
            program,
            source: e.into(),
        })?;
        Ok(fd.as_fd().as_raw_fd())
    }

    /// Sets the generator's source-port rotation ([`Program::Gen`]).
    pub fn configure_gen(&mut self, base_port: u16, flows: u16) -> Result<(), LoaderError> {
        let map = self
            .ebpf
            .map_mut("gen_config")
            .ok_or_else(|| missing_map(&self.function, "gen_config", "generator config"))?;
        let mut arr: Array<&mut MapData, GenConfig> =
            Array::try_from(map).map_err(map_err("opening the generator config"))?;
        arr.set(0, GenConfig { base_port, flows }, 0)
            .map_err(map_err("writing the generator config"))
    }

    /// Takes the capture ring buffer of [`Program::Capture`] (once).
    pub fn take_capture_ring(&mut self) -> Result<RingBuf<MapData>, LoaderError> {
        let map = self.ebpf.take_map("capture_ring").ok_or_else(|| {
            missing_map(
                &self.function,
                "capture_ring",
                "capture ring (or it was taken)",
            )
        })?;
        RingBuf::try_from(map).map_err(map_err("opening the capture ring"))
    }

    /// Frames [`Program::Capture`] could not copy because its ring was full.
    pub fn capture_lost(&self) -> Result<u64, LoaderError> {
        let Some(map) = self.ebpf.map("capture_lost") else {
            return Ok(0);
        };
        let arr: PerCpuArray<&MapData, u64> =
            PerCpuArray::try_from(map).map_err(map_err("opening the capture loss counter"))?;
        let per_cpu = arr
            .get(&0, 0)
            .map_err(map_err("reading the capture loss counter"))?;
        Ok(per_cpu.iter().sum())
    }

    /// Reads the per-action counters, summed over CPUs (every built-in
    /// program keeps them; the caller's own has them if it has a map of
    /// that name and layout, `xskit_stats`).
    ///
    /// # Errors
    ///
    /// [`LoaderError::Map`] if the program has no counter map, or was
    /// loaded without counting ([`LoadOptions::uncounted`]): its zeros
    /// would say no frame came.
    pub fn counters(&self) -> Result<ActionCounters, LoaderError> {
        if !self.counted {
            return Err(LoaderError::Map {
                what: format!(
                    "{} was loaded without counters (LoadOptions::uncounted)",
                    self.function
                ),
                source: aya::maps::MapError::InvalidName { name: STATS.into() },
            });
        }
        let map = self
            .ebpf
            .map(STATS)
            .ok_or_else(|| missing_map(&self.function, STATS, "counter map"))?;
        let arr: PerCpuArray<&MapData, Counter> =
            PerCpuArray::try_from(map).map_err(map_err("opening the counter map"))?;
        ActionCounters::read(&arr).map_err(map_err("reading counters"))
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        self.detach_all();
    }
}

/// `ip link set dev IFACE xdpdrv|xdpgeneric off`: undoes a netlink
/// attachment (rare: only kernels before 5.9 make one), by iproute2
/// rather than a netlink client of our own for this one fallback.
fn ip_link_off(iface: &str, hook: &str) -> Result<(), String> {
    let out = std::process::Command::new("ip")
        .args(["link", "set", "dev", iface, hook, "off"])
        .output()
        .map_err(|e| format!("cannot run `ip` (install iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

/// The loaded program of id `prog_id`, read from the kernel's list:
/// `Ok(None)` where it is not there (detached and freed meanwhile), the
/// first error met while listing where it was not found (opening programs
/// by id needs CAP_SYS_ADMIN).
pub(crate) fn loaded_program(
    prog_id: u32,
) -> Result<Option<aya::programs::ProgramInfo>, aya::programs::ProgramError> {
    let mut failed = None;
    let found = aya::programs::loaded_programs().find_map(|p| match p {
        Ok(p) => (p.id() == prog_id).then_some(p),
        Err(e) => {
            failed.get_or_insert(e);
            None
        }
    });
    match (found, failed) {
        (Some(p), _) => Ok(Some(p)),
        (None, Some(e)) => Err(e),
        (None, None) => Ok(None),
    }
}
