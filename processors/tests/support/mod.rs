//! Shared setup of the signing-path stage tests (`validate`,
//! `template_check`, `countersign`): an embedded store behind a wrapper that
//! can fail on demand and counts contract-row access, a registry seeded with
//! two legal organizations, an MO, a publisher, their signing keys, an mPass,
//! a settlement agreement and the shipped templates; partners' event drafts,
//! signed for real; raw Kafka records; and helpers to read what a stage did.
//!
//! Each test file uses a part of it.
#![allow(dead_code)]

use std::fmt::Debug;
use std::sync::{Arc, LazyLock};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use moneta_domain::{
    Contract, ContractTemplate, EventRecord, KeyAlgorithm, KeyState, LifecycleStatus, MPass,
    MPassStatus, MembershipOrganization, Organization, PartnerKey, Publisher, SettlementAgreement,
};
use moneta_processors::contracts::{ContractTopics, PathContext, to_domain_terms};
use moneta_processors::countersign::Countersign;
use moneta_processors::rules::RulesConfig;
use moneta_processors::template_check::TemplateCheck;
use moneta_processors::validate::Validate;
use moneta_records::{self as records, ContractEvent, Message, Party, RejectedEvent, Source};
use moneta_runtime::{Emit, Emitted, ProcessError, Record};
use moneta_signing::{KeyRing, SigningKey};
use moneta_state::{EmbeddedStore, StateStore, Stored};
use serde_json::{Value, json};

/// The MO party (a `MembershipOrganization` id).
pub const MO: &str = "mo-1";
/// The publisher party.
pub const PUBLISHER: &str = "pub-1";
/// The legal organization behind the MO.
pub const MO_ORG: &str = "org-mo";
/// The legal organization behind the publisher.
pub const PUB_ORG: &str = "org-pub";
/// The MO's registered signing key.
pub const MO_KEY: &str = "key-mo-1";
/// The publisher's registered signing key.
pub const PUB_KEY: &str = "key-pub-1";
/// An mPass of the MO, Gold tier (cap 200 000 by default).
pub const MPASS: &str = "mp-1";
/// The MO–publisher settlement agreement, in EUR.
pub const AGREEMENT: &str = "agr-1";
/// The contract most tests work on.
pub const CONTRACT: &str = "c-1";
/// Moneta's countersigning key id.
pub const MONETA_KEY: &str = "moneta-test-1";
/// Record timestamp used by default: 2026-11-23T12:00:00Z, in ms.
pub const TS: i64 = 1_795_435_200_000;

/// The MO's private key.
pub fn mo_signer() -> SigningKey {
    SigningKey::from_bytes(&[0x11; 32])
}

/// The publisher's private key.
pub fn pub_signer() -> SigningKey {
    SigningKey::from_bytes(&[0x22; 32])
}

/// A private key nobody registered.
pub fn stranger_signer() -> SigningKey {
    SigningKey::from_bytes(&[0x66; 32])
}

/// Moneta's key ring (one active key).
pub fn moneta_keys() -> Arc<KeyRing> {
    Arc::new(KeyRing::new(MONETA_KEY, SigningKey::from_bytes(&[0x4D; 32])).expect("key ring"))
}

/// Standard base64 of `key`'s public half.
pub fn public_b64(key: &SigningKey) -> String {
    STANDARD.encode(key.verifying_key().as_bytes())
}

/// A publisher-only template that Moneta does not countersign.
pub const NOTICE_TEMPLATE: &str = r#"
name: publisher-notice
version: 1
description: A notice the publisher signs alone; Moneta does not countersign it.
contract_type: notice
attributes:
  type: object
  additionalProperties: false
  required: [text]
  properties:
    text: { type: string, minLength: 1 }
signatures:
  required: [publisher]
  moneta_countersigns: false
"#;

/// The shipped templates, and [`NOTICE_TEMPLATE`], as registry entities.
pub fn templates() -> Vec<ContractTemplate> {
    [
        include_str!("../../../schemas/templates/subscription-charge.yaml"),
        include_str!("../../../schemas/templates/dispute.yaml"),
        include_str!("../../../schemas/templates/dispute-v2.yaml"),
        include_str!("../../../schemas/templates/dispute-resolution.yaml"),
        include_str!("../../../schemas/templates/settlement.yaml"),
        include_str!("../../../schemas/templates/reconciliation.yaml"),
        include_str!("../../../schemas/templates/settlement-statement.yaml"),
        NOTICE_TEMPLATE,
    ]
    .into_iter()
    .map(|yaml| {
        let doc = moneta_domain::TemplateDocument::parse(yaml).expect("template parses");
        ContractTemplate::new(doc.name, doc.version, doc.description, 0, true, yaml)
    })
    .collect()
}

fn organization(id: &str) -> Organization {
    Organization {
        id: id.into(),
        name: id.into(),
        description: String::new(),
        created_at: 0,
        created_by: "admin".into(),
        status: LifecycleStatus::Active,
    }
}

fn partner_key(id: &str, owner: &str, signer: &SigningKey) -> PartnerKey {
    PartnerKey::new(id, owner, KeyAlgorithm::Ed25519, public_b64(signer), 0).expect("key")
}

/// What a world's registry holds; tables change it before it is written.
#[derive(Clone)]
pub struct Seed {
    /// Legal organizations.
    pub organizations: Vec<Organization>,
    /// MOs.
    pub mos: Vec<MembershipOrganization>,
    /// Publishers.
    pub publishers: Vec<Publisher>,
    /// Partner signing keys.
    pub keys: Vec<PartnerKey>,
    /// Templates.
    pub templates: Vec<ContractTemplate>,
    /// mPasses.
    pub mpasses: Vec<MPass>,
    /// Settlement agreements.
    pub agreements: Vec<SettlementAgreement>,
}

impl Seed {
    /// Everything active: [`MO`] (of [`MO_ORG`]) with [`MO_KEY`],
    /// [`PUBLISHER`] (of [`PUB_ORG`]) with [`PUB_KEY`], [`MPASS`],
    /// [`AGREEMENT`] and [`templates`].
    pub fn standard() -> Self {
        Self {
            organizations: vec![organization(MO_ORG), organization(PUB_ORG)],
            mos: vec![MembershipOrganization {
                id: MO.into(),
                mic: "MIC-1".into(),
                name: "The MO".into(),
                status: LifecycleStatus::Active,
                created_at: 0,
                updated_at: 0,
                metadata: json!({}),
                certificates: vec![],
                services: vec![],
                industries: vec![],
                organization_id: Some(MO_ORG.into()),
                rate_limit: None,
            }],
            publishers: vec![Publisher {
                id: PUBLISHER.into(),
                mpc: "MPC-1".into(),
                name: "The publisher".into(),
                status: LifecycleStatus::Active,
                sso_group_id: None,
                created_at: 0,
                updated_at: 0,
                created_by: "admin".into(),
                metadata: json!({}),
                certificates: vec![],
                services: vec![],
                industries: vec![],
                organization_id: Some(PUB_ORG.into()),
                rate_limit: None,
            }],
            keys: vec![
                partner_key(MO_KEY, MO, &mo_signer()),
                partner_key(PUB_KEY, PUBLISHER, &pub_signer()),
            ],
            templates: templates(),
            mpasses: vec![MPass {
                id: MPASS.into(),
                mpass_number: "0001".into(),
                mo_id: MO.into(),
                billing_account_id: None,
                user_id_internal: "u-1".into(),
                status: MPassStatus::Active,
                tier: "Gold".into(),
                active_public_key_id: None,
                created_at: 0,
                updated_at: 0,
                expires_at: 0,
                metadata: json!({}),
            }],
            agreements: vec![SettlementAgreement {
                id: AGREEMENT.into(),
                mo_id: MO.into(),
                publisher_id: PUBLISHER.into(),
                currency: "EUR".into(),
                publisher_bps: 7000,
                mo_bps: 2500,
                moneta_fee_bps: 500,
                effective_from: 0,
                min_settlement_minor: 0,
                created_at: 0,
            }],
        }
    }

    /// The MO.
    pub fn mo(&mut self) -> &mut MembershipOrganization {
        self.mos.iter_mut().find(|m| m.id == MO).expect("seeded MO")
    }

    /// The publisher.
    pub fn publisher(&mut self) -> &mut Publisher {
        self.publishers
            .iter_mut()
            .find(|p| p.id == PUBLISHER)
            .expect("seeded publisher")
    }

    /// Legal organization `id`.
    pub fn organization(&mut self, id: &str) -> &mut Organization {
        self.organizations
            .iter_mut()
            .find(|o| o.id == id)
            .expect("seeded organization")
    }

    /// Partner key `id`.
    pub fn key(&mut self, id: &str) -> &mut PartnerKey {
        self.keys
            .iter_mut()
            .find(|k| k.id == id)
            .expect("seeded key")
    }

    /// The mPass.
    pub fn mpass(&mut self) -> &mut MPass {
        self.mpasses
            .iter_mut()
            .find(|m| m.id == MPASS)
            .expect("seeded mPass")
    }
}

pub use moneta_state::faulty::FaultyStore;

/// The files of a newly created, empty embedded store. Creating a store
/// costs some 150 ms in a debug build; copying one and opening it, a few.
fn pristine_store() -> &'static [(std::ffi::OsString, Vec<u8>)] {
    static PRISTINE: LazyLock<Vec<(std::ffi::OsString, Vec<u8>)>> = LazyLock::new(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(EmbeddedStore::open(dir.path()).expect("embedded store"));
        std::fs::read_dir(dir.path())
            .expect("store dir")
            .map(|entry| {
                let entry = entry.expect("store file");
                let bytes = std::fs::read(entry.path()).expect("store file");
                (entry.file_name(), bytes)
            })
            .collect()
    });
    &PRISTINE
}

/// A store, its registry and the signing path's context.
pub struct World {
    /// The context the stages run in (on [`World::store`]).
    pub ctx: PathContext,
    /// The store under the context, with its switches.
    pub store: Arc<FaultyStore>,
    _dir: tempfile::TempDir,
}

impl World {
    /// A world seeded with [`Seed::standard`].
    pub async fn new() -> Self {
        Self::seeded(Seed::standard()).await
    }

    /// A world whose registry holds nothing.
    pub fn empty() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, bytes) in pristine_store() {
            std::fs::write(dir.path().join(name), bytes).expect("copy the pristine store");
        }
        // The handle the runtime gives stages: writes are visible at once
        // and durable at the next flush.
        let inner = EmbeddedStore::open(dir.path())
            .expect("embedded store")
            .deferred();
        let store = Arc::new(FaultyStore::new(inner));
        let ctx = PathContext::new(store.clone(), ContractTopics::default());
        Self {
            ctx,
            store,
            _dir: dir,
        }
    }

    /// A world whose registry holds `seed`.
    pub async fn seeded(seed: Seed) -> Self {
        let world = Self::empty();
        let registry = &world.ctx.registry;
        for e in &seed.organizations {
            registry.create(e).await.expect("seed organization");
        }
        for e in &seed.mos {
            registry.create(e).await.expect("seed MO");
        }
        for e in &seed.publishers {
            registry.create(e).await.expect("seed publisher");
        }
        for e in &seed.keys {
            registry.create(e).await.expect("seed key");
        }
        for e in &seed.templates {
            registry.create(e).await.expect("seed template");
        }
        for e in &seed.mpasses {
            registry.create(e).await.expect("seed mPass");
        }
        for e in &seed.agreements {
            registry.create(e).await.expect("seed agreement");
        }
        world
    }

    /// The signing path's topics.
    pub fn topics(&self) -> &ContractTopics {
        &self.ctx.topics
    }

    /// A validate stage in this world.
    pub fn validate(&self) -> Validate {
        Validate::new(self.ctx.clone())
    }

    /// A template-check stage in this world, default rules.
    pub fn template_check(&self) -> TemplateCheck {
        TemplateCheck::new(self.ctx.clone(), RulesConfig::default())
    }

    /// A countersign stage in this world, signing with [`moneta_keys`].
    pub fn countersign(&self) -> Countersign {
        Countersign::new(self.ctx.clone(), moneta_keys())
    }

    /// The event record of `partner`'s `event_id`.
    pub async fn event_record(&self, partner: &str, event_id: &str) -> Option<EventRecord> {
        self.ctx
            .events
            .get(partner, event_id)
            .await
            .expect("event record readable")
    }

    /// The stored row of a contract, raw.
    pub async fn row(&self, contract_id: &str) -> Option<Stored> {
        self.ctx
            .store
            .get_contract(contract_id)
            .await
            .expect("contract row readable")
    }

    /// The stored row of a contract, decoded.
    pub async fn contract(&self, contract_id: &str) -> Option<Contract> {
        self.row(contract_id)
            .await
            .map(|row| serde_json::from_slice(&row.body).expect("contract row decodes"))
    }

    /// Revokes partner key `id` in the registry.
    pub async fn revoke_key(&self, id: &str) {
        let mut key = self
            .ctx
            .registry
            .get::<PartnerKey>(id)
            .await
            .expect("registry")
            .expect("key exists");
        key.entity.state = KeyState::Revoked;
        key.entity.revoked_at = Some(1);
        self.ctx
            .registry
            .update(&key.entity, key.revision)
            .await
            .expect("revoke key");
    }
}

/// One raw record of `topic` at `offset` with timestamp `ts` (ms); its
/// payload is a recognizable stand-in for the Avro bytes.
pub fn record(topic: &str, offset: i64, ts: Option<i64>) -> Record {
    Record {
        topic: topic.into(),
        partition: 0,
        offset,
        key: Some(CONTRACT.as_bytes().to_vec()),
        payload: Some(format!("payload of {topic}@{offset}").into_bytes()),
        headers: vec![],
        timestamp_ms: ts,
        stream_time: Default::default(),
    }
}

/// The version of the shipped template `name` (`schemas/templates/`).
pub fn shipped_version(name: &str) -> u32 {
    templates()
        .into_iter()
        .find(|t| t.name == name)
        .map_or(1, |t| t.version)
}

/// Terms of the shipped version of `template` for `contract_id` with `attributes`.
pub fn terms(
    contract_id: &str,
    template: &str,
    contract_type: &str,
    attrs: Value,
) -> records::ContractTerms {
    records::ContractTerms {
        contract_id: contract_id.into(),
        contract_type: contract_type.into(),
        template_name: template.into(),
        template_version: i32::try_from(shipped_version(template)).expect("small"),
        mo_id: MO.into(),
        publisher_id: PUBLISHER.into(),
        mpass_id: None,
        description: format!("{template} {contract_id}"),
        terms_json: attrs.to_string(),
    }
}

/// Valid subscription-charge attributes (999 EUR cents, November 2026).
pub fn charge_attrs() -> Value {
    json!({"subscription_id": "sub-1", "amount_minor": 999, "currency": "EUR",
           "period_start": "2026-11-01", "period_end": "2026-11-30",
           "charged_at": "2026-11-01T00:00:00Z"})
}

/// Valid dispute attributes about the charge `charge_id`.
pub fn dispute_attrs(charge_id: &str) -> Value {
    json!({"charge_contract_id": charge_id, "reason": "not_received", "amount_minor": 999,
           "currency": "EUR", "opened_at": "2026-12-01T00:00:00Z", "resolution": "upheld",
           "details": "no access since the 3rd; support ticket 118"})
}

/// Valid settlement attributes under [`AGREEMENT`].
pub fn settlement_attrs() -> Value {
    json!({"agreement_id": AGREEMENT, "period_start": "2026-11-01", "period_end": "2026-11-30",
           "currency": "EUR", "total_minor": 1000, "publisher_minor": 700, "mo_minor": 250,
           "moneta_fee_minor": 50})
}

/// Valid reconciliation attributes, submitted by the MO.
pub fn reconciliation_attrs() -> Value {
    json!({"period_start": "2026-11-01", "period_end": "2026-11-30", "submitted_by": "mo",
           "records": [{"contract_id": "c-9", "amount_minor": 999, "currency": "EUR"}]})
}

/// A partner's event before it is signed: every part a test may break.
#[derive(Clone)]
pub struct Draft {
    /// The partner's event id.
    pub event_id: String,
    /// The party the signature claims.
    pub party: Party,
    /// The key id the signature names.
    pub key_id: String,
    /// The private key that actually signs.
    pub signer: SigningKey,
    /// The terms signed.
    pub terms: records::ContractTerms,
    /// `signed_at`, Unix seconds.
    pub signed_at: i64,
    /// Where it entered.
    pub source: Source,
    /// The authenticated submitter (HTTP).
    pub submitted_by: Option<String>,
}

impl Draft {
    /// `party`'s event `event_id` over `terms`, signed with the party's own
    /// registered key (the publisher's for `MONETA`), produced to Kafka.
    pub fn new(party: Party, event_id: &str, terms: records::ContractTerms) -> Self {
        let (key_id, signer) = match party {
            Party::Mo => (MO_KEY, mo_signer()),
            Party::Publisher | Party::Moneta => (PUB_KEY, pub_signer()),
        };
        Self {
            event_id: event_id.into(),
            party,
            key_id: key_id.into(),
            signer,
            terms,
            signed_at: TS / 1000 - 60,
            source: Source::Kafka,
            submitted_by: None,
        }
    }

    /// `party`'s signature on the subscription charge [`CONTRACT`].
    pub fn charge(party: Party, event_id: &str) -> Self {
        Self::new(
            party,
            event_id,
            terms(
                CONTRACT,
                "subscription-charge",
                "subscription_charge",
                charge_attrs(),
            ),
        )
    }

    /// The same, submitted over HTTP by the signing party's organization.
    pub fn http(mut self) -> Self {
        self.source = Source::Http;
        self.submitted_by = Some(
            match self.party {
                Party::Mo => MO,
                Party::Publisher => PUBLISHER,
                Party::Moneta => "moneta",
            }
            .to_owned(),
        );
        self
    }

    /// The same with attribute `field` set to `value`.
    pub fn attr(mut self, field: &str, value: Value) -> Self {
        let mut attrs: Value = serde_json::from_str(&self.terms.terms_json).expect("JSON terms");
        attrs[field] = value;
        self.terms.terms_json = attrs.to_string();
        self
    }

    /// The same about contract `id`.
    pub fn contract(mut self, id: &str) -> Self {
        self.terms.contract_id = id.into();
        self
    }

    /// The same about mPass `id`.
    pub fn mpass(mut self, id: &str) -> Self {
        self.terms.mpass_id = Some(id.into());
        self
    }

    /// The organization the signature claims.
    pub fn partner(&self) -> String {
        match self.party {
            Party::Mo => self.terms.mo_id.clone(),
            Party::Publisher => self.terms.publisher_id.clone(),
            Party::Moneta => "moneta".into(),
        }
    }

    /// The event, signed by [`Draft::signer`] over the canonical terms (over
    /// the raw `terms_json` when the terms are malformed).
    pub fn sign(&self) -> ContractEvent {
        let input = to_domain_terms(&self.terms)
            .ok()
            .and_then(|t| t.signing_input().ok())
            .unwrap_or_else(|| self.terms.terms_json.clone().into_bytes());
        ContractEvent {
            event_id: self.event_id.clone(),
            contract: self.terms.clone(),
            signature: records::PartySignature {
                party: self.party,
                key_id: self.key_id.clone(),
                signature: moneta_signing::sign_ed25519(&self.signer, &input),
                signed_at: self.signed_at,
            },
            source: self.source,
            submitted_by: self.submitted_by.clone(),
            received_at_ms: (self.source == Source::Http).then_some(TS - 5),
        }
    }
}

/// A stage's result in comparable form: the emits, or the error's class
/// and code.
pub fn summary(result: &Result<Emitted, ProcessError>) -> Result<Vec<Emit>, String> {
    match result {
        Ok(emitted) => {
            assert!(
                emitted.effects.is_empty(),
                "signing-path stages have no effects"
            );
            Ok(emitted.outputs.clone())
        }
        Err(ProcessError::Rejected(r)) => Err(format!("dead letter {}", r.code)),
        Err(ProcessError::Transient(e)) => Err(format!("transient: {e}")),
    }
}

/// The dead-letter code of a result, if it is a rejection.
pub fn dead_letter(result: &Result<Emitted, ProcessError>) -> Option<String> {
    match result {
        Err(ProcessError::Rejected(r)) => Some(r.code.clone()),
        _ => None,
    }
}

/// Asserts `result` is a transient failure (retried, never dead-lettered).
#[track_caller]
pub fn assert_transient(result: &Result<Emitted, ProcessError>) {
    assert!(
        matches!(result, Err(ProcessError::Transient(_))),
        "{:?}",
        summary(result)
    );
}

/// The only emit of `result`, if it emitted exactly one.
pub fn only(result: &Result<Emitted, ProcessError>) -> Option<&Emit> {
    match result {
        Ok(emitted) if emitted.outputs.len() == 1 => emitted.outputs.first(),
        _ => None,
    }
}

/// The refusal `result` emitted, if it emitted exactly one, to `rejected`.
pub fn refusal<'a>(
    result: &'a Result<Emitted, ProcessError>,
    topics: &ContractTopics,
) -> Option<&'a RejectedEvent> {
    match only(result) {
        Some(Emit {
            topic,
            value: Message::RejectedEvent(r),
            ..
        }) if *topic == topics.rejected => Some(r),
        _ => None,
    }
}

/// The contract `result` emitted, if it emitted exactly one, to `topic`.
pub fn contract_on<'a>(
    result: &'a Result<Emitted, ProcessError>,
    topic: &str,
) -> Option<&'a records::Contract> {
    let Ok(emitted) = result else {
        return None;
    };
    let mut on_topic = emitted.outputs.iter().filter(|e| e.topic == topic);
    match (on_topic.next(), on_topic.next()) {
        (
            Some(Emit {
                value: Message::Contract(c),
                ..
            }),
            None,
        ) => Some(c),
        _ => None,
    }
}

/// `Ok` if `got == want`, else what differs, naming `what`.
pub fn ensure_eq<T: PartialEq + Debug>(got: T, want: T, what: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got:?}, want {want:?}"))
    }
}

/// `Ok` if `ok`, else `what`.
pub fn ensure(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

impl Drop for World {
    /// Leaves the store open: redb writes its allocator state when a
    /// database closes, some 60 ms in a debug build, most of a test case's
    /// time. The directory is still removed; the unlinked file goes when the
    /// test process exits.
    fn drop(&mut self) {
        std::mem::forget(Arc::clone(&self.store));
    }
}

/// Panics listing every failed case, if any.
pub fn report(results: Vec<Result<(), String>>) {
    let cases = results.len();
    let mut failures: Vec<String> = results.into_iter().filter_map(Result::err).collect();
    failures.sort();
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
