//! Stream time against the real broker: an instance started after another
//! one committed continues from the stream time the first one reached (kept
//! in the committed offsets' metadata, inside the transaction), so what a
//! processor decides by stream time is the same across restarts.

mod support;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use moneta_kafka::KafkaConfig;
use moneta_runtime::{Guarantee, Outcome, Output, ProcessError, Processor, Record};
use moneta_testkit::kafka::{create_topics, read_topic};
use rdkafka::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use support::{Topics, processing, start_with};

const LIMIT: Duration = Duration::from_secs(120);

/// Writes, per record, the stream time it saw: `id prior now`.
struct Probe {
    output: String,
}

impl Processor for Probe {
    type Input = String;

    fn decode(
        &self,
        record: &Arc<Record>,
    ) -> impl Future<Output = Result<String, ProcessError>> + Send + 'static {
        std::future::ready(Ok(String::from_utf8_lossy(
            record.payload.as_deref().unwrap_or_default(),
        )
        .into_owned()))
    }

    async fn process(&mut self, id: String, record: &Record) -> Result<Outcome, ProcessError> {
        let seen = |ms: Option<i64>| ms.map_or("-".to_owned(), |ms| ms.to_string());
        let line = format!(
            "{id} {} {}",
            seen(record.stream_time.prior_ms),
            seen(record.stream_time.now_ms)
        );
        Ok(Outcome::of(vec![Output {
            topic: self.output.clone(),
            key: None,
            payload: Some(line.into_bytes()),
            headers: vec![],
        }]))
    }
}

fn produce_at(bootstrap: &str, topic: &str, records: &[(&str, i64)]) -> anyhow::Result<()> {
    let producer: ThreadedProducer<DefaultProducerContext> = KafkaConfig::new(bootstrap)
        .producer_config("stream-time-test")
        .create()?;
    for (id, ts) in records {
        producer
            .send(
                BaseRecord::<(), [u8]>::to(topic)
                    .payload(id.as_bytes())
                    .timestamp(*ts),
            )
            .map_err(|(e, _)| e)?;
    }
    producer.flush(Duration::from_secs(30))?;
    Ok(())
}

fn lines(bootstrap: &str, topic: &str, n: usize) -> anyhow::Result<Vec<String>> {
    Ok(read_topic(bootstrap, topic, n, Duration::from_secs(30))?
        .iter()
        .filter_map(|r| r.payload().map(|p| String::from_utf8_lossy(p).into_owned()))
        .collect())
}

#[test]
fn a_restarted_instance_continues_from_the_committed_stream_time() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let tokio = tokio::runtime::Runtime::new()?;
    let topics = Topics::unique();
    tokio.block_on(create_topics(&bootstrap, &topics.all(), 1))?;
    let config = processing(Guarantee::ExactlyOnce);
    let probe = || Probe {
        output: topics.output.clone(),
    };

    produce_at(
        &bootstrap,
        &topics.input,
        &[("a", 1_000), ("b", 5_000), ("c", 3_000)],
    )?;
    let mut first = start_with(&tokio, &bootstrap, config.clone(), &topics, probe())?;
    first.wait_for("3 records", LIMIT, |m, _| m.records_in.get() >= 3)?;
    first.stop()?;
    assert_eq!(
        lines(&bootstrap, &topics.output, 3)?,
        ["a - 1000", "b 1000 5000", "c 5000 5000"]
    );

    // A new instance of the same group: the stream time (5000) is not in
    // any record it reads, only in what the first one committed.
    produce_at(&bootstrap, &topics.input, &[("d", 4_000), ("e", 9_000)])?;
    let mut second = start_with(&tokio, &bootstrap, config, &topics, probe())?;
    second.wait_for("2 records", LIMIT, |m, _| m.records_in.get() >= 2)?;
    second.stop()?;
    assert_eq!(
        lines(&bootstrap, &topics.output, 5)?,
        [
            "a - 1000",
            "b 1000 5000",
            "c 5000 5000",
            "d 5000 5000",
            "e 5000 9000"
        ]
    );
    Ok(())
}
