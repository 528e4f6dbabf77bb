//! A CQL server for the tests of the CQL state backend: Apache Cassandra
//! (same native protocol as ScyllaDB, the production target), one node per
//! test process, started on first use on free loopback ports.
//!
//! `MONETA_TEST_CQL` names a running node instead (`host:port`). Without
//! Java or the Cassandra jars a test is skipped and says so, unless
//! `MONETA_REQUIRE_CQL` is set (CI sets it): then it fails.

use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use moneta_connectors::cassandra::{CassandraInstall, CassandraNode, CassandraSpec, default_libs};

/// Environment variable naming a running CQL node (`host:port`).
pub const CQL_ENV: &str = "MONETA_TEST_CQL";
/// Environment variable that turns a missing Cassandra into a failure.
pub const REQUIRE_ENV: &str = "MONETA_REQUIRE_CQL";

/// Heap of the test node, in MiB.
const HEAP_MB: u32 = 768;
/// Longest the test node may take to start.
const START_LIMIT: Duration = Duration::from_secs(180);

/// The contact point of this process's CQL node, or `None` (after printing
/// why) when Cassandra is not installed and not required. Panics when it
/// is required and missing, or when it is installed and does not start.
pub fn cql_or_skip(test: &str) -> Option<String> {
    if let Ok(node) = std::env::var(CQL_ENV)
        && !node.is_empty()
    {
        return Some(node);
    }
    let install = match CassandraInstall::find("java", &default_libs()) {
        Ok(install) => install,
        Err(why) => {
            assert!(
                std::env::var_os(REQUIRE_ENV).is_none(),
                "{REQUIRE_ENV} is set but Cassandra cannot run: {why}"
            );
            eprintln!("SKIPPED {test}: {why}");
            return None;
        }
    };
    static SHARED: OnceLock<Result<String, String>> = OnceLock::new();
    let node = SHARED
        .get_or_init(|| start_process_node(install).map_err(|e| format!("{e:#}")))
        .clone();
    match node {
        Ok(node) => Some(node),
        Err(e) => panic!("starting the test run's Cassandra node: {e}"),
    }
}

/// Starts this process's node on a thread that lives until the process
/// exits; the kernel stops the node then.
fn start_process_node(install: CassandraInstall) -> anyhow::Result<String> {
    let root = std::env::temp_dir().join("moneta-test-cassandra");
    crate::remove_stale_dirs(&root);
    let dir = root.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let listen = crate::address()?;
    let spec = CassandraSpec {
        listen: listen.clone(),
        storage_port: crate::free_port()?,
        dir,
        heap_mb: HEAP_MB,
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("test-cassandra".into())
        .spawn(move || {
            let mut node = CassandraNode::new(install, spec);
            let started = node.start(START_LIMIT);
            let failed = started.is_err();
            let _ = tx.send(started);
            if !failed {
                loop {
                    std::thread::park();
                }
            }
        })?;
    let took = rx.recv()?.context("starting Cassandra")?;
    eprintln!(
        "test Cassandra on {listen} ready in {:.1} s",
        took.as_secs_f64()
    );
    Ok(listen)
}
