//! The applications behind the `xskit` subcommands, one folder per command
//! family; [`shared`] holds what several of them use.

pub mod doctor;
pub mod dump;
pub mod echo;
pub mod measure;
pub mod modes;
pub mod ops;
pub mod shared;
