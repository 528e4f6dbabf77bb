//! The conformance suite on the CQL backend, against a real CQL server:
//! Apache Cassandra started by the testkit (or the node `MONETA_TEST_CQL`
//! names). Without Cassandra installed each check prints `SKIPPED`, unless
//! `MONETA_REQUIRE_CQL` is set (as in CI), where it fails. Each test process
//! uses its own keyspace, `moneta_test_<pid>`.

use std::sync::Arc;

use moneta_state::StateStore;
use moneta_state_scylla::ScyllaStore;

/// Serialises schema creation between the checks of this process (each
/// check runs on its own runtime, so each connects on its own).
static CONNECT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn store() -> Option<Arc<dyn StateStore>> {
    let nodes = moneta_testkit::cql::cql_or_skip("the CQL conformance suite")?;
    let keyspace = format!("moneta_test_{}", std::process::id());
    let _guard = CONNECT.lock().await;
    let store = ScyllaStore::connect(&nodes, &keyspace)
        .await
        .expect("connect to the CQL node");
    Some(Arc::new(store))
}

moneta_state::conformance_tests!(store());
