//! Connections to the systems around Moneta.
//!
//! - [`kafka`]: client settings, the broker capability probe, topic bootstrap;
//! - [`broker`]: Apache Kafka on this machine (the embedded broker of
//!   `moneta up`, the test harness's nodes), run from its jars;
//! - [`cassandra`]: Apache Cassandra on this machine (a CQL node for the
//!   tests and `moneta up --cql`), run from its jars;
//! - [`jvm`]: what both share: Java, the jar cache, owned processes.

pub mod broker;
pub mod cassandra;
pub mod jvm;
pub mod kafka;
