//! The UDP echo of `udp_echo.rs` with a thread per direction and no lock:
//! the socket is split ([`Xsk::split`]) into its RX half (FILL and RX) and
//! its TX half (TX and COMPLETION). The RX thread turns each datagram into
//! its reply and hands the frame to the TX thread through a channel; the
//! TX thread sends, and its completions return frames to the pool the RX
//! half refills FILL from.
//!
//!     sudo ip netns exec NS cargo run -p xskit-xdp --example udp_echo_threads -- IFACE [PORT]

#[path = "shared/udp_reply.rs"]
mod udp_reply;
#[path = "shared/udp_service.rs"]
mod udp_service;

use std::error::Error;
use std::sync::mpsc;
use std::time::Duration;
use udp_service::Service;
use xsk::Frame;

fn main() -> Result<(), Box<dyn Error>> {
    // The program is detached when `_prog` is dropped: kept to the end.
    let Service {
        xsk,
        prog: _prog,
        port,
    } = udp_service::start("udp_echo_threads", ", a thread per direction")?;

    let (mut rx, mut tx) = xsk.split();
    let (replies, to_send) = mpsc::sync_channel::<Frame>(1024);

    let receiver = std::thread::spawn(move || -> xsk::Result<()> {
        let mut batch = Vec::with_capacity(64);
        loop {
            rx.socket().poll_rx(Some(Duration::from_secs(1)))?;
            rx.recv(&mut batch, 64);
            for mut frame in batch.drain(..) {
                if udp_reply::echo(rx.umem().data_mut(&mut frame), port) {
                    if let Err(mpsc::SendError(frame)) = replies.send(frame) {
                        rx.release(frame); // the TX thread is gone
                    }
                } else {
                    rx.release(frame);
                }
            }
            rx.refill(u32::MAX); // also with the frames TX completed
        }
    });

    let sender = std::thread::spawn(move || -> xsk::Result<()> {
        let mut out = Vec::with_capacity(64);
        loop {
            // Wait for one reply (or a moment, to reap completions), then
            // take whatever else is waiting.
            if let Ok(frame) = to_send.recv_timeout(Duration::from_millis(10)) {
                out.push(frame);
            }
            out.extend(to_send.try_iter().take(63));
            tx.send(&mut out);
            for frame in out.drain(..) {
                tx.release(frame); // TX ring full: drop the reply
            }
            tx.flush()?;
            tx.complete(u32::MAX); // back to the pool for FILL
        }
    });

    for (name, t) in [("receiver", receiver), ("sender", sender)] {
        match t.join() {
            Ok(r) => r?,
            Err(_) => return Err(format!("the {name} thread panicked").into()),
        }
    }
    Ok(())
}
