//! Connections to the systems around Moneta.
//!
//! - [`kafka`]: client settings, the broker capability probe, topic bootstrap;
//! - [`broker`]: Apache Kafka on this machine (the embedded broker of
//!   `moneta up`, the test harness's nodes), run from its jars.

pub mod broker;
pub mod kafka;
