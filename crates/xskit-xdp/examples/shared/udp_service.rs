//! The set-up of the UDP echo examples: the command line (`IFACE [PORT]`),
//! the socket on rx queue 0 and the port program that sends it UDP to the
//! port, and the `ready` line once frames flow.

use std::error::Error;
use xsk::{Xsk, XskConfig};
use xskit_xdp::{filter::Proto, HookChoice, Program, XdpProgram};

/// A UDP service's socket, with the program that feeds it (detached when
/// dropped).
pub struct Service {
    pub xsk: Xsk,
    pub prog: XdpProgram,
    pub port: u16,
}

/// Reads `IFACE [PORT]` (port 7 by default) from the command line of the
/// example `name`, makes the socket and attaches the program, and prints
/// `ready: UDP echo on IFACE port PORT (MODE mode)` followed by `how`.
pub fn start(name: &str, how: &str) -> Result<Service, Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let iface = args
        .next()
        .ok_or_else(|| format!("usage: {name} IFACE [PORT]"))?;
    let port: u16 = match args.next() {
        Some(p) => p.parse().map_err(|_| format!("{p:?} is not a port"))?,
        None => 7,
    };

    // The socket first, its FILL ring full, registered; then the program:
    // no frame of the port reaches the kernel in between.
    let mut xsk = Xsk::new(&iface, 0, &XskConfig::default())?;
    xsk.refill(u32::MAX);
    let mut prog = XdpProgram::load(Program::RedirectPort, 1)?;
    prog.redirect_port(Proto::Udp, port)?;
    prog.register(0, &xsk)?;
    let mode = prog.attach(&iface, HookChoice::Auto, false)?.mode;
    println!("ready: UDP echo on {iface} port {port} ({mode} mode){how}");
    Ok(Service { xsk, prog, port })
}
