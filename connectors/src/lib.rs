//! Connections to the systems around Moneta.
//!
//! - [`kafka`]: client settings, the broker capability probe, topic bootstrap;
//! - [`tansu`]: the embedded local broker, run as a child process.

pub mod kafka;
pub mod tansu;
