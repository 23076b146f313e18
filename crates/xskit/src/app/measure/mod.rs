//! Measuring: the demo, the throughput benchmark and its traffic
//! generator, and echo latency against the kernel.

pub mod bench;
pub mod demo;
pub mod gen;
pub mod latency;
