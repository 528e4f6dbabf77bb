//! `validate`: is the event authentic, and are its parties in good standing?
//!
//! Reads the ingest topic (HTTP edge) and the partner ingress topic (partners
//! producing directly) alike. For each event: structural checks; the signing
//! key belongs to the signing party and is active; the ed25519 signature
//! verifies (`verify_strict`) over the canonical terms; both parties (and
//! their organizations) are active. Authentic events go to the validated
//! topic; refused ones to the rejected topic with a reason code.
//!
//! An event id seen before re-emits the earlier result and changes nothing;
//! the same id with other content is refused as `duplicate_event_id`.

use moneta_domain::id::{ID_RULE, is_valid_id};
use moneta_domain::{
    EventRecord, EventState, KeyState, LifecycleStatus, MembershipOrganization, Organization,
    PartnerKey, Party, Publisher,
};
use moneta_records::{ContractEvent, Source};
use moneta_runtime::{Emit, Emitted, Prepared, ProcessError, Record, Rejection, Stage};
use moneta_state::Merged;

use crate::contracts::{PathContext, domain_party, source_of, stored_refusal, to_domain_terms};

/// The stage name, as recorded in event steps and rejections.
pub const STAGE: &str = "validate";

/// The validate processor.
#[derive(Clone)]
pub struct Validate {
    ctx: PathContext,
}

impl Validate {
    /// A validate processor in `ctx`.
    pub fn new(ctx: PathContext) -> Self {
        Self { ctx }
    }

    async fn run(
        &self,
        event: ContractEvent,
        checked: Option<Result<String, Rejection>>,
        record: &Record,
    ) -> Result<Emitted, ProcessError> {
        let http_partner = submitter(&event)?;
        if let Some(partner) = &http_partner
            && let Some(outputs) = self.replay(partner, &event, record).await?
        {
            return Ok(outputs);
        }
        // A Kafka event is authenticated by its signature alone: the same
        // content (fingerprint, which covers the signature) validated before
        // re-emits that result, whatever the registry says now.
        if http_partner.is_none()
            && domain_party(event.signature.party).is_some()
            && let Some(seen) = self
                .ctx
                .events
                .get(event.claimed_partner(), &event.event_id)
                .await?
            && seen.fingerprint == event.fingerprint()
            && seen.step(EventState::Validated).is_some()
        {
            if validated_elsewhere(&seen, record) {
                return Ok(Emitted::default());
            }
            return Ok(self.validated(event));
        }
        let checked = match checked {
            Some(checked) => checked,
            None => self.check(&event, http_partner.as_deref()).await?,
        };
        match checked {
            Ok(partner) => {
                if http_partner.is_none()
                    && let Some(outputs) = self.replay(&partner, &event, record).await?
                {
                    return Ok(outputs);
                }
                let merged = self
                    .ctx
                    .record_step(&partner, &event, STAGE, record, EventState::Validated, None)
                    .await?;
                if let Merged::OtherContent(_) = merged {
                    return Ok(self.refuse(record, &event, Some(&partner), duplicate()));
                }
                Ok(self.validated(event))
            }
            Err(refusal) => {
                let refusal = match &http_partner {
                    Some(partner) => {
                        let merged = self
                            .ctx
                            .record_step(
                                partner,
                                &event,
                                STAGE,
                                record,
                                EventState::Rejected,
                                Some(&refusal),
                            )
                            .await?;
                        match merged {
                            Merged::OtherContent(_) => duplicate(),
                            _ => refusal,
                        }
                    }
                    None => refusal,
                };
                Ok(self.refuse(record, &event, http_partner.as_deref(), refusal))
            }
        }
    }

    /// The earlier result for an event id already seen, if any.
    async fn replay(
        &self,
        partner: &str,
        event: &ContractEvent,
        record: &Record,
    ) -> Result<Option<Emitted>, ProcessError> {
        let Some(seen) = self.ctx.events.get(partner, &event.event_id).await? else {
            return Ok(None);
        };
        if seen.fingerprint != event.fingerprint() {
            return Ok(Some(self.refuse(record, event, Some(partner), duplicate())));
        }
        if seen.step(EventState::Validated).is_some() {
            if validated_elsewhere(&seen, record) {
                return Ok(Some(Emitted::default()));
            }
            return Ok(Some(self.validated(event.clone())));
        }
        Ok(stored_refusal(&seen, STAGE)
            .map(|refusal| self.refuse(record, event, Some(partner), refusal)))
    }

    /// The event, authentic, on the validated topic.
    fn validated(&self, event: ContractEvent) -> Emitted {
        let key = event.contract.contract_id.clone();
        Emitted::of(vec![Emit::new(
            self.ctx.topics.validated.as_str(),
            key,
            event,
        )])
    }

    fn refuse(
        &self,
        record: &Record,
        event: &ContractEvent,
        partner: Option<&str>,
        refusal: Rejection,
    ) -> Emitted {
        self.ctx.refuse(STAGE, record, event, partner, refusal)
    }

    /// The authenticated submitting organization, or why the event is refused.
    async fn check(
        &self,
        event: &ContractEvent,
        http_partner: Option<&str>,
    ) -> Result<Result<String, Rejection>, ProcessError> {
        for (what, id) in [
            ("event_id", event.event_id.as_str()),
            ("contract_id", event.contract.contract_id.as_str()),
        ] {
            if let Err(refusal) = check_id(what, id) {
                return Ok(Err(refusal));
            }
        }
        let terms = match to_domain_terms(&event.contract) {
            Ok(terms) => terms,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Some(party) = domain_party(event.signature.party) else {
            return Ok(Err(Rejection::new(
                "invalid_signer",
                "partners sign as MO or PUBLISHER; MONETA signs only by countersigning",
            )));
        };
        let organization = match party {
            Party::Mo => &terms.mo_id,
            Party::Publisher => &terms.publisher_id,
        };
        if let Some(submitter) = http_partner
            && submitter != organization
        {
            return Ok(Err(Rejection::new(
                "submitter_mismatch",
                format!(
                    "the request was signed by {submitter}, the contract signature claims {organization}"
                ),
            )));
        }
        let key = match self.check_key(event, organization).await? {
            Ok(key) => key,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let input = match terms.signing_input() {
            Ok(input) => input,
            Err(e) => return Ok(Err(Rejection::new("malformed_terms", e.to_string()))),
        };
        if moneta_signing::verify_ed25519(&key.public_key, &input, &event.signature.signature)
            .is_err()
        {
            return Ok(Err(Rejection::new(
                "bad_signature",
                format!(
                    "the signature by key {} does not verify over the canonical terms",
                    key.id
                ),
            )));
        }
        if let Err(refusal) = self
            .check_parties(&terms.mo_id, &terms.publisher_id)
            .await?
        {
            return Ok(Err(refusal));
        }
        Ok(Ok(organization.clone()))
    }

    async fn key(&self, key_id: &str) -> Result<Option<PartnerKey>, ProcessError> {
        Ok(self
            .ctx
            .registry
            .get::<PartnerKey>(key_id)
            .await?
            .map(|v| v.entity))
    }

    async fn check_key(
        &self,
        event: &ContractEvent,
        organization: &str,
    ) -> Result<Result<PartnerKey, Rejection>, ProcessError> {
        let key_id = &event.signature.key_id;
        let Some(key) = self.key(key_id).await? else {
            return Ok(Err(unknown_key(key_id)));
        };
        if key.organization_id != organization {
            return Ok(Err(Rejection::new(
                "key_not_owned",
                format!("key {key_id} does not belong to {organization}"),
            )));
        }
        if key.state == KeyState::Revoked {
            return Ok(Err(Rejection::new(
                "revoked_key",
                format!("key {key_id} is revoked"),
            )));
        }
        Ok(Ok(key))
    }

    async fn check_parties(
        &self,
        mo_id: &str,
        publisher_id: &str,
    ) -> Result<Result<(), Rejection>, ProcessError> {
        let registry = &self.ctx.registry;
        let mo = registry
            .get::<MembershipOrganization>(mo_id)
            .await?
            .map(|v| (v.entity.status, v.entity.organization_id));
        let publisher = registry
            .get::<Publisher>(publisher_id)
            .await?
            .map(|v| (v.entity.status, v.entity.organization_id));
        for (role, id, found) in [("MO", mo_id, mo), ("publisher", publisher_id, publisher)] {
            let Some((status, organization_id)) = found else {
                return Ok(Err(Rejection::new(
                    "unknown_party",
                    format!("{role} {id} is not registered"),
                )));
            };
            if status != LifecycleStatus::Active {
                return Ok(Err(Rejection::new(
                    "party_inactive",
                    format!("{role} {id} is {}", status.as_str()),
                )));
            }
            if let Some(org_id) = organization_id {
                let org = registry.get::<Organization>(&org_id).await?;
                if let Some(org) = org
                    && org.entity.status != LifecycleStatus::Active
                {
                    return Ok(Err(Rejection::new(
                        "party_inactive",
                        format!(
                            "the organization {org_id} behind {role} {id} is {}",
                            org.entity.status.as_str()
                        ),
                    )));
                }
            }
        }
        Ok(Ok(()))
    }
}

impl Stage for Validate {
    /// The event and, once prepared, its check: the submitting
    /// organization, or why the event is refused.
    type Input = Prepared<ContractEvent, Result<String, Rejection>>;

    /// The check (ids, terms, key, signature, parties) reads only the
    /// registry, which validate never writes: it runs ahead, across the
    /// cores. An event seen before does not use it (its earlier result is
    /// re-emitted).
    async fn prepare(
        &self,
        mut input: Self::Input,
        _record: &Record,
    ) -> Result<Self::Input, ProcessError> {
        if let Ok(http_partner) = submitter(&input.value) {
            input.work = Some(self.check(&input.value, http_partner.as_deref()).await?);
        }
        Ok(input)
    }

    async fn process(&self, input: Self::Input, record: &Record) -> Result<Emitted, ProcessError> {
        self.run(input.value, input.work, record).await
    }
}

/// The organization that submitted an HTTP event (`None` for one produced
/// to Kafka directly).
fn submitter(event: &ContractEvent) -> Result<Option<String>, Rejection> {
    match event.source {
        Source::Http => {
            event.submitted_by.clone().map(Some).ok_or_else(|| {
                Rejection::new("missing_submitter", "an HTTP event names no submitter")
            })
        }
        Source::Kafka => Ok(None),
    }
}

/// Whether the event was validated from another input record: the same
/// event arrived again (a partner's retry after an ambiguous timeout, the
/// same event on both ingress topics). The first record's output is in the
/// log already, or its own redo writes it (its offset is not committed), so
/// this one emits nothing: the validated topic holds each event once. A
/// redo of the same record re-emits what it emitted.
fn validated_elsewhere(seen: &EventRecord, record: &Record) -> bool {
    let from = seen
        .step(EventState::Validated)
        .and_then(|step| step.source.as_deref());
    let elsewhere = from.is_some_and(|from| from != source_of(record));
    if elsewhere {
        tracing::info!(
            event_id = %seen.event_id,
            first = from.unwrap_or_default(),
            again = %source_of(record),
            "event validated before from another record; not emitted again"
        );
    }
    elsewhere
}

fn duplicate() -> Rejection {
    Rejection::new(
        "duplicate_event_id",
        "this event id was already used for different content",
    )
}

fn unknown_key(key_id: &str) -> Rejection {
    Rejection::new("unknown_key", format!("key {key_id} is not registered"))
}

fn check_id(what: &str, id: &str) -> Result<(), Rejection> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(Rejection::new(
            "invalid_id",
            format!("{what} must be {ID_RULE}"),
        ))
    }
}
