//! What one poll returns is decoded at once, on the runtime's decode
//! threads, then processed in order; a transient failure in the middle of
//! a poll commits what came before it and reads the rest again: nothing is
//! lost, nothing written twice, nothing dead-lettered. Decodes and
//! processing run at the configured niceness.

mod support;

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use moneta_runtime::{Guarantee, Outcome, ProcessError, Processor, Record};
use moneta_testkit::kafka::{assert_record_for_record, create_topics, produce_ids, read_topic};
use support::{Echo, Topics, echo_id, ids, processing, start_with};

const LIMIT: Duration = Duration::from_secs(30);

/// [`Echo`] whose decode takes a millisecond of a worker and counts how many
/// run at once, and whose `process` fails as a store that is down would, the
/// first time it meets each id of `flaky`.
struct Slow {
    echo: Echo,
    /// Nice values of the threads decodes and `process` ran on.
    niceness: Arc<std::sync::Mutex<HashSet<i32>>>,
    running: Arc<AtomicUsize>,
    most_at_once: Arc<AtomicUsize>,
    flaky: HashSet<String>,
    failures: Arc<AtomicUsize>,
}

impl Processor for Slow {
    type Input = String;

    const PARALLEL_DECODE: bool = true;

    fn decode(
        &self,
        record: &Arc<Record>,
    ) -> impl Future<Output = Result<String, ProcessError>> + Send + 'static {
        let running = Arc::clone(&self.running);
        let most_at_once = Arc::clone(&self.most_at_once);
        let id = echo_id(record);
        let niceness = Arc::clone(&self.niceness);
        async move {
            niceness
                .lock()
                .expect("lock")
                .insert(moneta_runtime::niceness_of_this_thread());
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most_at_once.fetch_max(now, Ordering::SeqCst);
            // Work that holds its thread, as verifying a signature does.
            std::thread::sleep(Duration::from_millis(1));
            running.fetch_sub(1, Ordering::SeqCst);
            Ok(id?)
        }
    }

    async fn process(&mut self, id: String, record: &Record) -> Result<Outcome, ProcessError> {
        self.niceness
            .lock()
            .expect("lock")
            .insert(moneta_runtime::niceness_of_this_thread());
        if self.flaky.remove(&id) {
            self.failures.fetch_add(1, Ordering::SeqCst);
            return Err(ProcessError::transient(std::io::Error::other(
                "the store is down",
            )));
        }
        self.echo.process(id, record).await
    }
}

#[test]
fn a_poll_is_decoded_at_once_processed_in_order_and_a_transient_failure_in_it_loses_and_repeats_nothing()
-> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    tokio.block_on(create_topics(&bootstrap, &topics.all(), 3))?;
    let input = ids("poll", 2_000);
    produce_ids(&bootstrap, &topics.input, input.clone())?;
    let flaky: HashSet<String> = input.iter().step_by(100).cloned().collect();
    let failures = Arc::new(AtomicUsize::new(0));
    let most_at_once = Arc::new(AtomicUsize::new(0));
    let niceness = Arc::new(std::sync::Mutex::new(HashSet::new()));
    let slow = Slow {
        niceness: Arc::clone(&niceness),
        echo: Echo {
            output: topics.output.clone(),
        },
        running: Arc::new(AtomicUsize::new(0)),
        most_at_once: Arc::clone(&most_at_once),
        flaky: flaky.clone(),
        failures: Arc::clone(&failures),
    };
    let mut config = processing(Guarantee::ExactlyOnce);
    config.retry_backoff_ms = 10;
    config.thread_niceness = 3;

    let mut running = start_with(&tokio, &bootstrap, config, &topics, slow)?;
    running.wait_for("2000 records committed", LIMIT, |m, ledger| {
        ledger.len().is_ok_and(|n| n >= 2_000) && m.records_in.get() >= 2_000
    })?;
    running.stop()?;

    // Every record once, each partition in its input order.
    assert_record_for_record(&bootstrap, &topics.input, &topics.output, 2_000)?;
    assert_eq!(failures.load(Ordering::SeqCst), flaky.len());
    let dead = read_topic(&bootstrap, &topics.dlq, usize::MAX, Duration::from_secs(3))?;
    assert!(dead.is_empty(), "{} records dead-lettered", dead.len());
    assert!(
        most_at_once.load(Ordering::SeqCst) >= 2,
        "decodes never ran at once (at most {})",
        most_at_once.load(Ordering::SeqCst)
    );
    // Decodes and the processor yield the cores to the edge's threads.
    assert_eq!(*niceness.lock().expect("lock"), HashSet::from([3]));
    Ok(())
}
