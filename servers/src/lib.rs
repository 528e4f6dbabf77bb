//! Apache Kafka and Apache Cassandra on this machine, run from their jars.
//!
//! - [`broker`]: the embedded broker of `moneta up` and the test harness's
//!   Kafka nodes;
//! - [`cassandra`]: a CQL node for the tests and `moneta up --cql`;
//! - [`jvm`]: what both share: Java, the jar cache, owned processes.

pub mod broker;
pub mod cassandra;
pub mod jvm;
