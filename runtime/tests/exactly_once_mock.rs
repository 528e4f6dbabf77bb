//! `exactly_once` on librdkafka's mock cluster: a clean run, and the kinds
//! of transactional failure injected with `MockCluster::request_errors`,
//! which the real broker cannot be made to return on demand.
//!
//! The mock acknowledges `TxnOffsetCommit` without storing offsets and shows
//! aborted records to `read_committed` readers, so these tests assert what
//! the runtime did (metrics) and that every input reached the output; crash
//! recovery itself needs a real Kafka (see README).

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use moneta_runtime::{Guarantee, ProcessingConfig};
use moneta_testkit::MockCluster;
use moneta_testkit::kafka::{id_of, produce_ids, read_topic};
use rdkafka::mocking::MockCoordinator;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use support::{Topics, ids, processing, start};

const LIMIT: Duration = Duration::from_secs(90);
const RECORDS: usize = 500;

struct Setup {
    cluster: MockCluster<'static, rdkafka::producer::DefaultProducerContext>,
    tokio: tokio::runtime::Runtime,
    topics: Topics,
    input: Vec<String>,
}

fn setup() -> anyhow::Result<Setup> {
    let cluster = MockCluster::new(1)?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    for topic in topics.all() {
        cluster.create_topic(topic, 3, 1)?;
    }
    let input = ids("eos", RECORDS);
    produce_ids(&cluster.bootstrap_servers(), &topics.input, input.clone())?;
    Ok(Setup {
        cluster,
        tokio,
        topics,
        input,
    })
}

fn eos() -> ProcessingConfig {
    ProcessingConfig {
        max_batch_records: 100,
        commit_retries: 20,
        ..processing(Guarantee::ExactlyOnce)
    }
}

/// Every input record's effect is applied: all records processed and committed.
fn applied(ledger: &moneta_state::EffectLedger) -> bool {
    ledger.len().is_ok_and(|n| n >= RECORDS as u64)
}

/// Every input id is in the output topic; returns the output count.
fn assert_all_copied(setup: &Setup) -> anyhow::Result<usize> {
    let out = read_topic(
        &setup.cluster.bootstrap_servers(),
        &setup.topics.output,
        usize::MAX,
        Duration::from_secs(5),
    )?;
    let seen: BTreeSet<String> = out.iter().filter_map(id_of).collect();
    let missing: Vec<&String> = setup
        .input
        .iter()
        .filter(|id| !seen.contains(*id))
        .collect();
    assert!(
        missing.is_empty(),
        "{} ids missing, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    Ok(out.len())
}

#[test]
fn a_clean_run_commits_every_output_in_transactions() -> anyhow::Result<()> {
    let setup = setup()?;
    let mut running = start(
        &setup.tokio,
        &setup.cluster.bootstrap_servers(),
        eos(),
        &setup.topics,
    )?;
    running.wait_for("all records committed", LIMIT, |m, ledger| {
        applied(ledger) && m.committed.get() >= (RECORDS / 100) as u64
    })?;
    running.stop()?;
    assert_eq!(
        assert_all_copied(&setup)?,
        RECORDS,
        "no aborts, so no duplicates"
    );
    assert_eq!(running.metrics.aborted.get(), 0);
    assert_eq!(running.metrics.recreated.get(), 0);
    assert_eq!(running.ledger.len()?, RECORDS as u64);
    Ok(())
}

#[test]
fn an_abortable_error_aborts_rewinds_and_redoes_the_batch() -> anyhow::Result<()> {
    let setup = setup()?;
    setup.cluster.request_errors(
        RDKafkaApiKey::AddOffsetsToTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED],
    );
    let mut running = start(
        &setup.tokio,
        &setup.cluster.bootstrap_servers(),
        eos(),
        &setup.topics,
    )?;
    running.wait_for("an abort and all records", LIMIT, |m, ledger| {
        m.aborted.get() >= 1 && applied(ledger)
    })?;
    running.stop()?;
    let outputs = assert_all_copied(&setup)?;
    assert!(
        running.metrics.records_in.get() > RECORDS as u64,
        "the aborted batch was redone"
    );
    assert!(outputs >= RECORDS);
    // Redone records repeat their effects, which the ledger recognises.
    assert_eq!(running.ledger.len()?, RECORDS as u64);
    assert!(running.metrics.duplicates.get() > 0);
    Ok(())
}

#[test]
fn a_retriable_commit_error_is_retried() -> anyhow::Result<()> {
    let setup = setup()?;
    // Coordinator errors that librdkafka retries internally for longer than
    // the call's timeout: commit_transaction returns a retriable _TIMED_OUT.
    let errors = [
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
    ]
    .repeat(5);
    setup.cluster.request_errors(RDKafkaApiKey::EndTxn, &errors);
    let processing = ProcessingConfig {
        operation_timeout_ms: 300,
        ..eos()
    };
    let mut running = start(
        &setup.tokio,
        &setup.cluster.bootstrap_servers(),
        processing,
        &setup.topics,
    )?;
    running.wait_for("a retry and all records committed", LIMIT, |m, ledger| {
        m.commit_retries.get() >= 1 && applied(ledger)
    })?;
    running.stop()?;
    assert_all_copied(&setup)?;
    Ok(())
}

#[test]
fn an_instance_fenced_again_and_again_stops_as_a_twin() -> anyhow::Result<()> {
    let setup = setup()?;
    setup.cluster.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED].repeat(3),
    );
    let mut running = start(
        &setup.tokio,
        &setup.cluster.bootstrap_servers(),
        eos(),
        &setup.topics,
    )?;
    let deadline = std::time::Instant::now() + LIMIT;
    while !running.is_finished() {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the twin never stopped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let error = running.stop().expect_err("stops fenced");
    assert!(
        matches!(error, moneta_runtime::RuntimeError::Fenced { .. }),
        "{error}"
    );
    assert_eq!(running.metrics.fenced.get(), 3);
    assert!(
        running.metrics.recreated.get() >= 2,
        "recreated after the first two"
    );
    Ok(())
}

#[test]
fn a_fenced_producer_is_recreated() -> anyhow::Result<()> {
    let setup = setup()?;
    setup.cluster.request_errors(
        RDKafkaApiKey::EndTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED],
    );
    let mut running = start(
        &setup.tokio,
        &setup.cluster.bootstrap_servers(),
        eos(),
        &setup.topics,
    )?;
    running.wait_for(
        "a recreated producer and all records",
        LIMIT,
        |m, ledger| m.recreated.get() >= 1 && applied(ledger),
    )?;
    running.stop()?;
    assert_all_copied(&setup)?;
    assert_eq!(running.ledger.len()?, RECORDS as u64);
    Ok(())
}

#[test]
fn a_commit_never_waits_past_its_timeout_for_a_group_coordinator_that_is_down() -> anyhow::Result<()>
{
    // librdkafka's send_offsets_to_transaction ignores its timeout while the
    // group coordinator is down (confluentinc/librdkafka#5456): the runtime
    // gives up on the producer instead of stalling the partition.
    let cluster = MockCluster::new(3)?;
    let bootstrap = cluster.bootstrap_servers();
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    for topic in topics.all() {
        cluster.create_topic(topic, 3, 1)?;
        for partition in 0..3 {
            cluster.partition_leader(topic, partition, Some(2 + partition % 2))?;
        }
    }
    let processing = ProcessingConfig {
        operation_timeout_ms: 2_000,
        ..eos()
    };
    let group = format!("{}.echo", processing.application_id);
    let transactional = format!("{}.echo.0", processing.application_id);
    cluster.coordinator(MockCoordinator::Group(group), 1)?;
    cluster.coordinator(MockCoordinator::Transaction(transactional), 2)?;
    let input = ids("down", RECORDS);
    let (first, second) = input.split_at(RECORDS / 2);
    produce_ids(&bootstrap, &topics.input, first.to_vec())?;
    let mut running = start(&tokio, &bootstrap, processing, &topics)?;
    running.wait_for("a first commit", LIMIT, |m, _| m.committed.get() >= 1)?;

    cluster.broker_down(1)?;
    produce_ids(&bootstrap, &topics.input, second.to_vec())?;
    let given_up = running.wait_for(
        "the stuck producer given up",
        Duration::from_secs(40),
        |m, _| m.recreated.get() >= 1,
    );
    cluster.broker_up(1)?;
    given_up?;
    running.wait_for("all records committed", LIMIT, |_, ledger| applied(ledger))?;
    running.stop()?;
    let setup = Setup {
        cluster,
        tokio,
        topics,
        input,
    };
    assert_all_copied(&setup)?;
    assert_eq!(running.ledger.len()?, RECORDS as u64);
    Ok(())
}
