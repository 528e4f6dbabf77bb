//! What rebuilding the state from the log needs from the state crate: which
//! kinds come from where, the registry changelog's record, index entries
//! recomputed from a stored body, and the state digest that proves a
//! rebuilt store equal to the original.
//!
//! Where each table comes from in a rebuild:
//!
//! - **registry** ([`REGISTRY_KINDS`]): the registry changelog topic, with
//!   the original revisions;
//! - **derived** (event records, contracts and their event ids, settlement
//!   states): the stages' input topics, through the stages' own logic;
//! - **operational** ([`OPERATIONAL_KINDS`]): copied from the old store,
//!   since no topic holds them — deliveries and attempts record what
//!   partners' webhook endpoints answered over HTTP, idempotency keys what
//!   the edge answered. The `delivered`
//!   step of an event record is written by the webhook worker for the same
//!   reason and is carried over too.

use std::collections::BTreeMap;

use moneta_domain::{
    BillingAccount, ContractTemplate, Delivery, DeliveryAttempt, Entity, EventRecord, Kind, MPass,
    MembershipOrganization, MoDeveloper, Organization, PartnerKey, Publisher, PublisherDeveloper,
    SettlementAgreement, WebhookEndpoint,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{
    ContractApplied, ContractKeys, ContractQuery, ContractWrite, StateStore, StoreError, Stored,
};

/// The registry's kinds: written by operators (admin API, seed commands)
/// and by the webhook worker (disabling a gone endpoint); mirrored to the
/// registry changelog topic.
pub const REGISTRY_KINDS: [Kind; 11] = [
    Kind::Organization,
    Kind::MembershipOrganization,
    Kind::Publisher,
    Kind::MoDeveloper,
    Kind::PublisherDeveloper,
    Kind::MPass,
    Kind::BillingAccount,
    Kind::ContractTemplate,
    Kind::PartnerKey,
    Kind::WebhookEndpoint,
    Kind::SettlementAgreement,
];

/// Kinds no topic holds (outcomes of HTTP exchanges), carried over from
/// the old store by a rebuild.
pub const OPERATIONAL_KINDS: [Kind; 3] = [
    Kind::IdempotencyKey,
    Kind::WebhookDelivery,
    Kind::DeliveryAttempt,
];

/// Whether `kind` is one of the [`REGISTRY_KINDS`].
pub fn is_registry(kind: Kind) -> bool {
    REGISTRY_KINDS.contains(&kind)
}

/// The kind whose storage name is `name`.
pub fn kind_named(name: &str) -> Option<Kind> {
    Kind::ALL.into_iter().find(|k| k.as_str() == name)
}

/// One record of the registry changelog topic (key `kind/id`, compacted):
/// a registry record as committed in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryRecord {
    /// The kind's storage name (`publisher`, …).
    pub kind: String,
    /// Primary key.
    pub id: String,
    /// The revision the store gave this write.
    pub revision: u64,
    /// The stored JSON body, byte for byte, as a string.
    pub body: String,
}

impl RegistryRecord {
    /// The changelog key of a record: `kind/id`.
    pub fn key(kind: Kind, id: &str) -> String {
        format!("{}/{id}", kind.as_str())
    }

    /// The record of a write of `body` at `revision`; `None` if the body is
    /// not UTF-8 (never the case for a registry entity's JSON).
    pub fn new(kind: Kind, id: &str, revision: u64, body: &[u8]) -> Option<Self> {
        Some(Self {
            kind: kind.as_str().to_owned(),
            id: id.to_owned(),
            revision,
            body: String::from_utf8(body.to_vec()).ok()?,
        })
    }
}

fn entity_indexes<E: Entity>(
    body: &[u8],
) -> Result<Vec<(&'static str, String)>, serde_json::Error> {
    Ok(serde_json::from_slice::<E>(body)?.indexes())
}

/// The index entries the store keeps for a record of `kind` with this
/// body, as its writers compute them; `None` for a kind whose entries are
/// not derived from its body alone (settlement states: rebuilt by replay).
pub fn indexes_of(
    kind: Kind,
    body: &[u8],
) -> Result<Option<Vec<(&'static str, String)>>, serde_json::Error> {
    let entries = match kind {
        Kind::Organization => entity_indexes::<Organization>(body)?,
        Kind::MembershipOrganization => entity_indexes::<MembershipOrganization>(body)?,
        Kind::Publisher => entity_indexes::<Publisher>(body)?,
        Kind::MoDeveloper => entity_indexes::<MoDeveloper>(body)?,
        Kind::PublisherDeveloper => entity_indexes::<PublisherDeveloper>(body)?,
        Kind::MPass => entity_indexes::<MPass>(body)?,
        Kind::BillingAccount => entity_indexes::<BillingAccount>(body)?,
        Kind::ContractTemplate => entity_indexes::<ContractTemplate>(body)?,
        Kind::PartnerKey => entity_indexes::<PartnerKey>(body)?,
        Kind::WebhookEndpoint => entity_indexes::<WebhookEndpoint>(body)?,
        Kind::SettlementAgreement => entity_indexes::<SettlementAgreement>(body)?,
        Kind::WebhookDelivery => serde_json::from_slice::<Delivery>(body)?.indexes(),
        Kind::DeliveryAttempt => serde_json::from_slice::<DeliveryAttempt>(body)?.indexes(),
        // Written without index entries (event log, edge).
        Kind::EventRecord | Kind::IdempotencyKey | Kind::ReconcileView => Vec::new(),
        Kind::SettlementState => return Ok(None),
    };
    Ok(Some(entries))
}

/// Restores a contract row as its changelog record gives it: `body` at
/// the version of its last event, with `events` (event id, version it
/// produced; versions 1, 2, … in order). It applies the events one by one
/// through [`StateStore::apply_contract`], each writing `body`, so every
/// backend builds the row, its applied event ids and its search entries
/// with its own write path. A row already at that version is left alone.
pub async fn restore_contract(
    store: &dyn StateStore,
    contract_id: &str,
    body: &[u8],
    keys: &ContractKeys,
    events: &[(String, u64)],
) -> Result<(), StoreError> {
    let corrupt = |why: String| StoreError::Backend(format!("contract {contract_id}: {why}"));
    for (at, (event_id, version)) in events.iter().enumerate() {
        if *version != at as u64 + 1 {
            return Err(corrupt(format!(
                "event {event_id} made version {version}, expected {}",
                at + 1
            )));
        }
        let write = ContractWrite {
            contract_id: contract_id.to_owned(),
            event_id: event_id.clone(),
            expected_version: at as u64,
            body: body.to_vec(),
            keys: keys.clone(),
        };
        match store.apply_contract(write).await? {
            ContractApplied::Applied { .. } | ContractApplied::AlreadyApplied { .. } => {}
            ContractApplied::Conflict { current } => {
                return Err(corrupt(format!(
                    "already at version {current} before event {event_id}"
                )));
            }
        }
    }
    Ok(())
}

/// Every record of `kind`, in id order.
pub async fn list_all(store: &dyn StateStore, kind: Kind) -> Result<Vec<Stored>, StoreError> {
    const PAGE: usize = 1000;
    let mut out: Vec<Stored> = Vec::new();
    loop {
        let after = out.last().map(|s| s.id.clone());
        let page = store.list(kind, after.as_deref(), PAGE).await?;
        let done = page.len() < PAGE;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// The digest of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableDigest {
    /// Table: a kind's storage name, `contracts` or `contract_events`.
    pub table: String,
    /// Rows hashed.
    pub rows: u64,
    /// SHA-256 (hex) over its rows in canonical order.
    pub sha256: String,
}

/// The digest of a whole state store: one per table and a total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDigest {
    /// Every table, kinds in [`Kind::ALL`] order, then contracts and their events.
    pub tables: Vec<TableDigest>,
    /// SHA-256 (hex) over every table's name, row count and digest.
    pub total: String,
}

impl StateDigest {
    /// The tables whose digests differ from `other`'s, by name.
    pub fn differences(&self, other: &StateDigest) -> Vec<String> {
        let theirs: BTreeMap<&str, &TableDigest> =
            other.tables.iter().map(|t| (t.table.as_str(), t)).collect();
        let mut names: Vec<String> = self
            .tables
            .iter()
            .filter(|t| theirs.get(t.table.as_str()) != Some(t))
            .map(|t| t.table.clone())
            .collect();
        names.extend(
            other
                .tables
                .iter()
                .filter(|t| !self.tables.iter().any(|m| m.table == t.table))
                .map(|t| t.table.clone()),
        );
        names
    }
}

/// Hashes length-prefixed fields, so no two rows hash alike by accident.
struct Hasher(Sha256);

impl Hasher {
    fn new() -> Self {
        Self(Sha256::new())
    }

    fn field(&mut self, bytes: &[u8]) {
        self.0.update((bytes.len() as u64).to_be_bytes());
        self.0.update(bytes);
    }

    fn number(&mut self, n: u64) {
        self.0.update(n.to_be_bytes());
    }

    fn hex(self) -> String {
        self.0
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The body as hashed: an event record's steps in state order (the order
/// they were recorded in is a race between the edge's `accepted` and
/// validate's `validated`, not part of the state); every other body as stored.
fn canonical_body(kind: Kind, body: &[u8]) -> Vec<u8> {
    if kind == Kind::EventRecord
        && let Ok(mut record) = serde_json::from_slice::<EventRecord>(body)
    {
        record
            .steps
            .sort_by(|a, b| (a.state, &a.stage).cmp(&(b.state, &b.stage)));
        if let Ok(bytes) = serde_json::to_vec(&record) {
            return bytes;
        }
    }
    body.to_vec()
}

/// The digest of every table of `store`: each kind's records (id, revision,
/// body), every contract (id, version, body) and every contract's applied
/// event ids (contract, event, version), in id order. Index entries and
/// contract search keys are left out: the store derives them from the
/// bodies.
pub async fn digest(store: &dyn StateStore) -> Result<StateDigest, StoreError> {
    let mut tables = Vec::new();
    for kind in Kind::ALL {
        let mut hasher = Hasher::new();
        let records = list_all(store, kind).await?;
        for record in &records {
            hasher.field(record.id.as_bytes());
            hasher.number(record.revision);
            hasher.field(&canonical_body(kind, &record.body));
        }
        tables.push(TableDigest {
            table: kind.as_str().to_owned(),
            rows: records.len() as u64,
            sha256: hasher.hex(),
        });
    }
    let mut contracts = store
        .search_contracts(&ContractQuery {
            limit: usize::MAX,
            ..ContractQuery::default()
        })
        .await?;
    contracts.sort_by(|a, b| a.id.cmp(&b.id));
    let (mut hasher, mut events, mut event_rows) = (Hasher::new(), Hasher::new(), 0u64);
    for contract in &contracts {
        hasher.field(contract.id.as_bytes());
        hasher.number(contract.revision);
        hasher.field(&contract.body);
        for (event, version) in store.contract_events(&contract.id).await? {
            events.field(contract.id.as_bytes());
            events.field(event.as_bytes());
            events.number(version);
            event_rows += 1;
        }
    }
    tables.push(TableDigest {
        table: "contracts".into(),
        rows: contracts.len() as u64,
        sha256: hasher.hex(),
    });
    tables.push(TableDigest {
        table: "contract_events".into(),
        rows: event_rows,
        sha256: events.hex(),
    });
    let mut total = Hasher::new();
    for table in &tables {
        total.field(table.table.as_bytes());
        total.number(table.rows);
        total.field(table.sha256.as_bytes());
    }
    Ok(StateDigest {
        tables,
        total: total.hex(),
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use moneta_domain::{EventState, EventStep};

    use super::*;
    use crate::{EmbeddedStore, Expect};

    fn step(state: EventState) -> EventStep {
        EventStep {
            state,
            stage: "s".into(),
            at_ms: 1,
            code: None,
            message: None,
            source: None,
        }
    }

    fn record(steps: Vec<EventStep>) -> Vec<u8> {
        serde_json::to_vec(&EventRecord {
            event_id: "e".into(),
            partner_id: "p".into(),
            contract_id: "c".into(),
            fingerprint: "f".into(),
            steps,
        })
        .expect("json")
    }

    #[tokio::test]
    async fn digests_change_with_any_row_and_ignore_step_order() {
        let dirs = [
            tempfile::tempdir().expect("dir"),
            tempfile::tempdir().expect("dir"),
        ];
        let stores: Vec<Arc<dyn StateStore>> = dirs
            .iter()
            .map(|d| Arc::new(EmbeddedStore::open(d.path()).expect("open")) as Arc<dyn StateStore>)
            .collect();
        let (a, b) = (&stores[0], &stores[1]);
        let steps = [step(EventState::Accepted), step(EventState::Validated)];
        a.restore(Kind::EventRecord, "p/e", 2, &record(steps.to_vec()), &[])
            .await
            .expect("a");
        b.restore(
            Kind::EventRecord,
            "p/e",
            2,
            &record(steps.iter().rev().cloned().collect()),
            &[],
        )
        .await
        .expect("b");
        let (da, db) = (
            digest(a.as_ref()).await.expect("a"),
            digest(b.as_ref()).await.expect("b"),
        );
        assert_eq!(da, db, "step order is not state");
        assert!(da.differences(&db).is_empty());

        b.put(Kind::Publisher, "pub-1", b"{}", &[], Expect::Absent)
            .await
            .expect("put");
        let db = digest(b.as_ref()).await.expect("b");
        assert_ne!(da.total, db.total);
        assert_eq!(da.differences(&db), ["publisher"]);
        a.restore(Kind::Publisher, "pub-1", 2, b"{}", &[])
            .await
            .expect("restore");
        let da = digest(a.as_ref()).await.expect("a");
        assert_eq!(da.differences(&db), ["publisher"], "revisions count");
    }

    #[test]
    fn registry_records_round_trip_and_kinds_are_named() {
        let record =
            RegistryRecord::new(Kind::Publisher, "p1", 3, b"{\"b\":1,\"a\":2}").expect("utf-8");
        let json = serde_json::to_string(&record).expect("json");
        let back: RegistryRecord = serde_json::from_str(&json).expect("back");
        assert_eq!(
            back.body.as_bytes(),
            b"{\"b\":1,\"a\":2}",
            "body kept byte for byte"
        );
        assert_eq!(RegistryRecord::key(Kind::Publisher, "p1"), "publisher/p1");
        assert_eq!(kind_named("webhook_endpoint"), Some(Kind::WebhookEndpoint));
        assert_eq!(kind_named("nope"), None);
        assert!(REGISTRY_KINDS.iter().all(|k| is_registry(*k)));
        assert!(!is_registry(Kind::EventRecord));
        assert_eq!(indexes_of(Kind::SettlementState, b"{}").expect("ok"), None);
        assert_eq!(
            indexes_of(Kind::IdempotencyKey, b"{}").expect("ok"),
            Some(Vec::new())
        );
    }
}
