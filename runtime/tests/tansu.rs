//! The runtime against a real tansu process: at-least-once copying, dead
//! letters, and the refusal of `exactly_once` on a broker without transactions.

mod support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use moneta_runtime::{Guarantee, RuntimeError, dead_letter};
use moneta_testkit::kafka::{create_topics, header, id_of, produce_ids, read_topic};
use support::{Topics, ids, processing, start};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn at_least_once_copies_every_record_and_applies_each_effect_once() -> anyhow::Result<()> {
    let broker = moneta_testkit::tansu()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    tokio.block_on(create_topics(broker.bootstrap_servers(), &topics.all(), 3))?;
    let input = ids("alo", 3_000);
    produce_ids(broker.bootstrap_servers(), &topics.input, input.clone())?;

    let mut running = start(
        &tokio,
        broker.bootstrap_servers(),
        processing(Guarantee::AtLeastOnce),
        &topics,
    )?;
    running.wait_for("3000 effects", LIMIT, |_, ledger| {
        ledger.len().is_ok_and(|n| n >= 3_000)
    })?;
    running.stop()?;

    let out = read_topic(
        broker.bootstrap_servers(),
        &topics.output,
        3_000,
        Duration::from_secs(20),
    )?;
    let seen: BTreeSet<String> = out.iter().filter_map(id_of).collect();
    assert_eq!(seen, input.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(running.ledger.len()?, 3_000);
    assert_eq!(running.ledger.totals()?.new, 3_000);
    assert!(running.metrics.committed.get() > 0);
    Ok(())
}

#[test]
fn a_poison_pill_is_dead_lettered_with_its_origin_and_processing_goes_on() -> anyhow::Result<()> {
    let broker = moneta_testkit::tansu()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    // One partition, so "the next records" is well defined.
    tokio.block_on(create_topics(broker.bootstrap_servers(), &topics.all(), 1))?;
    produce_ids(
        broker.bootstrap_servers(),
        &topics.input,
        ["before".to_string()],
    )?;
    {
        let producer = moneta_testkit::kafka::client(broker.bootstrap_servers()).create()?;
        moneta_testkit::kafka::produce_raw(
            &producer,
            &topics.input,
            Some(b"bad"),
            b"\x00not json",
        )?;
        rdkafka::producer::Producer::flush(&producer, Duration::from_secs(10))?;
    }
    produce_ids(
        broker.bootstrap_servers(),
        &topics.input,
        ["after-1".to_string(), "after-2".to_string()],
    )?;

    let mut running = start(
        &tokio,
        broker.bootstrap_servers(),
        processing(Guarantee::AtLeastOnce),
        &topics,
    )?;
    running.wait_for("4 records", LIMIT, |m, _| m.records_in.get() >= 4)?;
    running.stop()?;

    let dead = read_topic(
        broker.bootstrap_servers(),
        &topics.dlq,
        1,
        Duration::from_secs(10),
    )?;
    assert_eq!(dead.len(), 1);
    let letter = &dead[0];
    assert_eq!(
        rdkafka::Message::payload(letter),
        Some(&b"\x00not json"[..])
    );
    assert_eq!(
        header(letter, dead_letter::SOURCE_TOPIC).as_deref(),
        Some(topics.input.as_str())
    );
    assert_eq!(
        header(letter, dead_letter::SOURCE_PARTITION).as_deref(),
        Some("0")
    );
    assert_eq!(
        header(letter, dead_letter::SOURCE_OFFSET).as_deref(),
        Some("1")
    );
    assert_eq!(
        header(letter, dead_letter::ERROR_CODE).as_deref(),
        Some("invalid_json")
    );
    assert!(header(letter, dead_letter::ERROR_MESSAGE).is_some_and(|m| !m.is_empty()));

    let out = read_topic(
        broker.bootstrap_servers(),
        &topics.output,
        3,
        Duration::from_secs(10),
    )?;
    let seen: Vec<String> = out.iter().filter_map(id_of).collect();
    assert_eq!(seen, ["before", "after-1", "after-2"]);
    assert_eq!(running.metrics.dead_lettered_count("invalid_json"), 1);
    Ok(())
}

#[test]
fn exactly_once_on_tansu_fails_fast_naming_broker_capability_and_setting() -> anyhow::Result<()> {
    let broker = moneta_testkit::tansu()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    let started = Instant::now();
    let outcome = start(
        &tokio,
        broker.bootstrap_servers(),
        processing(Guarantee::ExactlyOnce),
        &topics,
    )
    .and_then(|mut running| {
        running.wait_for("the refusal", Duration::from_secs(60), |_, _| false)?;
        Ok(())
    });
    let message = format!("{:#}", outcome.expect_err("exactly_once must be refused"));
    assert!(message.contains(broker.bootstrap_servers()), "{message}");
    assert!(message.contains("EndTxn"), "{message}");
    assert!(message.contains("processing.guarantee"), "{message}");
    assert!(message.contains("at_least_once"), "{message}");
    // Fails at the probe, not after librdkafka's minute-long transaction timeouts.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );

    // The same check is available on its own.
    let error = moneta_runtime::require_transactions(
        &moneta_connectors::kafka::KafkaConfig {
            bootstrap_servers: broker.bootstrap_servers().to_owned(),
            ..Default::default()
        },
        Duration::from_secs(5),
    )
    .expect_err("tansu has no EndTxn");
    assert!(matches!(error, RuntimeError::NoTransactions { .. }));
    Ok(())
}
