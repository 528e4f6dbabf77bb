//! The conformance suite on the ScyllaDB backend.
//!
//! Runs only with `MONETA_TEST_SCYLLA` set to a node address (e.g.
//! `127.0.0.1:9042`, or several, comma-separated); otherwise every check
//! prints `skipped`. Each test process uses its own keyspace,
//! `moneta_test_<pid>`, left behind for inspection (drop it with
//! `DROP KEYSPACE moneta_test_<pid>`).

use std::sync::Arc;

use moneta_state::StateStore;
use moneta_state_scylla::ScyllaStore;

/// Serialises schema creation between the checks of this process (each
/// check runs on its own runtime, so each connects on its own).
static CONNECT: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn store() -> Option<Arc<dyn StateStore>> {
    let nodes = std::env::var("MONETA_TEST_SCYLLA")
        .ok()
        .filter(|n| !n.trim().is_empty())?;
    let keyspace = format!("moneta_test_{}", std::process::id());
    let _guard = CONNECT.lock().await;
    let store = ScyllaStore::connect(&nodes, &keyspace)
        .await
        .expect("connect to ScyllaDB");
    Some(Arc::new(store))
}

moneta_state::conformance_tests!(store());
