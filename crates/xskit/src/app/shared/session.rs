//! A session: what every AF_XDP application starts with. Load an XDP
//! program (sized by [`xskmap_slots`]), open a socket on the queue, fill
//! its FILL ring, register it, then attach the program (by [`attach`]).
//! Dropping a session detaches and then unregisters. (The ring loops live
//! with their applications and in `xsk`'s batches.)

use crate::app::shared::args::SocketArgs;
use crate::xdp::LoaderError;
use crate::xdp::{HookChoice, Program, XdpHook, XdpProgram};
use anyhow::{Context, Result};
use std::io::Write;
use xsk::{Xsk, XskConfig};

/// Attaches `prog` to `iface` and, when auto mode fell back to SKB, says
/// why on `out`. Returns the mode in use.
pub fn attach(
    prog: &mut XdpProgram,
    iface: &str,
    mode: HookChoice,
    force: bool,
    out: &mut dyn Write,
) -> Result<XdpHook> {
    let (frags_aware, sockets) = (prog.is_frags_aware(), prog.has_xskmap());
    let name = prog.name().to_string();
    let a = prog.attach(iface, mode, force).map_err(|e| match e {
        _ if e.mtu_too_large() && !frags_aware && sockets => {
            anyhow::anyhow!("{e}; in xskit: -F/--multi-buffer")
        }
        LoaderError::DefaultRoute { .. } => anyhow::anyhow!("{e} (in xskit: --force)"),
        // Busy: name what holds the interface rather than guess.
        LoaderError::Attach {
            errno: Some(libc::EBUSY | libc::EEXIST),
            ..
        } => match crate::app::shared::records::owner::attached(iface) {
            Ok(Some(held)) => anyhow::anyhow!(
                "cannot attach {name} to {iface}: {iface} has {}",
                held.describe(&crate::app::shared::ns::thread_ns_hint())
            ),
            _ => e.into(),
        },
        _ => e.into(),
    })?;
    if let Some(why) = &a.fallback_reason {
        writeln!(
            out,
            "native XDP unavailable on {iface}, using SKB mode: {why}"
        )?;
    }
    if let Some(c) = a.in_dispatcher() {
        writeln!(
            out,
            "{name} (program id {}) is in slot {} of the dispatcher on {iface} (program id {}), beside \
             the programs there",
            c.program_id, c.slot, c.dispatcher_id
        )?;
    }
    Ok(a.mode)
}

/// For a command whose program goes when it ends: if the program is a
/// component of a dispatcher, says how it goes (a BPF link would go with
/// the process even if killed; a component would not).
pub fn say_component_lifetime(prog: &XdpProgram, iface: &str, out: &mut dyn Write) -> Result<()> {
    if prog.is_component() {
        writeln!(
            out,
            "it leaves the dispatcher when this command ends; if the command is killed it stays \
             (passing what it cannot redirect) until `xskit unload {iface}`"
        )?;
    }
    Ok(())
}

/// A socket layer error with the xskit option that answers it, where one
/// does (the library's hints name library items): zero-copy refused → `-c`.
pub fn with_option_hint(e: xsk::Error) -> anyhow::Error {
    let option = match e.kind() {
        xsk::ErrorKind::ZeroCopyUnsupported => "-c/--copy",
        _ => return e.into(),
    };
    let os = e.os_error().map(|o| format!(": {o}")).unwrap_or_default();
    anyhow::anyhow!("{e} (in xskit: {option}){os}")
}

/// How often a busy loop checks that its interface still exists.
pub const BOUND_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// XSKMAP slots needed for sockets up to `highest_queue` on `iface`: the
/// interface's rx queue count, or more if asked for.
pub fn xskmap_slots(iface: &str, highest_queue: u32) -> Result<u32> {
    let count = xsk::netdev::rx_queue_count(iface)?;
    if let Some(n) = count {
        if highest_queue >= n {
            anyhow::bail!(
                "queue {highest_queue} does not exist: {iface} has {n} receive queue(s), 0 to {}",
                n.saturating_sub(1)
            );
        }
    }
    Ok(count.unwrap_or(1).max(highest_queue.saturating_add(1)))
}

/// An attached program and a bound socket on one queue.
pub struct Session {
    /// The bound socket (closed after the program is detached, by `Drop`).
    pub xsk: Xsk,
    /// The attached program.
    pub prog: XdpProgram,
    /// The interface.
    pub iface: String,
    /// The XDP mode in use.
    pub mode: XdpHook,
}

impl Session {
    /// Sets everything up and says on `out` what it set up (unless JSON).
    pub fn open(
        iface: &str,
        args: &SocketArgs,
        program: Program,
        out: &mut dyn Write,
    ) -> Result<Session> {
        Session::open_with(iface, args, &args.xsk_config(), program, out)
    }

    /// As [`Session::open`], with the socket opened as `config` says
    /// (`args.xsk_config()` with a command's own settings added).
    pub fn open_with(
        iface: &str,
        args: &SocketArgs,
        config: &XskConfig,
        program: Program,
        out: &mut dyn Write,
    ) -> Result<Session> {
        crate::app::shared::args::check_frame_size(args.frame_size, false, false)?;
        let mut prog = crate::app::shared::share::load(
            program,
            xskmap_slots(iface, args.queue)?,
            iface,
            &args.share,
            None,
            false,
        )?;
        // The refusals first, so that nothing is bound on an interface the
        // program may not go on. Then the socket is bound, given its FILL
        // frames and registered before the program is attached: the program
        // passes what it cannot redirect, so in the other order the first
        // frames would go to the kernel's stack instead.
        prog.check_attach(iface, args.force)?;
        let mut xsk = Xsk::new(iface, args.queue, config).map_err(with_option_hint)?;
        xsk.refill(u32::MAX);
        prog.register(args.queue, &xsk)
            .with_context(|| format!("registering the socket for queue {}", args.queue))?;
        let mode = attach(&mut prog, iface, args.attach_mode(), args.force, out)?;
        say_component_lifetime(&prog, iface, out)?;
        if !args.json {
            writeln!(
                out,
                "{program} on {iface} queue {}: XDP {mode} mode, {} bind, {} frames x {} B, {}{}",
                args.queue,
                if xsk.is_zero_copy() {
                    "zero-copy"
                } else {
                    "copy"
                },
                args.frames,
                args.frame_size,
                if args.poll { "poll()" } else { "busy loop" },
                config
                    .tx_budget
                    .map(|b| format!(", TX budget {b}"))
                    .unwrap_or_default(),
            )?;
        }
        Ok(Session {
            xsk,
            prog,
            iface: iface.to_string(),
            mode,
        })
    }

    /// Waits for RX work the way the options say: poll() with a timeout, or
    /// in a busy loop a wake-up only when the kernel asks for one.
    pub fn wait_rx(&mut self, poll: bool, timeout: std::time::Duration) -> Result<()> {
        if poll {
            self.xsk.socket().poll_rx(Some(timeout))?;
        } else if self.xsk.fill_needs_wakeup() {
            self.xsk.socket().kick_rx()?;
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // Detached first: unregistered while attached, the program would
        // pass the frames of the moment in between to the stack.
        self.prog.detach_all();
        let _ = self.prog.unregister(self.xsk.queue());
    }
}
