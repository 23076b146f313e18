//! Your own XDP program with AF_XDP sockets: load an object file of yours,
//! attach its program, register a socket in the XSKMAP it names, and count
//! what arrives for five seconds.
//!
//!     sudo ip netns exec NS cargo run --example own_program -- \
//!         IFACE OBJECT.o FUNCTION XSKMAP
//!
//! e.g. `xsk0 crates/xskit-xdp/bpf/xdp_redirect.o xdp_redirect xsks_map`.
//! The program decides which frames reach the socket (by
//! `bpf_redirect_map(&XSKMAP, ctx->rx_queue_index, XDP_PASS)` or its own
//! rule); the socket here is on rx queue 0.

use std::error::Error;
use std::time::{Duration, Instant};
use xsk::{Xsk, XskConfig};
use xskit_xdp::{HookChoice, XdpProgram};

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [iface, object, function, xskmap] = args.as_slice() else {
        return Err("usage: own_program IFACE OBJECT.o FUNCTION XSKMAP".into());
    };
    let elf = std::fs::read(object).map_err(|e| format!("reading {object}: {e}"))?;
    let queues = xsk::netdev::rx_queue_count(iface)?.unwrap_or(1);

    let mut xsk = Xsk::new(iface, 0, &XskConfig::default())?;
    xsk.refill(u32::MAX);
    let mut prog = XdpProgram::load_elf(&elf, function, Some(xskmap), queues)?;
    prog.register(0, &xsk)?;
    let mode = prog.attach(iface, HookChoice::Auto, false)?.mode;
    println!("{function} of {object} on {iface} ({mode} mode); counting for 5 s");

    let (mut frames, mut bytes) = (0u64, 0u64);
    let mut batch = Vec::with_capacity(64);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        xsk.socket().poll_rx(Some(Duration::from_millis(100)))?;
        xsk.recv(&mut batch, 64);
        for frame in batch.drain(..) {
            frames += 1;
            bytes += xsk.umem().data(&frame).len() as u64;
            xsk.release(frame);
        }
        xsk.refill(u32::MAX);
    }
    println!("{frames} frames, {bytes} bytes");
    // Dropping `prog` detaches the program; dropping `xsk` closes the socket.
    Ok(())
}
