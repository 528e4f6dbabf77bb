//! What a processor sees: records in, outputs and effects out. Nothing here
//! knows about offsets, transactions or commits.

use std::future::Future;

pub use moneta_state::Effect;

/// One record read from a Kafka topic, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Topic it was read from.
    pub topic: String,
    /// Partition it was read from.
    pub partition: i32,
    /// Offset in that partition.
    pub offset: i64,
    /// Record key, if any.
    pub key: Option<Vec<u8>>,
    /// Record value; `None` for a tombstone.
    pub payload: Option<Vec<u8>>,
    /// Headers in order; a header may have no value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// Producer or log-append time in milliseconds since the epoch, if known.
    pub timestamp_ms: Option<i64>,
}

impl Record {
    /// The first value of the header `name`, if present with a value.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| v.as_deref())
    }
}

/// One record a processor wants written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// Destination topic.
    pub topic: String,
    /// Key; records of one key stay in one partition and in order.
    pub key: Option<Vec<u8>>,
    /// Value; `None` writes a tombstone.
    pub payload: Option<Vec<u8>>,
    /// Headers to set (trace context is propagated by the runtime).
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Everything one input record produced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Records to write, atomically with the input's offset where the
    /// broker has transactions.
    pub outputs: Vec<Output>,
    /// Idempotent effects, each keyed by a deterministic id.
    pub effects: Vec<Effect>,
}

/// Why a record cannot be processed, ever: it goes to the dead-letter topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    /// Stable, documented, machine-readable code (`snake_case`).
    pub code: String,
    /// What was wrong, for a person.
    pub message: String,
}

impl Rejection {
    /// A rejection with this code and message.
    pub fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }
}

/// A processor's failure on one record.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The record is bad: dead-letter it and go on.
    #[error("rejected: {0}")]
    Rejected(#[from] Rejection),
    /// Something outside the record failed (a store, a network): try again.
    #[error("transient failure: {0}")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Business logic between one topic and the next.
///
/// The runtime reads records, calls [`Processor::decode`] and
/// [`Processor::process`], writes the outputs, applies the effects and
/// commits; the processor only maps inputs to outcomes. Processing must be
/// deterministic: the same input and state yield the same outcome.
pub trait Processor: Send + 'static {
    /// The decoded form of an input record.
    type Input: Send;

    /// Decodes a raw record; a rejection dead-letters the record.
    fn decode(&self, record: &Record) -> Result<Self::Input, Rejection>;

    /// Maps one decoded record to what it produces.
    fn process(
        &mut self,
        input: Self::Input,
        record: &Record,
    ) -> impl Future<Output = Result<Outcome, ProcessError>> + Send;
}
