//! The applications behind the `xskit` subcommands.

pub mod args;
pub mod bench;
pub mod cpu;
pub mod demo;
pub mod doctor;
pub mod dump;
pub mod echo;
pub mod gen;
pub mod modes;
pub mod ops;
pub mod sandbox;
pub mod session;
pub mod stats;
pub mod support;
