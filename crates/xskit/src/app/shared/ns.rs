//! Which network namespace an operator command works in, and how a
//! suggested command names it.

use crate::net::netns;
use anyhow::Result;

use super::records::state;

/// Which network namespace an operator command works in.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct NsArgs {
    /// Work in the named network namespace (`ip netns add NAME`). Only the
    /// network namespace is entered; bpffs pins stay in the host's mount
    /// namespace, so they outlive the command (unlike under `ip netns exec`)
    #[arg(long, value_name = "NAME", conflicts_with = "sandbox", global = true)]
    pub netns: Option<String>,
    /// Work in the inner namespace of `xskit sandbox up --name NAME`
    #[arg(long, value_name = "NAME", global = true)]
    pub sandbox: Option<String>,
}

impl NsArgs {
    /// Moves this thread (xskit's operator commands run on one) into the
    /// namespace asked for, if any, and checks xskit's state there
    /// ([`state::check`]: refuses without a namespace cookie, removes the
    /// state of namespaces that are gone).
    pub fn enter(&self) -> Result<()> {
        self.enter_only()?;
        state::check()
    }

    /// Moves this thread into the namespace asked for, if any, without
    /// looking at xskit's state there (`doctor`).
    pub fn enter_network_only(&self) -> Result<()> {
        self.enter_only()
    }

    /// The options to add to an xskit command suggested in a message, so
    /// that it acts in the same namespace: ` --netns NAME`, ` --sandbox
    /// NAME` or nothing.
    pub fn hint(&self) -> String {
        match (&self.netns, &self.sandbox) {
            (Some(n), _) => format!(" --netns {n}"),
            (None, Some(s)) => format!(" --sandbox {s}"),
            (None, None) => String::new(),
        }
    }

    fn enter_only(&self) -> Result<()> {
        let name = match (&self.netns, &self.sandbox) {
            (Some(n), _) => n.clone(),
            (None, Some(s)) => {
                let n = format!("{s}-in");
                if !netns::exists(&n) {
                    anyhow::bail!("no sandbox named {s} is up (no namespace {n}; create it with `xskit sandbox up --name {s}`)");
                }
                n
            }
            (None, None) => return Ok(()),
        };
        netns::enter(&name)
    }
}

/// The name (`ip netns`) of the network namespace this thread is in,
/// if it has one: entered with `--netns`/`--sandbox`, or the whole
/// command run by `ip netns exec`.
pub fn thread_netns_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let ino = |p: &std::path::Path| std::fs::metadata(p).map(|m| (m.dev(), m.ino())).ok();
    let here = ino(std::path::Path::new("/proc/thread-self/ns/net"))?;
    std::fs::read_dir("/run/netns")
        .ok()?
        .flatten()
        .find(|e| ino(&e.path()) == Some(here))
        .map(|e| e.file_name().to_string_lossy().into_owned())
}

/// The options that make a suggested xskit command act in the network
/// namespace this thread is in, where that namespace has a name
/// ([`thread_netns_name`]): ` --sandbox NAME` for a sandbox's inner
/// namespace, ` --netns NAME` for another named one, else nothing.
pub fn thread_ns_hint() -> String {
    let Some(name) = thread_netns_name() else {
        return String::new();
    };
    if let Some(sb) = name.strip_suffix("-in") {
        if crate::app::shared::sandbox::State::load(sb).is_ok_and(|s| s.is_some()) {
            return format!(" --sandbox {sb}");
        }
    }
    format!(" --netns {name}")
}
