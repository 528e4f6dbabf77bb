//! `countersign`: Moneta signs a contract once every required party has.
//!
//! Reads the recorded topic. For a contract version whose partner
//! signatures are complete (status `ACTIVE`), Moneta signs the same
//! canonical terms with its active ed25519 key, the contract becomes
//! `FINALIZED` (one version later), and it goes to the countersigned topic.
//!
//! It acts on the record it received and owns no state: the countersigned
//! contract follows from the recorded version, the template and Moneta's
//! key. Its time (signature, log entry, `finalized_at`) is the time the
//! contract became complete — its last log entry's — never a clock or the
//! record's timestamp, so a replayed version is countersigned identically
//! (as long as Moneta's active key is the same). template-check, the one
//! writer of contract rows, applies it to the contract's row.

use std::sync::Arc;

use base64::Engine;
use moneta_domain::{Contract, ContractStatus, EventLogEntry, KeyAlgorithm, Signature};
use moneta_records as records;
use moneta_runtime::{Emitted, Prepared, ProcessError, Record, Rejection, Stage};
use moneta_signing::KeyRing;

use crate::contracts::{COUNTERSIGN_EVENT, COUNTERSIGN_STAGE, PathContext, from_record};
use crate::templates::TemplateCache;

/// The stage name, as recorded in event steps.
pub const STAGE: &str = COUNTERSIGN_STAGE;

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

    /// The countersigned contract of an `ACTIVE` version.
    async fn countersigned(
        &self,
        mut contract: Contract,
        at: i64,
    ) -> Result<Contract, ProcessError> {
        let template = self
            .templates
            .get(&contract.template_name, contract.template_version)
            .await?;
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

impl Stage for Countersign {
    /// The recorded contract and, once prepared, what it emits.
    type Input = Prepared<records::Contract, Emitted>;

    /// Countersigning reads no state this stage writes (it writes none):
    /// the signature is made ahead, across the cores.
    async fn prepare(
        &self,
        mut input: Self::Input,
        _record: &Record,
    ) -> Result<Self::Input, ProcessError> {
        input.work = Some(self.emitted(&input.value).await?);
        Ok(input)
    }

    async fn process(&self, input: Self::Input, _record: &Record) -> Result<Emitted, ProcessError> {
        match input.work {
            Some(emitted) => Ok(emitted),
            None => self.emitted(&input.value).await,
        }
    }
}

impl Countersign {
    /// What a recorded version emits: its countersigned contract if it is
    /// `ACTIVE`, else nothing.
    async fn emitted(&self, recorded: &records::Contract) -> Result<Emitted, ProcessError> {
        if recorded.status != records::ContractStatus::Active {
            return Ok(Emitted::default());
        }
        let contract = from_record(recorded)?;
        let Some(at) = contract.event_log.last().map(|e| e.at) else {
            return Err(Rejection::new(
                "malformed_contract",
                format!("contract {} has an empty event log", contract.id),
            )
            .into());
        };
        let countersigned = self.countersigned(contract, at).await?;
        let topic = &self.ctx.topics.countersigned;
        Ok(Emitted::of(vec![self.ctx.contract(
            topic,
            &countersigned,
            COUNTERSIGN_EVENT,
            "moneta",
        )]))
    }
}
