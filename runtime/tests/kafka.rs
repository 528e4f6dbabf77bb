//! The runtime against the real broker: both guarantees copy every record,
//! `exactly_once` record for record, and a record the processor cannot
//! read is dead-lettered (inside the transaction) while processing goes on.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use moneta_runtime::{Guarantee, dead_letter};
use moneta_testkit::kafka::{
    assert_record_for_record, create_topics, header, id_of, produce_ids, read_topic,
};
use support::{Topics, ids, processing, start};

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn at_least_once_copies_every_record_and_applies_each_effect_once() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    tokio.block_on(create_topics(&bootstrap, &topics.all(), 3))?;
    let input = ids("alo", 3_000);
    produce_ids(&bootstrap, &topics.input, input.clone())?;

    let mut running = start(
        &tokio,
        &bootstrap,
        processing(Guarantee::AtLeastOnce),
        &topics,
    )?;
    running.wait_for("3000 effects", LIMIT, |_, ledger| {
        ledger.len().is_ok_and(|n| n >= 3_000)
    })?;
    running.stop()?;

    let out = read_topic(&bootstrap, &topics.output, 3_000, Duration::from_secs(20))?;
    let seen: BTreeSet<String> = out.iter().filter_map(id_of).collect();
    assert_eq!(seen, input.iter().cloned().collect::<BTreeSet<_>>());
    assert_eq!(running.ledger.len()?, 3_000);
    assert_eq!(running.ledger.totals()?.new, 3_000);
    assert!(running.metrics.committed.get() > 0);
    Ok(())
}

#[test]
fn exactly_once_output_equals_input_record_for_record() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    tokio.block_on(create_topics(&bootstrap, &topics.all(), 3))?;
    produce_ids(&bootstrap, &topics.input, ids("eos", 5_000))?;

    let mut running = start(
        &tokio,
        &bootstrap,
        processing(Guarantee::ExactlyOnce),
        &topics,
    )?;
    running.wait_for("5000 records committed", LIMIT, |m, ledger| {
        ledger.len().is_ok_and(|n| n >= 5_000) && m.records_in.get() >= 5_000
    })?;
    running.stop()?;
    assert_record_for_record(&bootstrap, &topics.input, &topics.output, 5_000)?;
    assert!(running.metrics.committed.get() > 0);
    assert_eq!(running.metrics.aborted.get(), 0);
    Ok(())
}

/// Produces `before`, a record that is not JSON, then `after-1`, `after-2`
/// to a one-partition input, runs `guarantee`, and checks the dead letter
/// and that the partition moved on.
fn poison_pill_is_dead_lettered(guarantee: Guarantee) -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    // One partition, so "the next records" is well defined.
    tokio.block_on(create_topics(&bootstrap, &topics.all(), 1))?;
    produce_ids(&bootstrap, &topics.input, ["before".to_string()])?;
    {
        let producer = moneta_testkit::kafka::client(&bootstrap).create()?;
        moneta_testkit::kafka::produce_raw(
            &producer,
            &topics.input,
            Some(b"bad"),
            b"\x00not json",
        )?;
        rdkafka::producer::Producer::flush(&producer, Duration::from_secs(10))?;
    }
    produce_ids(
        &bootstrap,
        &topics.input,
        ["after-1".to_string(), "after-2".to_string()],
    )?;

    let mut running = start(&tokio, &bootstrap, processing(guarantee), &topics)?;
    running.wait_for("4 records", LIMIT, |m, _| m.records_in.get() >= 4)?;
    running.stop()?;

    // Read committed: under exactly_once the dead letter is only visible
    // because its transaction committed.
    let dead = read_topic(&bootstrap, &topics.dlq, 1, Duration::from_secs(10))?;
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

    let out = read_topic(&bootstrap, &topics.output, 3, Duration::from_secs(10))?;
    let seen: Vec<String> = out.iter().filter_map(id_of).collect();
    assert_eq!(seen, ["before", "after-1", "after-2"]);
    assert_eq!(running.metrics.dead_lettered_count("invalid_json"), 1);
    Ok(())
}

#[test]
fn exactly_once_dead_letters_a_poison_pill_in_the_transaction_and_goes_on() -> anyhow::Result<()> {
    poison_pill_is_dead_lettered(Guarantee::ExactlyOnce)
}

#[test]
fn at_least_once_dead_letters_a_poison_pill_and_goes_on() -> anyhow::Result<()> {
    poison_pill_is_dead_lettered(Guarantee::AtLeastOnce)
}
