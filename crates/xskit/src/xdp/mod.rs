//! Kernel side: the XDP programs and their loader.

mod abi;
mod counters;
pub mod filter;
pub mod live;
pub mod loader;
pub mod pin;
pub mod programs;
pub mod tap;

pub use loader::{
    ActionCounters, Attachment, Counter, HookChoice, LoaderError, XdpHook, XdpProgram,
};
pub use programs::Program;
