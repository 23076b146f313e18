//! The host's network as xskit sees it: namespaces, routes, test links.

pub mod addrs;
pub mod netns;
pub mod packet;
pub mod ping;
pub mod route;
pub mod veth;
