//! xskit: the AF_XDP applications behind the `xskit` command, on top of the
//! [`xsk`] socket layer and the [`xskit_xdp`] loader. The binary is a thin
//! front over this crate.

pub mod app;
pub mod cli;
pub mod net;
mod sys;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod wire;
/// The XDP programs and their loader: the [`xskit_xdp`] crate.
pub use xskit_xdp as xdp;
