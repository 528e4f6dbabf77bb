//! `countersign`: Moneta signs a contract once every required party has.
//!
//! Reads the recorded topic. For a contract whose partner signatures are
//! complete (status `ACTIVE`), Moneta signs the same canonical terms with
//! its active ed25519 key, the contract becomes `FINALIZED`, and it goes to
//! the countersigned topic. The signature is deterministic and stored with
//! the contract, so a replay re-emits the same countersigned contract.

use std::sync::Arc;

use base64::Engine;
use moneta_avro::{ContractLogEntry, PartySignature, SchemaName};
use moneta_domain::{
    Contract, ContractStatus, EventLogEntry, EventState, EventStep, KeyAlgorithm, Signature,
};
use moneta_runtime::{Outcome, ProcessError, Processor, Record, Rejection};
use moneta_signing::KeyRing;
use moneta_state::{ContractApplied, ContractWrite};
use tracing::Instrument;

use crate::contracts::{PathContext, transient};
use crate::template_check::keys;
use crate::templates::TemplateCache;

/// The stage name, as recorded in event steps.
pub const STAGE: &str = "countersign";

/// The event id under which Moneta's countersignature is applied.
const COUNTERSIGN_EVENT: &str = "moneta/countersign";

/// Compare-and-set attempts before giving up on a busy contract (retried).
const APPLY_ATTEMPTS: usize = 16;

/// The countersign processor.
#[derive(Clone)]
pub struct Countersign {
    ctx: PathContext,
    templates: Arc<TemplateCache>,
    keys: Arc<KeyRing>,
}

impl Countersign {
    /// A countersign processor in `ctx`, signing with `keys`' active key.
    pub fn new(ctx: PathContext, keys: Arc<KeyRing>) -> Self {
        Self {
            templates: Arc::new(TemplateCache::new(ctx.registry.clone())),
            ctx,
            keys,
        }
    }

    async fn run(
        &self,
        input: moneta_avro::Contract,
        record: &Record,
    ) -> Result<Outcome, ProcessError> {
        if input.status != moneta_avro::ContractStatus::Active {
            return Ok(Outcome::default());
        }
        let at = record.timestamp_ms.unwrap_or_default().div_euclid(1000);
        let Some(contract) = self.finalize(&input.contract_id, at).await? else {
            return Ok(Outcome::default());
        };
        if let Some((partner, event_id)) = input.event_id.split_once('/') {
            let step = EventStep {
                state: EventState::Countersigned,
                stage: STAGE.to_owned(),
                at_ms: record.timestamp_ms.unwrap_or_default(),
                code: None,
                message: None,
            };
            self.ctx
                .events
                .advance(partner, event_id, step)
                .await
                .map_err(transient)?;
        }
        let avro = to_avro(&contract, COUNTERSIGN_EVENT, "moneta");
        let output = self
            .ctx
            .output(
                &self.ctx.topics.countersigned,
                SchemaName::Contract,
                &contract.id,
                &avro,
            )
            .await?;
        Ok(Outcome {
            outputs: vec![output],
            effects: Vec::new(),
        })
    }

    /// The finalized contract (countersigning it unless it already is).
    async fn finalize(&self, contract_id: &str, at: i64) -> Result<Option<Contract>, ProcessError> {
        for _ in 0..APPLY_ATTEMPTS {
            let Some(stored) = self
                .ctx
                .store
                .get_contract(contract_id)
                .await
                .map_err(transient)?
            else {
                return Err(Rejection::new(
                    "unknown_contract",
                    format!("contract {contract_id} is not in the state store"),
                )
                .into());
            };
            let contract: Contract = serde_json::from_slice(&stored.body).map_err(transient)?;
            if contract.has_event(COUNTERSIGN_EVENT) {
                return Ok(Some(contract));
            }
            if contract.status != ContractStatus::Active {
                return Ok(None);
            }
            let expected = contract.version;
            let next = self.countersigned(contract, at).await?;
            let write = ContractWrite {
                contract_id: next.id.clone(),
                event_id: COUNTERSIGN_EVENT.to_owned(),
                expected_version: expected,
                body: serde_json::to_vec(&next).map_err(transient)?,
                keys: keys(&next),
            };
            match self
                .ctx
                .store
                .apply_contract(write)
                .await
                .map_err(transient)?
            {
                ContractApplied::Applied { .. } => return Ok(Some(next)),
                ContractApplied::AlreadyApplied { .. } | ContractApplied::Conflict { .. } => {
                    continue;
                }
            }
        }
        Err(transient(std::io::Error::other(format!(
            "contract {contract_id}: too many concurrent writers"
        ))))
    }

    async fn countersigned(
        &self,
        mut contract: Contract,
        at: i64,
    ) -> Result<Contract, ProcessError> {
        let template = self
            .templates
            .get(&contract.template_name, contract.template_version)
            .await
            .map_err(transient)?;
        let countersigns = template
            .map(|t| t.document.signatures.moneta_countersigns)
            .unwrap_or(true);
        if countersigns {
            let input = contract
                .terms()
                .signing_input()
                .map_err(|e| Rejection::new("malformed_terms", e.to_string()))?;
            let (key_id, signature) = self.keys.sign(&input);
            contract.signatures.insert(
                "moneta".to_owned(),
                Signature {
                    key_id,
                    algorithm: KeyAlgorithm::Ed25519,
                    signature: base64::engine::general_purpose::STANDARD
                        .encode(signature.to_bytes()),
                    signed_at: at,
                },
            );
        }
        contract.version += 1;
        contract.event_log.push(EventLogEntry {
            event_id: COUNTERSIGN_EVENT.to_owned(),
            version: contract.version,
            kind: "countersigned".into(),
            at,
        });
        contract
            .set_status(ContractStatus::Finalized, at)
            .map_err(|e| Rejection::new("invalid_transition", e.to_string()))?;
        Ok(contract)
    }
}

impl Processor for Countersign {
    /// Avro decoding is async (schema registry), so it happens in `process`.
    type Input = ();

    fn decode(&self, _record: &Record) -> Result<(), Rejection> {
        Ok(())
    }

    async fn process(&mut self, _input: (), record: &Record) -> Result<Outcome, ProcessError> {
        let contract: moneta_avro::Contract = self.ctx.decode(SchemaName::Contract, record).await?;
        let span = tracing::info_span!(
            "countersign",
            contract_id = %contract.contract_id,
            event_id = %contract.event_id,
            partner = %contract.partner_id,
        );
        self.run(contract, record).instrument(span).await
    }
}

/// The Avro form of a contract, produced by `event_key` from `partner`.
pub fn to_avro(contract: &Contract, event_key: &str, partner: &str) -> moneta_avro::Contract {
    let party_order = [
        ("mo", moneta_avro::Party::Mo),
        ("publisher", moneta_avro::Party::Publisher),
        ("moneta", moneta_avro::Party::Moneta),
    ];
    let signatures = party_order
        .iter()
        .filter_map(|(name, party)| {
            contract.signatures.get(*name).map(|s| PartySignature {
                party: *party,
                key_id: s.key_id.clone(),
                signature: s.signature.clone(),
                signed_at: s.signed_at,
            })
        })
        .collect();
    let terms = contract.terms();
    moneta_avro::Contract {
        contract_id: contract.id.clone(),
        version: i64::try_from(contract.version).unwrap_or(i64::MAX),
        status: match contract.status {
            ContractStatus::Pending => moneta_avro::ContractStatus::Pending,
            ContractStatus::Active => moneta_avro::ContractStatus::Active,
            ContractStatus::Disputed => moneta_avro::ContractStatus::Disputed,
            ContractStatus::Finalized => moneta_avro::ContractStatus::Finalized,
            ContractStatus::Rejected => moneta_avro::ContractStatus::Rejected,
        },
        terms: moneta_avro::ContractTerms {
            contract_id: terms.contract_id,
            contract_type: terms.contract_type,
            template_name: terms.template_name,
            template_version: i32::try_from(terms.template_version).unwrap_or(i32::MAX),
            mo_id: terms.mo_id,
            publisher_id: terms.publisher_id,
            mpass_id: terms.mpass_id,
            description: terms.description,
            terms_json: terms.terms.to_string(),
        },
        signatures,
        event_id: event_key.to_owned(),
        partner_id: partner.to_owned(),
        events: contract
            .event_log
            .iter()
            .map(|e| ContractLogEntry {
                event_id: e.event_id.clone(),
                version: i64::try_from(e.version).unwrap_or(i64::MAX),
                kind: e.kind.clone(),
                at: e.at,
            })
            .collect(),
        created_at: contract.created_at,
        finalized_at: contract.finalized_at,
    }
}
