//! Kafka for the console ([`moneta_admin::LogAccess`]): dead letters read
//! and decoded, replayed as `moneta replay` does, and the settlements as
//! `moneta settlements export` reads them.

use std::sync::Arc;

use anyhow::Context;
use moneta_admin::{DeadLetter, LogAccess, Pending, Replayed, SettlementExport};
use moneta_avro::AvroCodec;
use moneta_domain::EventState;
use moneta_runtime::dead_letter::{ERROR_CODE, ERROR_MESSAGE, SOURCE_OFFSET, SOURCE_PARTITION};
use moneta_state::{EventLog, StateStore};
use moneta_topology::Config;
use rdkafka::producer::FutureProducer;

use crate::commands::replay::{self, Selection, event_of, header, reinject, source_topic};
use crate::commands::settlements;

/// Longest value excerpt shown for a value that does not decode.
const EXCERPT: usize = 400;

/// The console's Kafka, on `config`'s brokers and schema registry.
#[derive(Clone)]
pub struct ConsoleLogs {
    config: Arc<Config>,
    store: Arc<dyn StateStore>,
}

impl ConsoleLogs {
    /// Reads with `config`; tells applied events by `store`'s event log.
    pub fn shared(config: &Config, store: Arc<dyn StateStore>) -> Arc<dyn LogAccess> {
        Arc::new(Self {
            config: Arc::new(config.clone()),
            store,
        })
    }

    fn codec(&self) -> anyhow::Result<AvroCodec> {
        Ok(AvroCodec::new(
            &self.config.schema_registry.effective_url(),
        )?)
    }

    async fn read(&self, selection: Selection) -> anyhow::Result<Vec<moneta_runtime::Record>> {
        let config = self.config.clone();
        tokio::task::spawn_blocking(move || replay::read(&config, &selection, None)).await?
    }

    async fn dead_letters(&self, topic: String, limit: usize) -> anyhow::Result<Vec<DeadLetter>> {
        let codec = self.codec()?;
        let mut records = self
            .read(Selection {
                from: topic,
                tail: Some(i64::try_from(limit).unwrap_or(i64::MAX)),
                ..Selection::default()
            })
            .await?;
        records.sort_by_key(|r| (r.timestamp_ms, r.partition, r.offset));
        let skip = records.len().saturating_sub(limit);
        let mut out = Vec::new();
        for record in records.into_iter().skip(skip) {
            let key = match &record.key {
                Some(k) => codec
                    .decode_key(k)
                    .await
                    .unwrap_or_else(|_| String::from_utf8_lossy(k).into_owned()),
                None => String::new(),
            };
            let value = match record.payload.as_deref() {
                None => "(no value)".to_owned(),
                Some(bytes) => match codec.decode_json(bytes).await {
                    Ok(json) => serde_json::to_string_pretty(&json).unwrap_or_default(),
                    Err(_) => String::from_utf8_lossy(bytes)
                        .chars()
                        .take(EXCERPT)
                        .collect(),
                },
            };
            let text = |name| header(&record, name).unwrap_or_default();
            out.push(DeadLetter {
                partition: record.partition,
                offset: record.offset,
                timestamp_ms: record.timestamp_ms,
                key,
                source: format!(
                    "{}/{}/{}",
                    source_topic(&record).unwrap_or_default(),
                    text(SOURCE_PARTITION),
                    text(SOURCE_OFFSET)
                ),
                code: text(ERROR_CODE),
                reason: text(ERROR_MESSAGE),
                value,
            });
        }
        Ok(out)
    }

    async fn replay(&self, topic: String, wanted: Vec<(i32, i64)>) -> anyhow::Result<Replayed> {
        let codec = self.codec()?;
        let producer: FutureProducer = self
            .config
            .kafka
            .producer_config("moneta-console-replay")
            .create()?;
        let events = EventLog::new(self.store.clone());
        let mut done = Replayed::default();
        // One read per partition, over the span of its selected offsets.
        let mut spans: std::collections::BTreeMap<i32, (i64, i64)> = Default::default();
        for &(partition, offset) in &wanted {
            let span = spans.entry(partition).or_insert((offset, offset));
            *span = (span.0.min(offset), span.1.max(offset));
        }
        let mut read = std::collections::BTreeMap::new();
        for (partition, (first, last)) in spans {
            for record in self
                .read(Selection {
                    from: topic.clone(),
                    partition: Some(partition),
                    from_offset: Some(first),
                    to_offset: Some(last),
                    tail: None,
                })
                .await?
            {
                read.insert((record.partition, record.offset), record);
            }
        }
        for (partition, offset) in wanted {
            let record = read
                .remove(&(partition, offset))
                .with_context(|| format!("no record {topic}/{partition}/{offset}"))?;
            let target = source_topic(&record)
                .with_context(|| format!("{topic}/{partition}/{offset} is not a dead letter"))?;
            if let Some(value) = record.payload.as_deref()
                && let Some((partner, event_id)) = event_of(&codec, value).await
                && events.get(&partner, &event_id).await?.is_some_and(|e| {
                    e.steps
                        .iter()
                        .any(|s| matches!(s.state, EventState::Validated | EventState::Rejected))
                })
            {
                done.already_applied += 1;
            }
            reinject(&producer, &record, &target).await?;
            done.emitted += 1;
        }
        Ok(done)
    }
}

impl LogAccess for ConsoleLogs {
    fn dead_letters(&self, topic: &str, limit: usize) -> Pending<Vec<DeadLetter>> {
        let (this, topic) = (self.clone(), topic.to_owned());
        Box::pin(async move {
            this.dead_letters(topic, limit)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }

    fn replay(&self, topic: &str, records: Vec<(i32, i64)>) -> Pending<Replayed> {
        let (this, topic) = (self.clone(), topic.to_owned());
        Box::pin(async move {
            this.replay(topic, records)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }

    fn settlements(&self) -> Pending<SettlementExport> {
        let config = self.config.clone();
        Box::pin(async move {
            settlements::export_all(&config)
                .await
                .map_err(|e| format!("{e:#}"))
        })
    }
}
