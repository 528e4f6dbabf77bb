//! Record values on the wire, written once: every typed topic carries Avro
//! in the Confluent wire format, its schema registered under the topic's
//! subject. Stages see [`Message`]s; this is where they become bytes.

use std::collections::BTreeMap;
use std::sync::Arc;

use moneta_avro::{AvroCodec, CodecError, SchemaName};
use moneta_records::Message;

use crate::processor::{Output, ProcessError, Record, Rejection};

/// One record a stage wants written: a typed value on a declared topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Emit {
    /// Destination topic; must be one of the stage's declared outputs.
    pub topic: String,
    /// Key (a contract id, or a settlement key): records of one key stay in
    /// one partition and in order.
    pub key: String,
    /// The value.
    pub value: Message,
}

impl Emit {
    /// `value` on `topic` under `key`.
    pub fn new(
        topic: impl Into<String>,
        key: impl Into<String>,
        value: impl Into<Message>,
    ) -> Self {
        Self {
            topic: topic.into(),
            key: key.into(),
            value: value.into(),
        }
    }
}

/// The codec of one stage: the schema of each topic it reads or writes, and
/// the registry-backed Avro codec.
#[derive(Clone)]
pub struct Serdes {
    codec: Arc<AvroCodec>,
    schemas: BTreeMap<String, SchemaName>,
}

impl Serdes {
    /// Serdes over `codec` for these topics and their value schemas.
    pub fn new(
        codec: Arc<AvroCodec>,
        topics: impl IntoIterator<Item = (String, SchemaName)>,
    ) -> Self {
        Self {
            codec,
            schemas: topics.into_iter().collect(),
        }
    }

    /// The record's value as the message of its topic's schema. A record
    /// without a value, on an undeclared topic or not decodable is rejected
    /// (dead-lettered); an unreachable registry is transient.
    pub async fn decode(&self, record: &Record) -> Result<Message, ProcessError> {
        let schema = self.schema(&record.topic, "undeclared_input")?;
        let payload = record
            .payload
            .as_deref()
            .ok_or_else(|| Rejection::new("invalid_avro", "record has no value"))?;
        self.codec
            .decode_message(schema, payload)
            .await
            .map_err(|e| classify(e, "invalid_avro"))
    }

    /// The output record of `emit`; its topic must be declared with the
    /// schema of its value.
    pub async fn encode(&self, emit: &Emit) -> Result<Output, ProcessError> {
        let schema = self.schema(&emit.topic, "undeclared_output")?;
        if schema != emit.value.schema() {
            return Err(Rejection::new(
                "undeclared_output",
                format!(
                    "{} carries {:?} records, the stage emitted a {:?}",
                    emit.topic,
                    schema,
                    emit.value.schema()
                ),
            )
            .into());
        }
        let key = self
            .codec
            .encode_key(&emit.topic, &emit.key)
            .await
            .map_err(|e| classify(e, "unencodable"))?;
        let payload = self
            .codec
            .encode_message(&emit.topic, &emit.value)
            .await
            .map_err(|e| classify(e, "unencodable"))?;
        Ok(Output {
            topic: emit.topic.clone(),
            key: Some(key),
            payload: Some(payload),
            headers: Vec::new(),
        })
    }

    fn schema(&self, topic: &str, code: &str) -> Result<SchemaName, Rejection> {
        self.schemas.get(topic).copied().ok_or_else(|| {
            Rejection::new(
                code,
                format!("topic {topic} is not declared for this stage"),
            )
        })
    }
}

/// A codec failure as the runtime treats it: retriable or a rejection.
fn classify(e: CodecError, code: &str) -> ProcessError {
    if e.is_retriable() {
        ProcessError::Transient(Box::new(e))
    } else {
        ProcessError::Rejected(Rejection::new(code, e.to_string()))
    }
}
