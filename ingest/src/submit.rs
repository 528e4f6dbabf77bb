//! `POST /v1/events/{domain}`: a partner submits one signed contract event.
//!
//! The edge authenticates the request, checks the body's shape, refuses an
//! event id already used for other content, writes the event to the ingest
//! topic keyed by contract id, and answers `202 Accepted` only after the
//! broker acknowledged it. Everything else (contract signature, parties,
//! template, rules) happens downstream; `GET /v1/events/{id}` follows it.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use moneta_avro::{ContractEvent, Party, PartySignature, SchemaName, Source};
use moneta_domain::{ContractTerms, EventRecord, EventState, EventStep};
use moneta_problem::Problem;
use moneta_state::Merged;
use serde::Deserialize;
use serde_json::json;
use tracing::Instrument;

use crate::Ingest;
use crate::auth::{Partner, authenticate, internal};
use crate::idempotency::{Claim, StoredResponse};

/// The domains of ADR-001 and the contract type each takes.
pub const DOMAINS: [(&str, &str); 6] = [
    ("subscription_charges", "subscription_charge"),
    ("disputes", "dispute"),
    ("dispute_resolutions", "dispute_resolution"),
    ("reconciliations", "reconciliation"),
    ("settlements", "settlement"),
    ("settlement_statements", "settlement_statement"),
];

/// The body of a submission.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Submission {
    event_id: String,
    contract: ContractTerms,
    signature: SubmittedSignature,
}

/// The submitting party's signature over the canonical terms.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmittedSignature {
    party: SubmittedParty,
    key_id: String,
    signature: String,
    signed_at: i64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum SubmittedParty {
    Mo,
    Publisher,
}

/// `POST /v1/events/{domain}`.
pub async fn submit(
    State(ingest): State<Arc<Ingest>>,
    Path(domain): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let span = tracing::info_span!("submit", %domain, partner = tracing::field::Empty, event_id = tracing::field::Empty, contract_id = tracing::field::Empty);
    // A caller's W3C trace context is continued; without one the span
    // starts the contract's trace.
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    moneta_telemetry::continue_trace(
        &span,
        header(moneta_telemetry::TRACEPARENT),
        header(moneta_telemetry::TRACESTATE),
    );
    async move {
        let (Ok(mut response) | Err(mut response)) =
            handle(&ingest, &domain, &method, &uri, &headers, body).await;
        crate::admission::retry_after_on_503(&mut response);
        response
    }
    .instrument(span)
    .await
}

async fn handle(
    ingest: &Ingest,
    domain: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Response, Response> {
    // Before anything else: past the bound, refusing costs nothing.
    let _place = ingest
        .admission
        .enter()
        .map_err(IntoResponse::into_response)?;
    ingest
        .admission
        .pipeline_keeps_up()
        .map_err(IntoResponse::into_response)?;
    let contract_type = DOMAINS
        .iter()
        .find(|(d, _)| *d == domain)
        .map(|(_, t)| *t)
        .ok_or_else(|| {
            Problem::new(
                StatusCode::NOT_FOUND,
                "unknown_domain",
                "Unknown domain",
                format!(
                    "events are submitted to one of: {}",
                    DOMAINS.map(|(d, _)| d).join(", ")
                ),
            )
            .into_response()
        })?;
    let timeout = std::time::Duration::from_millis(ingest.config.body_timeout_ms);
    let body = tokio::time::timeout(
        timeout,
        axum::body::to_bytes(body, ingest.config.max_body_bytes),
    )
    .await
    .map_err(|_| {
        Problem::new(
            StatusCode::REQUEST_TIMEOUT,
            "body_timeout",
            "Request timeout",
            format!("the body did not arrive within {} ms", timeout.as_millis()),
        )
        .into_response()
    })?
    .map_err(|_| {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "Payload too large",
            format!("the body exceeds {} bytes", ingest.config.max_body_bytes),
        )
        .into_response()
    })?;
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            "send `Content-Type: application/json`",
        )
        .into_response());
    }
    let now = crate::now_s();
    let partner = authenticate(ingest, method, uri, headers, &body, now)
        .await
        .map_err(IntoResponse::into_response)?;
    tracing::Span::current().record("partner", partner.organization_id.as_str());
    let quota = ingest.admission.take(
        &partner.organization_id,
        partner.rate_limit,
        std::time::Instant::now(),
    );
    if !quota.admitted() {
        return Err(quota.refusal());
    }
    let (Ok(mut response) | Err(mut response)) = process(
        ingest,
        &partner,
        contract_type,
        (method, uri),
        headers,
        &body,
        now,
    )
    .await;
    quota.apply(&mut response);
    Ok(response)
}

/// The submission of an authenticated, admitted partner.
async fn process(
    ingest: &Ingest,
    partner: &Partner,
    contract_type: &str,
    (method, uri): (&Method, &Uri),
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Response, Response> {
    let idempotency_key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().unwrap_or("\u{0}").to_owned());
    let Some(key) = idempotency_key else {
        return accept(ingest, partner, contract_type, body, now)
            .await
            .map(IntoResponse::into_response)
            .map_err(IntoResponse::into_response);
    };
    let claim = ingest
        .idempotency
        .claim(
            &partner.organization_id,
            &key,
            (method.as_str(), uri.path(), body),
            now,
        )
        .await
        .map_err(IntoResponse::into_response)?;
    let ticket = match claim {
        Claim::Replay(stored) => return Ok(replayed(stored)),
        Claim::Proceed(ticket) => ticket,
    };
    let result = accept(ingest, partner, contract_type, body, now).await;
    let (response, stored) = match result {
        Ok(response) => response.into_stored(),
        Err(problem) if problem.status >= 500 => {
            ingest.idempotency.release(ticket).await;
            return Err(problem.into_response());
        }
        Err(problem) => Accepted::problem(problem).into_stored(),
    };
    ingest
        .idempotency
        .complete(ticket, stored)
        .await
        .map_err(IntoResponse::into_response)?;
    Ok(response)
}

/// A response the edge can also store for `Idempotency-Key` replays.
struct Accepted {
    status: StatusCode,
    content_type: &'static str,
    body: serde_json::Value,
    location: Option<String>,
}

impl Accepted {
    fn problem(problem: Problem) -> Self {
        Self {
            status: StatusCode::from_u16(problem.status).unwrap_or(StatusCode::BAD_REQUEST),
            content_type: "application/problem+json",
            body: serde_json::to_value(&problem).unwrap_or_default(),
            location: None,
        }
    }

    fn into_stored(self) -> (Response, StoredResponse) {
        let stored = StoredResponse {
            status: self.status.as_u16(),
            content_type: self.content_type.to_owned(),
            body: self.body.to_string(),
        };
        (self.into_response(), stored)
    }
}

impl IntoResponse for Accepted {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body.to_string(),
        )
            .into_response();
        if let Some(location) = self.location
            && let Ok(value) = location.parse()
        {
            response.headers_mut().insert(header::LOCATION, value);
        }
        response
    }
}

fn replayed(stored: StoredResponse) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    (
        status,
        [
            (header::CONTENT_TYPE, stored.content_type),
            (
                header::HeaderName::from_static("idempotent-replayed"),
                "true".to_owned(),
            ),
        ],
        stored.body,
    )
        .into_response()
}

fn malformed(detail: String) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        "malformed_json",
        "Malformed JSON",
        detail,
    )
}

fn unprocessable(code: &'static str, detail: String) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        code,
        "Unprocessable event",
        detail,
    )
}

/// Checks the body and writes the event to Kafka.
async fn accept(
    ingest: &Ingest,
    partner: &Partner,
    contract_type: &str,
    body: &[u8],
    now: i64,
) -> Result<Accepted, Problem> {
    let mut json = serde_json::Deserializer::from_slice(body);
    let submission: Submission = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        malformed(format!("at `{path}`: {}", e.inner()))
    })?;
    let span = tracing::Span::current();
    span.record("event_id", submission.event_id.as_str());
    span.record("contract_id", submission.contract.contract_id.as_str());
    if submission.contract.contract_type != contract_type {
        return Err(unprocessable(
            "domain_mismatch",
            format!(
                "this endpoint takes {contract_type} contracts, not {}",
                submission.contract.contract_type
            ),
        ));
    }
    let (party, signer) = match submission.signature.party {
        SubmittedParty::Mo => (Party::Mo, &submission.contract.mo_id),
        SubmittedParty::Publisher => (Party::Publisher, &submission.contract.publisher_id),
    };
    if *signer != partner.organization_id {
        return Err(unprocessable(
            "submitter_mismatch",
            format!(
                "the request is signed by {}, the contract signature by the {} party {signer}",
                partner.organization_id,
                match party {
                    Party::Mo => "mo",
                    _ => "publisher",
                }
            ),
        ));
    }
    let event = ContractEvent {
        event_id: submission.event_id.clone(),
        contract: moneta_avro::ContractTerms {
            contract_id: submission.contract.contract_id.clone(),
            contract_type: submission.contract.contract_type.clone(),
            template_name: submission.contract.template_name.clone(),
            template_version: i32::try_from(submission.contract.template_version)
                .map_err(|_| malformed("at `contract.template_version`: too large".into()))?,
            mo_id: submission.contract.mo_id.clone(),
            publisher_id: submission.contract.publisher_id.clone(),
            mpass_id: submission.contract.mpass_id.clone(),
            description: submission.contract.description.clone(),
            terms_json: submission.contract.terms.to_string(),
        },
        signature: PartySignature {
            party,
            key_id: submission.signature.key_id.clone(),
            signature: submission.signature.signature.clone(),
            signed_at: submission.signature.signed_at,
        },
        source: Source::Http,
        submitted_by: Some(partner.organization_id.clone()),
        received_at_ms: None,
    };
    let accepted = accepted_body(&event);
    let record = EventRecord {
        event_id: event.event_id.clone(),
        partner_id: partner.organization_id.clone(),
        contract_id: event.contract.contract_id.clone(),
        fingerprint: event.fingerprint(),
        steps: Vec::new(),
    };
    if let Some(seen) = ingest
        .events
        .get(&record.partner_id, &record.event_id)
        .await
        .map_err(|e| internal(&e))?
    {
        return if seen.fingerprint == record.fingerprint {
            Ok(accepted)
        } else {
            Err(duplicate_event(&event.event_id))
        };
    }
    let event = ContractEvent {
        received_at_ms: Some(now * 1000),
        ..event
    };
    ingest.produce(&event, &record).await?;
    let step = EventStep {
        state: EventState::Accepted,
        stage: "ingest".into(),
        at_ms: now * 1000,
        code: None,
        message: None,
        source: None,
    };
    match ingest.events.merge(&record, step).await {
        Ok(Merged::OtherContent(_)) => Err(duplicate_event(&event.event_id)),
        Ok(_) => Ok(accepted),
        Err(e) => Err(internal(&e)),
    }
}

fn duplicate_event(event_id: &str) -> Problem {
    Problem::new(
        StatusCode::CONFLICT,
        "duplicate_event_id",
        "Duplicate event id",
        format!("event id {event_id} was already used for a different event"),
    )
}

fn accepted_body(event: &ContractEvent) -> Accepted {
    let status_url = format!("/v1/events/{}", event.event_id);
    Accepted {
        status: StatusCode::ACCEPTED,
        content_type: "application/json",
        body: json!({
            "event_id": event.event_id,
            "contract_id": event.contract.contract_id,
            "status": EventState::Accepted.as_str(),
            "status_url": status_url,
            "contract_url": format!("/v1/contracts/{}", event.contract.contract_id),
        }),
        location: Some(status_url),
    }
}

/// Encodes `event`'s key and value for the ingest topic.
pub(crate) async fn encode(
    ingest: &Ingest,
    event: &ContractEvent,
) -> Result<(Vec<u8>, Vec<u8>), Problem> {
    let topic = &ingest.topic;
    let key = ingest
        .codec
        .encode_key(topic, &event.contract.contract_id)
        .await
        .map_err(|e| internal(&e))?;
    let value = ingest
        .codec
        .encode(topic, SchemaName::ContractEvent, event)
        .await
        .map_err(|e| internal(&e))?;
    Ok((key, value))
}
