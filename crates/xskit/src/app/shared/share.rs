//! How a command's XDP program shares its interface (`--multiprog`,
//! `--exclusive`, `--priority`, `--chain-on`), and loading it accordingly.
//!
//! The default: where a dispatcher of libxdp's protocol is attached (put
//! there by xdp-loader, xdp-filter, a libxdp application or another
//! xskit), join it as a component; elsewhere attach alone, as a BPF link.
//! A BPF link dies with the process, even on SIGKILL, which is what the
//! README's "what survives what" table promises for the transient
//! commands; a component is pinned in libxdp's folder (the protocol
//! carries components over by their pins), so it would outlive a killed
//! process. `--multiprog` makes a dispatcher where none is, for those who
//! want libxdp's tools to join later; `--exclusive` never joins.

use crate::xdp::multiprog::{CHAIN_ON_PASS, DEFAULT_PRIORITY};
use crate::xdp::{LoadOptions, Program, RunConfig, XdpProgram};
use anyhow::{bail, Result};

/// How the program goes on the interface.
#[derive(clap::Args, Clone, Debug)]
pub struct ShareArgs {
    /// Go in a multi-program dispatcher (libxdp's protocol), made if none is
    /// attached, so that xdp-loader and other libxdp tools can add programs
    /// beside it; it is then pinned, and stays if this process is killed
    /// until `xskit unload IFACE` [default: only where a dispatcher is
    /// attached already]
    #[arg(long, conflicts_with = "exclusive")]
    pub multiprog: bool,
    /// Never join a dispatcher: attach alone, as a BPF link that goes with
    /// this process, or fail where any program is attached
    #[arg(long)]
    pub exclusive: bool,
    /// In a dispatcher: the run priority, lower runs first [default: 50,
    /// libxdp's; dump's capture: 0, ahead of the others]
    #[arg(long, value_name = "N")]
    pub priority: Option<u32>,
    /// In a dispatcher: the actions after which the next program runs,
    /// comma-separated (aborted, drop, pass, tx, redirect; libxdp's default
    /// pass)
    #[arg(long, value_parser = parse_chain_on, default_value = "pass", value_name = "ACTIONS")]
    pub chain_on: ChainOn,
}

impl Default for ShareArgs {
    fn default() -> ShareArgs {
        ShareArgs {
            multiprog: false,
            exclusive: false,
            priority: None,
            chain_on: ChainOn(CHAIN_ON_PASS),
        }
    }
}

/// Chain-call actions as a bit per XDP action code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainOn(pub u32);

const ACTIONS: [&str; 5] = ["aborted", "drop", "pass", "tx", "redirect"];

/// `pass,drop` → the bits of XDP_PASS and XDP_DROP.
pub fn parse_chain_on(s: &str) -> Result<ChainOn, String> {
    let mut bits = 0;
    for w in s.split(',').map(str::trim) {
        let lower = w.to_ascii_lowercase();
        let name = lower.strip_prefix("xdp_").unwrap_or(&lower);
        match ACTIONS.iter().position(|a| *a == name) {
            Some(b) => bits |= 1 << b,
            None => {
                return Err(format!(
                    "unknown XDP action {w:?}: use {} (comma-separated)",
                    ACTIONS.join(", ")
                ))
            }
        }
    }
    Ok(ChainOn(bits))
}

impl ShareArgs {
    /// The run priority a component gets (`--priority`, else libxdp's 50).
    pub fn priority(&self) -> u32 {
        self.priority.unwrap_or(DEFAULT_PRIORITY)
    }

    /// The run configuration a component gets.
    pub fn run(&self) -> RunConfig {
        RunConfig {
            priority: self.priority(),
            chain_actions: self.chain_on.0,
        }
    }

    /// True if the program goes in a dispatcher on `iface`: `--multiprog`,
    /// or one is attached there (unless `--exclusive`).
    pub fn joins(&self, iface: &str) -> Result<bool> {
        if self.exclusive {
            return Ok(false);
        }
        if self.multiprog {
            return Ok(true);
        }
        Ok(crate::app::shared::records::owner::attached(iface)?
            .is_some_and(|a| a.dispatcher.is_some()))
    }
}

/// Loads `program` for `iface` (`queues` sizes its XSKMAP): as a component
/// where [`ShareArgs::joins`] says so, else alone; the maps the object
/// pins by name in `pin_dir`; without its counters if `uncounted` (for a
/// caller that never reads them: see [`LoadOptions::uncounted`]).
pub fn load(
    program: Program,
    queues: u32,
    iface: &str,
    share: &ShareArgs,
    pin_dir: Option<&std::path::Path>,
    uncounted: bool,
) -> Result<XdpProgram> {
    let mut options = LoadOptions::default().pins(pin_dir);
    if uncounted {
        options = options.uncounted();
    }
    if !share.joins(iface)? {
        return Ok(XdpProgram::load_with(program, queues, options)?);
    }
    if program.is_frags_aware() {
        bail!(
            "cannot put {program} in a dispatcher on {iface}: xskit's dispatcher takes no \
             multi-buffer frames (libxdp's frags-aware dispatchers are not written yet); \
             drop -F/--multi-buffer, or pass --exclusive on an interface with no dispatcher"
        );
    }
    let mut p = XdpProgram::load_with(program, queues, options.component(share.run()))?;
    // Joining because one was seen: if it went meanwhile, do not make one.
    p.set_join_only(!share.multiprog);
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_actions_parse_to_their_action_bits() {
        assert_eq!(parse_chain_on("pass"), Ok(ChainOn(1 << 2)));
        assert_eq!(
            parse_chain_on("XDP_DROP, pass,redirect"),
            Ok(ChainOn((1 << 1) | (1 << 2) | (1 << 4)))
        );
        assert_eq!(parse_chain_on("aborted,tx"), Ok(ChainOn(1 | (1 << 3))));
        let e = parse_chain_on("pass,forward").unwrap_err();
        assert!(e.contains("\"forward\"") && e.contains("redirect"), "{e}");
        assert!(parse_chain_on("").is_err());
    }
}
