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
use moneta_servers::cassandra::{CassandraInstall, CassandraNode, CassandraSpec, default_libs};

/// Environment variable naming a running CQL node (`host:port`).
pub const CQL_ENV: &str = "MONETA_TEST_CQL";
/// Environment variable that turns a missing Cassandra into a failure.
pub const REQUIRE_ENV: &str = "MONETA_REQUIRE_CQL";

/// Heap of the test node, in MiB.
const HEAP_MB: u32 = 768;
/// Longest the test node may take to start.
const START_LIMIT: Duration = Duration::from_secs(180);

/// Whether Java and the Cassandra jars are installed: false (after printing
/// why) when not and not required; an error when required.
pub fn installed_or_skip(test: &str) -> anyhow::Result<bool> {
    match CassandraInstall::find("java", &default_libs()) {
        Ok(_) => Ok(true),
        Err(why) => {
            anyhow::ensure!(
                std::env::var_os(REQUIRE_ENV).is_none(),
                "{REQUIRE_ENV} is set but Cassandra cannot run: {why}"
            );
            eprintln!("SKIPPED {test}: {why}");
            Ok(false)
        }
    }
}

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

/// A Cassandra node of one test's own, which the test may stop and start
/// again on the same data; stopped when dropped.
pub struct Cassandra {
    owner: crate::Owner<CassandraNode>,
    contact_point: String,
    _dir: tempfile::TempDir,
}

impl Cassandra {
    /// Starts a node on free ports, or `None` (after printing why) when
    /// Cassandra is not installed and not required.
    pub fn start_or_skip(test: &str) -> anyhow::Result<Option<Self>> {
        let install = match CassandraInstall::find("java", &default_libs()) {
            Ok(install) => install,
            Err(why) => {
                anyhow::ensure!(
                    std::env::var_os(REQUIRE_ENV).is_none(),
                    "{REQUIRE_ENV} is set but Cassandra cannot run: {why}"
                );
                eprintln!("SKIPPED {test}: {why}");
                return Ok(None);
            }
        };
        let dir = tempfile::tempdir()?;
        let contact_point = crate::address()?;
        let spec = CassandraSpec {
            listen: contact_point.clone(),
            storage_port: crate::free_port()?,
            dir: dir.path().to_owned(),
            heap_mb: HEAP_MB,
        };
        let owner = crate::Owner::new(vec![CassandraNode::new(install, spec)])?;
        let cassandra = Self {
            owner,
            contact_point,
            _dir: dir,
        };
        cassandra.start()?;
        Ok(Some(cassandra))
    }

    /// `host:port` CQL clients connect to.
    pub fn contact_point(&self) -> &str {
        &self.contact_point
    }

    /// Starts the node (again), on the data it had; returns how long it took.
    pub fn start(&self) -> anyhow::Result<Duration> {
        self.owner.on_node(1, |node| Ok(node.start(START_LIMIT)?))
    }

    /// SIGKILLs the node: clients see it gone until [`start`](Self::start).
    pub fn kill(&self) -> anyhow::Result<()> {
        self.owner.on_node(1, |node| {
            node.kill();
            Ok(())
        })
    }
}
