//! `webhook-dispatch`: tells the parties' webhook endpoints what happened
//! to their contracts.
//!
//! - A contract still awaiting signatures (recorded `PENDING`): a
//!   `contract.signature_requested` message to each party that must sign
//!   now (the next in the template's order, or every required party that
//!   has not signed), with the terms it signs.
//! - A countersigned contract: `contract.countersigned`, and
//!   `contract.finalized` (the same contract), to both parties.
//! - A contract expired unsigned (recorded `EXPIRED`, see
//!   [`crate::expiry`]): `contract.expired` to both parties.
//!
//! For every enabled endpoint that takes the message's type, it writes one
//! pending delivery to the state store, keyed by its deterministic
//! `webhook-id` (contract, version, endpoint, and the type for the
//! `contract.signature_requested` and `contract.finalized` messages): a
//! replay finds it scheduled and adds nothing. The HTTP work is the
//! delivery worker's (`moneta_webhooks::worker`), so a slow or dead
//! endpoint never holds up this partition.

use std::sync::Arc;

use moneta_domain::{Delivery, DeliveryState, Party, WebhookEndpoint};
use moneta_records::{Contract, ContractStatus};
use moneta_runtime::{Emitted, ProcessError, Record, Rejection, Stage};
use moneta_state::Deliveries;
use serde_json::{Value, json};

use crate::contracts::{PathContext, domain_party};
use crate::expiry;
use crate::rules::{RulesConfig, format_rfc3339_ms};
use crate::templates::TemplateCache;

/// The stage name.
pub const STAGE: &str = "webhook-dispatch";

/// The event type of a countersigned contract.
pub const CONTRACT_COUNTERSIGNED: &str = "contract.countersigned";
/// The event type of a contract every party and Moneta have signed (the
/// same message as `contract.countersigned`, under the lifecycle's name).
pub const CONTRACT_FINALIZED: &str = "contract.finalized";
/// The event type of a contract awaiting the receiving party's signature.
pub const CONTRACT_SIGNATURE_REQUESTED: &str = "contract.signature_requested";
/// The event type of a contract whose signing deadline passed unsigned.
pub const CONTRACT_EXPIRED: &str = "contract.expired";

/// The webhook-dispatch processor.
#[derive(Clone)]
pub struct WebhookDispatch {
    ctx: PathContext,
    deliveries: Deliveries,
    templates: Arc<TemplateCache>,
    rules: RulesConfig,
}

impl WebhookDispatch {
    /// A dispatcher in `ctx`; `rules` give the default signing deadline.
    pub fn new(ctx: PathContext, rules: RulesConfig) -> Self {
        Self {
            rules,
            deliveries: Deliveries::new(ctx.store.clone()),
            templates: Arc::new(TemplateCache::new(ctx.registry.clone())),
            ctx,
        }
    }

    /// A countersigned contract, to both parties.
    async fn countersigned(
        &self,
        contract: Contract,
        record: &Record,
    ) -> Result<Emitted, ProcessError> {
        let at_ms = record.time_ms()?;
        let parties = [
            contract.terms.mo_id.as_str(),
            contract.terms.publisher_id.as_str(),
        ];
        for event_type in [CONTRACT_COUNTERSIGNED, CONTRACT_FINALIZED] {
            let message = Notification {
                event_type,
                subject_id: &contract.contract_id,
                version: u64::try_from(contract.version).unwrap_or_default(),
                payload: payload(&contract, event_type, at_ms, &[], None)?,
                at_ms,
                // Either message delivered marks the completing event
                // `delivered` for that party (once per party).
                event_key: completing_event(&contract),
            };
            schedule(&self.ctx, &self.deliveries, &parties, &message, record).await?;
        }
        Ok(Emitted::default())
    }

    /// A contract expired unsigned, to both parties.
    async fn expired(&self, contract: Contract, record: &Record) -> Result<Emitted, ProcessError> {
        let at_ms = record.time_ms()?;
        let message = Notification {
            event_type: CONTRACT_EXPIRED,
            subject_id: &contract.contract_id,
            version: u64::try_from(contract.version).unwrap_or_default(),
            payload: payload(&contract, CONTRACT_EXPIRED, at_ms, &[], None)?,
            at_ms,
            event_key: None,
        };
        let parties = [
            contract.terms.mo_id.as_str(),
            contract.terms.publisher_id.as_str(),
        ];
        schedule(&self.ctx, &self.deliveries, &parties, &message, record).await?;
        Ok(Emitted::default())
    }

    /// A recorded contract: if it awaits signatures, a request to each
    /// party that must sign now.
    async fn recorded(&self, contract: Contract, record: &Record) -> Result<Emitted, ProcessError> {
        if contract.status == ContractStatus::Expired {
            return self.expired(contract, record).await;
        }
        if contract.status != ContractStatus::Pending {
            return Ok(Emitted::default());
        }
        let version = u32::try_from(contract.terms.template_version).unwrap_or_default();
        let Some(template) = self
            .templates
            .get(&contract.terms.template_name, version)
            .await?
        else {
            return Err(Rejection::new(
                "unknown_template",
                format!(
                    "no template {} version {} for recorded contract {}",
                    contract.terms.template_name, version, contract.contract_id
                ),
            )
            .into());
        };
        let signed: Vec<Party> = contract
            .signatures
            .iter()
            .filter_map(|s| domain_party(s.party))
            .collect();
        let awaited = template.document.awaited(&signed);
        let at_ms = record.time_ms()?;
        let message = Notification {
            event_type: CONTRACT_SIGNATURE_REQUESTED,
            subject_id: &contract.contract_id,
            version: u64::try_from(contract.version).unwrap_or_default(),
            payload: payload(
                &contract,
                CONTRACT_SIGNATURE_REQUESTED,
                at_ms,
                &awaited,
                Some(contract.created_at + expiry::expiry_s(&template.document, &self.rules)),
            )?,
            at_ms,
            event_key: None,
        };
        let parties: Vec<&str> = awaited
            .iter()
            .map(|party| match party {
                Party::Mo => contract.terms.mo_id.as_str(),
                Party::Publisher => contract.terms.publisher_id.as_str(),
            })
            .collect();
        schedule(&self.ctx, &self.deliveries, &parties, &message, record).await?;
        Ok(Emitted::default())
    }
}

/// One message for the parties' webhook endpoints.
pub struct Notification<'a> {
    /// The event type endpoints subscribe to.
    pub event_type: &'static str,
    /// What it is about (a contract, a report): part of the `webhook-id`.
    pub subject_id: &'a str,
    /// Its version: part of the `webhook-id`.
    pub version: u64,
    /// The JSON body.
    pub payload: String,
    /// When it happened (the source record's time), ms.
    pub at_ms: i64,
    /// `partner/event_id` to mark delivered, if any.
    pub event_key: Option<String>,
}

impl Notification<'_> {
    /// The message's `webhook-id` for `endpoint_id`. The lifecycle messages
    /// about one contract version (a signature request, the finalization)
    /// include their type, so they never share an id with the
    /// `contract.countersigned` message of that version.
    pub fn webhook_id(&self, endpoint_id: &str) -> String {
        match self.event_type {
            CONTRACT_SIGNATURE_REQUESTED | CONTRACT_FINALIZED | CONTRACT_EXPIRED => {
                moneta_webhooks::webhook_id(
                    &format!("{}#{}", self.subject_id, self.event_type),
                    self.version,
                    endpoint_id,
                )
            }
            _ => moneta_webhooks::webhook_id(self.subject_id, self.version, endpoint_id),
        }
    }
}

/// Schedules `data` as a Standard Webhooks message of `event_type` about
/// `subject_id` (`{"type", "timestamp", "data"}`, timestamped with the
/// record's time) for both parties' endpoints that take it.
pub async fn notify(
    ctx: &PathContext,
    deliveries: &Deliveries,
    event_type: &'static str,
    subject_id: &str,
    parties: [&str; 2],
    data: &impl serde::Serialize,
    record: &Record,
) -> Result<(), ProcessError> {
    let at_ms = record.time_ms()?;
    let body = serde_json::json!({
        "type": event_type,
        "timestamp": crate::rules::format_rfc3339_ms(at_ms),
        "data": data,
    });
    let message = Notification {
        event_type,
        subject_id,
        version: 1,
        payload: body.to_string(),
        at_ms,
        event_key: None,
    };
    schedule(ctx, deliveries, &parties, &message, record).await
}

/// Schedules `message` for every enabled endpoint of `parties` that takes
/// its event type; idempotent by the deterministic `webhook-id`.
pub async fn schedule(
    ctx: &PathContext,
    deliveries: &Deliveries,
    parties: &[&str],
    message: &Notification<'_>,
    record: &Record,
) -> Result<(), ProcessError> {
    for organization in parties {
        let endpoints = ctx
            .registry
            .find::<WebhookEndpoint>(WebhookEndpoint::INDEX_ORGANIZATION, organization)
            .await?;
        for endpoint in endpoints.into_iter().map(|v| v.entity) {
            if !endpoint.accepts(message.event_type) {
                continue;
            }
            let delivery = Delivery {
                id: message.webhook_id(&endpoint.id),
                endpoint_id: endpoint.id.clone(),
                organization_id: endpoint.organization_id.clone(),
                contract_id: message.subject_id.to_owned(),
                contract_version: message.version,
                event_type: message.event_type.into(),
                payload: message.payload.clone(),
                state: DeliveryState::Pending,
                attempts: 0,
                next_attempt_at_ms: message.at_ms,
                created_at_ms: message.at_ms,
                last_status: None,
                last_error: None,
                finished_at_ms: None,
                total_attempts: 0,
                event_key: message.event_key.clone(),
                traceparent: traceparent(record),
                parked: false,
            };
            let new = deliveries
                .schedule(&delivery)
                .await
                .map_err(ProcessError::transient)?;
            tracing::info!(webhook_id = %delivery.id, endpoint = %endpoint.id, new, "delivery scheduled");
        }
    }
    Ok(())
}

/// The trace context a delivery continues: the stage's span's when spans
/// are exported, else the record's.
fn traceparent(record: &Record) -> Option<String> {
    moneta_telemetry::current()
        .map(|context| context.traceparent)
        .or_else(|| {
            record
                .header(moneta_telemetry::TRACEPARENT)
                .and_then(|v| std::str::from_utf8(v).ok())
                .map(str::to_owned)
        })
}

/// The partner event that completed the contract (before Moneta's).
fn completing_event(contract: &Contract) -> Option<String> {
    contract
        .events
        .iter()
        .rev()
        .map(|e| e.event_id.as_str())
        .find(|id| !id.starts_with("moneta/"))
        .map(str::to_owned)
}

/// The name of a contract status in webhook bodies and the API.
fn status_name(status: ContractStatus) -> &'static str {
    match status {
        ContractStatus::Pending => "pending",
        ContractStatus::Active => "active",
        ContractStatus::Disputed => "disputed",
        ContractStatus::Finalized => "finalized",
        ContractStatus::Rejected => "rejected",
        ContractStatus::Expired => "expired",
    }
}

/// The Standard Webhooks body: `type`, `timestamp`, `data` (the contract;
/// with `awaiting`, the parties asked to sign, for a signature request).
fn payload(
    contract: &Contract,
    event_type: &str,
    at_ms: i64,
    awaiting: &[Party],
    expires_at: Option<i64>,
) -> Result<String, ProcessError> {
    let terms: Value = serde_json::from_str(&contract.terms.terms_json)
        .map_err(|e| Rejection::new("malformed_terms", e.to_string()))?;
    let signatures: Vec<Value> = contract
        .signatures
        .iter()
        .map(|s| {
            json!({"party": s.party.name(), "key_id": s.key_id,
                   "signature": s.signature, "signed_at": s.signed_at})
        })
        .collect();
    let t = &contract.terms;
    let mut data = json!({
        "contract_id": contract.contract_id,
        "version": contract.version,
        "status": status_name(contract.status),
        "terms": {
            "contract_id": t.contract_id, "contract_type": t.contract_type,
            "template_name": t.template_name, "template_version": t.template_version,
            "mo_id": t.mo_id, "publisher_id": t.publisher_id, "mpass_id": t.mpass_id,
            "description": t.description, "terms": terms,
        },
        "signatures": signatures,
        "finalized_at": contract.finalized_at,
    });
    if event_type == CONTRACT_SIGNATURE_REQUESTED {
        data["awaiting"] = json!(awaiting.iter().map(|p| p.as_str()).collect::<Vec<_>>());
    }
    if let Some(expires_at) = expires_at {
        data["expires_at"] = json!(expires_at);
    }
    let body = json!({
        "type": event_type,
        "timestamp": format_rfc3339_ms(at_ms),
        "data": data,
    });
    Ok(body.to_string())
}

impl Stage for WebhookDispatch {
    /// Countersigned contracts; recorded contracts (for signature requests).
    type Input = Contract;

    async fn process(&self, contract: Contract, record: &Record) -> Result<Emitted, ProcessError> {
        if record.topic == self.ctx.topics.recorded {
            self.recorded(contract, record).await
        } else {
            self.countersigned(contract, record).await
        }
    }
}
