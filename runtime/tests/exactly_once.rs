//! Exactly-once on the real broker, each test named after the guarantee it
//! proves (after the shape of Kafka's own `transactions_test.py`): the
//! `read_committed` output equals the input record for record however the
//! run is disturbed. A processor SIGKILLed mid-transaction is tested on the
//! `moneta` binary (cli/tests/sigkill.rs).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use moneta_runtime::{Guarantee, ProcessingConfig, RuntimeError};
use moneta_testkit::kafka::{
    assert_record_for_record, create_topics, leader_of, produce_ids, wait_for_records,
};
use rdkafka::consumer::{BaseConsumer, Consumer};
use support::{Echo, Stalling, Topics, ids, processing, start, start_with};

const LIMIT: Duration = Duration::from_secs(180);

/// Tests that start brokers of their own take turns: on two cores, a
/// three-node cluster beside another broker under load starves them all.
static OWN_BROKERS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn own_brokers_turn() -> std::sync::MutexGuard<'static, ()> {
    OWN_BROKERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn eos() -> ProcessingConfig {
    ProcessingConfig {
        max_batch_records: 50,
        ..processing(Guarantee::ExactlyOnce)
    }
}

fn wait_until(what: &str, limit: Duration, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        anyhow::ensure!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// Produces `ids` in `steps` parts, `pause` apart, on a thread of its own.
fn produce_in_steps(
    bootstrap: &str,
    topic: &str,
    ids: Vec<String>,
    steps: usize,
    pause: Duration,
) -> std::thread::JoinHandle<anyhow::Result<usize>> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    std::thread::spawn(move || {
        let mut sent = 0;
        for part in ids.chunks(ids.len().div_ceil(steps)) {
            sent += produce_ids(&bootstrap, &topic, part.to_vec())?;
            std::thread::sleep(pause);
        }
        Ok(sent)
    })
}

/// An [`Echo`] instance that stalls in the middle of record 120 until
/// released, with outputs of its open transaction sent but not committed.
fn stalling(topics: &Topics) -> (Stalling, Arc<AtomicBool>, Arc<AtomicBool>) {
    let (stalled, release) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let processor = Stalling {
        echo: Echo {
            output: topics.output.clone(),
        },
        after: 120,
        seen: 0,
        stalled: Arc::clone(&stalled),
        release: Arc::clone(&release),
    };
    (processor, stalled, release)
}

#[test]
fn a_stalled_instance_replaced_under_its_identity_is_fenced_and_writes_nothing_visible()
-> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    tokio.block_on(create_topics(&bootstrap, &topics.all(), 1))?;
    produce_ids(&bootstrap, &topics.input, ids("zombie", 300))?;
    // The group gives up on a member that stopped polling after 10 s.
    let processing = ProcessingConfig {
        max_poll_interval_ms: 10_000,
        ..eos()
    };

    // The first instance stalls with a transaction open.
    let (zombie, stalled, release) = stalling(&topics);
    let mut first = start_with(&tokio, &bootstrap, processing.clone(), &topics, zombie)?;
    wait_until("the first instance stalls", LIMIT, || {
        stalled.load(Ordering::Acquire)
    })?;
    assert!(
        first.metrics.records_out.get() > 0,
        "the stalled transaction holds sent outputs"
    );

    // Its replacement, with the same stage, instance and application id,
    // fences it and copies everything, the stalled batch included.
    let mut second = start(&tokio, &bootstrap, processing, &topics)?;
    wait_for_records(&bootstrap, &topics.output, 300, LIMIT)?;

    // The zombie wakes up: its transaction is fenced and nothing it wrote
    // in it becomes visible. (It may rejoin the group and, as a member
    // again, be given partitions: that is ownership, not a zombie.)
    release.store(true, Ordering::Release);
    wait_until("the zombie learns it was fenced", LIMIT, || {
        first.metrics.fenced.get() >= 1 || first.is_finished()
    })?;
    produce_ids(&bootstrap, &topics.input, ids("after", 100))?;
    wait_for_records(&bootstrap, &topics.output, 400, LIMIT)?;
    // Awake and a member again, the zombie is a second running instance
    // under one identity: one of the two may have stopped, fenced, as
    // `two_running_instances_…` shows (in CI once the replacement, after
    // three fences in turn); never both, and only fenced.
    let stopped = [first.stop(), second.stop()];
    for error in stopped.iter().filter_map(|s| s.as_ref().err()) {
        assert!(matches!(error, RuntimeError::Fenced { .. }), "{error}");
    }
    assert!(
        stopped.iter().any(Result::is_ok),
        "both stopped: {stopped:?}"
    );
    assert_record_for_record(&bootstrap, &topics.input, &topics.output, 400)
}

#[test]
fn a_stalled_instance_whose_transaction_timed_out_resumes_and_repeats_nothing() -> anyhow::Result<()>
{
    let bootstrap = moneta_testkit::kafka()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    tokio.block_on(create_topics(&bootstrap, &topics.all(), 1))?;
    produce_ids(&bootstrap, &topics.input, ids("stall", 300))?;
    // The coordinator aborts a transaction open longer than 3 s.
    let processing = ProcessingConfig {
        transaction_timeout_ms: 3_000,
        ..eos()
    };
    let (processor, stalled, release) = stalling(&topics);
    let mut running = start_with(&tokio, &bootstrap, processing, &topics, processor)?;
    wait_until("the instance stalls", LIMIT, || {
        stalled.load(Ordering::Acquire)
    })?;
    // The open transaction's records are in the log; the coordinator's
    // abort (at its next timeout scan, every 10 s by default) appends a
    // marker after them.
    std::thread::sleep(Duration::from_secs(1));
    let before = high_watermark(&bootstrap, &topics.output)?;
    wait_until("the coordinator aborts the transaction", LIMIT, || {
        high_watermark(&bootstrap, &topics.output).is_ok_and(|high| high > before)
    })?;
    release.store(true, Ordering::Release);

    // Its producer was fenced by the abort: it starts a new one and redoes
    // the aborted batch; the output shows the batch once.
    wait_for_records(&bootstrap, &topics.output, 300, LIMIT)?;
    running.stop()?;
    assert!(
        running.metrics.fenced.get() >= 1,
        "the timed-out transaction fenced the producer"
    );
    assert!(running.metrics.recreated.get() >= 1);
    assert_record_for_record(&bootstrap, &topics.input, &topics.output, 300)
}

#[test]
fn two_running_instances_with_one_identity_never_both_write_and_one_stops() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    tokio.block_on(create_topics(&bootstrap, &topics.all(), 4))?;
    let producer = produce_in_steps(
        &bootstrap,
        &topics.input,
        ids("twin", 4_000),
        40,
        Duration::from_millis(250),
    );
    // A misconfiguration: both are instance 0. The group shares the
    // partitions between them, and each one's producer fences the other's.
    let processing = eos();
    let one = start(&tokio, &bootstrap, processing.clone(), &topics)?;
    let two = start(&tokio, &bootstrap, processing, &topics)?;
    wait_until("one twin stops", LIMIT, || {
        one.is_finished() || two.is_finished()
    })?;
    let (mut stopped, mut survivor) = if one.is_finished() {
        (one, two)
    } else {
        (two, one)
    };
    let error = stopped.stop().expect_err("a twin stops with an error");
    assert!(matches!(error, RuntimeError::Fenced { .. }), "{error}");
    assert!(
        error
            .to_string()
            .contains("must not share an instance number"),
        "{error}"
    );

    // The survivor takes every partition over and finishes the job.
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))??;
    wait_for_records(&bootstrap, &topics.output, 4_000, LIMIT)?;
    survivor.stop()?;
    assert_record_for_record(&bootstrap, &topics.input, &topics.output, 4_000)
}

#[test]
fn the_broker_killed_and_restarted_mid_run_loses_nothing_and_repeats_nothing() -> anyhow::Result<()>
{
    let _turn = own_brokers_turn();
    let broker = moneta_testkit::Broker::start()?;
    let bootstrap = broker.bootstrap_servers().to_owned();
    let tokio = tokio::runtime::Runtime::new()?;
    let UnderWay {
        topics,
        producer,
        mut running,
    } = copy_under_way(&tokio, &bootstrap, "restart")?;

    broker.kill()?;
    std::thread::sleep(Duration::from_secs(3));
    broker.restart()?;

    produced_and_copied(producer, &bootstrap, &topics)?;
    running.stop()?;
    assert_record_for_record(&bootstrap, &topics.input, &topics.output, UNDER_WAY)
}

#[test]
fn the_partition_leader_killed_in_a_three_broker_cluster_loses_nothing_and_repeats_nothing()
-> anyhow::Result<()> {
    let _turn = own_brokers_turn();
    let cluster = moneta_testkit::Cluster::start()?;
    let bootstrap = cluster.bootstrap_servers().to_owned();
    let tokio = tokio::runtime::Runtime::new()?;
    let UnderWay {
        topics,
        producer,
        mut running,
    } = copy_under_way(&tokio, &bootstrap, "failover")?;

    let leader = leader_of(&bootstrap, &topics.output, 0)?;
    cluster.kill(leader)?;
    produced_and_copied(producer, &bootstrap, &topics)?;
    assert_ne!(
        leader_of(&bootstrap, &topics.output, 0)?,
        leader,
        "leadership moved"
    );
    // The node comes back and catches up; nothing changes for the readers.
    cluster.restart(leader)?;
    running.stop()?;
    assert_record_for_record(&bootstrap, &topics.input, &topics.output, UNDER_WAY)
}

/// Records of a copy [`copy_under_way`] starts.
const UNDER_WAY: usize = 6_000;

/// A copy under way: its topics, the producer still feeding its input, and
/// the running copier.
struct UnderWay {
    topics: Topics,
    producer: std::thread::JoinHandle<anyhow::Result<usize>>,
    running: support::Running,
}

/// Starts an exactly-once copy of [`UNDER_WAY`] records on fresh topics,
/// their input produced in 20 steps over about 6 s, and returns once a
/// third is copied and something committed.
fn copy_under_way(
    tokio: &tokio::runtime::Runtime,
    bootstrap: &str,
    label: &str,
) -> anyhow::Result<UnderWay> {
    let topics = Topics::unique();
    tokio.block_on(create_topics(bootstrap, &topics.all(), 3))?;
    let producer = produce_in_steps(
        bootstrap,
        &topics.input,
        ids(label, UNDER_WAY),
        20,
        Duration::from_millis(300),
    );
    let running = start(tokio, bootstrap, eos(), &topics)?;
    wait_until("a third copied", LIMIT, || {
        running.metrics.committed.get() > 0
            && running.metrics.records_in.get() >= UNDER_WAY as u64 / 3
    })?;
    Ok(UnderWay {
        topics,
        producer,
        running,
    })
}

/// Waits for the producer of [`copy_under_way`] to finish and for every
/// record to be copied.
fn produced_and_copied(
    producer: std::thread::JoinHandle<anyhow::Result<usize>>,
    bootstrap: &str,
    topics: &Topics,
) -> anyhow::Result<()> {
    let produced = producer
        .join()
        .map_err(|_| anyhow::anyhow!("producer panicked"))??;
    assert_eq!(produced, UNDER_WAY);
    wait_for_records(bootstrap, &topics.output, UNDER_WAY, LIMIT)
}

/// The high watermark of `topic`'s partition 0.
fn high_watermark(bootstrap: &str, topic: &str) -> anyhow::Result<i64> {
    let consumer: BaseConsumer = moneta_testkit::kafka::client(bootstrap).create()?;
    Ok(consumer
        .fetch_watermarks(topic, 0, Duration::from_secs(10))?
        .1)
}
