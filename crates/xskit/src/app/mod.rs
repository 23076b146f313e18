//! The applications behind the `xskit` subcommands.

pub mod args;
pub mod bench;
pub mod caps;
pub mod cpu;
pub mod demo;
pub mod dump;
pub mod dump_out;
pub mod echo;
pub mod gen;
pub mod metrics;
pub mod mode_args;
pub mod mode_report;
pub mod modes;
pub mod ops;
pub mod pfilter;
pub mod sandbox;
pub mod session;
pub mod stats;
