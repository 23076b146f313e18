//! The UDP echo of `udp_echo.rs` on tokio: the socket split into its RX and
//! TX halves, each registered with the reactor ([`AsyncXsk`]) and driven
//! by a task of its own; replies go from one task to the other through a
//! channel. Needs xsk's `tokio` feature.
//!
//!     sudo ip netns exec NS cargo run -p xskit-xdp --example udp_echo_async -- IFACE [PORT]

#[path = "shared/udp_reply.rs"]
mod udp_reply;
#[path = "shared/udp_service.rs"]
mod udp_service;

use std::error::Error;
use tokio::sync::mpsc;
use udp_service::Service;
use xsk::{AsyncXsk, Frame, RxHalf, TxHalf};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    // The program is detached when `_prog` is dropped: kept to the end.
    let Service {
        xsk,
        prog: _prog,
        port,
    } = udp_service::start("udp_echo_async", ", on tokio")?;

    let (rx, tx) = xsk.split();
    let (replies, to_send) = mpsc::channel::<Frame>(1024);
    let receiver = tokio::spawn(receive(AsyncXsk::new(rx)?, replies, port));
    let sender = tokio::spawn(send(AsyncXsk::new(tx)?, to_send));
    let (r, s) = tokio::try_join!(receiver, sender)?;
    r?;
    s?;
    Ok(())
}

/// Waits for datagrams, turns each into its reply and hands it on.
async fn receive(
    mut rx: AsyncXsk<RxHalf>,
    replies: mpsc::Sender<Frame>,
    port: u16,
) -> xsk::Result<()> {
    let mut batch = Vec::with_capacity(64);
    loop {
        rx.rx_ready().await?;
        let half = rx.get_mut();
        half.recv(&mut batch, 64);
        for mut frame in batch.drain(..) {
            if udp_reply::echo(half.umem().data_mut(&mut frame), port) {
                if let Err(e) = replies.try_send(frame) {
                    half.release(e.into_inner()); // TX task behind or gone: drop it
                }
            } else {
                half.release(frame);
            }
        }
        half.refill(u32::MAX);
    }
}

/// Sends the replies as they come, and returns completed frames to the
/// pool the RX half refills FILL from.
async fn send(mut tx: AsyncXsk<TxHalf>, mut to_send: mpsc::Receiver<Frame>) -> xsk::Result<()> {
    let mut out = Vec::with_capacity(64);
    while to_send.recv_many(&mut out, 64).await > 0 {
        tx.tx_ready().await?;
        let half = tx.get_mut();
        half.send(&mut out);
        for frame in out.drain(..) {
            half.release(frame);
        }
        half.flush()?;
        let done = tx.completions().await?;
        tx.get_mut().complete(done);
    }
    Ok(())
}
