//! xskit: XDP programs, their loader, and AF_XDP applications on top of the
//! [`xsk`] socket layer. The `xskit` binary is a thin front over this crate.

pub mod app;
pub mod cli;
pub mod net;
mod sys;
#[cfg(any(test, feature = "test-util"))]
pub mod testing;
pub mod wire;
pub mod xdp;
