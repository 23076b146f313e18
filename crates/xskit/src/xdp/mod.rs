//! Kernel side: the XDP programs and their loader.

mod counters;
pub mod filter;
pub mod live;
pub mod loader;
pub mod pin;
pub mod programs;
pub mod tap;

pub use loader::{
    ActionCounters, AttachMode, Attachment, Counter, LoaderError, ModeInUse, XdpProgram,
};
pub use programs::Program;
