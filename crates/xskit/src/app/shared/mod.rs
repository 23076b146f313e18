//! What several commands share: socket options, the session (program +
//! socket + FILL), periodic statistics and metrics, the report trait, the
//! sandbox, capabilities and CPU placement.

pub mod args;
pub mod caps;
pub mod cpu;
pub mod metrics;
pub mod report;
pub mod sandbox;
pub mod session;
pub mod signals;
pub mod stats;
