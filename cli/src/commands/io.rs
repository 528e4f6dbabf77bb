//! `moneta produce` and `moneta consume`: quick ways to put records in and
//! look at what came out.

use std::io::BufRead;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use moneta_kafka::partition_ids;
use moneta_topology::Config;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Message, Offset, TopicPartitionList};

/// How long [`read_values`] may take.
const READ_LIMIT: Duration = Duration::from_secs(300);

/// Writes each stdin line as one record, keyed by its JSON `id` if it has one.
pub async fn produce(config: &Config, topic: &str) -> anyhow::Result<ExitCode> {
    let producer: FutureProducer = config
        .kafka
        .producer_config("moneta-produce-cli")
        .create()?;
    let lines: Vec<String> = std::io::stdin().lock().lines().collect::<Result<_, _>>()?;
    let mut sent = 0usize;
    for line in lines.iter().filter(|l| !l.trim().is_empty()) {
        let key = serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("id").and_then(|id| id.as_str().map(str::to_owned)));
        let mut record = FutureRecord::<String, String>::to(topic).payload(line);
        if let Some(key) = &key {
            record = record.key(key);
        }
        producer
            .send(record, Duration::from_secs(30))
            .await
            .map_err(|(e, _)| e)?;
        sent += 1;
    }
    eprintln!("produced {sent} record(s) to {topic}");
    Ok(ExitCode::SUCCESS)
}

/// Prints record values of every partition of `topic`, from the beginning.
pub async fn consume(
    config: &Config,
    topic: &str,
    count: Option<usize>,
    idle_secs: u64,
) -> anyhow::Result<ExitCode> {
    let config = config.clone();
    let topic = topic.to_owned();
    let handle = tokio::runtime::Handle::current();
    let codec = moneta_avro::AvroCodec::new(&config.schema_registry.effective_url())?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<ExitCode> {
        let consumer: BaseConsumer = config.kafka.reader_config("moneta-consume-cli").create()?;
        let mut assignment = TopicPartitionList::new();
        for partition in partition_ids(&consumer, &topic, Duration::from_secs(10))? {
            assignment.add_partition_offset(&topic, partition, Offset::Beginning)?;
        }
        consumer.assign(&assignment)?;
        let idle = Duration::from_secs(idle_secs);
        let mut last = Instant::now();
        let mut seen = 0usize;
        while count.is_none_or(|c| seen < c) && last.elapsed() < idle {
            if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                let message = message?;
                let payload = message.payload().unwrap_or_default();
                // Confluent-framed Avro (magic byte 0) is shown as JSON.
                let avro = match payload.first() {
                    Some(0) if payload.len() > 5 => {
                        handle.block_on(codec.decode_json(payload)).ok()
                    }
                    _ => None,
                };
                match avro {
                    Some(json) => println!("{json}"),
                    None => println!("{}", String::from_utf8_lossy(payload)),
                }
                seen += 1;
                last = Instant::now();
            }
        }
        eprintln!("consumed {seen} record(s) from {topic}");
        Ok(ExitCode::SUCCESS)
    })
    .await?
}

/// Every record value of `topic` from its first record to its end
/// (committed records only).
pub fn read_values(config: &Config, topic: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut values = Vec::new();
    moneta_kafka::read_to_end(
        &config.kafka,
        topic,
        "moneta-read-cli",
        READ_LIMIT,
        |message| {
            if let Some(payload) = message.payload() {
                values.push(payload.to_vec());
            }
        },
    )?;
    Ok(values)
}
