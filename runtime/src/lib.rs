//! The processor runtime, written once for every Moneta processor.
//!
//! A business stage implements [`Stage`]: it maps a typed value (a
//! [`moneta_records::Message`] of its topic's schema) to what it emits and
//! idempotent effects, and knows nothing about encodings or commits; the
//! runtime runs it as [`Typed`], decoding and encoding through [`Serdes`]
//! (Avro, the schema registry). Below that, a [`Processor`] maps a raw
//! record to an [`Outcome`].
//! The runtime reads, batches, writes, applies effects and commits, under
//! one of two [`Guarantee`]s:
//!
//! - `exactly_once` (the default): outputs and input offsets commit in one
//!   Kafka transaction; every consumer reads `read_committed`;
//! - `at_least_once`: idempotent producer, offsets committed after every
//!   output is acknowledged; a crash may repeat outputs, never lose them.
//!
//! Instances of a processor share a consumer group with cooperative
//! (incremental) rebalancing; static membership is an option.
//!
//! Under both, effects are applied through the [`moneta_state::EffectLedger`]
//! keyed by deterministic ids, so a retry, a crash or a replay never applies
//! one twice. A processor's state store is flushed before each commit
//! ([`Stores`]). Undecodable or rejected records go to a dead-letter topic and
//! processing goes on.

mod batch;
mod clients;
mod config;
pub mod dead_letter;
mod driver;
mod error;
mod lag;
mod metrics;
mod priority;
mod processor;
mod protocol;
mod serdes;
mod shutdown;
mod spec;
mod stage;
mod stores;
mod stream_time;

pub use clients::{group_id, transactional_id};
pub use config::{Guarantee, ProcessingConfig};
pub use driver::{Runtime, require_transactions};
pub use error::RuntimeError;
pub use metrics::{ProcessorMetrics, RuntimeMetrics};
pub use priority::{lower_this_thread, niceness_of_this_thread};
pub use processor::{
    CORRUPT_STATE, Effect, Outcome, Output, ProcessError, Processor, Record, Rejection, StreamTime,
};
pub use serdes::{Emit, Serdes};
pub use shutdown::Shutdown;
pub use spec::ProcessorSpec;
pub use stage::{
    AnyStage, Decoded, Emitted, PrepareFuture, Prepared, PreparedInput, Stage, StageFuture, Typed,
};
pub use stores::Stores;
