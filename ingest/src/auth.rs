//! Who is calling: RFC 9421 HTTP message signatures with ed25519.
//!
//! A request carries `Signature-Input` and `Signature` (label of the
//! caller's choosing; the first is used) with `keyid` = a partner key id.
//! The signature must cover `@method`, `@path` and `created`, plus
//! `content-digest` (RFC 9530) when there is a body; `created` must be within
//! `±max_clock_skew_s` of the edge's clock, and a signature is accepted once.

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use moneta_domain::{
    KeyState, LifecycleStatus, MembershipOrganization, Organization, PartnerKey, Party, Publisher,
    RateLimit,
};
use moneta_problem::Problem;
use moneta_signing::{RequestParts, SigError, VerifyingKey};

use crate::Ingest;

/// An authenticated partner organization.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    /// The MO or publisher id that owns the key.
    pub organization_id: String,
    /// Which side of its contracts the organization is on.
    pub party: Party,
    /// The key that signed the request.
    pub key_id: String,
    /// The organization's own submission rate limit, if it has one.
    pub rate_limit: Option<RateLimit>,
}

fn unauthorized(code: &'static str, detail: impl Into<String>) -> Problem {
    Problem::new(StatusCode::UNAUTHORIZED, code, "Unauthorized", detail)
}

fn sig_problem(e: &SigError) -> Problem {
    unauthorized(e.code(), e.to_string())
}

/// Authenticates a request; `body` is checked against `Content-Digest`.
pub async fn authenticate(
    ingest: &Ingest,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
) -> Result<Partner, Problem> {
    let signatures =
        moneta_signing::parse_signatures_from_headers(headers).map_err(|e| sig_problem(&e))?;
    let signature = signatures.first().ok_or_else(|| {
        sig_problem(&SigError::MissingSignature(
            "send Signature-Input and Signature headers (RFC 9421)".into(),
        ))
    })?;
    let mut required = vec!["@method", "@path"];
    if !body.is_empty() {
        required.push("content-digest");
    }
    moneta_signing::require_components(signature, &required).map_err(|e| sig_problem(&e))?;
    if signature.params.created.is_none() {
        return Err(unauthorized(
            "missing_created",
            "the signature must carry a `created` parameter",
        ));
    }
    let skew = ingest.config.max_clock_skew_s;
    moneta_signing::httpsig::check_freshness(signature, now, skew, skew)
        .map_err(|e| sig_problem(&e))?;
    let key_id = signature
        .params
        .keyid
        .clone()
        .ok_or_else(|| unauthorized("missing_keyid", "the signature names no `keyid`"))?;
    let key = ingest
        .registry
        .get::<PartnerKey>(&key_id)
        .await
        .map_err(|e| internal(&e))?
        .map(|v| v.entity)
        .ok_or_else(|| unauthorized("unknown_key", format!("key {key_id} is not registered")))?;
    if key.state == KeyState::Revoked {
        return Err(unauthorized(
            "revoked_key",
            format!("key {key_id} is revoked"),
        ));
    }
    let verifying = decode_key(&key)?;
    let parts = RequestParts::new(method, uri, headers);
    moneta_signing::verify_request(&parts, signature, &verifying).map_err(|e| sig_problem(&e))?;
    if !body.is_empty() {
        let digest = headers
            .get("content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        moneta_signing::verify_content_digest(digest, body).map_err(|e| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                e.code(),
                "Bad content digest",
                e.to_string(),
            )
        })?;
    }
    let created = signature.params.created.unwrap_or(now);
    if !ingest
        .replays
        .first_use(&signature.signature, now, created + skew)
    {
        return Err(unauthorized(
            "replayed_request",
            "this signature was already used; sign each request anew",
        ));
    }
    let (rate_limit, party) = check_standing(ingest, &key.organization_id).await?;
    Ok(Partner {
        organization_id: key.organization_id,
        party,
        key_id,
        rate_limit,
    })
}

fn decode_key(key: &PartnerKey) -> Result<VerifyingKey, Problem> {
    moneta_signing::public_key(&key.public_key)
        .map_err(|_| unauthorized("invalid_key", "the registered key is not usable"))
}

/// 403 unless the key's organization (and the legal organization behind
/// it) is active; else the organization's own rate limit, if any, and its
/// side (MO or publisher).
async fn check_standing(
    ingest: &Ingest,
    organization_id: &str,
) -> Result<(Option<RateLimit>, Party), Problem> {
    let registry = &ingest.registry;
    let (status, legal, rate_limit, party) = if let Some(mo) = registry
        .get::<MembershipOrganization>(organization_id)
        .await
        .map_err(|e| internal(&e))?
    {
        (
            mo.entity.status,
            mo.entity.organization_id,
            mo.entity.rate_limit,
            Party::Mo,
        )
    } else if let Some(publisher) = registry
        .get::<Publisher>(organization_id)
        .await
        .map_err(|e| internal(&e))?
    {
        let p = publisher.entity;
        (p.status, p.organization_id, p.rate_limit, Party::Publisher)
    } else {
        return Err(forbidden(format!(
            "{organization_id} is neither an MO nor a publisher"
        )));
    };
    if status != LifecycleStatus::Active {
        return Err(forbidden(format!(
            "{organization_id} is {}",
            status.as_str()
        )));
    }
    if let Some(legal) = legal
        && let Some(org) = registry
            .get::<Organization>(&legal)
            .await
            .map_err(|e| internal(&e))?
        && org.entity.status != LifecycleStatus::Active
    {
        return Err(forbidden(format!(
            "the organization {legal} behind {organization_id} is {}",
            org.entity.status.as_str()
        )));
    }
    Ok((rate_limit, party))
}

fn forbidden(detail: String) -> Problem {
    Problem::new(
        StatusCode::FORBIDDEN,
        "organization_inactive",
        "Forbidden",
        detail,
    )
}

/// 500 `internal`, without the cause (logged instead).
pub fn internal(e: &dyn std::error::Error) -> Problem {
    tracing::error!(error = %e, "ingest edge failure");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "Internal error",
        "the request could not be completed; retry later",
    )
}
