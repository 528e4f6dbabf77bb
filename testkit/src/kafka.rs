//! Kafka helpers for tests and benchmarks: create topics, produce JSON
//! records, read a topic back.

use std::time::{Duration, Instant};

use moneta_kafka::KafkaConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

/// A client configuration pointing at `bootstrap`.
pub fn client(bootstrap: &str) -> ClientConfig {
    KafkaConfig::new(bootstrap).client_config()
}

/// Creates `topics` with `partitions` each, replicated as the broker's
/// `default.replication.factor` says; existing topics are fine.
pub async fn create_topics(
    bootstrap: &str,
    topics: &[&str],
    partitions: i32,
) -> anyhow::Result<()> {
    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(-1)))
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(_) | Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => anyhow::bail!("creating {name}: {code}"),
        }
    }
    Ok(())
}

/// Produces one `{"id": …, "seq": …}` record per id (key = id), and waits
/// until every one is acknowledged.
pub fn produce_ids(
    bootstrap: &str,
    topic: &str,
    ids: impl IntoIterator<Item = String>,
) -> anyhow::Result<usize> {
    let producer: ThreadedProducer<DefaultProducerContext> = KafkaConfig::new(bootstrap)
        .producer_config("moneta-testkit")
        .set("linger.ms", "20")
        .create()?;
    let mut sent = 0usize;
    for (seq, id) in ids.into_iter().enumerate() {
        let payload = format!(r#"{{"id":"{id}","seq":{seq}}}"#);
        produce_raw(&producer, topic, Some(id.as_bytes()), payload.as_bytes())?;
        sent += 1;
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(sent)
}

/// Enqueues one record, waiting while the local queue is full.
pub fn produce_raw(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    key: Option<&[u8]>,
    payload: &[u8],
) -> anyhow::Result<()> {
    let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).payload(payload);
    if let Some(key) = key {
        record = record.key(key);
    }
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                record = back;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err((e, _)) => return Err(e.into()),
        }
    }
}

/// Reads every partition of `topic` from the beginning until `expected`
/// records arrived or nothing new came for `idle`.
pub fn read_topic(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    idle: Duration,
) -> anyhow::Result<Vec<OwnedMessage>> {
    let consumer = reader_from_beginning(bootstrap, topic)?;
    let mut out = Vec::new();
    let mut last = Instant::now();
    while out.len() < expected && last.elapsed() < idle {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            out.push(message?.detach());
            last = Instant::now();
        }
    }
    Ok(out)
}

/// The value of header `name` of `message`, as text.
pub fn header(message: &OwnedMessage, name: &str) -> Option<String> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The JSON `id` of a copied record.
pub fn id_of(message: &OwnedMessage) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(message.payload()?).ok()?;
    value.get("id")?.as_str().map(str::to_owned)
}

/// The JSON `id`s of `topic`'s committed records, partition by partition, in
/// offset order; reads until `expected` records arrived or nothing new came
/// for `idle`.
pub fn ids_by_partition(
    bootstrap: &str,
    topic: &str,
    expected: usize,
    idle: Duration,
) -> anyhow::Result<std::collections::BTreeMap<i32, Vec<String>>> {
    let mut partitions = std::collections::BTreeMap::<i32, Vec<String>>::new();
    for message in read_topic(bootstrap, topic, expected, idle)? {
        let id = id_of(&message).unwrap_or_else(|| "<no id>".into());
        partitions.entry(message.partition()).or_default().push(id);
    }
    Ok(partitions)
}

/// Fails unless `output` holds exactly `input`'s records, partition by
/// partition in the same order: nothing lost, nothing twice, nothing moved.
pub fn assert_record_for_record(
    bootstrap: &str,
    input: &str,
    output: &str,
    expected: usize,
) -> anyhow::Result<()> {
    let idle = Duration::from_secs(10);
    let want = ids_by_partition(bootstrap, input, expected, idle)?;
    let got = ids_by_partition(bootstrap, output, usize::MAX, Duration::from_secs(3))?;
    let count =
        |p: &std::collections::BTreeMap<i32, Vec<String>>| p.values().map(Vec::len).sum::<usize>();
    anyhow::ensure!(
        count(&want) == expected,
        "input has {} records, not {expected}",
        count(&want)
    );
    if want != got {
        let mut seen = std::collections::HashMap::<&str, usize>::new();
        for id in got.values().flatten() {
            *seen.entry(id.as_str()).or_default() += 1;
        }
        let twice = seen.values().filter(|n| **n > 1).count();
        let lost = want
            .values()
            .flatten()
            .filter(|id| !seen.contains_key(id.as_str()))
            .count();
        anyhow::bail!(
            "{output} is not {input} record for record: {} records for {}, {lost} lost, {twice} more than once",
            count(&got),
            count(&want)
        );
    }
    Ok(())
}

/// Waits until `topic` holds at least `count` committed records, reading it
/// from the beginning with one consumer; fails after `limit`.
pub fn wait_for_records(
    bootstrap: &str,
    topic: &str,
    count: usize,
    limit: Duration,
) -> anyhow::Result<()> {
    let consumer = reader_from_beginning(bootstrap, topic)?;
    let deadline = Instant::now() + limit;
    let mut seen = 0;
    while seen < count {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{topic}: {seen} of {count} records within {limit:?}"
        );
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            seen += 1;
        }
    }
    Ok(())
}

/// A `read_committed` consumer assigned every partition of `topic` from
/// the beginning, outside any group's offsets.
fn reader_from_beginning(bootstrap: &str, topic: &str) -> anyhow::Result<BaseConsumer> {
    let consumer: BaseConsumer = KafkaConfig::new(bootstrap)
        .reader_config(&crate::unique("reader"))
        .create()?;
    let mut assignment = TopicPartitionList::new();
    for partition in moneta_kafka::partition_ids(&consumer, topic, Duration::from_secs(10))? {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    consumer.assign(&assignment)?;
    Ok(consumer)
}

/// The node id leading `topic`'s `partition`.
pub fn leader_of(bootstrap: &str, topic: &str, partition: i32) -> anyhow::Result<i32> {
    let consumer: BaseConsumer = client(bootstrap).create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    metadata
        .topics()
        .iter()
        .flat_map(|t| t.partitions())
        .find(|p| p.id() == partition)
        .map(|p| p.leader())
        .filter(|leader| *leader >= 0)
        .ok_or_else(|| anyhow::anyhow!("{topic}[{partition}] has no leader"))
}

/// Deletes every record of every partition of `topic` (as retention would
/// once they are old enough: DeleteRecords up to the end); returns how many
/// offsets each partition lost, by partition.
pub async fn delete_all_records(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<(i32, i64)>> {
    let consumer: BaseConsumer = client(bootstrap).create()?;
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut ends = Vec::new();
    let mut offsets = TopicPartitionList::new();
    for partition in metadata.topics().iter().flat_map(|t| t.partitions()) {
        let (_, high) =
            consumer.fetch_watermarks(topic, partition.id(), Duration::from_secs(10))?;
        ends.push((partition.id(), high));
        offsets.add_partition_offset(topic, partition.id(), Offset::End)?;
    }
    anyhow::ensure!(!ends.is_empty(), "{topic} has no partitions");
    let admin: AdminClient<DefaultClientContext> = client(bootstrap).create()?;
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let deleted = admin.delete_records(&offsets, &options).await?;
    for element in deleted.elements() {
        if let Err(error) = element.error() {
            anyhow::bail!("deleting {topic}[{}]: {error}", element.partition());
        }
    }
    Ok(ends)
}
