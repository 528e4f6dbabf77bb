//! `copy`: moves each record unchanged to its output topic and records one
//! effect per record id. It is the baseline the other processors are
//! measured against and the runtime's own smoke test.
//!
//! Input: a JSON object with a string `id`. Anything else is dead-lettered
//! with code `invalid_json` or `missing_id`.

use std::future::Future;
use std::sync::Arc;

use moneta_runtime::{Effect, Outcome, Output, ProcessError, Processor, Record, Rejection};

/// The copy processor.
#[derive(Debug, Clone)]
pub struct Copy {
    output_topic: String,
}

impl Copy {
    /// A copy processor writing to `output_topic`.
    pub fn new(output_topic: impl Into<String>) -> Self {
        Self {
            output_topic: output_topic.into(),
        }
    }
}

/// The part of a copied record the processor reads.
#[derive(Debug, serde::Deserialize)]
struct Envelope {
    id: String,
}

impl Processor for Copy {
    type Input = String;

    fn decode(
        &self,
        record: &Arc<Record>,
    ) -> impl Future<Output = Result<String, ProcessError>> + Send + 'static {
        std::future::ready(id_of(record).map_err(ProcessError::from))
    }

    async fn process(&mut self, id: String, record: &Record) -> Result<Outcome, ProcessError> {
        Ok(Outcome {
            outputs: vec![Output {
                topic: self.output_topic.clone(),
                key: Some(id.clone().into_bytes()),
                payload: record.payload.clone(),
                headers: vec![],
            }],
            effects: vec![Effect {
                id: format!("copy:{id}"),
                value: Vec::new(),
            }],
        })
    }
}

/// The `id` field of a copied record's JSON value.
fn id_of(record: &Record) -> Result<String, Rejection> {
    let payload = record
        .payload
        .as_deref()
        .ok_or_else(|| Rejection::new("invalid_json", "record has no value"))?;
    let value: serde_json::Value = serde_json::from_slice(payload)
        .map_err(|e| Rejection::new("invalid_json", format!("value is not JSON: {e}")))?;
    let envelope: Envelope = serde_json::from_value(value)
        .map_err(|e| Rejection::new("missing_id", format!("no string field `id`: {e}")))?;
    Ok(envelope.id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(payload: &[u8]) -> Record {
        Record {
            topic: "in".into(),
            partition: 0,
            offset: 3,
            key: None,
            payload: Some(payload.to_vec()),
            headers: vec![],
            timestamp_ms: None,
            stream_time: Default::default(),
        }
    }

    #[test]
    fn decodes_the_id_or_rejects_with_a_stable_code() {
        assert_eq!(
            id_of(&record(br#"{"id":"a1","n":2}"#)),
            Ok("a1".to_string())
        );
        assert_eq!(
            id_of(&record(b"\xff")).map_err(|r| r.code),
            Err("invalid_json".into())
        );
        assert_eq!(
            id_of(&record(br#"{"n":2}"#)).map_err(|r| r.code),
            Err("missing_id".into())
        );
    }

    #[tokio::test]
    async fn copies_the_payload_and_keys_the_effect_by_id() {
        let mut copy = Copy::new("out");
        let rec = record(br#"{"id":"a1"}"#);
        let outcome = copy.process("a1".into(), &rec).await.expect("process");
        assert_eq!(outcome.outputs[0].topic, "out");
        assert_eq!(outcome.outputs[0].payload, rec.payload);
        assert_eq!(outcome.effects[0].id, "copy:a1");
    }
}
