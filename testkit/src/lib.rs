//! Test harness: real Apache Kafka on free loopback ports.
//!
//! - [`kafka()`]: the broker a whole test run shares. `scripts/test.sh`
//!   starts one for the run and names it in `MONETA_TEST_KAFKA`; without
//!   that variable each test process starts one on first use. Tests keep
//!   apart by unique topic, group and transactional names ([`unique`]).
//! - [`Broker`]: a broker of the test's own, for tests that kill or
//!   restart it.
//! - [`Cluster`]: three brokers (replication factor 3, `min.insync.replicas`
//!   2), for tests that kill a partition leader.
//! - [`MockCluster`]: librdkafka's mock cluster, only where a test injects
//!   broker errors a real broker cannot be made to return.
//! - [`cql`]: Apache Cassandra, the CQL server of the CQL backend's tests.
//! - [`tls`]: a test CA and the certificates it issues (rcgen).
//!
//! A test that needs Kafka and cannot start it fails, naming the fix
//! (`scripts/setup.sh kafka`); it never passes by returning early.

pub mod browser;
pub mod cql;
pub mod kafka;
pub mod tls;

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::Context;
use moneta_kafka::probe_apis;
use moneta_servers::broker::{Install, KafkaNode, NodeSpec, default_libs, random_cluster_id};
pub use rdkafka::mocking::MockCluster;

/// Environment variable naming the shared broker of a test run (`host:port`).
pub const SHARED_KAFKA_ENV: &str = "MONETA_TEST_KAFKA";

/// Heap of each test broker, in MiB.
const TEST_HEAP_MB: u32 = 512;
/// `server.properties` entries of every test broker: tests use consumer
/// sessions of 3 s (the broker's default minimum is 6 s), so a SIGKILLed
/// member's partitions move on sooner.
pub const TEST_BROKER_SETTINGS: [(&str, &str); 1] = [("group.min.session.timeout.ms", "1000")];

/// A node specification with the test settings applied.
fn test_settings(mut spec: NodeSpec) -> NodeSpec {
    for (key, value) in TEST_BROKER_SETTINGS {
        spec.settings.insert(key.to_owned(), value.to_owned());
    }
    spec
}
/// Longest a test broker may take to start.
const START_LIMIT: Duration = Duration::from_secs(120);

/// `host:port` of the broker the whole test run shares: `MONETA_TEST_KAFKA`
/// if set (it must answer), else one this process starts on first use and
/// keeps until it exits.
pub fn kafka() -> anyhow::Result<String> {
    if let Ok(bootstrap) = std::env::var(SHARED_KAFKA_ENV)
        && !bootstrap.is_empty()
    {
        probe_apis(&bootstrap, Duration::from_secs(5))
            .with_context(|| format!("{SHARED_KAFKA_ENV}={bootstrap} does not answer"))?;
        return Ok(bootstrap);
    }
    static SHARED: OnceLock<Result<String, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| start_process_broker().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(|e| anyhow::anyhow!("starting the test run's Kafka broker: {e}"))
}

/// Starts this process's shared broker on a thread that lives until the
/// process exits; the kernel stops the broker then (see [`KafkaNode::spawn`]).
fn start_process_broker() -> anyhow::Result<String> {
    let root = std::env::temp_dir().join("moneta-test-kafka");
    remove_stale_dirs(&root);
    let dir = root.join(std::process::id().to_string());
    let _ = std::fs::remove_dir_all(&dir);
    let (listen, controller) = (address()?, address()?);
    let spec = test_settings(NodeSpec::single(&listen, &controller, &dir, TEST_HEAP_MB));
    let install = install()?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("test-kafka".into())
        .spawn(move || {
            let mut node = KafkaNode::new(install, spec);
            let started = node.start(&random_cluster_id(), START_LIMIT);
            let failed = started.is_err();
            let _ = tx.send(started.map_err(anyhow::Error::from));
            if !failed {
                // Keep the node (and this thread) for the life of the process.
                loop {
                    std::thread::park();
                }
            }
        })?;
    rx.recv()??;
    Ok(listen)
}

/// Removes directories of earlier test processes that are gone.
fn remove_stale_dirs(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let alive = entry
            .file_name()
            .to_str()
            .and_then(|name| name.parse::<u32>().ok())
            .is_some_and(|pid| PathBuf::from(format!("/proc/{pid}")).exists());
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Java and the Kafka jars `scripts/setup.sh kafka` installed.
fn install() -> anyhow::Result<Install> {
    Ok(Install::find("java", &default_libs())?)
}

/// A free loopback `host:port`.
fn address() -> anyhow::Result<String> {
    Ok(format!("127.0.0.1:{}", free_port()?))
}

/// Nodes living on a thread of their own, which every start, kill and
/// restart runs on: the kernel stops a node when the thread that spawned it
/// ends, so no test thread may be that thread.
pub(crate) struct Owner<N: Send + 'static = KafkaNode> {
    tx: Option<std::sync::mpsc::Sender<Job<N>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Job<N> = Box<dyn FnOnce(&mut Vec<N>) + Send>;

impl<N: Send + 'static> Owner<N> {
    pub(crate) fn new(nodes: Vec<N>) -> anyhow::Result<Self> {
        let (tx, rx) = std::sync::mpsc::channel::<Job<N>>();
        let thread = std::thread::Builder::new()
            .name("test-server-owner".into())
            .spawn(move || {
                let mut nodes = nodes;
                for job in rx {
                    job(&mut nodes);
                }
                // Dropping the nodes stops them (SIGTERM, then SIGKILL).
            })?;
        Ok(Self {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Runs `job` on the owner thread and returns its result.
    fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Vec<N>) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        let (reply, result) = std::sync::mpsc::channel();
        let tx = self.tx.as_ref().context("broker owner stopped")?;
        tx.send(Box::new(move |nodes| {
            let _ = reply.send(job(nodes));
        }))
        .map_err(|_| anyhow::anyhow!("broker owner thread ended"))?;
        result
            .recv()
            .map_err(|_| anyhow::anyhow!("broker owner thread ended"))?
    }

    /// Runs `job` on node `id` (1-based).
    pub(crate) fn on_node<T: Send + 'static>(
        &self,
        id: i32,
        job: impl FnOnce(&mut N) -> anyhow::Result<T> + Send + 'static,
    ) -> anyhow::Result<T> {
        self.run(move |nodes| {
            let node = usize::try_from(id - 1)
                .ok()
                .and_then(|i| nodes.get_mut(i))
                .with_context(|| format!("no node {id}"))?;
            job(node)
        })
    }
}

impl<N: Send + 'static> Drop for Owner<N> {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A broker of one test's own, with its own data; stopped when dropped.
pub struct Broker {
    owner: Owner,
    bootstrap: String,
    cluster_id: String,
    _dir: BrokerDir,
}

impl Broker {
    /// Starts a single-node broker on free ports.
    pub fn start() -> anyhow::Result<Self> {
        let dir = BrokerDir::new()?;
        let spec = test_settings(NodeSpec::single(
            &address()?,
            &address()?,
            &dir.path,
            TEST_HEAP_MB,
        ));
        let bootstrap = spec.listen.clone();
        let owner = Owner::new(vec![KafkaNode::new(install()?, spec)])?;
        let cluster_id = random_cluster_id();
        let id = cluster_id.clone();
        owner.on_node(1, move |node| Ok(node.start(&id, START_LIMIT)?))?;
        Ok(Self {
            owner,
            bootstrap,
            cluster_id,
            _dir: dir,
        })
    }

    /// `host:port` of the broker.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// Process id of the broker, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.owner.on_node(1, |node| Ok(node.pid())).ok().flatten()
    }

    /// SIGKILLs the broker: no controlled shutdown.
    pub fn kill(&self) -> anyhow::Result<()> {
        self.owner.on_node(1, |node| {
            node.kill();
            Ok(())
        })
    }

    /// Starts the broker again on the same ports and data.
    pub fn restart(&self) -> anyhow::Result<()> {
        let id = self.cluster_id.clone();
        self.owner
            .on_node(1, move |node| Ok(node.start(&id, START_LIMIT).map(drop)?))
    }
}

/// A directory for broker data: removed when dropped, unless
/// `MONETA_TEST_KEEP_BROKERS` is set (then kept and named on stderr, to
/// read the brokers' logs after a run).
struct BrokerDir {
    path: PathBuf,
    _temp: Option<tempfile::TempDir>,
}

impl BrokerDir {
    fn new() -> anyhow::Result<Self> {
        let temp = tempfile::Builder::new().prefix("moneta-kafka-").tempdir()?;
        if std::env::var_os("MONETA_TEST_KEEP_BROKERS").is_some() {
            let path = temp.keep();
            eprintln!("broker data and logs kept in {}", path.display());
            return Ok(Self { path, _temp: None });
        }
        Ok(Self {
            path: temp.path().to_owned(),
            _temp: Some(temp),
        })
    }
}

/// A cluster of three brokers on one machine, each a KRaft voter, topics
/// replicated three times with `min.insync.replicas=2`; stopped when dropped.
pub struct Cluster {
    owner: Owner,
    bootstrap: String,
    cluster_id: String,
    _dir: BrokerDir,
}

impl Cluster {
    /// Starts three nodes and waits until every one serves clients.
    pub fn start() -> anyhow::Result<Self> {
        let dir = BrokerDir::new()?;
        let members = (0..3)
            .map(|_| Ok((address()?, address()?)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let install = install()?;
        let specs: Vec<NodeSpec> = NodeSpec::cluster(&members, &dir.path, TEST_HEAP_MB)
            .into_iter()
            .map(test_settings)
            .collect();
        let bootstrap = specs
            .iter()
            .map(|s| s.listen.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let owner = Owner::new(
            specs
                .into_iter()
                .map(|spec| KafkaNode::new(install.clone(), spec))
                .collect(),
        )?;
        let cluster_id = random_cluster_id();
        let id = cluster_id.clone();
        owner.run(move |nodes| {
            // A lone voter waits for a quorum: spawn all, then wait for each.
            for node in nodes.iter_mut() {
                node.prepare(&id)?;
                node.spawn()?;
            }
            for node in nodes.iter_mut() {
                node.wait_ready(START_LIMIT)?;
            }
            Ok(())
        })?;
        Ok(Self {
            owner,
            bootstrap,
            cluster_id,
            _dir: dir,
        })
    }

    /// `host:port,…` of every node.
    pub fn bootstrap_servers(&self) -> &str {
        &self.bootstrap
    }

    /// SIGKILLs node `id` (1-based, its `node.id`).
    pub fn kill(&self, id: i32) -> anyhow::Result<()> {
        self.owner.on_node(id, |node| {
            node.kill();
            Ok(())
        })
    }

    /// Starts node `id` again on its ports and data.
    pub fn restart(&self, id: i32) -> anyhow::Result<()> {
        let cluster_id = self.cluster_id.clone();
        self.owner.on_node(id, move |node| {
            Ok(node.start(&cluster_id, START_LIMIT).map(drop)?)
        })
    }
}

/// A loopback port nobody listens on right now, and not handed out before
/// by this process. It is chosen below the kernel's ephemeral range: a
/// port the kernel picks for `:0` is also one it may give any outgoing
/// connection as its local port (a test's Kafka clients open many) before
/// the server the port is meant for binds it.
pub fn free_port() -> anyhow::Result<u16> {
    use std::collections::BTreeSet;
    use std::sync::Mutex;
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let below = ephemeral_start();
    let low = below.saturating_sub(12_000).max(1024);
    let mut given = GIVEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..1_000 {
        let port = low + rand::random::<u16>() % (below - low);
        if !given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port);
            return Ok(port);
        }
    }
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The first port of the kernel's ephemeral range (Linux's
/// `ip_local_port_range`; 32768 where it cannot be read).
fn ephemeral_start() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .filter(|start| *start > 2048)
        .unwrap_or(32768)
}

/// A unique name for a topic or group, so tests sharing a broker never collide.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // The pid tells whose a leftover topic was; the random part keeps a
    // later process with a reused pid from meeting it on a shared broker.
    static RUN: OnceLock<String> = OnceLock::new();
    let run = RUN.get_or_init(|| format!("{}-{:04x}", std::process::id(), rand::random::<u16>()));
    format!("{prefix}-{run}-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
