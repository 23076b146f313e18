//! The echo responder on tokio: answers ICMP and ICMPv6 echo requests on
//! queue 0 of an interface for ten seconds, woken by the reactor.
//!
//!     sudo xskit sandbox up
//!     sudo nsenter --net=/run/netns/xskit-in cargo run --features tokio --example async_echo -- xsk0
//!     sudo ip netns exec xskit-out ping fc00:dead:beef::1      # in another shell

use std::time::Duration;
use xsk::{AsyncXsk, Xsk, XskConfig};
use xskit::app::echo::asynch::answer_for;
use xskit::net::addrs::echo_local;
use xskit::xdp::{HookChoice, Program, XdpProgram};

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let iface = std::env::args().nth(1).unwrap_or_else(|| "xsk0".into());
    let mut prog = XdpProgram::load(Program::RedirectEcho, 1)?;
    prog.attach(&iface, HookChoice::Auto, false)?;
    let xsk = Xsk::new(&iface, 0, &XskConfig::default())?;
    prog.register(0, &xsk)?;
    let mut xsk = AsyncXsk::new(xsk)?;
    println!("answering pings on {iface} queue 0 for 10 s");
    let sum = answer_for(&mut xsk, &echo_local(&iface), Duration::from_secs(10)).await?;
    println!("answered {}, refused {}", sum.answered, sum.refused);
    Ok(())
}
