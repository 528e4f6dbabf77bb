//! `moneta state rebuild`'s core: a fresh state store filled from the log.
//!
//! In this order:
//!
//! 1. the registry, from the registry changelog, at its original revisions;
//! 2. the operational kinds no topic holds (webhook deliveries and
//!    attempts, idempotency keys), copied from the old
//!    store — see [`moneta_state::rebuild`] for why;
//! 3. the derived state: every enabled signing-path stage's input topics,
//!    from their first record to their end, through the stage's own
//!    processor (the one the runtime runs), and the ingest topic through
//!    what the edge derives from it (an HTTP event's `accepted` step). The
//!    processors write the state as they did live; their outputs are
//!    discarded (they are in the log already). Records are taken partition
//!    by partition in offset order, and across partitions, topics and
//!    stages in record-time order (ties in topology order), which is an
//!    order the live topology could have processed them in: a stage's
//!    output is always later than its input;
//! 4. the `delivered` steps of event records, written by the webhook worker
//!    from HTTP outcomes, copied from the old store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use moneta_avro::{ContractEvent, SchemaName, Source};
use moneta_domain::{EventRecord, EventState, EventStep, Kind};
use moneta_runtime::{ProcessError, Processor, Record};
use moneta_state::rebuild::{OPERATIONAL_KINDS, indexes_of, kind_named, list_all};
use moneta_state::{EventLog, StateStore, StoreError};

use crate::changelog::{ChangelogError, read_changelog, read_to_end};
use moneta_runtime::Typed;

use crate::{Config, Services, Topology};

/// Attempts of one record whose processing failed transiently.
const ATTEMPTS: u32 = 10;

/// Errors of a rebuild.
#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    /// Reading a topic failed.
    #[error(transparent)]
    Log(#[from] ChangelogError),
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored or logged record does not decode.
    #[error("{what}: {reason}")]
    Record {
        /// Which record.
        what: String,
        /// Why.
        reason: String,
    },
    /// Records the rebuild needs are gone from the log.
    #[error(
        "records are gone from the log (retention or compaction): {0}; \
         a rebuild needs every input topic from offset 0 (see [topics.retention])"
    )]
    Truncated(String),
    /// A stage kept failing on one record.
    #[error("stage {stage} failed on {topic}/{partition}/{offset}: {reason}")]
    Stage {
        /// The stage.
        stage: String,
        /// Topic of the record.
        topic: String,
        /// Its partition.
        partition: i32,
        /// Its offset.
        offset: i64,
        /// The last failure.
        reason: String,
    },
}

/// Records fed to one stage.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StageReplay {
    /// Stage name (`ingest` for the edge).
    pub stage: String,
    /// Records processed.
    pub records: u64,
    /// Records the stage rejected (dead-lettered live, as now).
    pub rejected: u64,
}

/// What a rebuild did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RebuildReport {
    /// Registry records restored from the changelog.
    pub registry: usize,
    /// Operational records copied from the old store, by kind.
    pub carried: BTreeMap<&'static str, usize>,
    /// Stages in the order records were first fed to them, with counts.
    pub stages: Vec<StageReplay>,
    /// `delivered` steps copied from the old store.
    pub delivered_steps: usize,
}

/// What the rebuild may do.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RebuildOptions {
    /// Go on even if an input topic lost its first records.
    pub allow_truncated: bool,
}

/// One stage's view of one partition of one topic, in offset order.
struct Stream {
    /// Index in `feeders`.
    feeder: usize,
    /// Topic.
    topic: String,
    /// Indexes into that topic's records.
    records: Vec<usize>,
    /// Next one.
    next: usize,
}

/// Who a stream feeds: the edge or a stage's processor.
enum Feeder {
    /// What the edge derived from its ingest topic.
    Edge,
    /// A stage.
    Stage(Box<Typed>),
}

/// Fills `services.store` (a fresh store) from the log, carrying over what
/// the log does not hold from `old`.
pub async fn rebuild(
    config: &Config,
    services: &Services,
    old: Option<Arc<dyn StateStore>>,
    options: RebuildOptions,
) -> Result<RebuildReport, RebuildError> {
    let fresh = services.store.clone();
    let stages_state = fresh.deferred();
    let mut report = RebuildReport::default();

    // Which topics feed whom.
    let topology = Topology::new(config);
    let mut names: Vec<String> = Vec::new();
    let mut feeders: Vec<Feeder> = Vec::new();
    let mut inputs: Vec<(usize, String)> = Vec::new();
    if config.ingest.enabled {
        names.push("ingest".into());
        feeders.push(Feeder::Edge);
        inputs.push((0, config.contracts.topics.ingest.clone()));
    }
    for stage in topology
        .stages()
        .iter()
        .filter(|s| s.enabled && s.needs_services())
    {
        let Some(processor) = Topology::processor(stage, services, Arc::clone(&stages_state))
        else {
            continue;
        };
        let at = feeders.len();
        names.push(stage.name.to_owned());
        feeders.push(Feeder::Stage(Box::new(processor)));
        inputs.extend(stage.inputs.iter().map(|t| (at, t.name.clone())));
    }
    let mut topics: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    let mut truncated = Vec::new();
    for (_, topic) in &inputs {
        if topics.contains_key(topic) {
            continue;
        }
        let (kafka, name) = (config.kafka.clone(), topic.clone());
        let read = tokio::task::spawn_blocking(move || read_to_end(&kafka, &name))
            .await
            .map_err(|e| RebuildError::Record {
                what: topic.clone(),
                reason: format!("reading task failed: {e}"),
            })??;
        truncated.extend(
            read.truncated
                .iter()
                .map(|(p, low)| format!("{topic} partition {p} starts at {low}")),
        );
        topics.insert(topic.clone(), read.records);
    }
    if !truncated.is_empty() && !options.allow_truncated {
        return Err(RebuildError::Truncated(truncated.join(", ")));
    }

    // 1. The registry.
    let reader = config.clone();
    let changelog = tokio::task::spawn_blocking(move || read_changelog(&reader))
        .await
        .map_err(|e| RebuildError::Record {
            what: config.state.registry_topic.clone(),
            reason: format!("reading task failed: {e}"),
        })??;
    for (key, record) in &changelog {
        let kind = kind_named(&record.kind)
            .filter(|k| moneta_state::rebuild::is_registry(*k))
            .ok_or_else(|| RebuildError::Record {
                what: format!("changelog record {key}"),
                reason: format!("{} is not a registry kind", record.kind),
            })?;
        restore(
            fresh.as_ref(),
            kind,
            &record.id,
            record.revision,
            record.body.as_bytes(),
        )
        .await?;
        report.registry += 1;
    }

    // 2. What no topic holds.
    if let Some(old) = &old {
        for kind in OPERATIONAL_KINDS {
            let records = list_all(old.as_ref(), kind).await?;
            for record in &records {
                restore(
                    fresh.as_ref(),
                    kind,
                    &record.id,
                    record.revision,
                    &record.body,
                )
                .await?;
            }
            report.carried.insert(kind.as_str(), records.len());
        }
    }

    // 3. The derived state, in an order the live topology could have taken.
    let mut streams: Vec<Stream> = Vec::new();
    for (feeder, topic) in &inputs {
        let mut by_partition: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
        for (at, record) in topics.get(topic).into_iter().flatten().enumerate() {
            by_partition.entry(record.partition).or_default().push(at);
        }
        streams.extend(by_partition.into_values().map(|records| Stream {
            feeder: *feeder,
            topic: topic.clone(),
            records,
            next: 0,
        }));
    }
    report.stages = names
        .iter()
        .map(|n| StageReplay {
            stage: n.clone(),
            ..StageReplay::default()
        })
        .collect();
    let events = EventLog::new(fresh.clone());
    loop {
        let head = |s: &Stream| -> Option<&Record> {
            let at = *s.records.get(s.next)?;
            topics.get(&s.topic)?.get(at)
        };
        let Some(chosen) = streams
            .iter()
            .enumerate()
            .filter_map(|(i, s)| head(s).map(|r| (i, s.feeder, r)))
            .min_by_key(|(_, feeder, r)| {
                (
                    r.timestamp_ms.unwrap_or_default(),
                    *feeder,
                    r.topic.clone(),
                    r.partition,
                    r.offset,
                )
            })
            .map(|(i, _, _)| i)
        else {
            break;
        };
        let stream = &mut streams[chosen];
        let at = stream.records[stream.next];
        stream.next += 1;
        let feeder_at = stream.feeder;
        let Some(record) = topics.get(&stream.topic).and_then(|r| r.get(at)) else {
            continue;
        };
        let stats = &mut report.stages[feeder_at];
        stats.records += 1;
        match &mut feeders[feeder_at] {
            Feeder::Edge => {
                accepted(services, &events, record).await?;
            }
            Feeder::Stage(processor) => {
                if process(&names[feeder_at], processor, record).await? {
                    stats.rejected += 1;
                }
            }
        }
    }

    // 4. What the webhook worker recorded from HTTP outcomes.
    if let Some(old) = &old {
        for stored in list_all(old.as_ref(), Kind::EventRecord).await? {
            let record: EventRecord =
                serde_json::from_slice(&stored.body).map_err(|e| RebuildError::Record {
                    what: format!("event record {}", stored.id),
                    reason: e.to_string(),
                })?;
            for step in record
                .steps
                .iter()
                .filter(|s| s.state == EventState::Delivered)
            {
                let added = events
                    .advance(&record.partner_id, &record.event_id, step.clone())
                    .await
                    .map_err(|e| RebuildError::Record {
                        what: format!("event record {}", stored.id),
                        reason: e.to_string(),
                    })?;
                if added {
                    report.delivered_steps += 1;
                }
            }
        }
    }
    // The stages wrote through a deferred handle; its flush also makes
    // every other write durable.
    stages_state.flush().await?;
    Ok(report)
}

/// Restores one record with the index entries its writers give it.
async fn restore(
    store: &dyn StateStore,
    kind: Kind,
    id: &str,
    revision: u64,
    body: &[u8],
) -> Result<(), RebuildError> {
    let indexes = indexes_of(kind, body)
        .map_err(|e| RebuildError::Record {
            what: format!("{} {id}", kind.as_str()),
            reason: e.to_string(),
        })?
        .unwrap_or_default();
    store.restore(kind, id, revision, body, &indexes).await?;
    Ok(())
}

/// The edge's `accepted` step of an HTTP event (what `moneta up`'s ingest
/// edge writes after the broker acknowledged the record).
async fn accepted(
    services: &Services,
    events: &EventLog,
    record: &Record,
) -> Result<(), RebuildError> {
    let Some(payload) = record.payload.as_deref() else {
        return Ok(());
    };
    let Ok(event) = services
        .codec
        .decode::<ContractEvent>(SchemaName::ContractEvent, payload)
        .await
    else {
        // Undecodable: validate dead-letters it; the edge never wrote it.
        return Ok(());
    };
    let (Source::Http, Some(partner), Some(at_ms)) =
        (&event.source, &event.submitted_by, event.received_at_ms)
    else {
        return Ok(());
    };
    let template = EventRecord {
        event_id: event.event_id.clone(),
        partner_id: partner.clone(),
        contract_id: event.contract.contract_id.clone(),
        fingerprint: event.fingerprint(),
        steps: Vec::new(),
    };
    let step = EventStep {
        state: EventState::Accepted,
        stage: "ingest".into(),
        at_ms,
        code: None,
        message: None,
    };
    events
        .merge(&template, step)
        .await
        .map_err(|e| RebuildError::Record {
            what: format!("event record {partner}/{}", event.event_id),
            reason: e.to_string(),
        })?;
    Ok(())
}

/// Feeds one record to a stage; `true` if the stage rejected it.
async fn process(
    stage: &str,
    processor: &mut Typed,
    record: &Record,
) -> Result<bool, RebuildError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match processor.process((), record).await {
            Ok(_) => return Ok(false),
            Err(ProcessError::Rejected(_)) => return Ok(true),
            Err(ProcessError::Transient(error)) if attempt < ATTEMPTS => {
                tracing::warn!(stage, %error, attempt, "transient failure; retrying");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
            }
            Err(ProcessError::Transient(error)) => {
                return Err(RebuildError::Stage {
                    stage: stage.to_owned(),
                    topic: record.topic.clone(),
                    partition: record.partition,
                    offset: record.offset,
                    reason: error.to_string(),
                });
            }
        }
    }
}
