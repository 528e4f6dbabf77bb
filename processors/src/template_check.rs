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
//! contract's log and re-emits the version it produced, as first emitted.
//!
//! template-check is the one writer of contract rows: it also reads the
//! countersigned topic and applies Moneta's countersignature (the record
//! countersign emitted) to the row, and marks the partner event that
//! completed the contract `countersigned`.
//!
//! Every row it writes (and the row a replayed event finds) goes to the
//! contract changelog, compacted and keyed by contract id, in the same
//! transaction as the record it processed: the rows are in the log as long
//! as the contracts exist, whatever the event topics' retention, and
//! `moneta state rebuild` restores them from there.

use std::sync::Arc;

use moneta_domain::{
    Contract, ContractStatus, ContractTerms, EventLogEntry, EventRecord, EventState, EventStep,
    KeyAlgorithm, Party, Signature,
};
use moneta_records::{self as records, ContractEvent, Message};
use moneta_runtime::{Emitted, ProcessError, Record, Rejection, Stage};
use moneta_state::ContractKeys;
use moneta_state::cas::{self, Attempt};

use crate::contracts::{
    COUNTERSIGN_EVENT, COUNTERSIGN_STAGE, PathContext, domain_party, from_record, stored_refusal,
    to_domain_terms,
};
use crate::disputes::ChargeChange;
use crate::expiry;
use crate::rules::{self, RulesConfig};
use crate::templates::{CachedTemplate, TemplateCache};

/// The stage name, as recorded in event steps and rejections.
pub const STAGE: &str = "template-check";

/// The template-check processor.
#[derive(Clone)]
pub struct TemplateCheck {
    ctx: PathContext,
    templates: Arc<TemplateCache>,
    rules: RulesConfig,
}

/// Why applying stopped.
enum Applied {
    /// The contract as the event left it (`produced`) and the row as it is
    /// now (`current`: later than `produced` when the event is replayed).
    Contract {
        /// What the event produced.
        produced: Box<Contract>,
        /// The row now.
        current: Box<Contract>,
        /// The row of the charge a dispute or resolution changed.
        charge: Option<Box<Contract>>,
    },
    /// The event is refused.
    Refused(Rejection),
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

    async fn run(&self, event: ContractEvent, record: &Record) -> Result<Emitted, ProcessError> {
        let party = domain_party(event.signature.party)
            .ok_or_else(|| Rejection::new("invalid_signer", "validated events are partners'"))?;
        let terms = to_domain_terms(&event.contract)?;
        let partner = match party {
            Party::Mo => terms.mo_id.clone(),
            Party::Publisher => terms.publisher_id.clone(),
        };
        let event_key = EventRecord::key(&partner, &event.event_id);
        if let Some(seen) = self.ctx.events.get(&partner, &event.event_id).await?
            && let Some(refusal) = stored_refusal(&seen, STAGE)
        {
            return Ok(self.refuse(record, &event, &partner, refusal));
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
                Ok(self.refuse(record, &event, &partner, refusal))
            }
            Applied::Contract {
                produced,
                current,
                charge,
            } => {
                self.ctx
                    .record_step(&partner, &event, STAGE, record, EventState::Recorded, None)
                    .await?;
                let recorded = &self.ctx.topics.recorded;
                let mut emits = vec![
                    self.ctx.contract(recorded, &produced, &event_key, &partner),
                    self.ctx.row(&current),
                ];
                emits.extend(charge.map(|charge| self.ctx.row(&charge)));
                Ok(Emitted::of(emits))
            }
        }
    }

    /// Applies Moneta's countersignature, as countersign emitted it, to the
    /// contract's row, and marks the partner event that completed the
    /// contract `countersigned`. Emits the row to the contract changelog.
    async fn countersigned(
        &self,
        countersigned: records::Contract,
        record: &Record,
    ) -> Result<Emitted, ProcessError> {
        let contract = from_record(&countersigned)?;
        let Some(applied) = contract
            .event_log
            .iter()
            .find(|e| e.event_id == COUNTERSIGN_EVENT)
        else {
            return Err(Rejection::new(
                "not_countersigned",
                format!(
                    "contract {} on the countersigned topic has no countersignature",
                    contract.id
                ),
            )
            .into());
        };
        let completed_by = contract
            .event_log
            .iter()
            .rev()
            .find(|e| e.version < applied.version)
            .map(|e| e.event_id.clone());
        let at_ms = record.time_ms()?;
        let id = contract.id.clone();
        let current: Contract = cas::retry(&format!("contract {id}"), || async {
            let current = self.ctx.load_contract(&id).await?;
            let expected = match current {
                Some(row)
                    if row.version >= contract.version || row.has_event(COUNTERSIGN_EVENT) =>
                {
                    return Ok::<_, ProcessError>(Attempt::Done(row));
                }
                Some(row) => row.version,
                None => 0,
            };
            Ok(
                match self
                    .ctx
                    .write_contract(&contract, COUNTERSIGN_EVENT, expected)
                    .await?
                {
                    Attempt::Done(()) => Attempt::Done(contract.clone()),
                    Attempt::Lost => Attempt::Lost,
                },
            )
        })
        .await?;
        if let Some((partner, event_id)) = completed_by.as_deref().and_then(|k| k.split_once('/')) {
            let step = EventStep {
                state: EventState::Countersigned,
                stage: COUNTERSIGN_STAGE.to_owned(),
                at_ms,
                code: None,
                message: None,
                source: None,
            };
            self.ctx.events.advance(partner, event_id, step).await?;
        }
        Ok(Emitted::of(vec![self.ctx.row(&current)]))
    }

    fn refuse(
        &self,
        record: &Record,
        event: &ContractEvent,
        partner: &str,
        refusal: Rejection,
    ) -> Emitted {
        self.ctx
            .refuse(STAGE, record, event, Some(partner), refusal)
    }

    async fn template(
        &self,
        terms: &ContractTerms,
    ) -> Result<Result<Arc<CachedTemplate>, Rejection>, ProcessError> {
        let template = self
            .templates
            .get(&terms.template_name, terms.template_version)
            .await?;
        let Some(template) = template else {
            return Ok(Err(Rejection::new(
                "unknown_template",
                format!(
                    "no template {} version {}",
                    terms.template_name, terms.template_version
                ),
            )));
        };
        if template.document.contract_type != terms.contract_type {
            return Ok(Err(Rejection::new(
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
        let at = record.time_s()?;
        let signature = Signature {
            key_id: event.signature.key_id.clone(),
            algorithm: KeyAlgorithm::Ed25519,
            signature: event.signature.signature.clone(),
            signed_at: event.signature.signed_at,
        };
        cas::retry(&format!("contract {}", terms.contract_id), || async {
            let current = self.ctx.load_contract(&terms.contract_id).await?;
            let (next, expected) = match current {
                Some(contract) => match contract.event_log.iter().find(|e| e.event_id == event_key)
                {
                    Some(entry) => {
                        let produced = as_of(&contract, entry.version, &template);
                        // A replay emits the charge's row again too: the
                        // first attempt's may not have been committed.
                        let charge = match ChargeChange::of(&contract) {
                            Some(change) if contract.status != ContractStatus::Pending => {
                                change.charge(&self.ctx).await?.map(Box::new)
                            }
                            _ => None,
                        };
                        return Ok(Attempt::Done(Applied::Contract {
                            produced: Box::new(produced),
                            current: Box::new(contract),
                            charge,
                        }));
                    }
                    None => {
                        let expected = contract.version;
                        let expiry_s = expiry::expiry_s(&template.document, &self.rules);
                        if let Some(refusal) = expiry::refusal(&contract, expiry_s, at) {
                            return Ok(Attempt::Done(Applied::Refused(refusal)));
                        }
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
                            Err(refusal) => return Ok(Attempt::Done(Applied::Refused(refusal))),
                        }
                    }
                },
                None => {
                    if let Err(refusal) = self.check_new(&template, terms, party, at).await? {
                        return Ok(Attempt::Done(Applied::Refused(refusal)));
                    }
                    (
                        create(terms, event_key, party, signature.clone(), &template, at),
                        0,
                    )
                }
            };
            // The signatures are complete with this event: a dispute or a
            // resolution changes its charge first (and may be refused there).
            let charge = match ChargeChange::of(&next) {
                Some(change) if next.status == ContractStatus::Active => {
                    match change.make(&self.ctx, at).await? {
                        Ok(charge) => Some(Box::new(charge)),
                        Err(refusal) => return Ok(Attempt::Done(Applied::Refused(refusal))),
                    }
                }
                _ => None,
            };
            Ok(
                match self.ctx.write_contract(&next, event_key, expected).await? {
                    Attempt::Done(()) => Attempt::Done(Applied::Contract {
                        produced: Box::new(next.clone()),
                        current: Box::new(next),
                        charge,
                    }),
                    Attempt::Lost => Attempt::Lost,
                },
            )
        })
        .await
    }

    /// The checks a contract's first event, which reached Moneta at
    /// `at_s`, passes: schema, signer, rules.
    async fn check_new(
        &self,
        template: &CachedTemplate,
        terms: &ContractTerms,
        party: Party,
        at_s: i64,
    ) -> Result<Result<(), Rejection>, ProcessError> {
        let errors = template.payload_errors(&terms.terms);
        if !errors.is_empty() {
            return Ok(Err(Rejection::new("schema_violation", errors.join("; "))));
        }
        if let Err(refusal) = signer_allowed(template, &[], party) {
            return Ok(Err(refusal));
        }
        rules::check(&self.rules, &self.ctx, terms, at_s).await
    }
}

/// Whether `party` may sign next, given those that have.
fn signer_allowed(
    template: &CachedTemplate,
    signed: &[Party],
    party: Party,
) -> Result<(), Rejection> {
    let rules = &template.document.signatures;
    if rules.any_of.contains(&party) {
        return match rules.any_of.iter().find(|p| signed.contains(p)) {
            Some(other) => Err(Rejection::new(
                "already_signed",
                format!(
                    "template {} takes one signature of {}; the {} has signed",
                    template.document.name,
                    rules
                        .any_of
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(" or "),
                    other.as_str()
                ),
            )),
            None => Ok(()),
        };
    }
    if !rules.required.contains(&party) {
        return Err(Rejection::new(
            "unauthorized_signer",
            format!(
                "template {} does not take a {} signature",
                template.document.name,
                party.as_str()
            ),
        ));
    }
    if signed.contains(&party) {
        return Err(Rejection::new(
            "already_signed",
            format!("the {} has already signed this contract", party.as_str()),
        ));
    }
    match template.document.next_signer(signed) {
        Some(next) if !rules.order.is_empty() && next != party => Err(Rejection::new(
            "wrong_signer_order",
            format!(
                "the {} must sign before the {}",
                next.as_str(),
                party.as_str()
            ),
        )),
        _ => Ok(()),
    }
}

fn signed_parties(contract: &Contract) -> Vec<Party> {
    [Party::Mo, Party::Publisher]
        .into_iter()
        .filter(|p| contract.is_signed_by(p.as_str()))
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
        signatures: [(party.as_str().to_owned(), signature)].into(),
        event_log: vec![EventLogEntry {
            event_id: event_key.to_owned(),
            version: 1,
            kind: "created".into(),
            at,
        }],
        status: ContractStatus::Pending,
        created_at: at,
        finalized_at: None,
        disputes: Vec::new(),
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
) -> Result<Contract, Rejection> {
    if contract.terms() != *terms {
        return Err(Rejection::new(
            "terms_mismatch",
            format!(
                "the signed terms differ from contract {}'s terms",
                contract.id
            ),
        ));
    }
    if contract.status != ContractStatus::Pending {
        return Err(Rejection::new(
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
        .insert(party.as_str().to_owned(), signature);
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
pub fn keys(contract: &Contract) -> ContractKeys {
    ContractKeys {
        mo_id: contract.mo_id.clone(),
        publisher_id: contract.publisher_id.clone(),
        mpass_id: contract.mpass_id.clone(),
        contract_type: contract.contract_type.clone(),
        created_at: contract.created_at,
    }
}

/// The contract as it was at `version`, which an event already applied
/// produced: what template-check emitted for that event, re-emitted when the
/// event is replayed. Later events' log entries and signatures are left out,
/// and the status is what the signatures then made it.
fn as_of(contract: &Contract, version: u64, template: &CachedTemplate) -> Contract {
    if version >= contract.version {
        return contract.clone();
    }
    let event_log: Vec<EventLogEntry> = contract
        .event_log
        .iter()
        .filter(|e| e.version <= version)
        .cloned()
        .collect();
    let signer = |event_key: &str| -> Option<&'static str> {
        let (partner, _) = event_key.split_once('/')?;
        if event_key == COUNTERSIGN_EVENT {
            Some("moneta")
        } else if partner == contract.mo_id {
            Some(Party::Mo.as_str())
        } else if partner == contract.publisher_id {
            Some(Party::Publisher.as_str())
        } else {
            None
        }
    };
    let signed: Vec<&str> = event_log
        .iter()
        .filter_map(|e| signer(&e.event_id))
        .collect();
    let mut then = Contract {
        version,
        signatures: contract
            .signatures
            .iter()
            .filter(|(party, _)| signed.contains(&party.as_str()))
            .map(|(party, s)| (party.clone(), s.clone()))
            .collect(),
        event_log,
        status: ContractStatus::Pending,
        finalized_at: None,
        // A charge's disputes come after it was finalized.
        disputes: Vec::new(),
        ..contract.clone()
    };
    if complete(&then, template) {
        then.status = ContractStatus::Active;
    }
    then
}

impl Stage for TemplateCheck {
    /// Events from the validated topic; countersigned contracts.
    type Input = Message;

    async fn process(&self, input: Message, record: &Record) -> Result<Emitted, ProcessError> {
        match input {
            Message::ContractEvent(event) => {
                // Stream time moved on with this event: what is overdue
                // expires first, then the event applies.
                let mut expired = match expiry::crossing(&record.stream_time, &self.rules) {
                    Some((since, at)) => {
                        let sweep = expiry::Sweep {
                            ctx: &self.ctx,
                            templates: &self.templates,
                            rules: &self.rules,
                        };
                        sweep.run(since, at).await?
                    }
                    None => Vec::new(),
                };
                let mut emitted = self.run(event, record).await?;
                expired.append(&mut emitted.outputs);
                emitted.outputs = expired;
                Ok(emitted)
            }
            Message::Contract(contract) => self.countersigned(contract, record).await,
            other => Err(Rejection::new(
                "unexpected_schema",
                format!(
                    "template-check reads events and contracts, not {:?}",
                    other.schema()
                ),
            )
            .into()),
        }
    }
}
