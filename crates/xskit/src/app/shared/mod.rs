//! What several commands share: socket options, the session (program +
//! socket + FILL), periodic statistics and metrics, the report trait, the
//! sandbox, the network namespace options, capabilities and CPU placement,
//! and xskit's records of what it attached ([`records`]).

pub mod args;
pub mod caps;
pub mod cpu;
pub mod metrics;
pub mod ns;
pub mod records;
pub mod report;
pub mod sandbox;
pub mod session;
pub mod share;
pub mod signals;
pub mod stats;
