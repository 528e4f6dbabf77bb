//! The context every signing-path processor runs with, and the one way
//! they write outputs and refusals.

use std::sync::Arc;

use moneta_avro::{AvroCodec, CodecError, ContractEvent, RejectedEvent, SchemaName};
use moneta_domain::{Contract, EventRecord, EventState, EventStep};
use moneta_runtime::{Outcome, Output, ProcessError, Record, Rejection};
use moneta_state::{EventLog, Merged, Registry, StateStore};
use serde::Serialize;

use super::convert::fingerprint;
use super::topics::ContractTopics;

/// Why an event is refused: a stable code and a message for the partner.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Refusal {
    /// Stable reason code (`docs/errors.md`).
    pub code: String,
    /// What was wrong.
    pub message: String,
}

impl Refusal {
    /// A refusal with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code: code.to_owned(),
            message: message.into(),
        }
    }
}

/// An outcome of one output record and no effects.
pub fn outcome(output: Output) -> Outcome {
    Outcome {
        outputs: vec![output],
        effects: Vec::new(),
    }
}

/// The span of `stage` processing `event`: contract, event and the
/// organization the signature claims (authenticated once validated).
pub fn span(stage: &'static str, event: &ContractEvent) -> tracing::Span {
    let partner = match event.signature.party {
        moneta_avro::Party::Mo => event.contract.mo_id.as_str(),
        moneta_avro::Party::Publisher => event.contract.publisher_id.as_str(),
        moneta_avro::Party::Moneta => "moneta",
    };
    tracing::info_span!(
        "process",
        stage,
        contract_id = %event.contract.contract_id,
        event_id = %event.event_id,
        partner,
    )
}

/// Wraps an infrastructure failure as retriable.
pub fn transient(e: impl std::error::Error + Send + Sync + 'static) -> ProcessError {
    ProcessError::Transient(Box::new(e))
}

/// Shared by validate, template-check and countersign.
#[derive(Clone)]
pub struct PathContext {
    /// The state store (registry, contracts, event records).
    pub store: Arc<dyn StateStore>,
    /// Typed registry on the store.
    pub registry: Registry,
    /// Event records on the store.
    pub events: EventLog,
    /// Avro in the Confluent wire format.
    pub codec: Arc<AvroCodec>,
    /// The path's topics.
    pub topics: ContractTopics,
}

impl PathContext {
    /// A context on `store` and `codec` with these topics.
    pub fn new(store: Arc<dyn StateStore>, codec: Arc<AvroCodec>, topics: ContractTopics) -> Self {
        Self {
            registry: Registry::new(store.clone()),
            events: EventLog::new(store.clone()),
            store,
            codec,
            topics,
        }
    }

    /// Decodes a record's value as `schema`; malformed values are
    /// dead-lettered, an unreachable registry is retried.
    pub async fn decode<T: serde::de::DeserializeOwned>(
        &self,
        schema: SchemaName,
        record: &Record,
    ) -> Result<T, ProcessError> {
        let payload = record
            .payload
            .as_deref()
            .ok_or_else(|| Rejection::new("invalid_avro", "record has no value"))?;
        self.codec
            .decode(schema, payload)
            .await
            .map_err(|e| codec_error(e, "invalid_avro"))
    }

    /// An output record on `topic`, keyed by `contract_id`.
    pub async fn output<T: Serialize>(
        &self,
        topic: &str,
        schema: SchemaName,
        contract_id: &str,
        value: &T,
    ) -> Result<Output, ProcessError> {
        let key = self
            .codec
            .encode_key(topic, contract_id)
            .await
            .map_err(|e| codec_error(e, "unencodable"))?;
        let payload = self
            .codec
            .encode(topic, schema, value)
            .await
            .map_err(|e| codec_error(e, "unencodable"))?;
        Ok(Output {
            topic: topic.to_owned(),
            key: Some(key),
            payload: Some(payload),
            headers: Vec::new(),
        })
    }

    /// The contract, produced by `event_key` from `partner`, on `topic`.
    pub async fn contract_output(
        &self,
        topic: &str,
        contract: &Contract,
        event_key: &str,
        partner: &str,
    ) -> Result<Outcome, ProcessError> {
        let avro = super::convert::to_avro(contract, event_key, partner);
        let output = self
            .output(topic, SchemaName::Contract, &contract.id, &avro)
            .await?;
        Ok(outcome(output))
    }

    /// Logs the refusal and writes it to the rejected topic.
    pub async fn refuse(
        &self,
        stage: &str,
        record: &Record,
        event: &ContractEvent,
        partner: Option<&str>,
        refusal: Refusal,
    ) -> Result<Outcome, ProcessError> {
        tracing::info!(code = %refusal.code, reason = %refusal.message, "event refused");
        let output = self
            .rejected_output(stage, record, event, partner, &refusal)
            .await?;
        Ok(outcome(output))
    }

    /// The rejected-topic record for `event` refused by `stage`.
    pub async fn rejected_output(
        &self,
        stage: &str,
        record: &Record,
        event: &ContractEvent,
        partner_id: Option<&str>,
        refusal: &Refusal,
    ) -> Result<Output, ProcessError> {
        let rejected = RejectedEvent {
            event_id: Some(event.event_id.clone()),
            contract_id: Some(event.contract.contract_id.clone()),
            partner_id: partner_id.map(str::to_owned),
            stage: stage.to_owned(),
            code: refusal.code.clone(),
            message: refusal.message.clone(),
            source_topic: record.topic.clone(),
            source_partition: record.partition,
            source_offset: record.offset,
            original: record.payload.clone(),
        };
        self.output(
            &self.topics.rejected,
            SchemaName::RejectedEvent,
            &event.contract.contract_id,
            &rejected,
        )
        .await
    }

    /// Records that `partner_id`'s `event` reached `state` (or was refused);
    /// idempotent.
    pub async fn record_step(
        &self,
        partner_id: &str,
        event: &ContractEvent,
        stage: &str,
        record: &Record,
        state: EventState,
        refusal: Option<&Refusal>,
    ) -> Result<Merged, ProcessError> {
        let template = EventRecord {
            event_id: event.event_id.clone(),
            partner_id: partner_id.to_owned(),
            contract_id: event.contract.contract_id.clone(),
            fingerprint: fingerprint(event),
            steps: Vec::new(),
        };
        let step = EventStep {
            state,
            stage: stage.to_owned(),
            at_ms: record.timestamp_ms.unwrap_or_default(),
            code: refusal.map(|r| r.code.clone()),
            message: refusal.map(|r| r.message.clone()),
        };
        self.events.merge(&template, step).await.map_err(transient)
    }
}

fn codec_error(e: CodecError, code: &str) -> ProcessError {
    if e.is_retriable() {
        transient(e)
    } else {
        ProcessError::Rejected(Rejection::new(code, e.to_string()))
    }
}
