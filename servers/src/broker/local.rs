//! The embedded broker of `moneta up` and `moneta broker start`: one local
//! Kafka node that this process owns, watches and restarts if it dies.
//!
//! A supervisor thread starts the node and lives as long as the broker is
//! owned: the node gets SIGTERM from the kernel when that thread ends, so a
//! SIGKILLed owner takes its broker down with it. The next owner of the
//! directory stops a broker left behind (still shutting down) before it
//! starts its own. A broker already answering on the address that this
//! process does not own (an external Kafka, another `moneta`) is used as
//! it is and left running.

use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::node::random_cluster_id;
use super::ownership::{Ownership, claim, orphan, stop_orphan};
use super::{BrokerError, Install, KAFKA_VERSION, KafkaNode, NodeSpec, SaslSslListener};
use moneta_kafka::probe_apis;

/// Longest a start (or restart) may take before it is reported as failed.
const START_LIMIT: Duration = Duration::from_secs(120);
/// How long a controlled shutdown may take before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(20);
/// How often the supervisor looks at the process.
const WATCH_EVERY: Duration = Duration::from_millis(500);
/// Longest pause between two restart attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How to run the embedded broker.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The `java` executable (a name on `PATH` or a path).
    pub java: String,
    /// Directory of the Kafka jars.
    pub libs: PathBuf,
    /// `host:port` of the client listener.
    pub listen: String,
    /// `host:port` of the KRaft controller listener.
    pub controller: String,
    /// The broker's directory (configuration, data, logs).
    pub dir: PathBuf,
    /// JVM heap in MiB.
    pub heap_mb: u32,
    /// Extra `server.properties` entries.
    pub settings: std::collections::BTreeMap<String, String>,
    /// An extra `SASL_SSL` client listener, if any.
    pub sasl_ssl: Option<SaslSslListener>,
}

/// What [`LocalBroker::start_or_reuse`] found.
#[derive(Debug)]
pub enum Local {
    /// This process started the broker and owns it until dropped.
    Started(LocalBroker),
    /// A broker it does not own already answers on the address.
    Reused,
}

/// The embedded broker this process owns: stopped when dropped.
#[derive(Debug)]
pub struct LocalBroker {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// How long the first start took.
    pub startup: Duration,
    /// The broker's directory.
    pub dir: PathBuf,
}

/// What the supervisor reports once the first start is settled.
enum Ready {
    Started(Duration),
    Reused,
}

impl LocalBroker {
    /// Starts the broker of `options.dir`, unless a broker this process
    /// does not own already answers on `options.listen`.
    pub fn start_or_reuse(options: LocalOptions) -> Result<Local, BrokerError> {
        let install = Install::find(&options.java, &options.libs)?;
        std::fs::create_dir_all(&options.dir).map_err(|e| BrokerError::io(&options.dir, e))?;
        let dir = options
            .dir
            .canonicalize()
            .map_err(|e| BrokerError::io(&options.dir, e))?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel();
        let options = LocalOptions {
            dir: dir.clone(),
            ..options
        };
        let thread = std::thread::Builder::new()
            .name("kafka-broker".into())
            .spawn(move || supervise(install, options, ready_tx, stop_rx))
            .map_err(|e| BrokerError::io(&dir, e))?;
        match ready_rx.recv() {
            Ok(Ok(Ready::Started(startup))) => Ok(Local::Started(LocalBroker {
                stop: Some(stop_tx),
                thread: Some(thread),
                startup,
                dir,
            })),
            Ok(Ok(Ready::Reused)) => {
                let _ = thread.join();
                Ok(Local::Reused)
            }
            Ok(Err(error)) => {
                let _ = thread.join();
                Err(error)
            }
            Err(_) => {
                let _ = thread.join();
                Err(BrokerError::io(
                    &dir,
                    std::io::Error::other("the broker supervisor thread ended"),
                ))
            }
        }
    }

    /// Stops the broker (a controlled shutdown) and waits for it.
    pub fn stop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for LocalBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The supervisor thread: start, report, then watch and restart until stopped.
fn supervise(
    install: Install,
    options: LocalOptions,
    ready: Sender<Result<Ready, BrokerError>>,
    stop: Receiver<()>,
) {
    // The directory stays ours as long as this thread holds `_ownership`.
    let (mut node, _ownership) = match first_start(install, &options) {
        Ok(Some((node, ownership, startup))) => {
            let _ = ready.send(Ok(Ready::Started(startup)));
            (node, ownership)
        }
        Ok(None) => {
            let _ = ready.send(Ok(Ready::Reused));
            return;
        }
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let mut backoff = Duration::from_secs(1);
    // Until a stop is asked for (or the handle is gone).
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(WATCH_EVERY) {
        let Some(status) = node.exited() else {
            continue;
        };
        tracing::error!(
            %status,
            log = %node.spec().log_dir().display(),
            tail = %node.log_tail(5),
            "the embedded Kafka broker exited; restarting it"
        );
        if stopped_while_waiting(&stop, backoff) {
            break;
        }
        let started = Instant::now();
        match node.spawn().and_then(|()| node.wait_ready(START_LIMIT)) {
            Ok(()) => {
                tracing::info!(
                    seconds = started.elapsed().as_secs_f64(),
                    "the embedded Kafka broker is back"
                );
                backoff = Duration::from_secs(1);
            }
            Err(error) => {
                tracing::error!(%error, "restarting the embedded Kafka broker failed; trying again");
                node.kill();
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    tracing::info!("stopping the embedded Kafka broker");
    node.stop(STOP_GRACE);
}

/// Claims the directory and starts its broker; `None` when a broker this
/// process does not own already answers.
fn first_start(
    install: Install,
    options: &LocalOptions,
) -> Result<Option<(KafkaNode, Ownership, Duration)>, BrokerError> {
    let answers = || probe_apis(&options.listen, Duration::from_millis(500)).is_ok();
    let Some(ownership) = claim(&options.dir)? else {
        // Another live process owns this directory's broker.
        if answers() {
            return Ok(None);
        }
        return Err(BrokerError::OwnedElsewhere {
            dir: options.dir.display().to_string(),
            listen: options.listen.clone(),
        });
    };
    if let Some(pid) = orphan(&options.dir) {
        tracing::warn!(%pid, "stopping the broker a previous moneta left running");
        stop_orphan(pid, STOP_GRACE);
    }
    if !port_free(&options.listen) {
        if answers() {
            return Ok(None);
        }
        return Err(BrokerError::PortTaken {
            address: options.listen.clone(),
            setting: "broker.listen",
        });
    }
    if !port_free(&options.controller) {
        return Err(BrokerError::PortTaken {
            address: options.controller.clone(),
            setting: "broker.controller_listen",
        });
    }
    let mut spec = NodeSpec::single(
        &options.listen,
        &options.controller,
        &options.dir,
        options.heap_mb,
    );
    spec.settings.extend(options.settings.clone());
    if let Some(secure) = &options.sasl_ssl {
        if !port_free(&secure.listen) {
            return Err(BrokerError::PortTaken {
                address: secure.listen.clone(),
                setting: "broker.sasl_ssl_listen",
            });
        }
        spec.sasl_ssl = Some(secure.clone());
    }
    let mut node = KafkaNode::new(install, spec);
    tracing::info!(version = KAFKA_VERSION, listen = %options.listen, "starting the embedded Kafka broker");
    let startup = node.start(&random_cluster_id(), START_LIMIT)?;
    Ok(Some((node, ownership, startup)))
}

/// Whether nothing listens on `address` (a bind succeeds).
fn port_free(address: &str) -> bool {
    TcpListener::bind(address).is_ok()
}

/// Sleeps for `pause`; true if a stop was requested meanwhile.
fn stopped_while_waiting(stop: &Receiver<()>, pause: Duration) -> bool {
    !matches!(stop.recv_timeout(pause), Err(RecvTimeoutError::Timeout))
}
