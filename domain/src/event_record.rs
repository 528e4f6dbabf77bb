//! What happened to one submitted event, step by step, as the partner sees
//! it at `GET /v1/events/{id}`.
//!
//! Steps only accumulate: merging a step already present changes nothing,
//! so every stage may record its step again on a retry or a replay, in any
//! order, and the result is the same.

use serde::{Deserialize, Serialize};

/// Where an event is on the signing path, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventState {
    /// The edge wrote it to Kafka (HTTP only).
    Accepted,
    /// validate: authentic, parties active.
    Validated,
    /// template-check: applied to its contract.
    Recorded,
    /// countersign: Moneta countersigned the contract it completed.
    Countersigned,
    /// The countersigned contract reached a party's webhook endpoint (one
    /// step per party, stage `webhook-delivery:<organization id>`).
    Delivered,
    /// Refused, with a reason; final.
    Rejected,
}

impl EventState {
    /// The `snake_case` name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventState::Accepted => "accepted",
            EventState::Validated => "validated",
            EventState::Recorded => "recorded",
            EventState::Countersigned => "countersigned",
            EventState::Delivered => "delivered",
            EventState::Rejected => "rejected",
        }
    }
}

/// One step of an event's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventStep {
    /// The state reached.
    pub state: EventState,
    /// The stage that recorded it (`ingest`, `validate`, …).
    pub stage: String,
    /// When, ms since the epoch (the input record's timestamp, so replays agree).
    pub at_ms: i64,
    /// Stable reason code, for rejections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable reason, for rejections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The input record it was recorded for (`topic/partition/offset`): a
    /// stage tells a redo of that record from the same event arriving again
    /// in another record (a partner's retry after an ambiguous timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A submitted event's record: its identity and its steps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// The partner's own event id.
    pub event_id: String,
    /// The submitting organization (MO or publisher id).
    pub partner_id: String,
    /// The contract it concerns.
    pub contract_id: String,
    /// SHA-256 (hex) of the event's signed content: a second event with the
    /// same id and another fingerprint is a duplicate id, not a retry.
    pub fingerprint: String,
    /// Steps reached, in the order recorded.
    pub steps: Vec<EventStep>,
}

impl EventRecord {
    /// The store key: event ids are unique per partner.
    pub fn key(partner_id: &str, event_id: &str) -> String {
        format!("{partner_id}/{event_id}")
    }

    /// The furthest state reached (a rejection is final).
    pub fn state(&self) -> Option<EventState> {
        self.steps.iter().map(|s| s.state).max()
    }

    /// The step recorded for `state`, if any.
    pub fn step(&self, state: EventState) -> Option<&EventStep> {
        self.steps.iter().find(|s| s.state == state)
    }

    /// Adds `step` unless a step with its state is already there (for
    /// `delivered`, one per receiving party: its state and stage); returns
    /// whether anything changed.
    pub fn merge(&mut self, step: EventStep) -> bool {
        let same = |s: &EventStep| {
            s.state == step.state && (step.state != EventState::Delivered || s.stage == step.stage)
        };
        if self.steps.iter().any(same) {
            return false;
        }
        self.steps.push(step);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(state: EventState, at_ms: i64) -> EventStep {
        EventStep {
            state,
            stage: "s".into(),
            at_ms,
            code: None,
            message: None,
            source: None,
        }
    }

    #[test]
    fn merging_is_idempotent_and_order_free() {
        let mut record = EventRecord {
            event_id: "e".into(),
            partner_id: "p".into(),
            contract_id: "c".into(),
            fingerprint: "f".into(),
            steps: vec![],
        };
        assert!(record.merge(step(EventState::Validated, 2)));
        assert!(record.merge(step(EventState::Accepted, 1)));
        assert!(!record.merge(step(EventState::Validated, 9)));
        assert_eq!(record.state(), Some(EventState::Validated));
        assert_eq!(record.step(EventState::Validated).map(|s| s.at_ms), Some(2));
        assert!(record.merge(step(EventState::Rejected, 3)));
        assert_eq!(record.state(), Some(EventState::Rejected));
        assert_eq!(EventRecord::key("p", "e"), "p/e");
    }

    #[test]
    fn each_party_has_its_own_delivered_step() {
        let mut record = EventRecord {
            event_id: "e".into(),
            partner_id: "p".into(),
            contract_id: "c".into(),
            fingerprint: "f".into(),
            steps: vec![],
        };
        let delivered = |to: &str, at_ms| EventStep {
            stage: format!("webhook-delivery:{to}"),
            ..step(EventState::Delivered, at_ms)
        };
        assert!(record.merge(delivered("mo-1", 5)));
        assert!(record.merge(delivered("pub-1", 6)));
        assert!(!record.merge(delivered("mo-1", 7)));
        assert_eq!(record.steps.len(), 2);
        assert_eq!(record.state(), Some(EventState::Delivered));
    }
}
