//! What every AF_XDP application starts with: load and attach an XDP
//! program, open a socket on the queue, register it, fill the FILL ring.
//! Dropping a session unregisters and detaches.

use crate::app::args::SocketArgs;
use crate::xdp::{ModeInUse, Program, XdpProgram};
use anyhow::{Context, Result};
use std::io::Write;
use xsk::Xsk;

/// An attached program and a bound socket on one queue.
pub struct Session {
    /// The bound socket. Declared first so it closes before the program
    /// detaches.
    pub xsk: Xsk,
    /// The attached program.
    pub prog: XdpProgram,
    /// The interface.
    pub iface: String,
    /// The XDP mode in use.
    pub mode: ModeInUse,
}

impl Session {
    /// Sets everything up and says on `out` what it set up (unless JSON).
    pub fn open(
        iface: &str,
        args: &SocketArgs,
        program: Program,
        out: &mut dyn Write,
    ) -> Result<Session> {
        let queues = xsk::netdev::rx_queue_count(iface)?
            .unwrap_or(1)
            .max(args.queue + 1);
        let mut prog = XdpProgram::load(program, queues)?;
        let att = prog.attach(iface, args.attach_mode(), args.force)?;
        let mode = att.mode;
        if let Some(why) = &att.fallback_reason {
            writeln!(
                out,
                "native XDP unavailable on {iface}, using SKB mode: {why}"
            )?;
        }
        let mut xsk = Xsk::new(iface, args.queue, &args.xsk_config())?;
        prog.register(args.queue, &xsk)
            .with_context(|| format!("registering the socket for queue {}", args.queue))?;
        xsk.refill(u32::MAX);
        if !args.json {
            writeln!(
                out,
                "{program} on {iface} queue {}: XDP {mode} mode, {} bind, {} frames x {} B, {}",
                args.queue,
                if xsk.is_zero_copy() {
                    "zero-copy"
                } else {
                    "copy"
                },
                args.frames,
                args.frame_size,
                if args.poll { "poll()" } else { "busy loop" },
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
    pub fn wait_rx(&mut self, poll: bool, timeout_ms: i32) -> Result<()> {
        if poll {
            self.xsk.socket().poll_rx(timeout_ms)?;
        } else if self.xsk.fill_needs_wakeup() {
            self.xsk.socket().kick_rx()?;
        }
        Ok(())
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.prog.unregister(self.xsk.queue());
    }
}
