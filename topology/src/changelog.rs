//! The registry changelog: every registry write, mirrored to a compacted
//! topic (`state.registry_topic`, key `kind/id`, value a
//! [`RegistryRecord`]), so the registry is in the log and
//! `moneta state rebuild` can restore it.
//!
//! - [`LoggedStore`] wraps the state store of `moneta up` and
//!   `moneta admin serve`: a registry write that commits is produced to the
//!   changelog and acknowledged before the write returns. Registry writes
//!   are serialised in the process, so the topic holds them in commit order.
//! - [`publish_missing`] closes the window between a commit and its record
//!   (a crash, a broker outage): at start, every registry record whose
//!   revision is newer than the changelog's is published. It is also how an
//!   existing store's registry first gets into the log.
//! - [`read_to_end`] reads any topic from its start to its end (with
//!   [`moneta_kafka::read_to_end`]); the changelog is read with it, keeping
//!   the highest revision per key.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use moneta_domain::Kind;
use moneta_kafka::{KafkaConfig, ReadError};
use moneta_runtime::Record;
use moneta_state::rebuild::{REGISTRY_KINDS, RegistryRecord, is_registry, list_all};
use moneta_state::{
    ContractApplied, ContractQuery, ContractWrite, Expect, StateStore, StoreError, Stored,
};
use rdkafka::Message;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::sync::Mutex;

use crate::Config;

/// How long one changelog record may wait for the broker's acknowledgement.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long reading a topic to its end may take.
const READ_TIMEOUT: Duration = Duration::from_secs(300);

/// Errors of the registry changelog.
#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    /// The broker refused or failed.
    #[error("topic {topic}: {source}")]
    Kafka {
        /// The topic.
        topic: String,
        /// Why.
        #[source]
        source: KafkaError,
    },
    /// A topic could not be read to its end.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// A changelog record does not decode.
    #[error("registry changelog record {key}: {reason}")]
    Record {
        /// Its key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The state store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn kafka(topic: &str) -> impl FnOnce(KafkaError) -> ChangelogError + '_ {
    move |source| ChangelogError::Kafka {
        topic: topic.to_owned(),
        source,
    }
}

/// Creates the changelog topic, compacted with one partition, if missing;
/// `true` if it was created.
pub async fn ensure_topic(config: &Config) -> Result<bool, ChangelogError> {
    let topic = &config.state.registry_topic;
    let missing =
        moneta_kafka::missing_topics(&config.kafka, &[topic.as_str()], Duration::from_secs(30))
            .map_err(kafka(topic))?;
    if missing.is_empty() {
        return Ok(false);
    }
    let admin: AdminClient<DefaultClientContext> = config
        .kafka
        .client_config()
        .create()
        .map_err(kafka(topic))?;
    let replication = TopicReplication::Fixed(config.topics.replication_factor);
    let new = NewTopic::new(topic, 1, replication).set("cleanup.policy", "compact");
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics([&new], &options)
        .await
        .map_err(kafka(topic))?;
    for result in results {
        match result {
            Ok(_) => return Ok(true),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((_, code)) => return Err(kafka(topic)(KafkaError::AdminOp(code))),
        }
    }
    Ok(false)
}

/// The writing side of the changelog.
pub struct RegistryLog {
    topic: String,
    producer: FutureProducer,
    /// Held from a registry write's commit to its record's acknowledgement.
    order: Mutex<()>,
}

impl RegistryLog {
    /// A writer to `state.registry_topic` (idempotent, `acks=all`).
    pub fn new(config: &Config) -> Result<Self, ChangelogError> {
        let topic = config.state.registry_topic.clone();
        let producer = config
            .kafka
            .producer_config("moneta-registry-changelog")
            .set("linger.ms", "0")
            .create()
            .map_err(kafka(&topic))?;
        Ok(Self {
            topic,
            producer,
            order: Mutex::new(()),
        })
    }

    /// Produces `record` and waits for the broker's acknowledgement.
    pub async fn publish(&self, record: &RegistryRecord) -> Result<(), ChangelogError> {
        let key = format!("{}/{}", record.kind, record.id);
        let value = serde_json::to_vec(record).map_err(|e| ChangelogError::Record {
            key: key.clone(),
            reason: e.to_string(),
        })?;
        self.producer
            .send(
                FutureRecord::to(&self.topic)
                    .partition(0)
                    .key(&key)
                    .payload(&value),
                PUBLISH_TIMEOUT,
            )
            .await
            .map(|_| ())
            .map_err(|(e, _)| kafka(&self.topic)(e))
    }
}

/// One topic read from its start to its end.
#[derive(Debug, Default)]
pub struct TopicRead {
    /// Its records, partition by partition, in offset order.
    pub records: Vec<Record>,
    /// Partitions whose first offset is not 0 (retention or compaction
    /// removed records), with that offset.
    pub truncated: Vec<(i32, i64)>,
}

/// Reads every partition of `topic` from its first record to its end
/// (committed records only), without a consumer group's offsets. A topic
/// that does not exist reads as empty.
pub fn read_to_end(kafka_config: &KafkaConfig, topic: &str) -> Result<TopicRead, ChangelogError> {
    let mut by_partition: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    let read = moneta_kafka::read_to_end(
        kafka_config,
        topic,
        "moneta-state-rebuild",
        READ_TIMEOUT,
        |message| {
            by_partition
                .entry(message.partition())
                .or_default()
                .push(Record::from_message(message));
        },
    );
    let read = match read {
        Ok(read) => read,
        Err(ReadError::UnknownTopic { .. }) => return Ok(TopicRead::default()),
        Err(e) => return Err(e.into()),
    };
    Ok(TopicRead {
        records: by_partition.into_values().flatten().collect(),
        truncated: read
            .partitions
            .iter()
            .filter(|p| p.start > 0)
            .map(|p| (p.partition, p.start))
            .collect(),
    })
}

/// The changelog's latest record per key (the highest revision, whatever
/// order the records were written in), and its truncation if any.
pub fn read_changelog(config: &Config) -> Result<BTreeMap<String, RegistryRecord>, ChangelogError> {
    let topic = &config.state.registry_topic;
    let read = read_to_end(&config.kafka, topic)?;
    let mut latest: BTreeMap<String, RegistryRecord> = BTreeMap::new();
    for record in read.records {
        let key = record
            .key
            .as_deref()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .unwrap_or_default();
        let Some(payload) = record.payload else {
            // A tombstone: nothing in the registry is ever deleted.
            continue;
        };
        let value: RegistryRecord =
            serde_json::from_slice(&payload).map_err(|e| ChangelogError::Record {
                key: key.clone(),
                reason: e.to_string(),
            })?;
        let newer = latest
            .get(&key)
            .is_none_or(|seen| value.revision > seen.revision);
        if newer {
            latest.insert(key, value);
        }
    }
    Ok(latest)
}

/// What [`publish_missing`] found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    /// Records published because the changelog lacked them or an older revision.
    pub published: usize,
    /// Records whose changelog revision is newer than the store's: the
    /// store lost writes (rebuild it).
    pub behind: usize,
}

/// Publishes every registry record of `store` newer than the changelog's.
pub async fn publish_missing(
    config: &Config,
    store: &dyn StateStore,
    log: &RegistryLog,
) -> Result<Reconciled, ChangelogError> {
    let reader = config.clone();
    let logged = tokio::task::spawn_blocking(move || read_changelog(&reader))
        .await
        .map_err(|e| ChangelogError::Record {
            key: String::new(),
            reason: format!("reading task failed: {e}"),
        })??;
    let _order = log.order.lock().await;
    let mut reconciled = Reconciled::default();
    for kind in REGISTRY_KINDS {
        for stored in list_all(store, kind).await? {
            let key = RegistryRecord::key(kind, &stored.id);
            let logged_revision = logged.get(&key).map_or(0, |r| r.revision);
            if logged_revision > stored.revision {
                reconciled.behind += 1;
                tracing::warn!(%key, store = stored.revision, changelog = logged_revision,
                    "the registry changelog is ahead of the state store; run `moneta state rebuild`");
            } else if logged_revision < stored.revision {
                let record = registry_record(kind, &stored)?;
                log.publish(&record).await?;
                reconciled.published += 1;
            }
        }
    }
    Ok(reconciled)
}

fn registry_record(kind: Kind, stored: &Stored) -> Result<RegistryRecord, ChangelogError> {
    RegistryRecord::new(kind, &stored.id, stored.revision, &stored.body).ok_or_else(|| {
        ChangelogError::Record {
            key: RegistryRecord::key(kind, &stored.id),
            reason: "body is not UTF-8".into(),
        }
    })
}

/// A state store whose registry writes are mirrored to the changelog.
#[derive(Clone)]
pub struct LoggedStore {
    inner: Arc<dyn StateStore>,
    log: Arc<RegistryLog>,
}

impl LoggedStore {
    /// Mirrors `inner`'s registry writes to `log`.
    pub fn new(inner: Arc<dyn StateStore>, log: Arc<RegistryLog>) -> Self {
        Self { inner, log }
    }
}

#[async_trait]
impl StateStore for LoggedStore {
    async fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &[u8],
        indexes: &[(&'static str, String)],
        expect: Expect,
    ) -> Result<u64, StoreError> {
        if !is_registry(kind) {
            return self.inner.put(kind, id, body, indexes, expect).await;
        }
        let _order = self.log.order.lock().await;
        let revision = self.inner.put(kind, id, body, indexes, expect).await?;
        // Durable before it is mirrored, even through a deferred handle.
        self.inner.flush().await?;
        let stored = Stored {
            id: id.to_owned(),
            revision,
            body: body.to_vec(),
        };
        let published = match registry_record(kind, &stored) {
            Ok(record) => self.log.publish(&record).await,
            Err(e) => Err(e),
        };
        if let Err(error) = published {
            // Committed but not yet in the log: the next start publishes it.
            tracing::error!(%error, kind = kind.as_str(), id, revision,
                "registry write committed but not mirrored to the changelog");
            return Err(StoreError::Backend(format!(
                "{} {id} revision {revision} was written but not mirrored to the registry \
                 changelog ({error}); it is published at the next start",
                kind.as_str()
            )));
        }
        Ok(revision)
    }

    async fn get(&self, kind: Kind, id: &str) -> Result<Option<Stored>, StoreError> {
        self.inner.get(kind, id).await
    }

    async fn delete(&self, kind: Kind, id: &str, revision: u64) -> Result<bool, StoreError> {
        if is_registry(kind) {
            // The changelog has no deletions: a registry record stays.
            return Err(StoreError::Backend(format!(
                "{} {id}: registry records are never deleted",
                kind.as_str()
            )));
        }
        self.inner.delete(kind, id, revision).await
    }

    async fn lookup(
        &self,
        kind: Kind,
        index: &str,
        value: &str,
    ) -> Result<Vec<Stored>, StoreError> {
        self.inner.lookup(kind, index, value).await
    }

    async fn list(
        &self,
        kind: Kind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        self.inner.list(kind, after, limit).await
    }

    async fn get_contract(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        self.inner.get_contract(id).await
    }

    async fn apply_contract(&self, write: ContractWrite) -> Result<ContractApplied, StoreError> {
        self.inner.apply_contract(write).await
    }

    async fn search_contracts(&self, query: &ContractQuery) -> Result<Vec<Stored>, StoreError> {
        self.inner.search_contracts(query).await
    }

    async fn restore(
        &self,
        kind: Kind,
        id: &str,
        revision: u64,
        body: &[u8],
        indexes: &[(&'static str, String)],
    ) -> Result<(), StoreError> {
        self.inner.restore(kind, id, revision, body, indexes).await
    }

    async fn contract_events(&self, contract_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.inner.contract_events(contract_id).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }

    fn deferred(&self) -> Arc<dyn StateStore> {
        Arc::new(Self {
            inner: self.inner.deferred(),
            log: Arc::clone(&self.log),
        })
    }

    fn deferred_async(&self) -> Arc<dyn StateStore> {
        Arc::new(Self {
            inner: self.inner.deferred_async(),
            log: Arc::clone(&self.log),
        })
    }
}

/// Ensures the changelog topic, publishes what it lacks, and wraps `store`
/// so every later registry write is mirrored: what `moneta up` and
/// `moneta admin serve` do before serving.
pub async fn logged(
    config: &Config,
    store: Arc<dyn StateStore>,
) -> Result<Arc<dyn StateStore>, ChangelogError> {
    ensure_topic(config).await?;
    let log = Arc::new(RegistryLog::new(config)?);
    let reconciled = publish_missing(config, store.as_ref(), &log).await?;
    tracing::info!(
        topic = %config.state.registry_topic,
        published = reconciled.published,
        behind = reconciled.behind,
        "registry changelog reconciled with the state store"
    );
    Ok(Arc::new(LoggedStore::new(store, log)))
}
