//! The applications behind the `xskit` subcommands.

pub mod args;
pub mod demo;
pub mod dump;
pub mod echo;
pub mod sandbox;
pub mod session;
pub mod stats;
