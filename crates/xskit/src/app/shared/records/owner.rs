//! Who attached the XDP program on an interface: `xskit load` (pinned), a
//! running xskit command (`dump`'s xdp_capture, `echo`, a benchmark),
//! another process, or nothing that holds it (netlink, or a link another
//! tool pinned). Errors and `unload` name the owner and what to do,
//! instead of guessing.

use super::state;
use crate::net::netns;
use anyhow::Result;

/// The owner of an attached program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// `xskit load` pinned it in this namespace (its record names this id).
    Load,
    /// A running xskit command holds its link: pid and command line.
    Xskit(u32, String),
    /// Other processes hold its link: `pid N (comm)` each.
    Process(Vec<String>),
    /// No process holds a link to it: attached through netlink, or a link
    /// pinned in bpffs by another tool.
    Unheld,
}

/// The program attached to an interface and its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attached {
    /// The interface.
    pub iface: String,
    /// Program name (the kernel keeps 15 bytes).
    pub program: String,
    /// Program id.
    pub id: u32,
    /// `native`, `skb`, ...
    pub mode: &'static str,
    /// Who attached it.
    pub owner: Owner,
    /// The libxdp dispatcher it is, if it is one.
    pub dispatcher: Option<crate::xdp::dispatcher::Dispatcher>,
}

/// The libxdp dispatcher that program `id` on `iface` is, if it is one
/// that can be read (a program that cannot be opened, without
/// CAP_SYS_ADMIN, is taken for no dispatcher, as before).
pub fn dispatcher_of(
    iface: &str,
    program: &str,
    id: u32,
) -> Option<crate::xdp::dispatcher::Dispatcher> {
    if program != crate::xdp::dispatcher::PROGRAM_NAME {
        return None;
    }
    let ifindex = xsk::netdev::ifindex(iface).ok()?;
    crate::xdp::dispatcher::inspect(id, ifindex).ok().flatten()
}

/// `xskit dump -i eth1` from a process's command line (argv[0] by its
/// file name), at most 80 characters.
fn command_line(pid: u32) -> String {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut words: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    if let Some(first) = words.first_mut() {
        if let Some(name) = std::path::Path::new(first.as_str()).file_name() {
            *first = name.to_string_lossy().into_owned();
        }
    }
    let mut line = words.join(" ");
    if line.chars().count() > 80 {
        line = line.chars().take(77).collect::<String>() + "...";
    }
    line
}

/// What is attached to `iface` in this namespace, and who attached it.
pub fn attached(iface: &str) -> Result<Option<Attached>> {
    let Some((program, id, mode)) = netns::xdp_attachment(iface)? else {
        return Ok(None);
    };
    let owner =
        if state::load_meta(iface)?.is_some_and(|m| m.prog_id == id && m.reverted_at.is_none()) {
            Owner::Load
        } else {
            let ifindex = xsk::netdev::ifindex(iface).unwrap_or(0);
            let holders = super::process::link_holder_pids(id, ifindex);
            match holders.iter().find(|(_, comm)| comm == "xskit") {
                Some((pid, _)) => Owner::Xskit(*pid, command_line(*pid)),
                None if holders.is_empty() => Owner::Unheld,
                None => Owner::Process(described(&holders)),
            }
        };
    let dispatcher = dispatcher_of(iface, &program, id);
    Ok(Some(Attached {
        iface: iface.to_string(),
        program,
        id,
        mode,
        owner,
        dispatcher,
    }))
}

impl Attached {
    /// The program and its owner in words: `xdp_capture (program id 7) of
    /// a running `xskit dump -i eth1` (pid 812)`.
    pub fn what(&self) -> String {
        let (p, id) = (&self.program, self.id);
        if let Some(d) = &self.dispatcher {
            return format!("{d} in {} mode", self.mode);
        }
        match &self.owner {
            Owner::Load => format!("xskit's {p} (program id {id}), pinned by `xskit load`"),
            Owner::Xskit(pid, cmd) => {
                format!("{p} (program id {id}) of a running `{cmd}` (pid {pid})")
            }
            Owner::Process(holders) => format!(
                "another tool's {p} (program id {id}, {} mode), held by {}",
                self.mode,
                holders.join(", ")
            ),
            Owner::Unheld => format!(
                "another tool's {p} (program id {id}, {} mode), attached through netlink or a link pinned in bpffs",
                self.mode
            ),
        }
    }

    /// [`Attached::what`], with how it goes away; `ns` is the
    /// `--netns`/`--sandbox` suffix of xskit commands to suggest.
    pub fn describe(&self, ns: &str) -> String {
        let i = &self.iface;
        if self.dispatcher.is_some() {
            return format!(
                "{}; xskit joins it unless told --exclusive (or remove its programs first: \
                 `xdp-loader unload {i} --all`)",
                self.what()
            );
        }
        let how = match &self.owner {
            Owner::Load => format!("`xskit unload {i}{ns}` detaches it"),
            Owner::Xskit(..) => "it goes when that command ends".to_string(),
            Owner::Process(_) => {
                format!("it goes when that process ends (or with `xskit unload {i} --any{ns}`)")
            }
            Owner::Unheld => format!("`xskit unload {i} --any{ns}` detaches it"),
        };
        format!("{}; {how}", self.what())
    }

    /// True if xskit attached it (a load, or a running xskit command).
    pub fn is_xskit(&self) -> bool {
        matches!(self.owner, Owner::Load | Owner::Xskit(..))
    }
}

/// Who put a program in a dispatcher.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentOwner {
    /// `xskit load` (its record names this program id).
    Load,
    /// A running xskit command holds the program: pid and command line.
    Xskit(u32, String),
    /// One of xskit's programs, held by other processes (a program using
    /// the library): `pid N (comm)` each.
    Held(Vec<String>),
    /// One of xskit's programs that no process holds and no load recorded:
    /// left by an xskit command that was killed (or failed to remove it).
    Left,
    /// libxdp's (xdp-loader, xdp-filter, ...) or another tool's.
    Other,
}

/// Who put program `prog_id` in the dispatcher on `iface`.
pub fn component_owner(iface: &str, prog_id: u32) -> ComponentOwner {
    if state::load_meta(iface)
        .ok()
        .flatten()
        .is_some_and(|m| m.prog_id == prog_id && m.reverted_at.is_none())
    {
        return ComponentOwner::Load;
    }
    if !crate::xdp::multiprog::is_xskit_program(prog_id) {
        return ComponentOwner::Other;
    }
    let holders = super::process::program_holder_pids(prog_id);
    match holders.iter().find(|(_, comm)| comm == "xskit") {
        Some((pid, _)) => ComponentOwner::Xskit(*pid, command_line(*pid)),
        None if holders.is_empty() => ComponentOwner::Left,
        None => ComponentOwner::Held(described(&holders)),
    }
}

/// `pid N (comm)` of each holder.
fn described(holders: &[(u32, String)]) -> Vec<String> {
    holders
        .iter()
        .map(|(pid, comm)| format!("pid {pid} ({comm})"))
        .collect()
}

impl ComponentOwner {
    /// In words, for `status` and `unload`: `xskit load`, `xskit echo -i
    /// eth1 (pid 812)`, ...
    pub fn describe(&self) -> String {
        match self {
            ComponentOwner::Load => "xskit load".to_string(),
            ComponentOwner::Xskit(pid, cmd) => format!("{cmd} (pid {pid})"),
            ComponentOwner::Held(h) => format!("xskit's program, held by {}", h.join(", ")),
            ComponentOwner::Left => {
                "xskit, left by a command that ended without removing it".to_string()
            }
            ComponentOwner::Other => "libxdp or another tool".to_string(),
        }
    }
}
