//! The host's network as xskit sees it: namespaces, routes, test links.

pub mod addrs;
pub mod genl;
pub mod netns;
pub mod packet;
pub mod ping;
pub mod probe;
pub mod veth;
mod wait;

pub use wait::{poll_readable, readable_before, wait_readable};
