//! `moneta state rebuild`'s core: a fresh state store filled from the log.
//!
//! In this order:
//!
//! 1. the registry, from the registry changelog, at its original revisions;
//! 2. the operational kinds no topic holds (webhook deliveries and
//!    attempts, idempotency keys), copied from the old
//!    store — see [`moneta_state::rebuild`] for why;
//! 3. the contract rows, from the contract changelog (compacted, kept as
//!    long as the contracts: see [`crate::contract_changelog`]);
//! 4. the derived state: every enabled signing-path stage's input topics,
//!    from their first retained record to their end, through the stage's
//!    own processor (the one the runtime runs), and the ingest topic
//!    through what the edge derives from it (an HTTP event's `accepted`
//!    step). The processors write the state as they did live; their
//!    outputs are discarded (they are in the log already). Records are
//!    taken partition by partition in offset order, and across partitions,
//!    topics and stages in record-time order (ties in topology order),
//!    which is an order the live topology could have processed them in: a
//!    stage's output is always later than its input. template-check's
//!    rows are restored already, so its validated events only get their
//!    event-record step: `recorded` if the restored row applied the event,
//!    else `rejected` with the reason its rejected record gives;
//! 5. event records whose submission is gone from the log (the event
//!    topics keep 90 days), and the `delivered` steps the webhook worker
//!    wrote from HTTP outcomes, copied from the old store.
//!
//! Only the event topics may have lost their first records: the financial
//! topics and the changelogs must be whole (unless `--allow-truncated`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use moneta_domain::{EventRecord, EventState, Kind};
use moneta_processors::contracts::PathContext;
use moneta_processors::template_check;
use moneta_runtime::{ProcessError, Processor, Record};
use moneta_state::rebuild::{OPERATIONAL_KINDS, indexes_of, kind_named, list_all};
use moneta_state::{EventLog, StateStore, StoreError};

use crate::changelog::{ChangelogError, read_changelog, read_to_end};
use moneta_runtime::Typed;

use crate::contract_changelog::{read_rows, restore_rows};
use crate::retention::DataClass;
use crate::{Config, Services, Topology};

mod steps;

use steps::{accepted, contract_step, refusals, submission_gone};

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
         a rebuild needs the financial topics from offset 0 (see [topics.retention])"
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
    /// Contract rows restored from the contract changelog.
    pub contracts: usize,
    /// Event topics whose first records retention removed, with where
    /// each partition now starts.
    pub truncated_events: Vec<String>,
    /// Event records carried from the old store because their submission
    /// is gone from the log.
    pub carried_events: usize,
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
    /// template-check's event-record steps of validated events, on the
    /// restored contract rows.
    Steps(Box<PathContext>),
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
    let validated = &config.contracts.topics.validated;
    for stage in topology
        .stages()
        .iter()
        .filter(|s| s.enabled && s.needs_services())
    {
        let Some(processor) = Topology::processor(stage, services, Arc::clone(&stages_state))
        else {
            continue;
        };
        let mut stage_inputs: Vec<&str> = stage.inputs.iter().map(|t| t.name.as_str()).collect();
        if stage.name == template_check::STAGE {
            stage_inputs.retain(|t| t != validated);
            let ctx = PathContext::new(Arc::clone(&stages_state), services.topics.clone());
            inputs.push((feeders.len(), validated.clone()));
            names.push(format!("{} (steps)", stage.name));
            feeders.push(Feeder::Steps(Box::new(ctx)));
        }
        let at = feeders.len();
        names.push(stage.name.to_owned());
        feeders.push(Feeder::Stage(Box::new(processor)));
        inputs.extend(stage_inputs.into_iter().map(|t| (at, t.to_owned())));
    }
    let mut topics: BTreeMap<String, Vec<Record>> = BTreeMap::new();
    let mut truncated = Vec::new();
    let rejected_topic = &config.contracts.topics.rejected;
    let read_too = std::iter::once(rejected_topic);
    for topic in inputs.iter().map(|(_, t)| t).chain(read_too) {
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
        let starts = read
            .truncated
            .iter()
            .map(|(p, low)| format!("{topic} partition {p} starts at {low}"));
        if topology.class_of(topic) == DataClass::Events {
            report.truncated_events.extend(starts);
        } else {
            truncated.extend(starts);
        }
        topics.insert(topic.clone(), read.records);
    }
    if !truncated.is_empty() && !options.allow_truncated {
        return Err(RebuildError::Truncated(truncated.join(", ")));
    }
    let refusals = refusals(services, topics.get(rejected_topic)).await;

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

    // 3. The contract rows.
    let rows = read_rows(config, &services.codec).await?;
    report.contracts = restore_rows(fresh.as_ref(), &rows).await?;

    // 4. The derived state, in an order the live topology could have taken.
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
            Feeder::Steps(ctx) => {
                contract_step(services, ctx, &refusals, record).await?;
            }
            Feeder::Stage(processor) => {
                if process(&names[feeder_at], processor, record).await? {
                    stats.rejected += 1;
                }
            }
        }
    }

    // 5. Event records whose submission is gone; what the webhook worker
    // recorded from HTTP outcomes.
    if let Some(old) = &old {
        for stored in list_all(old.as_ref(), Kind::EventRecord).await? {
            let record: EventRecord =
                serde_json::from_slice(&stored.body).map_err(|e| RebuildError::Record {
                    what: format!("event record {}", stored.id),
                    reason: e.to_string(),
                })?;
            if !report.truncated_events.is_empty()
                && submission_gone(&events, &record)
                    .await
                    .map_err(|e| RebuildError::Record {
                        what: format!("event record {}", stored.id),
                        reason: e.to_string(),
                    })?
            {
                restore(
                    fresh.as_ref(),
                    Kind::EventRecord,
                    &stored.id,
                    stored.revision,
                    &stored.body,
                )
                .await?;
                report.carried_events += 1;
                continue;
            }
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

/// Feeds one record to a stage; `true` if the stage rejected it.
async fn process(
    stage: &str,
    processor: &mut Typed,
    record: &Record,
) -> Result<bool, RebuildError> {
    let record = Arc::new(record.clone());
    let mut attempt = 0;
    loop {
        attempt += 1;
        let result = match processor.decode(&record).await {
            Ok(input) => processor.process(input, &record).await,
            Err(error) => Err(error),
        };
        match result {
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
