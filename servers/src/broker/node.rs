//! One Apache Kafka node in KRaft mode (combined broker and controller), run
//! from the jars as `java -cp 'libs/*' kafka.Kafka server.properties` after a
//! one-time `kafka.tools.StorageTool format`.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::secure::LISTENER;
use super::{BrokerError, Install, SaslSslListener};
use crate::jvm::{JvmChild, Wait, last_lines, terminate_with_parent_thread};
use moneta_kafka::probe_apis;

/// The broker's logging configuration, written into its directory at each start.
const LOG4J2: &str = include_str!("../../../deploy/kafka/log4j2.properties");

/// File in a node's directory holding the pid of its running process.
pub(crate) const PID_FILE: &str = "broker.pid";

/// How one node is laid out and configured.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    /// `node.id`.
    pub node_id: u32,
    /// `host:port` of the client (PLAINTEXT) listener.
    pub listen: String,
    /// `host:port` of the controller listener.
    pub controller: String,
    /// `controller.quorum.voters`: `id@host:port,…`.
    pub voters: String,
    /// Absolute directory of `server.properties`, `data/` and `logs/`.
    pub dir: PathBuf,
    /// JVM heap in MiB.
    pub heap_mb: u32,
    /// `server.properties` entries; the listener and directory entries are
    /// derived from the fields above.
    pub settings: BTreeMap<String, String>,
    /// An extra `SASL_SSL` client listener, if any.
    pub sasl_ssl: Option<SaslSslListener>,
}

/// Settings every local node shares: small internal topics, no automatic
/// topic creation (Moneta creates its topics with their settings), no
/// rebalance delay, and thread pools sized for a small machine.
fn common_settings() -> BTreeMap<String, String> {
    [
        ("num.partitions", "3"),
        ("auto.create.topics.enable", "false"),
        ("group.initial.rebalance.delay.ms", "0"),
        ("offsets.topic.num.partitions", "10"),
        ("transaction.state.log.num.partitions", "10"),
        ("num.network.threads", "2"),
        ("num.io.threads", "4"),
        ("num.recovery.threads.per.data.dir", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl NodeSpec {
    /// A single node that is the whole cluster: replication factor 1 for
    /// the internal topics (the default of 3 would keep transactions and
    /// consumer groups from ever starting on one node).
    pub fn single(listen: &str, controller: &str, dir: &Path, heap_mb: u32) -> Self {
        let mut settings = common_settings();
        for (key, value) in [
            ("offsets.topic.replication.factor", "1"),
            ("transaction.state.log.replication.factor", "1"),
            ("transaction.state.log.min.isr", "1"),
            ("share.coordinator.state.topic.replication.factor", "1"),
            ("share.coordinator.state.topic.min.isr", "1"),
        ] {
            settings.insert(key.to_owned(), value.to_owned());
        }
        Self {
            node_id: 1,
            listen: listen.to_owned(),
            controller: controller.to_owned(),
            voters: format!("1@{controller}"),
            dir: dir.to_owned(),
            heap_mb,
            settings,
            sasl_ssl: None,
        }
    }

    /// The nodes of a cluster with one member per `(listen, controller)`
    /// pair, each in `root/node-<id>`: every node is a voter, topics are
    /// replicated to three nodes (`min.insync.replicas=2`), and a dead node
    /// is fenced after `broker.session.timeout.ms` (6 s here; 9 s by default).
    pub fn cluster(members: &[(String, String)], root: &Path, heap_mb: u32) -> Vec<Self> {
        let replicas = members.len().min(3).to_string();
        let min_isr = members.len().clamp(1, 2).to_string();
        let voters = members
            .iter()
            .enumerate()
            .map(|(i, (_, controller))| format!("{}@{controller}", i + 1))
            .collect::<Vec<_>>()
            .join(",");
        members
            .iter()
            .enumerate()
            .map(|(i, (listen, controller))| {
                let mut settings = common_settings();
                for (key, value) in [
                    ("default.replication.factor", replicas.as_str()),
                    ("min.insync.replicas", min_isr.as_str()),
                    ("offsets.topic.replication.factor", replicas.as_str()),
                    (
                        "transaction.state.log.replication.factor",
                        replicas.as_str(),
                    ),
                    ("transaction.state.log.min.isr", min_isr.as_str()),
                    (
                        "share.coordinator.state.topic.replication.factor",
                        &replicas,
                    ),
                    ("share.coordinator.state.topic.min.isr", &min_isr),
                    ("unclean.leader.election.enable", "false"),
                    ("broker.heartbeat.interval.ms", "1500"),
                    ("broker.session.timeout.ms", "6000"),
                ] {
                    settings.insert(key.to_owned(), value.to_owned());
                }
                Self {
                    node_id: i as u32 + 1,
                    listen: listen.clone(),
                    controller: controller.clone(),
                    voters: voters.clone(),
                    dir: root.join(format!("node-{}", i + 1)),
                    heap_mb,
                    settings,
                    sasl_ssl: None,
                }
            })
            .collect()
    }

    /// The node's `server.properties` text.
    pub fn properties(&self) -> String {
        let mut all = self.settings.clone();
        let mut listeners = format!(
            "PLAINTEXT://{},CONTROLLER://{}",
            self.listen, self.controller
        );
        let mut protocols = String::from("CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT");
        if let Some(secure) = &self.sasl_ssl {
            listeners.push_str(&format!(",{LISTENER}://{}", secure.listen));
            protocols.push_str(&format!(",{LISTENER}:SASL_SSL"));
            all.extend(secure.properties(&self.dir));
        }
        for (key, value) in [
            ("node.id", self.node_id.to_string()),
            ("process.roles", "broker,controller".into()),
            ("controller.quorum.voters", self.voters.clone()),
            ("listeners", listeners.clone()),
            ("advertised.listeners", listeners),
            ("controller.listener.names", "CONTROLLER".into()),
            ("inter.broker.listener.name", "PLAINTEXT".into()),
            ("listener.security.protocol.map", protocols),
            ("log.dirs", self.data_dir().display().to_string()),
        ] {
            all.insert(key.to_owned(), value);
        }
        let mut text = String::from(
            "# Written by moneta at every start; edit broker settings in moneta.toml.\n",
        );
        for (key, value) in all {
            text.push_str(&format!("{key}={value}\n"));
        }
        text
    }

    /// `server.properties` of the node.
    pub fn properties_path(&self) -> PathBuf {
        self.dir.join("server.properties")
    }

    /// The node's log directory (`log.dirs`): records and metadata.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Where the broker's own log (`server.log`) and console output go.
    pub fn log_dir(&self) -> PathBuf {
        self.dir.join("logs")
    }

    /// Whether `StorageTool format` has run on the data directory.
    pub fn is_formatted(&self) -> bool {
        self.data_dir().join("meta.properties").is_file()
    }
}

/// A random KRaft cluster id: 16 random bytes, base64url without padding.
pub fn random_cluster_id() -> String {
    use base64::Engine;
    loop {
        let bytes: [u8; 16] = rand::random();
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        // Kafka's own ids never start with '-': a command line would read a flag.
        if !id.starts_with('-') {
            return id;
        }
    }
}

/// A running (or stopped) node process.
#[derive(Debug)]
pub struct KafkaNode {
    install: Install,
    spec: NodeSpec,
    child: JvmChild,
}

impl KafkaNode {
    /// A node that is not running yet.
    pub fn new(install: Install, spec: NodeSpec) -> Self {
        Self {
            install,
            spec,
            child: JvmChild::default(),
        }
    }

    /// The node's layout and settings.
    pub fn spec(&self) -> &NodeSpec {
        &self.spec
    }

    /// `host:port` clients connect to.
    pub fn bootstrap_servers(&self) -> &str {
        &self.spec.listen
    }

    /// The process id, while a process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.pid()
    }

    /// Writes the node's configuration files and formats its storage with
    /// `cluster_id` unless it is formatted already.
    pub fn prepare(&self, cluster_id: &str) -> Result<(), BrokerError> {
        for dir in [&self.spec.dir, &self.spec.log_dir()] {
            std::fs::create_dir_all(dir).map_err(|e| BrokerError::io(dir, e))?;
        }
        let properties = self.spec.properties_path();
        std::fs::write(&properties, self.spec.properties())
            .map_err(|e| BrokerError::io(&properties, e))?;
        let log4j = self.spec.dir.join("log4j2.properties");
        std::fs::write(&log4j, LOG4J2).map_err(|e| BrokerError::io(&log4j, e))?;
        if let Some(secure) = &self.spec.sasl_ssl {
            secure.check()?;
            secure.write_keystore(&self.spec.dir)?;
        }
        if self.spec.is_formatted() {
            return Ok(());
        }
        // SCRAM users are created here, once: the arguments hold their
        // passwords, so the command line is never logged.
        let scram = self
            .spec
            .sasl_ssl
            .as_ref()
            .map(SaslSslListener::format_arguments)
            .unwrap_or_default();
        let output = self
            .java()
            .arg("-Xmx256m")
            .arg("kafka.tools.StorageTool")
            .args(["format", "--ignore-formatted", "-t", cluster_id, "-c"])
            .arg(&properties)
            .args(scram)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| BrokerError::io(&self.install.java, e))?;
        if !output.status.success() {
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            );
            let text = match &self.spec.sasl_ssl {
                Some(secure) => secure.redact(&text),
                None => text,
            };
            return Err(BrokerError::Format {
                status: output.status.to_string(),
                output: last_lines(&text, 15),
            });
        }
        Ok(())
    }

    /// Starts the process (the storage must be prepared). The process gets
    /// SIGTERM when the thread that started it ends, so a broker never
    /// outlives its owner unnoticed, even one that was SIGKILLed.
    pub fn spawn(&mut self) -> Result<(), BrokerError> {
        let console = self.spec.log_dir().join("console.log");
        let out = File::options()
            .create(true)
            .append(true)
            .open(&console)
            .map_err(|e| BrokerError::io(&console, e))?;
        let err = out.try_clone().map_err(|e| BrokerError::io(&console, e))?;
        let mut command = self.java();
        command
            .arg(format!("-Xms{0}m", self.spec.heap_mb))
            .arg(format!("-Xmx{0}m", self.spec.heap_mb))
            // Kafka's own server defaults (bin/kafka-run-class.sh).
            .args([
                "-server",
                "-XX:+UseG1GC",
                "-XX:MaxGCPauseMillis=20",
                "-XX:InitiatingHeapOccupancyPercent=35",
                "-XX:+ExplicitGCInvokesConcurrent",
                "-XX:MaxInlineLevel=15",
                "-XX:+ExitOnOutOfMemoryError",
                "-Djava.awt.headless=true",
            ])
            .arg(format!(
                "-Dlog4j2.configurationFile={}",
                self.spec.dir.join("log4j2.properties").display()
            ))
            .arg(format!(
                "-Dkafka.logs.dir={}",
                self.spec.log_dir().display()
            ))
            .arg("kafka.Kafka")
            .arg(self.spec.properties_path())
            // Its own process group: a terminal's Ctrl-C reaches moneta,
            // which stops its stages first and the broker last.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        terminate_with_parent_thread(&mut command);
        let child = command
            .spawn()
            .map_err(|e| BrokerError::io(&self.install.java, e))?;
        let pid_file = self.spec.dir.join(PID_FILE);
        std::fs::write(&pid_file, format!("{}\n", child.id()))
            .map_err(|e| BrokerError::io(&pid_file, e))?;
        self.child.set(child);
        Ok(())
    }

    /// Waits until the node accepts clients: its port opens only once the
    /// broker has caught up with the metadata log and is unfenced, and then
    /// it must answer an `ApiVersions` request.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<(), BrokerError> {
        let listen = self.spec.listen.clone();
        match self.child.wait_until(limit, || {
            probe_apis(&listen, Duration::from_millis(500)).is_ok()
        }) {
            Wait::Ready => Ok(()),
            Wait::Exited(status) => Err(BrokerError::Exited {
                status: status.to_string(),
                log: self.spec.log_dir().display().to_string(),
                tail: self.log_tail(20),
            }),
            Wait::TimedOut => Err(BrokerError::NotReady {
                listen,
                seconds: limit.as_secs(),
                log: self.spec.log_dir().display().to_string(),
                tail: self.log_tail(20),
            }),
        }
    }

    /// Prepares, spawns and waits for readiness; returns how long it took.
    pub fn start(&mut self, cluster_id: &str, limit: Duration) -> Result<Duration, BrokerError> {
        let started = Instant::now();
        self.prepare(cluster_id)?;
        self.spawn()?;
        self.wait_ready(limit)?;
        Ok(started.elapsed())
    }

    /// The exit status, if the process has exited (or none was started).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.exited()
    }

    /// Whether a process is running.
    pub fn is_running(&mut self) -> bool {
        self.child.is_held() && self.exited().is_none()
    }

    /// Stops the process: SIGTERM (a controlled shutdown), then SIGKILL
    /// after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        if self.child.stop(grace) {
            let _ = std::fs::remove_file(self.spec.dir.join(PID_FILE));
        }
    }

    /// SIGKILLs the process (no controlled shutdown) and reaps it.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// The last `lines` lines of the broker's log and console output.
    pub fn log_tail(&self, lines: usize) -> String {
        let dir = self.spec.log_dir();
        let text: String = ["server.log", "console.log"]
            .iter()
            .filter_map(|name| std::fs::read_to_string(dir.join(name)).ok())
            .collect::<Vec<_>>()
            .join("\n");
        last_lines(&text, lines)
    }

    fn java(&self) -> Command {
        let mut command = Command::new(&self.install.java);
        command.arg("-cp").arg(self.install.classpath());
        command
    }
}

impl Drop for KafkaNode {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_node_is_its_own_quorum_with_unreplicated_internal_topics() {
        let spec = NodeSpec::single(
            "127.0.0.1:9092",
            "127.0.0.1:9093",
            Path::new("/data/broker"),
            512,
        );
        let text = spec.properties();
        for line in [
            "node.id=1",
            "process.roles=broker,controller",
            "controller.quorum.voters=1@127.0.0.1:9093",
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093",
            "controller.listener.names=CONTROLLER",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "offsets.topic.replication.factor=1",
            "auto.create.topics.enable=false",
            "log.dirs=/data/broker/data",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
    }

    #[test]
    fn a_sasl_ssl_listener_joins_the_plaintext_ones() {
        let mut spec = NodeSpec::single(
            "127.0.0.1:9092",
            "127.0.0.1:9093",
            Path::new("/data/broker"),
            512,
        );
        spec.sasl_ssl = Some(SaslSslListener {
            listen: "127.0.0.1:9094".into(),
            certificate: "/tls/cert.pem".into(),
            key: "/tls/key.pem".into(),
            users: [("alice".to_owned(), "alice-s3cret".to_owned())].into(),
        });
        let text = spec.properties();
        for line in [
            "listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094",
            "advertised.listeners=PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093,SASL_SSL://127.0.0.1:9094",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.name.sasl_ssl.ssl.keystore.location=/data/broker/keystore.pem",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert!(!text.contains("alice-s3cret"), "{text}");
    }

    #[test]
    fn cluster_nodes_share_the_voters_and_replicate_to_three() {
        let members: Vec<(String, String)> = (1..=3)
            .map(|n| (format!("127.0.0.1:{n}9092"), format!("127.0.0.1:{n}9093")))
            .collect();
        let nodes = NodeSpec::cluster(&members, Path::new("/k3"), 512);
        assert_eq!(nodes.len(), 3);
        let voters =
            "controller.quorum.voters=1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093";
        for (i, node) in nodes.iter().enumerate() {
            let text = node.properties();
            assert!(text.contains(&format!("node.id={}\n", i + 1)));
            assert!(text.contains(voters), "{text}");
            assert!(text.contains("min.insync.replicas=2\n"));
            assert!(text.contains("transaction.state.log.replication.factor=3\n"));
            assert!(text.contains("unclean.leader.election.enable=false\n"));
            assert_eq!(node.dir, Path::new("/k3").join(format!("node-{}", i + 1)));
        }
    }

    #[test]
    fn cluster_ids_are_22_url_safe_characters() {
        for _ in 0..100 {
            let id = random_cluster_id();
            assert_eq!(id.len(), 22);
            assert!(!id.starts_with('-'));
            assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            );
        }
    }
}
