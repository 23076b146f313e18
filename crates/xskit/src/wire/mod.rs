//! Packets, as typed views over frame bytes (smoltcp's `wire` types):
//! the echo responder's rewrite, one-line summaries, and frame builders.

pub mod build;
pub mod checksum;
pub mod echo;
pub mod policy;
pub mod summary;

pub use xskit_xdp::addr::parse_mac;
