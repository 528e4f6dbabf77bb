//! `countersign`: Moneta signs a contract once every required party has.
//!
//! Reads the recorded topic. For a contract whose partner signatures are
//! complete (status `ACTIVE`), Moneta signs the same canonical terms with
//! its active ed25519 key, the contract becomes `FINALIZED`, and it goes to
//! the countersigned topic. The signature is deterministic and stored with
//! the contract, so a replay re-emits the same countersigned contract.

use std::future::Future;

use std::sync::Arc;

use base64::Engine;
use moneta_avro::SchemaName;
use moneta_domain::{
    Contract, ContractStatus, EventLogEntry, EventState, EventStep, KeyAlgorithm, Signature,
};
use moneta_runtime::{Outcome, ProcessError, Record, Rejection};
use moneta_signing::KeyRing;
use moneta_state::{ContractApplied, ContractWrite};

use crate::contracts::{AvroStage, PathContext, transient};
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
        self.ctx
            .contract_output(
                &self.ctx.topics.countersigned,
                &contract,
                COUNTERSIGN_EVENT,
                "moneta",
            )
            .await
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

impl AvroStage for Countersign {
    type Value = moneta_avro::Contract;
    const NAME: &'static str = STAGE;
    const SCHEMA: SchemaName = SchemaName::Contract;

    fn context(&self) -> &PathContext {
        &self.ctx
    }

    fn handle(
        &self,
        value: moneta_avro::Contract,
        record: &Record,
    ) -> impl Future<Output = Result<Outcome, ProcessError>> + Send {
        self.run(value, record)
    }
}
