//! The conformance suite: one set of checks every [`StateStore`] backend
//! must pass, so the embedded store and ScyllaDB behave identically.
//! Each check panics with a message on failure; `conformance_tests!` turns
//! them into `#[tokio::test]`s for a backend.

use std::collections::BTreeSet;
use std::sync::Arc;

use moneta_domain::Kind;

use crate::store::{
    ContractApplied, ContractKeys, ContractQuery, ContractWrite, Expect, StateStore, StoreError,
};

/// A unique id prefix, so checks may share one backend (and keyspace).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{nanos:x}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Create, read, conditional update, stale update, duplicate create.
pub async fn records_are_written_with_revisions(store: Arc<dyn StateStore>) {
    let id = unique("org");
    let rev = store
        .put(Kind::Organization, &id, b"{\"v\":1}", &[], Expect::Absent)
        .await
        .expect("create");
    assert_eq!(rev, 1);
    let again = store
        .put(Kind::Organization, &id, b"{}", &[], Expect::Absent)
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict { found: 1, .. })),
        "duplicate create: {again:?}"
    );
    let rev = store
        .put(
            Kind::Organization,
            &id,
            b"{\"v\":2}",
            &[],
            Expect::Revision(1),
        )
        .await
        .expect("update");
    assert_eq!(rev, 2);
    let stale = store
        .put(
            Kind::Organization,
            &id,
            b"{\"v\":3}",
            &[],
            Expect::Revision(1),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { found: 2, .. })),
        "stale update: {stale:?}"
    );
    let missing = store
        .put(
            Kind::Organization,
            &unique("none"),
            b"{}",
            &[],
            Expect::Revision(1),
        )
        .await;
    assert!(
        matches!(missing, Err(StoreError::Conflict { found: 0, .. })),
        "update of nothing: {missing:?}"
    );
    let got = store
        .get(Kind::Organization, &id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!((got.revision, got.body.as_slice()), (2, &b"{\"v\":2}"[..]));
    assert!(
        store
            .get(Kind::Publisher, &id)
            .await
            .expect("get")
            .is_none(),
        "kinds are separate tables"
    );
}

/// Lookups find records by index value, follow updates, and keep kinds apart.
pub async fn lookups_follow_index_values(store: Arc<dyn StateStore>) {
    let mic = unique("MIC");
    let (a, b) = (unique("mo"), unique("mo"));
    store
        .put(
            Kind::MembershipOrganization,
            &a,
            b"{}",
            &[("mic", mic.clone())],
            Expect::Absent,
        )
        .await
        .expect("a");
    store
        .put(
            Kind::MembershipOrganization,
            &b,
            b"{}",
            &[("mic", unique("MIC"))],
            Expect::Absent,
        )
        .await
        .expect("b");
    let found = store
        .lookup(Kind::MembershipOrganization, "mic", &mic)
        .await
        .expect("lookup");
    assert_eq!(
        found.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(),
        [a.as_str()]
    );

    let moved = unique("MIC");
    store
        .put(
            Kind::MembershipOrganization,
            &a,
            b"{}",
            &[("mic", moved.clone())],
            Expect::Revision(1),
        )
        .await
        .expect("move");
    assert!(
        store
            .lookup(Kind::MembershipOrganization, "mic", &mic)
            .await
            .expect("lookup")
            .is_empty(),
        "old value gone"
    );
    assert_eq!(
        store
            .lookup(Kind::MembershipOrganization, "mic", &moved)
            .await
            .expect("lookup")
            .len(),
        1
    );
    assert!(
        store
            .lookup(Kind::Publisher, "mic", &moved)
            .await
            .expect("lookup")
            .is_empty()
    );

    // Several records under one value (an MO's developers), in id order.
    let mo = unique("mo");
    let mut devs: Vec<String> = (0..3).map(|_| unique("dev")).collect();
    for dev in &devs {
        store
            .put(
                Kind::MoDeveloper,
                dev,
                b"{}",
                &[("mo_id", mo.clone())],
                Expect::Absent,
            )
            .await
            .expect("dev");
    }
    devs.sort();
    let found: Vec<String> = store
        .lookup(Kind::MoDeveloper, "mo_id", &mo)
        .await
        .expect("lookup")
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(found, devs);
}

/// Listing pages through a kind in id order.
pub async fn lists_page_in_id_order(store: Arc<dyn StateStore>) {
    let prefix = unique("page");
    for i in 0..5 {
        store
            .put(
                Kind::WebhookEndpoint,
                &format!("{prefix}-{i}"),
                b"{}",
                &[],
                Expect::Absent,
            )
            .await
            .expect("put");
    }
    let mut seen = Vec::new();
    let mut after = Some(format!("{prefix}-"));
    loop {
        let page = store
            .list(Kind::WebhookEndpoint, after.as_deref(), 2)
            .await
            .expect("list");
        let mine: Vec<String> = page
            .iter()
            .map(|s| s.id.clone())
            .filter(|id| id.starts_with(&prefix))
            .collect();
        if mine.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        after = mine.last().cloned();
        seen.extend(mine);
    }
    assert_eq!(
        seen,
        (0..5).map(|i| format!("{prefix}-{i}")).collect::<Vec<_>>()
    );
}

/// A delete removes the record at its revision with its index entries,
/// and nothing at another revision; the id can be created again.
pub async fn records_are_deleted_at_their_revision(store: Arc<dyn StateStore>) {
    let id = unique("gone");
    let bucket = unique("bucket");
    let put = |body: &'static [u8], value: String, expect| {
        let (store, id) = (store.clone(), id.clone());
        async move {
            store
                .put(
                    Kind::IdempotencyKey,
                    &id,
                    body,
                    &[("expires", value)],
                    expect,
                )
                .await
                .expect("put")
        }
    };
    let first = put(b"{\"v\":1}", format!("{bucket}-1"), Expect::Absent).await;
    let second = put(b"{\"v\":2}", format!("{bucket}-2"), Expect::Revision(first)).await;
    assert!(
        !store
            .delete(Kind::IdempotencyKey, &id, first)
            .await
            .expect("delete"),
        "a delete at an older revision removes nothing"
    );
    assert!(
        store
            .get(Kind::IdempotencyKey, &id)
            .await
            .expect("get")
            .is_some()
    );
    assert!(
        !store
            .delete(Kind::IdempotencyKey, &unique("never"), 1)
            .await
            .expect("delete"),
        "an absent record is not deleted"
    );
    assert!(
        store
            .delete(Kind::IdempotencyKey, &id, second)
            .await
            .expect("delete")
    );
    assert!(
        store
            .get(Kind::IdempotencyKey, &id)
            .await
            .expect("get")
            .is_none()
    );
    let looked_up = store
        .lookup(Kind::IdempotencyKey, "expires", &format!("{bucket}-2"))
        .await
        .expect("lookup");
    assert!(looked_up.is_empty(), "its index entry went with it");
    let listed = store
        .list(Kind::IdempotencyKey, Some(&id[..id.len() - 1]), 1000)
        .await
        .expect("list");
    assert!(listed.iter().all(|s| s.id != id), "nor is it listed");
    assert!(
        !store
            .delete(Kind::IdempotencyKey, &id, second)
            .await
            .expect("delete"),
        "deleting twice removes nothing the second time"
    );
    let again = put(b"{\"v\":3}", format!("{bucket}-3"), Expect::Absent).await;
    assert_eq!(again, 1, "created again, it starts over");
    let found = store
        .lookup(Kind::IdempotencyKey, "expires", &format!("{bucket}-3"))
        .await
        .expect("lookup");
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].body, b"{\"v\":3}");
}

fn keys(mo: &str, publisher: &str, kind: &str, created_at: i64) -> ContractKeys {
    ContractKeys {
        mo_id: mo.into(),
        publisher_id: publisher.into(),
        mpass_id: None,
        contract_type: kind.into(),
        created_at,
    }
}

fn write(contract: &str, event: &str, expected: u64, keys: &ContractKeys) -> ContractWrite {
    ContractWrite {
        contract_id: contract.into(),
        event_id: event.into(),
        expected_version: expected,
        body: format!("{{\"event\":\"{event}\",\"version\":{}}}", expected + 1).into_bytes(),
        keys: keys.clone(),
    }
}

/// Version compare-and-set, and idempotence by event id (replays).
pub async fn contract_events_apply_once_and_in_order(store: Arc<dyn StateStore>) {
    let id = unique("contract");
    let k = keys("mo", "pub", "subscription_charge", 1_700_000_000);
    assert_eq!(
        store
            .apply_contract(write(&id, "e1", 0, &k))
            .await
            .expect("e1"),
        ContractApplied::Applied { version: 1 }
    );
    assert_eq!(
        store
            .apply_contract(write(&id, "e1", 0, &k))
            .await
            .expect("e1 again"),
        ContractApplied::AlreadyApplied { version: 1 }
    );
    assert_eq!(
        store
            .apply_contract(write(&id, "e2", 1, &k))
            .await
            .expect("e2"),
        ContractApplied::Applied { version: 2 }
    );
    assert_eq!(
        store
            .apply_contract(write(&id, "e3", 1, &k))
            .await
            .expect("stale"),
        ContractApplied::Conflict { current: 2 }
    );
    // A replay of an old event, even against an old version, changes nothing.
    assert_eq!(
        store
            .apply_contract(write(&id, "e1", 0, &k))
            .await
            .expect("replay"),
        ContractApplied::AlreadyApplied { version: 1 }
    );
    let got = store
        .get_contract(&id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!(got.revision, 2);
    assert_eq!(got.body, b"{\"event\":\"e2\",\"version\":2}");
    let fresh = unique("contract");
    assert_eq!(
        store
            .apply_contract(write(&fresh, "x", 3, &k))
            .await
            .expect("absent"),
        ContractApplied::Conflict { current: 0 }
    );
    assert!(store.get_contract(&fresh).await.expect("get").is_none());
}

/// Writers racing on one contract: each version is won by exactly one
/// event, and every event lands exactly once.
pub async fn concurrent_writers_race_safely(store: Arc<dyn StateStore>) {
    let id = unique("raced");
    let k = keys("mo", "pub", "dispute", 1_700_000_000);
    let writers = 8;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let (store, id, k) = (Arc::clone(&store), id.clone(), k.clone());
        tasks.push(tokio::spawn(async move {
            let event = format!("event-{w}");
            loop {
                let current = store
                    .get_contract(&id)
                    .await
                    .expect("get")
                    .map_or(0, |s| s.revision);
                match store
                    .apply_contract(write(&id, &event, current, &k))
                    .await
                    .expect("apply")
                {
                    ContractApplied::Applied { version }
                    | ContractApplied::AlreadyApplied { version } => return version,
                    ContractApplied::Conflict { .. } => tokio::task::yield_now().await,
                }
            }
        }));
    }
    let mut versions = BTreeSet::new();
    for task in tasks {
        assert!(
            versions.insert(task.await.expect("writer")),
            "two events got one version"
        );
    }
    assert_eq!(versions, (1..=writers).collect::<BTreeSet<u64>>());
    assert_eq!(
        store
            .get_contract(&id)
            .await
            .expect("get")
            .expect("present")
            .revision,
        writers
    );
}

/// Searches by party, mPass, type and creation time.
pub async fn contracts_are_searchable(store: Arc<dyn StateStore>) {
    let (mo, publisher, mpass) = (unique("mo"), unique("pub"), unique("mpass"));
    let other_mo = unique("mo");
    let base = 1_700_000_000;
    let mut with_mpass = keys(&mo, &publisher, "subscription_charge", base + 10);
    with_mpass.mpass_id = Some(mpass.clone());
    let entries = [
        (
            unique("c"),
            keys(&mo, &publisher, "subscription_charge", base),
        ),
        (unique("c"), with_mpass),
        (unique("c"), keys(&mo, &publisher, "dispute", base + 20)),
        (
            unique("c"),
            keys(&other_mo, &publisher, "subscription_charge", base + 30),
        ),
    ];
    for (id, k) in &entries {
        store
            .apply_contract(write(id, "create", 0, k))
            .await
            .expect("create");
    }
    let ids = |found: Vec<crate::Stored>| found.into_iter().map(|s| s.id).collect::<Vec<String>>();
    let want = |picked: &[usize]| {
        picked
            .iter()
            .map(|i| entries[*i].0.clone())
            .collect::<Vec<String>>()
    };
    let by_mo = ContractQuery {
        mo_id: Some(mo.clone()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.search_contracts(&by_mo).await.expect("mo")),
        want(&[0, 1, 2])
    );
    let by_pub_type = ContractQuery {
        publisher_id: Some(publisher.clone()),
        contract_type: Some("subscription_charge".into()),
        ..Default::default()
    };
    assert_eq!(
        ids(store.search_contracts(&by_pub_type).await.expect("pub")),
        want(&[0, 1, 3])
    );
    let by_mpass = ContractQuery {
        mpass_id: Some(mpass),
        ..Default::default()
    };
    assert_eq!(
        ids(store.search_contracts(&by_mpass).await.expect("mpass")),
        want(&[1])
    );
    let by_time = ContractQuery {
        publisher_id: Some(publisher),
        created_from: Some(base + 10),
        created_until: Some(base + 30),
        ..Default::default()
    };
    assert_eq!(
        ids(store.search_contracts(&by_time).await.expect("time")),
        want(&[1, 2])
    );
    let limited = ContractQuery {
        mo_id: Some(mo),
        limit: 2,
        ..Default::default()
    };
    assert_eq!(
        store.search_contracts(&limited).await.expect("limit").len(),
        2
    );
}

/// Restoring writes a record at an explicit revision, replaces its index
/// entries, and leaves it writable from that revision on.
pub async fn records_are_restored_at_their_revision(store: Arc<dyn StateStore>) {
    let id = unique("restored");
    let (mic, moved) = (unique("MIC"), unique("MIC"));
    store
        .restore(
            Kind::MembershipOrganization,
            &id,
            7,
            b"{\"v\":7}",
            &[("mic", mic.clone())],
        )
        .await
        .expect("restore absent");
    let got = store
        .get(Kind::MembershipOrganization, &id)
        .await
        .expect("get")
        .expect("present");
    assert_eq!((got.revision, got.body.as_slice()), (7, &b"{\"v\":7}"[..]));
    let found = store
        .lookup(Kind::MembershipOrganization, "mic", &mic)
        .await
        .expect("lookup");
    assert_eq!(found.len(), 1, "restored entries are found: {found:?}");
    let listed = store
        .list(Kind::MembershipOrganization, None, usize::MAX)
        .await
        .expect("list");
    assert!(
        listed.iter().any(|s| s.id == id),
        "restored records are listed"
    );
    // Over an existing record: the new revision, body and entries win.
    store
        .restore(
            Kind::MembershipOrganization,
            &id,
            9,
            b"{\"v\":9}",
            &[("mic", moved.clone())],
        )
        .await
        .expect("restore over");
    assert!(
        store
            .lookup(Kind::MembershipOrganization, "mic", &mic)
            .await
            .expect("lookup")
            .is_empty(),
        "replaced entries are gone"
    );
    let found = store
        .lookup(Kind::MembershipOrganization, "mic", &moved)
        .await
        .expect("lookup");
    assert_eq!(
        found
            .iter()
            .map(|s| (s.id.as_str(), s.revision))
            .collect::<Vec<_>>(),
        [(id.as_str(), 9)]
    );
    let stale = store
        .put(
            Kind::MembershipOrganization,
            &id,
            b"{}",
            &[],
            Expect::Revision(7),
        )
        .await;
    assert!(
        matches!(stale, Err(StoreError::Conflict { found: 9, .. })),
        "compare-and-set goes on from the restored revision: {stale:?}"
    );
    let next = store
        .put(
            Kind::MembershipOrganization,
            &id,
            b"{}",
            &[],
            Expect::Revision(9),
        )
        .await
        .expect("update after restore");
    assert_eq!(next, 10);
}

/// A contract's events are listed by event id with the version each produced.
pub async fn contract_events_are_listed(store: Arc<dyn StateStore>) {
    let id = unique("contract");
    let k = keys("mo", "pub", "subscription_charge", 1_700_000_000);
    for (event, expected) in [("b-second", 0), ("a-first", 1), ("c-third", 2)] {
        let applied = store
            .apply_contract(write(&id, event, expected, &k))
            .await
            .expect("apply");
        assert_eq!(
            applied,
            ContractApplied::Applied {
                version: expected + 1
            }
        );
    }
    assert_eq!(
        store.contract_events(&id).await.expect("events"),
        [
            ("a-first".to_owned(), 2),
            ("b-second".to_owned(), 1),
            ("c-third".to_owned(), 3)
        ]
    );
    assert!(
        store
            .contract_events(&unique("none"))
            .await
            .expect("events")
            .is_empty()
    );
}

/// Pages through a search with the cursor of the last result: every
/// contract once, in (`created_at`, id) order, also among contracts created
/// in the same second.
pub async fn contracts_page_by_cursor(store: Arc<dyn StateStore>) {
    let mo = unique("mo");
    let mut want = Vec::new();
    for (n, created_at) in [30, 10, 10, 20, 10, 30, 10].into_iter().enumerate() {
        let id = format!("{}-{n}", unique("c"));
        let k = keys(&mo, "pub", "subscription_charge", created_at);
        store
            .apply_contract(write(&id, "created", 0, &k))
            .await
            .expect("apply");
        want.push((created_at, id));
    }
    want.sort();
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .search_contracts(&ContractQuery {
                mo_id: Some(mo.clone()),
                limit: 2,
                after: after.clone(),
                ..ContractQuery::default()
            })
            .await
            .expect("search");
        if page.is_empty() {
            break;
        }
        for stored in &page {
            let at = want
                .iter()
                .find(|(_, id)| *id == stored.id)
                .map(|(at, _)| *at)
                .expect("one of ours");
            seen.push((at, stored.id.clone()));
        }
        after = seen.last().cloned();
        assert!(seen.len() <= want.len(), "no end: {seen:?}");
    }
    assert_eq!(seen, want);
    let from_twenty = store
        .search_contracts(&ContractQuery {
            mo_id: Some(mo.clone()),
            created_from: Some(20),
            after: Some(want[1].clone()),
            ..ContractQuery::default()
        })
        .await
        .expect("search");
    assert_eq!(
        from_twenty.iter().map(|c| c.id.clone()).collect::<Vec<_>>(),
        want[4..]
            .iter()
            .map(|(_, id)| id.clone())
            .collect::<Vec<_>>(),
        "the later of created_from and the cursor"
    );
}

/// A contract restored from its latest row (what a rebuild reads from the
/// contract changelog) has that row at its version, its events' ids and
/// its search entries; restoring it again changes nothing.
pub async fn contracts_are_restored_from_their_row(store: Arc<dyn StateStore>) {
    let id = unique("contract");
    let mo = unique("mo");
    let k = keys(&mo, "pub", "subscription_charge", 1_700_000_000);
    let body = b"{\"latest\":true}";
    let events = [("created".to_owned(), 1), ("signed".to_owned(), 2)];
    for _ in 0..2 {
        crate::rebuild::restore_contract(store.as_ref(), &id, body, &k, &events)
            .await
            .expect("restore");
        let row = store.get_contract(&id).await.expect("get").expect("row");
        assert_eq!((row.revision, row.body.as_slice()), (2, &body[..]));
    }
    assert_eq!(
        store.contract_events(&id).await.expect("events"),
        events.to_vec()
    );
    let found = store
        .search_contracts(&ContractQuery {
            mo_id: Some(mo),
            ..ContractQuery::default()
        })
        .await
        .expect("search");
    assert_eq!(
        found.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        [id.as_str()]
    );
    let gap = [("created".to_owned(), 1), ("late".to_owned(), 3)];
    assert!(
        crate::rebuild::restore_contract(store.as_ref(), &unique("contract"), body, &k, &gap)
            .await
            .is_err(),
        "versions must follow one another"
    );
}

/// A deferred handle's writes are visible at once through every handle,
/// the two handles see one compare-and-set, and flushes succeed, also with
/// many writers at once.
/// Both kinds of deferred handle: for blocking threads and for async callers.
pub async fn deferred_writes_are_shared_and_flushed(store: Arc<dyn StateStore>) {
    deferred_handle(&store, |s| s.deferred()).await;
    deferred_handle(&store, |s| s.deferred_async()).await;
}

async fn deferred_handle(
    store: &Arc<dyn StateStore>,
    handle: fn(&Arc<dyn StateStore>) -> Arc<dyn StateStore>,
) {
    let deferred = handle(store);
    let (id, name) = (unique("deferred-org"), unique("name"));
    let rev = deferred
        .put(
            Kind::Organization,
            &id,
            b"{\"v\":1}",
            &[("name", name.clone())],
            Expect::Absent,
        )
        .await
        .expect("deferred create");
    assert_eq!(rev, 1);
    let seen = store.get(Kind::Organization, &id).await.expect("get");
    assert_eq!(seen.map(|s| s.revision), Some(1), "plain handle sees it");
    let found = store
        .lookup(Kind::Organization, "name", &name)
        .await
        .expect("lookup");
    assert_eq!(found.len(), 1, "its index entry is visible too");
    let duplicate = store
        .put(Kind::Organization, &id, b"{}", &[], Expect::Absent)
        .await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict { found: 1, .. })),
        "plain handle conflicts with the deferred write: {duplicate:?}"
    );

    let contract = unique("deferred-contract");
    let k = keys("mo", "pub", "subscription_charge", 1_700_000_000);
    assert_eq!(
        deferred
            .apply_contract(write(&contract, "e1", 0, &k))
            .await
            .expect("deferred apply"),
        ContractApplied::Applied { version: 1 }
    );
    assert_eq!(
        store
            .apply_contract(write(&contract, "e1", 0, &k))
            .await
            .expect("replay"),
        ContractApplied::AlreadyApplied { version: 1 }
    );
    assert_eq!(
        store
            .apply_contract(write(&contract, "e2", 0, &k))
            .await
            .expect("stale"),
        ContractApplied::Conflict { current: 1 }
    );
    deferred
        .flush()
        .await
        .expect("flush through the deferred handle");

    let mut tasks = Vec::new();
    for w in 0..16 {
        let (handle, flusher) = (handle(store), Arc::clone(store));
        let id = format!("{id}-{w}");
        tasks.push(tokio::spawn(async move {
            handle
                .put(Kind::Organization, &id, b"{}", &[], Expect::Absent)
                .await
                .expect("concurrent deferred create");
            flusher.flush().await.expect("concurrent flush");
            id
        }));
    }
    for task in tasks {
        let id = task.await.expect("writer");
        let stored = store.get(Kind::Organization, &id).await.expect("get");
        assert_eq!(stored.map(|s| s.revision), Some(1), "{id}");
    }
}

/// Generates one `#[tokio::test]` per conformance check for a backend.
/// `$store` is an async block returning `Option<Arc<dyn StateStore>>`
/// (`None` skips, e.g. when no ScyllaDB address is configured).
#[macro_export]
macro_rules! conformance_tests {
    ($store:expr) => {
        $crate::conformance_tests!(@each $store;
            records_are_written_with_revisions,
            lookups_follow_index_values,
            lists_page_in_id_order,
            records_are_deleted_at_their_revision,
            contract_events_apply_once_and_in_order,
            concurrent_writers_race_safely,
            contracts_are_searchable,
            records_are_restored_at_their_revision,
            contract_events_are_listed,
            contracts_are_restored_from_their_row,
            contracts_page_by_cursor,
            deferred_writes_are_shared_and_flushed);
    };
    (@each $store:expr; $($check:ident),+) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $check() {
                match $store.await {
                    Some(store) => $crate::conformance::$check(store).await,
                    None => eprintln!("SKIPPED {}: no server for this backend", stringify!($check)),
                }
            }
        )+
    };
}
