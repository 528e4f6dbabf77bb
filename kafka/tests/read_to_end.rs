//! Reading a topic to its end on the real broker: an empty topic returns
//! at once; a partition whose last offsets are a transaction's commit or
//! abort marker ends; aborted records and records of a transaction still
//! open are never returned; a range can start at a time.

use std::time::{Duration, Instant};

use moneta_kafka::{KafkaConfig, ReadError, TopicReader, read_to_end};
use moneta_testkit::kafka::create_topics;
use moneta_testkit::unique;
use rdkafka::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const LIMIT: Duration = Duration::from_secs(60);
const TIMEOUT: Duration = Duration::from_secs(30);

/// The test run's broker and a fresh topic of `partitions` partitions on it.
fn topic(partitions: i32) -> anyhow::Result<(KafkaConfig, String)> {
    let kafka = KafkaConfig::new(moneta_testkit::kafka()?);
    let topic = unique("read-to-end");
    tokio::runtime::Runtime::new()?.block_on(create_topics(
        &kafka.bootstrap_servers,
        &[&topic],
        partitions,
    ))?;
    Ok((kafka, topic))
}

/// A transactional producer, its transactions initialised.
fn transactional(kafka: &KafkaConfig) -> anyhow::Result<ThreadedProducer<DefaultProducerContext>> {
    let producer: ThreadedProducer<DefaultProducerContext> = kafka
        .producer_config("read-to-end-test")
        .set("transactional.id", unique("read-to-end"))
        .create()?;
    producer.init_transactions(TIMEOUT)?;
    Ok(producer)
}

/// Sends `values` to `partition` of `topic`.
fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    partition: i32,
    values: &[&str],
) -> anyhow::Result<()> {
    for value in values {
        producer
            .send(
                BaseRecord::<(), str>::to(topic)
                    .partition(partition)
                    .payload(value),
            )
            .map_err(|(e, _)| e)?;
    }
    Ok(())
}

/// One committed transaction of `values` to `partition`.
fn commit(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    partition: i32,
    values: &[&str],
) -> anyhow::Result<()> {
    producer.begin_transaction()?;
    send(producer, topic, partition, values)?;
    producer.commit_transaction(TIMEOUT)?;
    Ok(())
}

/// A transaction of `values` by partition, written but left open.
fn open(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    values: &[(i32, &[&str])],
) -> anyhow::Result<()> {
    producer.begin_transaction()?;
    for (partition, values) in values {
        send(producer, topic, *partition, values)?;
    }
    producer.flush(TIMEOUT)?;
    Ok(())
}

/// Every value `read_to_end` passes on, with the partition it came from.
fn read_all(kafka: &KafkaConfig, topic: &str) -> anyhow::Result<Vec<(i32, String)>> {
    let mut values = Vec::new();
    let summary = read_to_end(kafka, topic, &unique("reader"), LIMIT, |message| {
        let value = String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned();
        values.push((message.partition(), value));
    })?;
    anyhow::ensure!(summary.records == values.len() as u64, "{summary:?}");
    values.sort();
    Ok(values)
}

/// Fails unless a read that began at `started` ended well within [`LIMIT`]:
/// it did not wait for a record that never comes.
fn promptly(started: Instant) {
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

fn pairs(partition: i32, values: &[&str]) -> Vec<(i32, String)> {
    values
        .iter()
        .map(|v| (partition, (*v).to_owned()))
        .collect()
}

#[test]
fn an_empty_topic_is_read_at_once() -> anyhow::Result<()> {
    let (kafka, topic) = topic(3)?;
    let started = Instant::now();
    let summary = read_to_end(&kafka, &topic, &unique("reader"), LIMIT, |_| {})?;
    assert_eq!(summary.records, 0);
    assert_eq!(summary.partitions.len(), 3);
    assert!(summary.partitions.iter().all(|p| p.is_empty()));
    promptly(started);
    Ok(())
}

#[test]
fn a_missing_topic_is_named() -> anyhow::Result<()> {
    let kafka = KafkaConfig::new(moneta_testkit::kafka()?);
    let topic = unique("never-created");
    match read_to_end(&kafka, &topic, &unique("reader"), LIMIT, |_| {}) {
        Err(ReadError::UnknownTopic { topic: named }) => assert_eq!(named, topic),
        other => panic!("a missing topic read as {other:?}"),
    }
    Ok(())
}

#[test]
fn a_partition_ending_in_a_commit_marker_is_read_to_its_end() -> anyhow::Result<()> {
    let (kafka, topic) = topic(3)?;
    let producer = transactional(&kafka)?;
    commit(&producer, &topic, 0, &["a", "b", "c"])?;
    commit(&producer, &topic, 1, &["d"])?;
    // Partition 0: a b c marker; partition 1: d marker; partition 2 empty.
    let started = Instant::now();
    let values = read_all(&kafka, &topic)?;
    assert_eq!(
        values,
        [pairs(0, &["a", "b", "c"]), pairs(1, &["d"])].concat()
    );
    promptly(started);
    Ok(())
}

#[test]
fn aborted_records_are_not_returned() -> anyhow::Result<()> {
    let (kafka, topic) = topic(2)?;
    let producer = transactional(&kafka)?;
    commit(&producer, &topic, 0, &["kept-1"])?;
    open(
        &producer,
        &topic,
        &[(0, &["aborted-1", "aborted-2"]), (1, &["aborted-3"])],
    )?;
    producer.abort_transaction(TIMEOUT)?;
    commit(&producer, &topic, 0, &["kept-2"])?;
    open(&producer, &topic, &[(0, &["aborted-4"])])?;
    producer.abort_transaction(TIMEOUT)?;
    // Partition 0 ends in an abort marker, partition 1 holds only aborted
    // records and their marker.
    assert_eq!(read_all(&kafka, &topic)?, pairs(0, &["kept-1", "kept-2"]));
    Ok(())
}

#[test]
fn records_of_a_transaction_still_open_are_not_waited_for() -> anyhow::Result<()> {
    let (kafka, topic) = topic(1)?;
    let producer = transactional(&kafka)?;
    commit(&producer, &topic, 0, &["committed"])?;
    open(&producer, &topic, &[(0, &["open"])])?;
    let read = read_all(&kafka, &topic);
    producer.abort_transaction(TIMEOUT)?;
    assert_eq!(read?, pairs(0, &["committed"]));
    Ok(())
}

#[test]
fn a_range_can_start_at_a_time_and_end_early() -> anyhow::Result<()> {
    let (kafka, topic) = topic(1)?;
    let producer: ThreadedProducer<DefaultProducerContext> =
        kafka.producer_config("read-to-end-test").create()?;
    // Times a minute ago, a second apart (records far older would be
    // retention's to delete).
    let base = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64
        - 60_000;
    for (value, at) in [
        ("one", 1_000),
        ("two", 2_000),
        ("three", 3_000),
        ("four", 4_000),
    ] {
        producer
            .send(
                BaseRecord::<(), str>::to(&topic)
                    .partition(0)
                    .payload(value)
                    .timestamp(base + at),
            )
            .map_err(|(e, _)| e)?;
    }
    producer.flush(TIMEOUT)?;
    let reader = TopicReader::new(&kafka, &topic, &unique("reader"))?;
    let read = |ranges: &[moneta_kafka::PartitionRange]| -> anyhow::Result<Vec<String>> {
        let mut values = Vec::new();
        reader.read(ranges, LIMIT, |m| {
            values.push(String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned());
        })?;
        Ok(values)
    };
    let whole = reader.partitions(TIMEOUT)?;
    assert_eq!((whole[0].start, whole[0].end), (0, 4));

    let mut from_two = whole.clone();
    reader.start_at_time(&mut from_two, base + 1_500, TIMEOUT)?;
    from_two[0].end = 3;
    assert_eq!(read(&from_two)?, ["two", "three"]);

    let mut after_all = whole.clone();
    reader.start_at_time(&mut after_all, base + 5_000, TIMEOUT)?;
    assert!(after_all[0].is_empty(), "{after_all:?}");
    assert!(read(&after_all)?.is_empty());

    // The same reader reads again, from the start.
    assert_eq!(read(&whole)?, ["one", "two", "three", "four"]);
    Ok(())
}
