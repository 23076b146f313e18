//! XDP programs and their loader, for AF_XDP applications.
//!
//! - [`XdpProgram`]: load one of the built-in [`Program`]s, attach it to an
//!   interface (native, SKB, or native with a fallback) as a BPF link the
//!   kernel removes when the last descriptor closes (a killed process
//!   leaves nothing behind), and [`register`](XdpProgram::register)
//!   AF_XDP sockets in its XSKMAP by rx queue.
//! - [`filter`]: the rule filter's pinned maps (prefixes, ports, MACs,
//!   EtherTypes), editable while it runs, and its match order in user space.
//! - [`tap`]: the capture tap every attachable program carries.
//! - [`guard`]: the kernel-side confirm-or-revert deadline.
//! - [`dispatcher`]: recognising a libxdp multi-program dispatcher and its
//!   components; [`ext_probe`]: whether the kernel loads the extension
//!   programs they need; [`multiprog`]: xskit's programs as components of
//!   a dispatcher of its own, laid out as libxdp's, that libxdp's tools join.
//! - [`RxMetaProgram`]: the device-bound program that hands each frame to
//!   its socket with its RSS hash, hardware timestamp and VLAN tag (Linux
//!   6.3+; read them with `xsk::RxMetadata`).
//!
//! The programs themselves are C (`bpf/` in this crate), committed as
//! objects and embedded in this crate.
//!
//! # Examples
//!
//! ```no_run
//! use xskit_xdp::{HookChoice, Program, XdpProgram};
//!
//! // Every frame of rx queue 0 of eth1 to the socket registered there.
//! let mut prog = XdpProgram::load(Program::Redirect, 1)?;
//! let att = prog.attach("eth1", HookChoice::Auto, false)?;
//! println!("attached in {} mode", att.mode);
//! // prog.register(0, &socket)?; ... frames flow; dropping `prog` detaches.
//! # Ok::<(), xskit_xdp::LoaderError>(())
//! ```

mod abi;
pub mod addr;
pub mod bpffs;
mod counters;
pub mod dispatcher;
mod error;
pub mod ext_probe;
pub mod filter;
pub mod guard;
mod hook;
pub mod live;
pub mod loader;
pub mod meta;
pub mod multiprog;
pub mod netif;
mod own;
mod port;
pub mod programs;
pub mod raw;
pub mod tap;

pub use loader::{
    ActionCounters, Attachment, Counter, HookChoice, InDispatcher, LoadOptions, LoaderError,
    RunConfig, XdpHook, XdpProgram,
};
pub use meta::RxMetaProgram;
pub use programs::Program;
