//! One Apache Cassandra node, run from the jars as
//! `java … org.apache.cassandra.service.CassandraDaemon` with a
//! `cassandra.yaml` written at each start.

use std::fs::File;
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use super::{CassandraError, CassandraInstall};
use crate::jvm::{JvmChild, Wait, last_lines, terminate_with_parent_thread};

/// Logging: INFO to the console file.
const LOGBACK: &str = include_str!("../../../deploy/cassandra/logback.xml");
/// The JVM flags Cassandra 5.0 needs on Java 17.
const JVM17_ARGS: &str = include_str!("../../../deploy/cassandra/jvm17.args");

/// How one node is laid out and configured.
#[derive(Debug, Clone)]
pub struct CassandraSpec {
    /// `host:port` of the CQL native transport.
    pub listen: String,
    /// The inter-node (gossip) port, on the same host.
    pub storage_port: u16,
    /// Absolute directory of `cassandra.yaml`, `data/` and `logs/`.
    pub dir: PathBuf,
    /// JVM heap in MiB.
    pub heap_mb: u32,
}

impl CassandraSpec {
    /// The node's `cassandra.yaml`: one token, the simple snitch, no
    /// automatic snapshots, everything on `listen`'s host, and the commit log
    /// synced before a write is acknowledged (`batch`): a lone node has no
    /// replica to recover from, so with Cassandra's default (`periodic`,
    /// every 10 s) a SIGKILL would lose writes it had acknowledged.
    pub fn yaml(&self) -> String {
        let (host, port) = self
            .listen
            .rsplit_once(':')
            .unwrap_or((self.listen.as_str(), "9042"));
        format!(
            "# Written by moneta at every start.\n\
             cluster_name: moneta-local\n\
             num_tokens: 1\n\
             partitioner: org.apache.cassandra.dht.Murmur3Partitioner\n\
             endpoint_snitch: SimpleSnitch\n\
             commitlog_sync: batch\n\
             commitlog_segment_size: 8MiB\n\
             seed_provider:\n  \
               - class_name: org.apache.cassandra.locator.SimpleSeedProvider\n    \
                 parameters:\n      \
                   - seeds: \"{host}:{storage}\"\n\
             listen_address: {host}\n\
             rpc_address: {host}\n\
             native_transport_port: {port}\n\
             storage_port: {storage}\n\
             auto_snapshot: false\n\
             disk_access_mode: standard\n\
             memtable_allocation_type: heap_buffers\n",
            storage = self.storage_port,
        )
    }

    /// Where Cassandra keeps its data, commit log, hints and caches.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The node's console log (Cassandra logs to its console here).
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("logs").join("console.log")
    }
}

/// A running (or stopped) Cassandra process.
#[derive(Debug)]
pub struct CassandraNode {
    install: CassandraInstall,
    spec: CassandraSpec,
    child: JvmChild,
}

impl CassandraNode {
    /// A node that is not running yet.
    pub fn new(install: CassandraInstall, spec: CassandraSpec) -> Self {
        Self {
            install,
            spec,
            child: JvmChild::default(),
        }
    }

    /// `host:port` CQL clients connect to.
    pub fn contact_point(&self) -> &str {
        &self.spec.listen
    }

    /// The process id, while a process runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.pid()
    }

    /// Writes the configuration and starts the process. The process gets
    /// SIGTERM when the thread that started it ends.
    pub fn spawn(&mut self) -> Result<(), CassandraError> {
        let logs = self.spec.dir.join("logs");
        for dir in [&self.spec.dir, &self.spec.data_dir(), &logs] {
            std::fs::create_dir_all(dir).map_err(|e| CassandraError::io(dir, e))?;
        }
        let yaml = self.spec.dir.join("cassandra.yaml");
        std::fs::write(&yaml, self.spec.yaml()).map_err(|e| CassandraError::io(&yaml, e))?;
        let logback = self.spec.dir.join("logback.xml");
        std::fs::write(&logback, LOGBACK).map_err(|e| CassandraError::io(&logback, e))?;
        let console = self.spec.log_path();
        let out = File::options()
            .create(true)
            .append(true)
            .open(&console)
            .map_err(|e| CassandraError::io(&console, e))?;
        let err = out
            .try_clone()
            .map_err(|e| CassandraError::io(&console, e))?;
        let mut command = Command::new(&self.install.java);
        command
            .arg(format!("-Xms{0}m", self.spec.heap_mb))
            .arg(format!("-Xmx{0}m", self.spec.heap_mb))
            .args([
                "-XX:+UseG1GC",
                "-XX:+ExitOnOutOfMemoryError",
                "-Djava.net.preferIPv4Stack=true",
                "-Dcassandra-foreground=yes",
                "-Dcassandra.skip_wait_for_gossip_to_settle=0",
            ])
            .args(jamm_agent(&self.install.libs))
            .args(jvm17_args())
            .arg(format!("-Dcassandra.config=file://{}", yaml.display()))
            .arg(format!(
                "-Dcassandra.storagedir={}",
                self.spec.data_dir().display()
            ))
            .arg(format!("-Dcassandra.logdir={}", logs.display()))
            .arg(format!("-Dlogback.configurationFile={}", logback.display()))
            .arg("-cp")
            .arg(format!("{}/*", self.install.libs.display()))
            .arg("org.apache.cassandra.service.CassandraDaemon")
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        terminate_with_parent_thread(&mut command);
        let child = command
            .spawn()
            .map_err(|e| CassandraError::io(&self.install.java, e))?;
        self.child.set(child);
        Ok(())
    }

    /// Waits until the CQL port accepts connections: Cassandra opens its
    /// native transport last, once the node is up.
    pub fn wait_ready(&mut self, limit: Duration) -> Result<(), CassandraError> {
        let listen = self.spec.listen.clone();
        match self.child.wait_until(limit, || accepts(&listen)) {
            Wait::Ready => Ok(()),
            Wait::Exited(status) => Err(CassandraError::Exited {
                status: status.to_string(),
                log: self.spec.log_path().display().to_string(),
                tail: self.log_tail(20),
            }),
            Wait::TimedOut => Err(CassandraError::NotReady {
                listen,
                seconds: limit.as_secs(),
                log: self.spec.log_path().display().to_string(),
                tail: self.log_tail(20),
            }),
        }
    }

    /// Spawns and waits for readiness; returns how long it took.
    pub fn start(&mut self, limit: Duration) -> Result<Duration, CassandraError> {
        let started = Instant::now();
        self.spawn()?;
        self.wait_ready(limit)?;
        Ok(started.elapsed())
    }

    /// The exit status, if the process has exited (or none was started).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.exited()
    }

    /// Stops the process: SIGTERM, then SIGKILL after `grace`.
    pub fn stop(&mut self, grace: Duration) {
        self.child.stop(grace);
    }

    /// SIGKILLs the process and reaps it: the node is down until the next
    /// [`start`](Self::start), which finds its data where it left it.
    pub fn kill(&mut self) {
        self.child.kill();
    }

    /// The last `lines` lines of the node's log.
    pub fn log_tail(&self, lines: usize) -> String {
        std::fs::read_to_string(self.spec.log_path())
            .map(|text| last_lines(&text, lines))
            .unwrap_or_default()
    }
}

impl Drop for CassandraNode {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(10));
    }
}

/// Whether something accepts TCP connections on `address` (a CQL node
/// opens its port once it is up).
pub fn accepts(address: &str) -> bool {
    address
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok())
}

/// `-javaagent:<jamm jar>`: Cassandra measures object sizes with it (and
/// falls back to slower guesses without it).
fn jamm_agent(libs: &Path) -> Option<String> {
    std::fs::read_dir(libs)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("jamm-") && n.ends_with(".jar"))
        })
        .map(|jar| format!("-javaagent:{}", jar.display()))
}

/// The flags of `deploy/cassandra/jvm17.args`, comments left out.
fn jvm17_args() -> impl Iterator<Item = &'static str> {
    JVM17_ARGS
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .flat_map(str::split_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_yaml_puts_every_port_on_the_listen_host() {
        let spec = CassandraSpec {
            listen: "127.0.0.1:19042".into(),
            storage_port: 17000,
            dir: PathBuf::from("/c"),
            heap_mb: 512,
        };
        let yaml = spec.yaml();
        for line in [
            "native_transport_port: 19042",
            "storage_port: 17000",
            "listen_address: 127.0.0.1",
            "rpc_address: 127.0.0.1",
            "      - seeds: \"127.0.0.1:17000\"",
        ] {
            assert!(yaml.lines().any(|l| l == line), "missing {line}:\n{yaml}");
        }
    }

    #[test]
    fn jvm_flags_keep_their_arguments_and_drop_comments() {
        let flags: Vec<_> = jvm17_args().collect();
        assert!(flags.iter().all(|f| !f.starts_with('#')));
        let i = flags
            .iter()
            .position(|f| *f == "--add-opens")
            .expect("an --add-opens flag");
        assert!(flags[i + 1].ends_with("=ALL-UNNAMED"), "{flags:?}");
    }
}
