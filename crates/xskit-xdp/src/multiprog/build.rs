//! Building, linking, pinning and attaching a dispatcher, and reading the
//! one attached, for [`super::attach`] and [`super::detach`].

use super::netlink;
use super::{failed, short, Mode, MultiprogError, RunConfig, CONFIG_SYMBOL, OBJECT, OBJECT_V3};
use crate::dispatcher::{self, DispatcherConfig, OWN_RETVAL_BIT, SLOTS};
use aya::programs::links::FdLink;
use aya::programs::{Extension, ProgramError, ProgramFd, Xdp};
use aya::{Ebpf, EbpfLoader};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// libxdp's lock: `flock(LOCK_EX)` on its pin folder, made if missing.
pub(super) struct Lock(#[allow(dead_code)] OwnedFd);

pub(super) fn lock() -> Result<Lock, MultiprogError> {
    use rustix::fs::{flock, mkdir, open, FlockOperation, Mode as FsMode, OFlags};
    let dir = dispatcher::libxdp_dir();
    match mkdir(&dir, FsMode::RWXU) {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => {
            return Err(failed(format!(
                "cannot make libxdp's pin folder {}: {e} (is bpffs mounted?)",
                dir.display()
            )))
        }
    }
    let fd = open(
        &dir,
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        FsMode::empty(),
    )
    .map_err(|e| failed(format!("opening {}: {e}", dir.display())))?;
    flock(&fd, FlockOperation::LockExclusive)
        .map_err(|e| failed(format!("locking {}: {e}", dir.display())))?;
    Ok(Lock(fd))
}

/// Where a component's program comes from.
pub(super) enum Source<'a> {
    /// The one being added: its object, loaded as an extension program
    /// against the first dispatcher it goes in (and linked to a later one,
    /// if that attachment failed and another mode is tried).
    Fresh {
        ebpf: &'a mut Ebpf,
        function: &'a str,
    },
    /// A component of the old dispatcher, from its pinned program.
    Pinned(Box<Extension>),
}

pub(super) struct Member<'a> {
    pub(super) name: String,
    pub(super) id: u32,
    pub(super) run: RunConfig,
    pub(super) flags: u32,
    pub(super) source: Source<'a>,
}

/// The dispatcher being replaced.
pub(super) struct Old {
    pub(super) fd: ProgramFd,
    pub(super) id: u32,
    pub(super) dir: PathBuf,
    /// Its configuration's version, which the new one keeps.
    pub(super) version: u8,
}

/// The new dispatcher, attached.
pub(super) struct Installed {
    pub(super) id: u32,
    pub(super) dir: PathBuf,
}

pub(super) fn pin_dir(ifindex: u32, dispatcher_id: u32) -> PathBuf {
    dispatcher::libxdp_dir().join(format!("dispatch-{ifindex}-{dispatcher_id}"))
}

/// The configuration, in `version`'s layout (2 or 3), of a dispatcher
/// running components of these run configurations and program flags, in
/// this order.
pub(super) fn config_of(members: &[(RunConfig, u32)], version: u8) -> DispatcherConfig {
    let mut c = DispatcherConfig {
        version,
        num_progs_enabled: members.len() as u8,
        is_xdp_frags: false,
        // Never bound to a device: xskit's components are not.
        is_xdp_devbound: (version >= 3).then_some(false),
        chain_call_actions: [0; SLOTS],
        run_prios: [0; SLOTS],
        program_flags: [0; SLOTS],
    };
    for (i, (run, flags)) in members.iter().enumerate() {
        // The dispatcher's own bit: an empty slot never ends the chain.
        c.chain_call_actions[i] = run.chain_actions | OWN_RETVAL_BIT;
        c.run_prios[i] = run.priority;
        c.program_flags[i] = *flags;
    }
    c
}

/// Loads a dispatcher with `config`; its program (kept alive by the
/// returned object) and descriptor.
pub(super) fn load_dispatcher(
    config: &DispatcherConfig,
) -> Result<(Ebpf, ProgramFd, u32), MultiprogError> {
    let bytes = config.to_bytes();
    let object = if config.version == 3 {
        OBJECT_V3
    } else {
        OBJECT
    };
    let mut ebpf = EbpfLoader::new()
        .override_global(CONFIG_SYMBOL, bytes.as_slice(), true)
        .load(object)
        .map_err(|e| failed(format!("loading xskit's dispatcher: {e}")))?;
    let xdp: &mut Xdp = ebpf
        .program_mut(dispatcher::PROGRAM_NAME)
        .ok_or_else(|| failed("xskit's dispatcher object has no xdp_dispatcher"))?
        .try_into()
        .map_err(|e: ProgramError| failed(e.to_string()))?;
    xdp.load()
        .map_err(|e| failed(format!("loading xskit's dispatcher: {}", short(&e))))?;
    let fd = xdp
        .fd()
        .and_then(|f| f.try_clone().map_err(ProgramError::from))
        .map_err(|e| failed(e.to_string()))?;
    let id = xdp.info().map_err(|e| failed(e.to_string()))?.id();
    Ok((ebpf, fd, id))
}

/// What a refused load of member `name` as an extension program in place
/// of `target` says: extensions refused by the kernel (their own error,
/// which `--multiprog` and `doctor` explain), a BPF helper the kernel
/// lacks (named, with its first kernel), or the kernel's error.
fn ext_load_error(e: &ProgramError, name: &str, iface: &str, target: &str) -> MultiprogError {
    if matches!(
        crate::ext_probe::errno(e),
        Some(libc::EPERM) | Some(libc::EOPNOTSUPP)
    ) {
        return MultiprogError::ExtensionsRefused {
            program: name.to_string(),
            iface: iface.to_string(),
            error: short(e),
        };
    }
    match crate::loader::missing_helper(e) {
        Some(why) => failed(format!(
            "cannot attach {name} to {iface} in a dispatcher: {why}"
        )),
        None => failed(format!(
            "cannot attach {name} to {iface} in a dispatcher: loading it as an extension \
             program (BPF_PROG_TYPE_EXT) in place of {target}: {}",
            short(e)
        )),
    }
}

/// Removes what [`install`] pinned in `dir` for `slots` slots, and `dir`.
pub(super) fn unpin(dir: &Path, slots: usize) {
    for i in 0..slots {
        let _ = std::fs::remove_file(dir.join(format!("prog{i}-link")));
        let _ = std::fs::remove_file(dir.join(format!("prog{i}-prog")));
    }
    let _ = std::fs::remove_dir(dir);
}

/// Builds a dispatcher running `members` (in this order), links and pins
/// them, and attaches it to `ifindex` in `mode`, in place of `old` if
/// given; then removes `old`'s pins.
pub(super) fn install(
    ifindex: u32,
    iface: &str,
    mode: Mode,
    version: u8,
    members: &mut [Member<'_>],
    old: Option<&Old>,
) -> Result<Installed, MultiprogError> {
    let runs: Vec<(RunConfig, u32)> = members.iter().map(|m| (m.run, m.flags)).collect();
    let (_disp, disp_fd, id) = load_dispatcher(&config_of(&runs, version))?;
    let dir = pin_dir(ifindex, id);
    let mut links = Vec::with_capacity(members.len());
    for (slot, m) in members.iter_mut().enumerate() {
        let target = format!("prog{slot}");
        let (ext, link) = match &mut m.source {
            Source::Fresh { ebpf, function } => {
                let ext: &mut Extension = ebpf
                    .program_mut(function)
                    .ok_or_else(|| failed(format!("{function} missing from its object")))?
                    .try_into()
                    .map_err(|e: ProgramError| failed(e.to_string()))?;
                if ext.fd().is_ok() {
                    // Loaded against a dispatcher that did not attach.
                    let link = ext.attach_to_program(&disp_fd, &target);
                    (ext, link)
                } else {
                    let target_fd = disp_fd
                        .try_clone()
                        .map_err(|e| failed(format!("duplicating a descriptor: {e}")))?;
                    ext.load(target_fd, &target)
                        .map_err(|e| ext_load_error(&e, &m.name, iface, &target))?;
                    m.id = ext.info().map_err(|e| failed(e.to_string()))?.id();
                    let link = ext.attach();
                    (ext, link)
                }
            }
            Source::Pinned(ext) => {
                let link = ext.attach_to_program(&disp_fd, &target);
                (&mut **ext, link)
            }
        };
        let link = link.and_then(|l| ext.take_link(l)).map_err(|e| {
            failed(format!(
                "linking {} (program id {}) in place of {target}: {}",
                m.name,
                m.id,
                short(&e)
            ))
        })?;
        links.push((FdLink::from(link), slot));
    }
    std::fs::create_dir(&dir)
        .map_err(|e| failed(format!("making the pin folder {}: {e}", dir.display())))?;
    let pinned = (|| -> Result<(), MultiprogError> {
        for ((link, slot), m) in links.into_iter().zip(members.iter_mut()) {
            let at = dir.join(format!("prog{slot}-link"));
            link.pin(&at)
                .map_err(|e| failed(format!("pinning {}: {e}", at.display())))?;
            let at = dir.join(format!("prog{slot}-prog"));
            let ext: &mut Extension = match &mut m.source {
                Source::Fresh { ebpf, function } => {
                    let p = ebpf
                        .program_mut(function)
                        .ok_or_else(|| failed(format!("{function} is gone")))?;
                    p.try_into()
                        .map_err(|e: ProgramError| failed(e.to_string()))?
                }
                Source::Pinned(ext) => ext,
            };
            ext.pin(&at)
                .map_err(|e| failed(format!("pinning {}: {e}", at.display())))?;
        }
        let flags = mode.flag()
            | if old.is_some() {
                netlink::REPLACE
            } else {
                netlink::UPDATE_IF_NOEXIST
            };
        netlink::set_xdp(ifindex, Some(&disp_fd), flags, old.map(|o| &o.fd)).map_err(|e| {
            let what = match old {
                Some(o) => format!("in place of dispatcher id {}", o.id),
                None => "(XDP_FLAGS_UPDATE_IF_NOEXIST)".to_string(),
            };
            failed(format!(
                "attaching the dispatcher to {iface} {what} through netlink: {e}"
            ))
        })
    })();
    if let Err(e) = pinned {
        unpin(&dir, members.len());
        return Err(e);
    }
    if let Some(o) = old {
        unpin(&o.dir, SLOTS);
    }
    Ok(Installed { id, dir })
}

/// The dispatcher attached to `ifindex` and its components, from its
/// configuration and libxdp's pins; `Ok(None)` if nothing is attached.
pub(super) fn current(
    ifindex: u32,
    iface: &str,
) -> Result<Option<(Old, Mode, Vec<Member<'static>>)>, MultiprogError> {
    let now = netlink::get_xdp(ifindex)
        .map_err(|e| failed(format!("asking the kernel what {iface} runs: {e}")))?;
    if now.prog_id == 0 {
        return Ok(None);
    }
    let mode = match now.mode {
        1 => Mode::Native,
        2 => Mode::Skb,
        m => {
            return Err(failed(format!(
                "{iface} has XDP programs attached in mode {m} (offloaded or several), \
                 where no dispatcher can go"
            )))
        }
    };
    let d = dispatcher::inspect(now.prog_id, ifindex)
        .map_err(|e| failed(format!("{iface}: {e}")))?
        .ok_or_else(|| {
            failed(format!(
                "{iface} has XDP program id {} attached, which is no dispatcher: remove it first",
                now.prog_id
            ))
        })?;
    let config = match &d.config {
        Ok(c) if c.is_xdp_devbound == Some(true) => {
            return Err(failed(format!(
                "{iface} has {d}, bound to the device (for programs that read its RX \
                 metadata): xskit's programs are not device-bound and cannot join it"
            )))
        }
        Ok(c) => c.clone(),
        Err(_) => return Err(failed(format!("{iface} has {d}"))),
    };
    let mut members = Vec::new();
    for slot in 0..usize::from(config.num_progs_enabled) {
        let at = d.pin_dir.join(format!("prog{slot}-prog"));
        let ext = Extension::from_pin(&at).map_err(|e| {
            failed(format!(
                "{iface} has {d}, but its component pin {} cannot be opened: {}",
                at.display(),
                short(&e)
            ))
        })?;
        let info = ext.info().map_err(|e| failed(e.to_string()))?;
        members.push(Member {
            name: info.name_as_str().unwrap_or("?").to_string(),
            id: info.id(),
            run: RunConfig {
                priority: config.run_prios[slot],
                chain_actions: config.chain_call_actions[slot] & !OWN_RETVAL_BIT,
            },
            flags: config.program_flags[slot],
            source: Source::Pinned(Box::new(ext)),
        });
    }
    let fd = crate::loader::loaded_program(d.id)
        .ok()
        .flatten()
        .and_then(|i| i.fd().ok())
        .ok_or_else(|| failed(format!("{iface}: dispatcher id {} is gone", d.id)))?;
    let old = Old {
        fd,
        id: d.id,
        dir: d.pin_dir,
        version: config.version,
    };
    Ok(Some((old, mode, members)))
}
