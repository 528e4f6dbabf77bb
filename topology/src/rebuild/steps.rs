//! The event-record steps a rebuild derives from the log without running a
//! stage: the edge's `accepted` step, template-check's `recorded` and
//! `rejected` steps on restored contract rows, and which old records to
//! carry because their submission is gone.

use std::collections::BTreeMap;

use moneta_avro::{ContractEvent, RejectedEvent, SchemaName, Source};
use moneta_domain::{EventRecord, EventState, EventStep, Party};
use moneta_processors::contracts::{PathContext, domain_party};
use moneta_processors::template_check;
use moneta_runtime::{Record, Rejection};
use moneta_state::EventLog;

use super::RebuildError;
use crate::Services;

/// The contract event a record carries, if it decodes.
async fn decode_event(services: &Services, record: &Record) -> Option<ContractEvent> {
    let payload = record.payload.as_deref()?;
    services
        .codec
        .decode::<ContractEvent>(SchemaName::ContractEvent, payload)
        .await
        .ok()
}

/// The edge's `accepted` step of an HTTP event (what `moneta up`'s ingest
/// edge writes after the broker acknowledged the record).
pub(super) async fn accepted(
    services: &Services,
    events: &EventLog,
    record: &Record,
) -> Result<(), RebuildError> {
    // Undecodable: validate dead-letters it; the edge never wrote it.
    let Some(event) = decode_event(services, record).await else {
        return Ok(());
    };
    let (Source::Http, Some(partner), Some(at_ms)) =
        (&event.source, &event.submitted_by, event.received_at_ms)
    else {
        return Ok(());
    };
    let template = EventRecord {
        event_id: event.event_id.clone(),
        partner_id: partner.clone(),
        contract_id: event.contract.contract_id.clone(),
        fingerprint: event.fingerprint(),
        steps: Vec::new(),
    };
    let step = EventStep {
        state: EventState::Accepted,
        stage: "ingest".into(),
        at_ms,
        code: None,
        message: None,
        source: None,
    };
    events
        .merge(&template, step)
        .await
        .map_err(|e| RebuildError::Record {
            what: format!("event record {partner}/{}", event.event_id),
            reason: e.to_string(),
        })?;
    Ok(())
}

/// Whether the rebuilt store lacks `old`'s record or the step it began
/// with: the event's submission is gone from the log.
pub(super) async fn submission_gone(
    events: &EventLog,
    old: &EventRecord,
) -> Result<bool, moneta_state::EventLogError> {
    let Some(first) = old.steps.first() else {
        return Ok(false);
    };
    Ok(events
        .get(&old.partner_id, &old.event_id)
        .await?
        .is_none_or(|rebuilt| rebuilt.step(first.state).is_none()))
}

/// template-check's refusals, by partner and event id, from the rejected topic.
pub(super) type Refusals = BTreeMap<(String, String), Rejection>;

/// The refusals template-check wrote to the rejected topic.
pub(super) async fn refusals(services: &Services, rejected: Option<&Vec<Record>>) -> Refusals {
    let mut found = Refusals::new();
    for record in rejected.into_iter().flatten() {
        let Some(payload) = record.payload.as_deref() else {
            continue;
        };
        let Ok(rejected) = services
            .codec
            .decode::<RejectedEvent>(SchemaName::RejectedEvent, payload)
            .await
        else {
            continue;
        };
        if let (true, Some(partner), Some(event)) = (
            rejected.stage == template_check::STAGE,
            rejected.partner_id,
            rejected.event_id,
        ) {
            found.insert(
                (partner, event),
                Rejection::new(rejected.code, rejected.message),
            );
        }
    }
    found
}

/// template-check's step of a validated event on the restored rows:
/// `recorded` if its contract's row applied it, `rejected` with its reason
/// if template-check refused it.
pub(super) async fn contract_step(
    services: &Services,
    ctx: &PathContext,
    refusals: &Refusals,
    record: &Record,
) -> Result<(), RebuildError> {
    let Some(event) = decode_event(services, record).await else {
        return Ok(());
    };
    let partner = match domain_party(event.signature.party) {
        Some(Party::Mo) => event.contract.mo_id.clone(),
        Some(Party::Publisher) => event.contract.publisher_id.clone(),
        None => return Ok(()),
    };
    let what = || format!("event {partner}/{}", event.event_id);
    let key = EventRecord::key(&partner, &event.event_id);
    let applied = ctx
        .load_contract(&event.contract.contract_id)
        .await
        .map_err(|e| RebuildError::Record {
            what: format!("contract {}", event.contract.contract_id),
            reason: e.to_string(),
        })?
        .is_some_and(|row| row.has_event(&key));
    let refusal = refusals.get(&(partner.clone(), event.event_id.clone()));
    let (state, refusal) = match (applied, refusal) {
        (true, _) => (EventState::Recorded, None),
        (false, Some(refusal)) => (EventState::Rejected, Some(refusal)),
        (false, None) => return Ok(()),
    };
    ctx.record_step(
        &partner,
        &event,
        template_check::STAGE,
        record,
        state,
        refusal,
    )
    .await
    .map_err(|e| RebuildError::Record {
        what: what(),
        reason: e.to_string(),
    })?;
    Ok(())
}
