//! The contract changelog (`contracts.topics.contract_changelog`): every
//! contract row as template-check last wrote it, compacted, keyed by
//! contract id, value the Avro `Contract` record. template-check produces
//! it in the transaction of the record that changed the row, so it keeps
//! every contract for as long as the contract exists, whatever the event
//! topics' retention.
//!
//! - [`read_rows`] reads it to its end: `moneta state rebuild` restores
//!   contract rows from it ([`restore_rows`]) instead of replaying the
//!   events that made them.
//! - [`publish_existing`] puts the rows of a store that predates the
//!   changelog into it, once, when `moneta up` finds it empty.

use std::collections::BTreeMap;
use std::time::Duration;

use moneta_avro::{AvroCodec, SchemaName};
use moneta_domain::Contract;
use moneta_kafka::TopicReader;
use moneta_processors::contracts::{from_record, row_record};
use moneta_processors::template_check;
use moneta_state::rebuild::restore_contract;
use moneta_state::{ContractQuery, StateStore};
use rdkafka::producer::{FutureProducer, FutureRecord};

use crate::Config;
use crate::changelog::{ChangelogError, read_to_end};

/// How long one published row may wait for the broker's acknowledgement.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(30);
/// How long asking for the changelog's watermarks may take.
const WATERMARKS: Duration = Duration::from_secs(30);

/// The contract changelog read to its end.
#[derive(Debug, Default)]
pub struct Rows {
    /// The latest row of every contract (highest version), by id.
    pub contracts: BTreeMap<String, Contract>,
    /// Records read (every version still in the topic).
    pub records: usize,
}

fn record_error(key: &str, reason: impl ToString) -> ChangelogError {
    ChangelogError::Record {
        key: key.to_owned(),
        reason: reason.to_string(),
    }
}

/// Reads the contract changelog from its start to its end, keeping the
/// highest version of each contract, whatever order the records are in.
pub async fn read_rows(config: &Config, codec: &AvroCodec) -> Result<Rows, ChangelogError> {
    let (kafka, topic) = (
        config.kafka.clone(),
        config.contracts.topics.contract_changelog.clone(),
    );
    let read = tokio::task::spawn_blocking(move || read_to_end(&kafka, &topic))
        .await
        .map_err(|e| record_error("", format!("reading task failed: {e}")))??;
    let mut rows = Rows::default();
    for record in read.records {
        let at = format!("{}/{}@{}", record.topic, record.partition, record.offset);
        let Some(payload) = record.payload.as_deref() else {
            continue;
        };
        let value: moneta_avro::Contract = codec
            .decode(SchemaName::Contract, payload)
            .await
            .map_err(|e| record_error(&at, e))?;
        let contract = from_record(&value).map_err(|e| record_error(&at, e))?;
        rows.records += 1;
        let newer = rows
            .contracts
            .get(&contract.id)
            .is_none_or(|seen| contract.version > seen.version);
        if newer {
            rows.contracts.insert(contract.id.clone(), contract);
        }
    }
    Ok(rows)
}

/// Writes every row of `rows` into `store` with its applied event ids and
/// search entries; a row already there at its version is left alone.
pub async fn restore_rows(store: &dyn StateStore, rows: &Rows) -> Result<usize, ChangelogError> {
    for contract in rows.contracts.values() {
        let body = serde_json::to_vec(contract).map_err(|e| record_error(&contract.id, e))?;
        let events: Vec<(String, u64)> = contract
            .event_log
            .iter()
            .map(|e| (e.event_id.clone(), e.version))
            .collect();
        restore_contract(
            store,
            &contract.id,
            &body,
            &template_check::keys(contract),
            &events,
        )
        .await?;
    }
    Ok(rows.contracts.len())
}

/// Publishes every contract row of `store` to the contract changelog if
/// the changelog holds no record at all (a store from before it existed);
/// returns how many rows were published.
pub async fn publish_existing(
    config: &Config,
    store: &dyn StateStore,
    codec: &AvroCodec,
) -> Result<usize, ChangelogError> {
    let topic = config.contracts.topics.contract_changelog.clone();
    let kafka_error = |source| ChangelogError::Kafka {
        topic: topic.clone(),
        source,
    };
    let kafka = config.kafka.clone();
    let name = topic.clone();
    let ends = tokio::task::spawn_blocking(move || {
        TopicReader::new(&kafka, &name, "moneta-contract-changelog")?.partitions(WATERMARKS)
    })
    .await
    .map_err(|e| record_error("", format!("watermark task failed: {e}")))??;
    if ends.iter().any(|p| p.end > 0) {
        return Ok(0);
    }
    let contracts = store
        .search_contracts(&ContractQuery {
            limit: usize::MAX,
            ..ContractQuery::default()
        })
        .await?;
    if contracts.is_empty() {
        return Ok(0);
    }
    let producer: FutureProducer = config
        .kafka
        .producer_config("moneta-contract-changelog")
        .create()
        .map_err(kafka_error)?;
    for stored in &contracts {
        let contract: Contract =
            serde_json::from_slice(&stored.body).map_err(|e| record_error(&stored.id, e))?;
        let value = codec
            .encode(&topic, SchemaName::Contract, &row_record(&contract))
            .await
            .map_err(|e| record_error(&stored.id, e))?;
        let key = codec
            .encode_key(&topic, &contract.id)
            .await
            .map_err(|e| record_error(&stored.id, e))?;
        producer
            .send(
                FutureRecord::to(&topic).key(&key).payload(&value),
                PUBLISH_TIMEOUT,
            )
            .await
            .map_err(|(e, _)| kafka_error(e))?;
    }
    Ok(contracts.len())
}
