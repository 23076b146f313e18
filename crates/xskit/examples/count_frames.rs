//! The smallest complete AF_XDP program with xskit: redirect every frame of
//! queue 0 of an interface to a socket, count them for five seconds, and
//! leave nothing behind.
//!
//!     sudo xskit sandbox up
//!     sudo nsenter --net=/run/netns/xskit-in cargo run --example count_frames -- xsk0
//!
//! (Redirecting every frame takes them from the kernel: use a test link.)

use std::time::{Duration, Instant};
use xsk::{Xsk, XskConfig};
use xskit::xdp::{HookChoice, Program, XdpProgram};

fn main() -> anyhow::Result<()> {
    let iface = std::env::args().nth(1).unwrap_or_else(|| "xsk0".into());

    // Kernel side: the redirect program, attached native-first.
    let mut prog = XdpProgram::load(Program::Redirect, 1)?;
    let mode = prog.attach(&iface, HookChoice::Auto, false)?.mode;

    // User side: a socket on queue 0, registered in the program's XSKMAP,
    // with every free frame lent to the kernel on the FILL ring.
    let mut xsk = Xsk::new(&iface, 0, &XskConfig::default())?;
    prog.register(0, &xsk)?;
    xsk.refill(u32::MAX);
    println!("counting frames on {iface} queue 0 ({mode} mode) for 5 s");

    let (mut frames, mut bytes) = (0u64, 0u64);
    let mut batch = Vec::with_capacity(64);
    let end = Instant::now() + Duration::from_secs(5);
    while Instant::now() < end {
        xsk.socket().poll_rx(Some(Duration::from_millis(100)))?;
        xsk.recv(&mut batch, 64);
        for frame in batch.drain(..) {
            frames += 1;
            bytes += xsk.umem().data(&frame).len() as u64;
            xsk.release(frame); // back to the free list...
        }
        xsk.refill(u32::MAX); // ...and back to the kernel
    }
    println!("{frames} frames, {bytes} bytes");
    // Dropping `xsk` closes the socket; dropping `prog` detaches it.
    Ok(())
}
