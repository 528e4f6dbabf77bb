//! What a processor sees: records in, outputs and effects out. Nothing here
//! knows about offsets, transactions or commits.

use std::future::Future;
use std::sync::Arc;

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
    /// Its partition's stream time, set by the runtime.
    pub stream_time: StreamTime,
}

/// The stream time of a record's partition (Kafka Streams' notion): the
/// newest record timestamp seen in it, before and with this record. The
/// runtime keeps it with the committed offsets, so the same record always
/// sees the same values: a processor may act on it (expire what is overdue)
/// and stay deterministic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamTime {
    /// Before this record; `None` before the partition's first timestamp.
    pub prior_ms: Option<i64>,
    /// With this record.
    pub now_ms: Option<i64>,
}

impl StreamTime {
    /// The stream time, if this record moved it across a multiple of
    /// `every_ms` (or gave the partition its first one): when a task
    /// scheduled "every `every_ms` of stream time" is due.
    pub fn crossed(&self, every_ms: i64) -> Option<i64> {
        let now = self.now_ms?;
        let every = every_ms.max(1);
        match self.prior_ms {
            Some(prior) if prior.div_euclid(every) >= now.div_euclid(every) => None,
            _ => Some(now),
        }
    }
}

impl Record {
    /// The owned copy of a record a Kafka consumer read.
    pub fn from_message(message: &impl rdkafka::Message) -> Self {
        let headers = message
            .headers()
            .map(|headers| {
                use rdkafka::message::Headers;
                headers
                    .iter()
                    .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                    .collect()
            })
            .unwrap_or_default();
        Self {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            offset: message.offset(),
            key: message.key().map(<[u8]>::to_vec),
            payload: message.payload().map(<[u8]>::to_vec),
            headers,
            timestamp_ms: message.timestamp().to_millis(),
            stream_time: StreamTime::default(),
        }
    }

    /// Its timestamp (milliseconds since the epoch), what stages take as the
    /// time of the event. A record without one is rejected
    /// (`missing_timestamp`): never read as 1970.
    pub fn time_ms(&self) -> Result<i64, Rejection> {
        self.timestamp_ms.ok_or_else(|| {
            Rejection::new(
                "missing_timestamp",
                format!(
                    "{}/{}@{} has no timestamp",
                    self.topic, self.partition, self.offset
                ),
            )
        })
    }

    /// Its timestamp in whole seconds since the epoch (see [`Record::time_ms`]).
    pub fn time_s(&self) -> Result<i64, Rejection> {
        Ok(self.time_ms()?.div_euclid(1000))
    }

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

/// Everything one input record produced: records to write (raw
/// [`Output`]s, or typed emits a stage's serdes encode) and effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome<O = Output> {
    /// Records to write, atomically with the input's offset where the
    /// broker has transactions.
    pub outputs: Vec<O>,
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

impl<O> Default for Outcome<O> {
    fn default() -> Self {
        Self {
            outputs: Vec::new(),
            effects: Vec::new(),
        }
    }
}

impl<O> Outcome<O> {
    /// An outcome of these records and no effects.
    pub fn of(outputs: Vec<O>) -> Self {
        Self {
            outputs,
            effects: Vec::new(),
        }
    }
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

impl ProcessError {
    /// Stored data that does not decode: permanent (`corrupt_state`).
    pub fn corrupt(what: impl std::fmt::Display) -> Self {
        Rejection::new(state_errors::CORRUPT_STATE, what.to_string()).into()
    }

    /// An infrastructure failure: retried.
    pub fn transient(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        ProcessError::Transient(Box::new(e))
    }
}

/// Business logic between one topic and the next.
///
/// The runtime reads records, calls [`Processor::decode`] and
/// [`Processor::process`], writes the outputs, applies the effects and
/// commits; the processor only maps inputs to outcomes. Processing must be
/// deterministic: the same input and state yield the same outcome.
pub trait Processor: Send + 'static {
    /// The decoded form of an input record.
    type Input: Send + 'static;

    /// Whether [`Processor::decode`] does work worth other cores (verifying
    /// or making signatures, decoding Avro): the runtime then runs the
    /// decodes of a poll's records at once on its decode threads, one per
    /// core.
    /// Otherwise they run on the processor's thread, just before each
    /// record's `process`.
    const PARALLEL_DECODE: bool = false;

    /// Decodes a record and does the work on it that reads no state this
    /// processor writes. The future owns what it needs, so that it may run
    /// on any thread, beside those of the poll's other records; `process`
    /// still sees the records one after another, in order. A rejection
    /// dead-letters the record; a transient failure retries it.
    fn decode(
        &self,
        record: &Arc<Record>,
    ) -> impl Future<Output = Result<Self::Input, ProcessError>> + Send + 'static;

    /// Maps one decoded record to what it produces.
    fn process(
        &mut self,
        input: Self::Input,
        record: &Record,
    ) -> impl Future<Output = Result<Outcome, ProcessError>> + Send;
}

/// Error classes of state, written once: a store that fails is transient
/// (the record is retried, never dead-lettered); a stored row that does not
/// decode is corrupt data, permanent: the record is dead-lettered with the
/// reason (`corrupt_state`) and the partition moves on.
mod state_errors {
    use moneta_state::cas::Contended;
    use moneta_state::{EventLogError, RegistryError, StoreError};

    use super::{ProcessError, Rejection};

    /// The code of a record dead-lettered because state it needs is corrupt.
    pub const CORRUPT_STATE: &str = "corrupt_state";

    impl From<StoreError> for ProcessError {
        fn from(e: StoreError) -> Self {
            ProcessError::Transient(Box::new(e))
        }
    }

    impl From<Contended> for ProcessError {
        fn from(e: Contended) -> Self {
            ProcessError::Transient(Box::new(e))
        }
    }

    impl From<RegistryError> for ProcessError {
        fn from(e: RegistryError) -> Self {
            match e {
                RegistryError::Store(e) => e.into(),
                decode @ RegistryError::Decode { .. } => {
                    Rejection::new(CORRUPT_STATE, decode.to_string()).into()
                }
            }
        }
    }

    impl From<EventLogError> for ProcessError {
        fn from(e: EventLogError) -> Self {
            match e {
                EventLogError::Store(e) => e.into(),
                EventLogError::Contended(e) => e.into(),
                decode @ EventLogError::Decode { .. } => {
                    Rejection::new(CORRUPT_STATE, decode.to_string()).into()
                }
            }
        }
    }
}

pub use state_errors::CORRUPT_STATE;
