//! `template-check`: does the event follow its template, and what does it
//! do to its contract?
//!
//! For each validated event: load the template (cached); when the event
//! creates its contract, check the attributes against the template's schema
//! and the pipeline's business rules ([`crate::rules`]); check the signature
//! rules (who signs, in what order); then apply the event to the contract
//! with compare-and-set on its version — create it, or add a signature and
//! an event-log entry. The contract's new state goes to the recorded topic.
//!
//! Applying is idempotent by event: a replayed event finds itself in the
//! contract's log and re-emits the contract without changing it.

use std::future::Future;

use std::sync::Arc;

use moneta_avro::{ContractEvent, SchemaName};
use moneta_domain::{
    Contract, ContractStatus, ContractTerms, EventLogEntry, EventRecord, EventState, KeyAlgorithm,
    Party, Signature,
};
use moneta_runtime::{Outcome, ProcessError, Record, Rejection};
use moneta_state::{ContractApplied, ContractKeys, ContractWrite};

use crate::contracts::{AvroStage, PathContext, Refusal, domain_party, to_domain_terms, transient};
use crate::rules::{self, RulesConfig};
use crate::templates::{CachedTemplate, TemplateCache};

/// The stage name, as recorded in event steps and rejections.
pub const STAGE: &str = "template-check";

/// Compare-and-set attempts before giving up on a busy contract (retried).
const APPLY_ATTEMPTS: usize = 16;

/// The template-check processor.
#[derive(Clone)]
pub struct TemplateCheck {
    ctx: PathContext,
    templates: Arc<TemplateCache>,
    rules: RulesConfig,
}

/// Why applying stopped.
enum Applied {
    /// The contract as stored after the event.
    Contract(Box<Contract>),
    /// The event is refused.
    Refused(Refusal),
}

impl TemplateCheck {
    /// A template-check processor in `ctx` with these business rules.
    pub fn new(ctx: PathContext, rules: RulesConfig) -> Self {
        Self {
            templates: Arc::new(TemplateCache::new(ctx.registry.clone())),
            ctx,
            rules,
        }
    }

    async fn run(&self, event: ContractEvent, record: &Record) -> Result<Outcome, ProcessError> {
        let party = domain_party(event.signature.party)
            .ok_or_else(|| Rejection::new("invalid_signer", "validated events are partners'"))?;
        let terms = to_domain_terms(&event.contract)?;
        let partner = match party {
            Party::Mo => terms.mo_id.clone(),
            Party::Publisher => terms.publisher_id.clone(),
        };
        let event_key = EventRecord::key(&partner, &event.event_id);
        if let Some(seen) = self
            .ctx
            .events
            .get(&partner, &event.event_id)
            .await
            .map_err(transient)?
            && let Some(step) = seen.step(EventState::Rejected)
            && step.stage == STAGE
        {
            let refusal = Refusal {
                code: step.code.clone().unwrap_or_else(|| "rejected".to_owned()),
                message: step.message.clone().unwrap_or_default(),
            };
            return self.refuse(record, &event, &partner, refusal).await;
        }
        let applied = self
            .apply(&event, &event_key, &terms, party, record)
            .await?;
        match applied {
            Applied::Refused(refusal) => {
                self.ctx
                    .record_step(
                        &partner,
                        &event,
                        STAGE,
                        record,
                        EventState::Rejected,
                        Some(&refusal),
                    )
                    .await?;
                self.refuse(record, &event, &partner, refusal).await
            }
            Applied::Contract(contract) => {
                self.ctx
                    .record_step(&partner, &event, STAGE, record, EventState::Recorded, None)
                    .await?;
                self.ctx
                    .contract_output(&self.ctx.topics.recorded, &contract, &event_key, &partner)
                    .await
            }
        }
    }

    async fn refuse(
        &self,
        record: &Record,
        event: &ContractEvent,
        partner: &str,
        refusal: Refusal,
    ) -> Result<Outcome, ProcessError> {
        self.ctx
            .refuse(STAGE, record, event, Some(partner), refusal)
            .await
    }

    async fn template(
        &self,
        terms: &ContractTerms,
    ) -> Result<Result<Arc<CachedTemplate>, Refusal>, ProcessError> {
        let template = self
            .templates
            .get(&terms.template_name, terms.template_version)
            .await
            .map_err(transient)?;
        let Some(template) = template else {
            return Ok(Err(Refusal::new(
                "unknown_template",
                format!(
                    "no template {} version {}",
                    terms.template_name, terms.template_version
                ),
            )));
        };
        if template.document.contract_type != terms.contract_type {
            return Ok(Err(Refusal::new(
                "template_mismatch",
                format!(
                    "template {} is for {} contracts, not {}",
                    terms.template_name, template.document.contract_type, terms.contract_type
                ),
            )));
        }
        Ok(Ok(template))
    }

    /// Applies the event to its contract, retrying lost compare-and-set races.
    async fn apply(
        &self,
        event: &ContractEvent,
        event_key: &str,
        terms: &ContractTerms,
        party: Party,
        record: &Record,
    ) -> Result<Applied, ProcessError> {
        let template = match self.template(terms).await? {
            Ok(template) => template,
            Err(refusal) => return Ok(Applied::Refused(refusal)),
        };
        let at = record.timestamp_ms.unwrap_or_default().div_euclid(1000);
        let signature = Signature {
            key_id: event.signature.key_id.clone(),
            algorithm: KeyAlgorithm::Ed25519,
            signature: event.signature.signature.clone(),
            signed_at: event.signature.signed_at,
        };
        for _ in 0..APPLY_ATTEMPTS {
            let current = self.load(&terms.contract_id).await?;
            let (next, expected) = match current {
                Some(contract) if contract.has_event(event_key) => {
                    return Ok(Applied::Contract(Box::new(contract)));
                }
                None => {
                    if let Err(refusal) = self.check_new(&template, terms, party).await? {
                        return Ok(Applied::Refused(refusal));
                    }
                    (
                        create(terms, event_key, party, signature.clone(), &template, at),
                        0,
                    )
                }
                Some(contract) => {
                    let expected = contract.version;
                    match cosign(
                        contract,
                        terms,
                        event_key,
                        party,
                        signature.clone(),
                        &template,
                        at,
                    ) {
                        Ok(next) => (next, expected),
                        Err(refusal) => return Ok(Applied::Refused(refusal)),
                    }
                }
            };
            let write = ContractWrite {
                contract_id: next.id.clone(),
                event_id: event_key.to_owned(),
                expected_version: expected,
                body: serde_json::to_vec(&next)
                    .map_err(|e| Rejection::new("unencodable", e.to_string()))?,
                keys: keys(&next),
            };
            match self
                .ctx
                .store
                .apply_contract(write)
                .await
                .map_err(transient)?
            {
                ContractApplied::Applied { .. } => return Ok(Applied::Contract(Box::new(next))),
                ContractApplied::AlreadyApplied { .. } | ContractApplied::Conflict { .. } => {
                    continue;
                }
            }
        }
        Err(transient(std::io::Error::other(format!(
            "contract {}: too many concurrent writers",
            terms.contract_id
        ))))
    }

    async fn load(&self, contract_id: &str) -> Result<Option<Contract>, ProcessError> {
        let Some(stored) = self
            .ctx
            .store
            .get_contract(contract_id)
            .await
            .map_err(transient)?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&stored.body)
            .map(Some)
            .map_err(transient)
    }

    /// The checks a contract's first event passes: schema, signer, rules.
    async fn check_new(
        &self,
        template: &CachedTemplate,
        terms: &ContractTerms,
        party: Party,
    ) -> Result<Result<(), Refusal>, ProcessError> {
        let errors = template.payload_errors(&terms.terms);
        if !errors.is_empty() {
            return Ok(Err(Refusal::new("schema_violation", errors.join("; "))));
        }
        if let Err(refusal) = signer_allowed(template, &[], party) {
            return Ok(Err(refusal));
        }
        rules::check(&self.rules, &self.ctx, terms).await
    }
}

/// Whether `party` may sign next, given those that have.
fn signer_allowed(
    template: &CachedTemplate,
    signed: &[Party],
    party: Party,
) -> Result<(), Refusal> {
    let rules = &template.document.signatures;
    if rules.any_of.contains(&party) {
        return match rules.any_of.iter().find(|p| signed.contains(p)) {
            Some(other) => Err(Refusal::new(
                "already_signed",
                format!(
                    "template {} takes one signature of {}; the {} has signed",
                    template.document.name,
                    rules
                        .any_of
                        .iter()
                        .map(|p| party_label(*p))
                        .collect::<Vec<_>>()
                        .join(" or "),
                    party_label(*other)
                ),
            )),
            None => Ok(()),
        };
    }
    if !rules.required.contains(&party) {
        return Err(Refusal::new(
            "unauthorized_signer",
            format!(
                "template {} does not take a {} signature",
                template.document.name,
                party_label(party)
            ),
        ));
    }
    if signed.contains(&party) {
        return Err(Refusal::new(
            "already_signed",
            format!(
                "the {} has already signed this contract",
                party_label(party)
            ),
        ));
    }
    match template.document.next_signer(signed) {
        Some(next) if !rules.order.is_empty() && next != party => Err(Refusal::new(
            "wrong_signer_order",
            format!(
                "the {} must sign before the {}",
                party_label(next),
                party_label(party)
            ),
        )),
        _ => Ok(()),
    }
}

fn party_label(party: Party) -> &'static str {
    match party {
        Party::Mo => "mo",
        Party::Publisher => "publisher",
    }
}

fn signed_parties(contract: &Contract) -> Vec<Party> {
    [Party::Mo, Party::Publisher]
        .into_iter()
        .filter(|p| contract.is_signed_by(party_label(*p)))
        .collect()
}

fn complete(contract: &Contract, template: &CachedTemplate) -> bool {
    template
        .document
        .signatures_complete(&signed_parties(contract))
}

fn create(
    terms: &ContractTerms,
    event_key: &str,
    party: Party,
    signature: Signature,
    template: &CachedTemplate,
    at: i64,
) -> Contract {
    let mut contract = Contract {
        id: terms.contract_id.clone(),
        description: terms.description.clone(),
        template_name: terms.template_name.clone(),
        template_version: terms.template_version,
        mo_id: terms.mo_id.clone(),
        publisher_id: terms.publisher_id.clone(),
        mpass_id: terms.mpass_id.clone(),
        contract_type: terms.contract_type.clone(),
        version: 1,
        payload: terms.terms.clone(),
        signatures: [(party_label(party).to_owned(), signature)].into(),
        event_log: vec![EventLogEntry {
            event_id: event_key.to_owned(),
            version: 1,
            kind: "created".into(),
            at,
        }],
        status: ContractStatus::Pending,
        created_at: at,
        finalized_at: None,
    };
    if complete(&contract, template) {
        contract.status = ContractStatus::Active;
    }
    contract
}

fn cosign(
    mut contract: Contract,
    terms: &ContractTerms,
    event_key: &str,
    party: Party,
    signature: Signature,
    template: &CachedTemplate,
    at: i64,
) -> Result<Contract, Refusal> {
    if contract.terms() != *terms {
        return Err(Refusal::new(
            "terms_mismatch",
            format!(
                "the signed terms differ from contract {}'s terms",
                contract.id
            ),
        ));
    }
    if contract.status != ContractStatus::Pending {
        return Err(Refusal::new(
            "contract_closed",
            format!(
                "contract {} is {} and takes no more signatures",
                contract.id,
                contract.status.as_str()
            ),
        ));
    }
    signer_allowed(template, &signed_parties(&contract), party)?;
    contract.version += 1;
    contract
        .signatures
        .insert(party_label(party).to_owned(), signature);
    contract.event_log.push(EventLogEntry {
        event_id: event_key.to_owned(),
        version: contract.version,
        kind: "signed".into(),
        at,
    });
    if complete(&contract, template) {
        contract.status = ContractStatus::Active;
    }
    Ok(contract)
}

/// The contract's search keys.
pub(crate) fn keys(contract: &Contract) -> ContractKeys {
    ContractKeys {
        mo_id: contract.mo_id.clone(),
        publisher_id: contract.publisher_id.clone(),
        mpass_id: contract.mpass_id.clone(),
        contract_type: contract.contract_type.clone(),
        created_at: contract.created_at,
    }
}

impl AvroStage for TemplateCheck {
    type Value = ContractEvent;
    const NAME: &'static str = STAGE;
    const SCHEMA: SchemaName = SchemaName::ContractEvent;

    fn context(&self) -> &PathContext {
        &self.ctx
    }

    fn handle(
        &self,
        value: ContractEvent,
        record: &Record,
    ) -> impl Future<Output = Result<Outcome, ProcessError>> + Send {
        self.run(value, record)
    }
}

impl From<Refusal> for ProcessError {
    fn from(refusal: Refusal) -> Self {
        ProcessError::Rejected(Rejection::new(refusal.code, refusal.message))
    }
}
