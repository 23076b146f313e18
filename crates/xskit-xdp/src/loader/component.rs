//! An [`XdpProgram`] as a component of a multi-program dispatcher
//! ([`crate::multiprog`]): loaded with its maps but not its program
//! ([`XdpProgram::load_component`]), so that sockets are registered in its
//! XSKMAP before it runs; attached by [`XdpProgram::attach`] beside the
//! programs already in the interface's dispatcher; removed from it again
//! when the attachment is dropped, unless it was pinned to stay.
//!
//! A component is pinned in libxdp's folder the moment it is attached (the
//! protocol needs its program and link there, for the next change to carry
//! it over), so unlike a BPF link it outlives a process that is killed:
//! what is left runs until someone removes it (`xskit unload`; the redirect
//! programs pass every frame once their sockets are gone).

use super::{Attachment, LoadOptions, XdpProgram};
use crate::error::LoaderError;
use crate::hook::{HookChoice, XdpHook};
use crate::multiprog::{self, Mode, RunConfig};
use crate::programs::Program;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// The calling thread's network namespace, to come back to.
fn thread_netns() -> Option<OwnedFd> {
    use rustix::fs::{open, Mode, OFlags};
    open(
        THREAD_NETNS,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()
}

/// True if the calling thread is in the namespace `ns` refers to.
fn in_netns(ns: &OwnedFd) -> bool {
    let (Ok(a), Ok(b)) = (rustix::fs::fstat(ns), rustix::fs::stat(THREAD_NETNS)) else {
        return true;
    };
    (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
}

/// Where a component runs: the dispatcher of the moment (any later change,
/// libxdp's or xskit's, replaces the dispatcher and may move the slot; the
/// program id stays).
#[derive(Debug)]
pub struct InDispatcher {
    /// The dispatcher's program id when the component was attached.
    pub dispatcher_id: u32,
    /// The component's own program id.
    pub program_id: u32,
    /// Its slot then (0 runs first).
    pub slot: u8,
    /// The dispatcher's pin folder then.
    pub pin_dir: PathBuf,
    /// Kept after the attachment is dropped ([`XdpProgram::pin_attachment`]).
    pub(crate) kept: bool,
    /// The network namespace it was attached in, where it is taken out
    /// again: the attachment may be dropped on a thread of another
    /// namespace (interface indexes are per namespace).
    pub(crate) netns: Option<OwnedFd>,
}

impl XdpProgram {
    /// Loads `program`'s object to go in a dispatcher with `run`'s
    /// priority and chain-call actions: its maps now (register sockets in
    /// them before attaching), its program when [`XdpProgram::attach`]
    /// links it into the interface's dispatcher (made there if none is
    /// attached). `queues` sizes its XSKMAP.
    ///
    /// # Errors
    ///
    /// As [`XdpProgram::load`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use xskit_xdp::{HookChoice, Program, RunConfig, XdpProgram};
    ///
    /// let mut p = XdpProgram::load_component(Program::Pass, 1, RunConfig::default())?;
    /// let a = p.attach("eth1", HookChoice::Auto, false)?;
    /// println!("{:?}", a.in_dispatcher());
    /// // Dropping `p` takes it out of the dispatcher again.
    /// # Ok::<(), xskit_xdp::LoaderError>(())
    /// ```
    pub fn load_component(
        program: Program,
        queues: u32,
        run: RunConfig,
    ) -> Result<XdpProgram, LoaderError> {
        XdpProgram::load_as(program, queues, LoadOptions::default().component(run))
    }

    /// [`XdpProgram::load_component`] with the maps the object pins by
    /// name pinned in, or reused from, `pin_dir` (as
    /// [`XdpProgram::load_with_pins`]).
    ///
    /// # Errors
    ///
    /// As [`XdpProgram::load`].
    pub fn load_component_with_pins(
        program: Program,
        queues: u32,
        pin_dir: Option<&std::path::Path>,
        run: RunConfig,
    ) -> Result<XdpProgram, LoaderError> {
        XdpProgram::load_as(
            program,
            queues,
            LoadOptions::default().pins(pin_dir).component(run),
        )
    }

    /// True if it was loaded to go in a dispatcher.
    pub fn is_component(&self) -> bool {
        self.component.is_some()
    }

    /// With `true`, [`XdpProgram::attach`] puts a component only in a
    /// dispatcher attached already and fails where none is (checked under
    /// libxdp's lock), instead of making one: for callers that chose to
    /// join because they saw one.
    pub fn set_join_only(&mut self, only: bool) {
        self.join_only = only;
    }

    pub(super) fn attach_component(
        &mut self,
        iface: &str,
        mode: HookChoice,
        run: RunConfig,
        make: bool,
    ) -> Result<&Attachment, LoaderError> {
        if let Some(a) = self.attachments.first() {
            return Err(LoaderError::Dispatcher(multiprog::MultiprogError::Failed(
                format!(
                    "{} is already a component on {}: a component runs in one dispatcher",
                    self.function, a.iface
                ),
            )));
        }
        let mode = match mode {
            HookChoice::Auto => None,
            HookChoice::Native => Some(Mode::Native),
            HookChoice::Skb => Some(Mode::Skb),
        };
        let j = multiprog::join(&mut self.ebpf, &self.function, iface, mode, run, make)?;
        self.attachments.push(Attachment {
            iface: iface.to_string(),
            ifindex: j.ifindex,
            mode: match j.mode {
                Mode::Native => XdpHook::Native,
                Mode::Skb => XdpHook::Skb,
            },
            fallback_reason: j.fallback_reason,
            link: None,
            component: Some(InDispatcher {
                dispatcher_id: j.dispatcher_id,
                program_id: j.program_id,
                slot: j.slot,
                pin_dir: j.pin_dir,
                kept: false,
                netns: thread_netns(),
            }),
        });
        Ok(self.attachments.last().expect("just pushed"))
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let Some(c) = self.component.as_ref().filter(|c| !c.kept) else {
            return;
        };
        let leave = || {
            // The interface went (and its dispatcher with it): only the
            // pins are left.
            if matches!(multiprog::forget_gone_interface(self.ifindex, c.program_id), Ok(n) if n > 0)
            {
                return Ok(());
            }
            multiprog::detach_index(self.ifindex, &self.iface, c.program_id).map(drop)
        };
        let result = match &c.netns {
            Some(ns) if !in_netns(ns) => std::thread::scope(|s| {
                s.spawn(|| {
                    rustix::thread::move_into_link_name_space(
                        ns.as_fd(),
                        Some(rustix::thread::LinkNameSpaceType::Network),
                    )
                    .map_err(|e| {
                        multiprog::MultiprogError::Failed(format!(
                            "entering the network namespace it was attached in: {e}"
                        ))
                    })
                    .and_then(|()| leave())
                })
                .join()
                .unwrap_or_else(|_| {
                    Err(multiprog::MultiprogError::Failed(
                        "the thread panicked".into(),
                    ))
                })
            }),
            _ => leave(),
        };
        // Drop cannot return the error; a component left behind must not
        // go unsaid.
        if let Err(e) = result {
            eprintln!(
                "xskit: could not take program id {} out of the dispatcher on {}: {e}; \
                 `xskit unload {}` removes it",
                c.program_id, self.iface, self.iface
            );
        }
    }
}
