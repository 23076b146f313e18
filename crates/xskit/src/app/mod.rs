//! The applications behind the `xskit` subcommands.

pub mod args;
pub mod bench;
pub mod caps;
pub mod cpu;
pub mod demo;
pub mod doctor;
pub mod dump;
pub mod dump_out;
pub mod echo;
#[cfg(feature = "tokio")]
pub mod echo_async;
pub mod echo_jumbo;
pub mod echo_report;
pub mod echo_warm;
pub mod gen;
pub mod latency;
pub mod metrics;
pub mod modes;
pub mod ops;
pub mod pfilter;
pub mod ratelimit;
pub mod report;
pub mod sandbox;
pub mod session;
pub mod stats;
pub mod support;
