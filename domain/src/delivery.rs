//! Webhook deliveries: one per (contract version, endpoint), and every
//! attempt made to deliver it.
//!
//! A delivery's id is the Standard Webhooks `webhook-id`: deterministic, the
//! same on every retry and every replay, so receivers drop duplicates.

use serde::{Deserialize, Serialize};

use crate::entity::Kind;

/// Where a delivery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending,
    /// A 2xx answered it.
    Delivered,
    /// Every attempt failed (or the endpoint is gone): dead-lettered.
    Failed,
}

impl DeliveryState {
    /// The `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Failed => "failed",
        }
    }
}

/// One message to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The `webhook-id`.
    pub id: String,
    /// The endpoint it goes to.
    pub endpoint_id: String,
    /// The endpoint's organization.
    pub organization_id: String,
    /// The contract it is about.
    pub contract_id: String,
    /// The contract version it carries.
    pub contract_version: u64,
    /// The event type, e.g. `contract.countersigned`.
    pub event_type: String,
    /// The JSON body sent, exactly.
    pub payload: String,
    /// Where it is.
    pub state: DeliveryState,
    /// Attempts made so far.
    pub attempts: u32,
    /// When the next attempt is due, ms since the epoch.
    pub next_attempt_at_ms: i64,
    /// When it was scheduled (the source record's time), ms since the epoch.
    pub created_at_ms: i64,
    /// The last attempt's HTTP status, if it got one.
    #[serde(default)]
    pub last_status: Option<u16>,
    /// The last attempt's error, if any.
    #[serde(default)]
    pub last_error: Option<String>,
    /// When it was delivered or given up, ms since the epoch.
    #[serde(default)]
    pub finished_at_ms: Option<i64>,
    /// Attempts ever made, redeliveries included (numbers attempt records).
    #[serde(default)]
    pub total_attempts: u32,
    /// `partner/event_id` of the event this delivery reports, to mark it delivered.
    #[serde(default)]
    pub event_key: Option<String>,
    /// W3C trace context of the record that caused it.
    #[serde(default)]
    pub traceparent: Option<String>,
    /// Pending but not due soon (a long backoff, an open circuit): kept out
    /// of the worker's frequent scan until it is due again.
    #[serde(default)]
    pub parked: bool,
}

impl Delivery {
    /// Index: state (`pending` deliveries are the retry queue).
    pub const INDEX_STATE: &'static str = "state";
    /// Index: endpoint.
    pub const INDEX_ENDPOINT: &'static str = "endpoint";
    /// Index: contract.
    pub const INDEX_CONTRACT: &'static str = "contract";
    /// The store table.
    pub const KIND: Kind = Kind::WebhookDelivery;

    /// The `state` index value of parked pending deliveries.
    pub const PARKED: &'static str = "parked";

    /// The index entries of this delivery.
    pub fn indexes(&self) -> Vec<(&'static str, String)> {
        let state = match self.state {
            DeliveryState::Pending if self.parked => Self::PARKED,
            other => other.as_str(),
        };
        vec![
            (Self::INDEX_STATE, state.to_owned()),
            (Self::INDEX_ENDPOINT, self.endpoint_id.clone()),
            (Self::INDEX_CONTRACT, self.contract_id.clone()),
        ]
    }
}

/// One attempt to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// `<delivery id>/<attempt number>`.
    pub id: String,
    /// The delivery.
    pub delivery_id: String,
    /// Its endpoint.
    pub endpoint_id: String,
    /// Its contract.
    pub contract_id: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started, ms since the epoch.
    pub at_ms: i64,
    /// HTTP status, if a response came.
    pub status: Option<u16>,
    /// How long it took, ms.
    pub latency_ms: u64,
    /// What went wrong, if anything.
    pub error: Option<String>,
    /// `delivered`, `retry`, `gone`, `refused`, `circuit_open`.
    pub outcome: String,
    /// The start of the body of a non-2xx response (256 bytes at most).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

impl DeliveryAttempt {
    /// The store table.
    pub const KIND: Kind = Kind::DeliveryAttempt;

    /// The index entries of this attempt (by endpoint, by contract).
    pub fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![
            (Delivery::INDEX_ENDPOINT, self.endpoint_id.clone()),
            (Delivery::INDEX_CONTRACT, self.contract_id.clone()),
        ]
    }
}
