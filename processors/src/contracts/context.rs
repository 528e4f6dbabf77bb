//! The context every signing-path processor runs with, and the one way
//! they emit contracts and refusals.

use std::sync::Arc;

use moneta_domain::{Contract, EventRecord, EventState, EventStep};
use moneta_records::{ContractEvent, RejectedEvent};
use moneta_runtime::{Emit, Emitted, ProcessError, Record, Rejection};
use moneta_state::cas::Attempt;
use moneta_state::{ContractApplied, ContractWrite, EventLog, Merged, Registry, StateStore};

use super::topics::ContractTopics;

/// Shared by the signing-path stages: state, registry, event records, topics.
#[derive(Clone)]
pub struct PathContext {
    /// The state store (registry, contracts, event records).
    pub store: Arc<dyn StateStore>,
    /// Typed registry on the store.
    pub registry: Registry,
    /// Event records on the store.
    pub events: EventLog,
    /// The path's topics.
    pub topics: ContractTopics,
}

impl PathContext {
    /// A context on `store` with these topics.
    pub fn new(store: Arc<dyn StateStore>, topics: ContractTopics) -> Self {
        Self {
            registry: Registry::new(store.clone()),
            events: EventLog::new(store.clone()),
            store,
            topics,
        }
    }

    /// The contract, as produced by `event_key` from `partner`, on `topic`.
    pub fn contract(
        &self,
        topic: &str,
        contract: &Contract,
        event_key: &str,
        partner: &str,
    ) -> Emit {
        Emit::new(
            topic,
            contract.id.as_str(),
            super::convert::to_record(contract, event_key, partner),
        )
    }

    /// The contract's row on the contract changelog, keyed by contract id:
    /// the record names the last event applied and its submitter.
    pub fn row(&self, contract: &Contract) -> Emit {
        Emit::new(
            self.topics.contract_changelog.as_str(),
            contract.id.as_str(),
            super::convert::row_record(contract),
        )
    }

    /// The contract row `id`; a row that does not decode is corrupt
    /// (`corrupt_state`: the record is dead-lettered, the partition moves on).
    pub async fn load_contract(&self, id: &str) -> Result<Option<Contract>, ProcessError> {
        let Some(stored) = self.store.get_contract(id).await? else {
            return Ok(None);
        };
        serde_json::from_slice(&stored.body)
            .map(Some)
            .map_err(|e| ProcessError::corrupt(format!("stored contract {id}: {e}")))
    }

    /// Writes `next` over the row at `expected` (0: absent) as the event
    /// `event_key`; `Lost` when another writer got there first (the caller
    /// reads again and retries).
    pub async fn write_contract(
        &self,
        next: &Contract,
        event_key: &str,
        expected: u64,
    ) -> Result<Attempt<()>, ProcessError> {
        let write = ContractWrite {
            contract_id: next.id.clone(),
            event_id: event_key.to_owned(),
            expected_version: expected,
            body: serde_json::to_vec(next)
                .map_err(|e| Rejection::new("unencodable", e.to_string()))?,
            keys: crate::template_check::keys(next),
        };
        Ok(match self.store.apply_contract(write).await? {
            ContractApplied::Applied { .. } => Attempt::Done(()),
            ContractApplied::AlreadyApplied { .. } | ContractApplied::Conflict { .. } => {
                Attempt::Lost
            }
        })
    }

    /// Logs the refusal and writes it to the rejected topic.
    pub fn refuse(
        &self,
        stage: &str,
        record: &Record,
        event: &ContractEvent,
        partner_id: Option<&str>,
        refusal: Rejection,
    ) -> Emitted {
        tracing::info!(code = %refusal.code, reason = %refusal.message, "event refused");
        let rejected = RejectedEvent {
            event_id: Some(event.event_id.clone()),
            contract_id: Some(event.contract.contract_id.clone()),
            partner_id: partner_id.map(str::to_owned),
            stage: stage.to_owned(),
            code: refusal.code,
            message: refusal.message,
            source_topic: record.topic.clone(),
            source_partition: record.partition,
            source_offset: record.offset,
            original: record.payload.clone(),
        };
        Emitted::of(vec![Emit::new(
            self.topics.rejected.as_str(),
            event.contract.contract_id.as_str(),
            rejected,
        )])
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
        refusal: Option<&Rejection>,
    ) -> Result<Merged, ProcessError> {
        let template = EventRecord {
            event_id: event.event_id.clone(),
            partner_id: partner_id.to_owned(),
            contract_id: event.contract.contract_id.clone(),
            fingerprint: event.fingerprint(),
            steps: Vec::new(),
        };
        let step = EventStep {
            state,
            stage: stage.to_owned(),
            at_ms: record.time_ms()?,
            code: refusal.map(|r| r.code.clone()),
            message: refusal.map(|r| r.message.clone()),
            source: Some(source_of(record)),
        };
        Ok(self.events.merge(&template, step).await?)
    }
}

/// `topic/partition/offset` of an input record, as event steps name it.
pub fn source_of(record: &Record) -> String {
    format!("{}/{}/{}", record.topic, record.partition, record.offset)
}

/// The refusal an event record stored for `stage`, if it has one.
pub fn stored_refusal(seen: &EventRecord, stage: &str) -> Option<Rejection> {
    let step = seen.step(EventState::Rejected)?;
    (step.stage == stage).then(|| {
        Rejection::new(
            step.code.clone().unwrap_or_else(|| "rejected".to_owned()),
            step.message.clone().unwrap_or_default(),
        )
    })
}
