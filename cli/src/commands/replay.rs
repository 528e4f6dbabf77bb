//! `moneta replay`: re-inject records of any topic (dead-letter topics
//! included) into a stage's input, selected by partition and offset range,
//! time range or contract id.
//!
//! Replays never double an effect: every effect is keyed by a deterministic
//! id. For contract events the tool also asks the admin API whether each
//! event was already applied, and reports how many were.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure};
use clap::Args;
use moneta_avro::{AvroCodec, ContractEvent, Party, SchemaName};
use moneta_kafka::TopicReader;
use moneta_runtime::Record;
use moneta_topology::Config;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::admin::{ApiProblem, Client};

/// `moneta replay` options.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Topic to read.
    #[arg(long)]
    from: String,
    /// Topic to write; default: each dead-letter record's source topic.
    #[arg(long)]
    to: Option<String>,
    /// Only this partition.
    #[arg(long)]
    partition: Option<i32>,
    /// First offset (inclusive; with --partition).
    #[arg(long, requires = "partition")]
    from_offset: Option<i64>,
    /// Last offset (inclusive; with --partition).
    #[arg(long, requires = "partition")]
    to_offset: Option<i64>,
    /// Only records at or after this time (RFC 3339).
    #[arg(long)]
    since: Option<String>,
    /// Only records before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
    /// Only records of this contract (the record key).
    #[arg(long)]
    contract: Option<String>,
    /// Print what would be replayed; write nothing.
    #[arg(long)]
    dry_run: bool,
}

fn time_ms(text: &Option<String>) -> anyhow::Result<Option<i64>> {
    text.as_deref()
        .map(|t| {
            moneta_processors::rules::parse_rfc3339(t)
                .map(|s| s * 1000)
                .ok_or_else(|| anyhow!("{t} is not RFC 3339"))
        })
        .transpose()
}

/// Which records of which topic to read.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The topic.
    pub from: String,
    /// Only this partition.
    pub partition: Option<i32>,
    /// First offset, inclusive.
    pub from_offset: Option<i64>,
    /// Last offset, inclusive.
    pub to_offset: Option<i64>,
    /// Only the last this many records of each partition.
    pub tail: Option<i64>,
}

/// How long one metadata or offset request may take.
const TIMEOUT: Duration = Duration::from_secs(10);
/// How long reading the selected records may take.
const READ_LIMIT: Duration = Duration::from_secs(300);

/// Reads the selected partitions from their start offsets to their current
/// ends (blocking).
pub fn read(
    config: &Config,
    args: &Selection,
    since_ms: Option<i64>,
) -> anyhow::Result<Vec<Record>> {
    let reader = TopicReader::new(&config.kafka, &args.from, "moneta-replay-cli")?;
    let mut ranges = reader.partitions(TIMEOUT)?;
    if let Some(partition) = args.partition {
        ranges.retain(|r| r.partition == partition);
        ensure!(
            !ranges.is_empty(),
            "topic {} has no partition {partition}",
            args.from
        );
    }
    for range in &mut ranges {
        range.end = args.to_offset.map_or(range.end, |o| (o + 1).min(range.end));
        range.start = args.from_offset.unwrap_or(range.start).max(range.start);
        if let Some(tail) = args.tail {
            range.start = range.start.max(range.end - tail);
        }
    }
    if let Some(since) = since_ms {
        reader.start_at_time(&mut ranges, since, TIMEOUT)?;
    }
    let mut out = Vec::new();
    reader.read(&ranges, READ_LIMIT, |message| {
        out.push(moneta_runtime::Record::from_message(message))
    })?;
    Ok(out)
}

/// The `(partner, event id)` of a contract event's value, if it is one.
pub async fn event_of(codec: &AvroCodec, value: &[u8]) -> Option<(String, String)> {
    let event = codec
        .decode::<ContractEvent>(SchemaName::ContractEvent, value)
        .await
        .ok()?;
    let partner = match event.signature.party {
        Party::Mo => event.contract.mo_id,
        Party::Publisher => event.contract.publisher_id,
        Party::Moneta => return None,
    };
    Some((partner, event.event_id))
}

/// Whether a contract event was already applied: `Some(true|false)`, or
/// `None` if the value is not a contract event.
async fn applied(codec: &AvroCodec, client: &Client, value: &[u8]) -> anyhow::Result<Option<bool>> {
    let Some((partner, event_id)) = event_of(codec, value).await else {
        return Ok(None);
    };
    let path = format!("/events/{partner}/{event_id}");
    match client.call(reqwest::Method::GET, &path, &[], None).await {
        Ok(record) => Ok(Some(record["steps"].as_array().is_some_and(|steps| {
            steps
                .iter()
                .any(|s| s["state"] == "validated" || s["state"] == "rejected")
        }))),
        Err(e)
            if e.downcast_ref::<ApiProblem>()
                .is_some_and(|p| p.status == 404) =>
        {
            Ok(Some(false))
        }
        Err(e) => Err(e),
    }
}

/// Runs `moneta replay`.
pub async fn replay(config: &Config, args: ReplayArgs) -> anyhow::Result<ExitCode> {
    let (since, until) = (time_ms(&args.since)?, time_ms(&args.until)?);
    let codec = AvroCodec::new(&config.schema_registry.effective_url())?;
    let reader = config.clone();
    let selection = Selection {
        from: args.from.clone(),
        partition: args.partition,
        from_offset: args.from_offset,
        to_offset: args.to_offset,
        tail: None,
    };
    let records = tokio::task::spawn_blocking(move || read(&reader, &selection, since)).await??;
    let client = Client::new(config)?;
    let producer: FutureProducer = config.kafka.producer_config("moneta-replay-cli").create()?;
    let (mut selected, mut emitted, mut already, mut fresh, mut unknown) = (0, 0, 0, 0, 0);
    for record in records {
        if until.is_some_and(|u| record.timestamp_ms.is_some_and(|t| t >= u)) {
            continue;
        }
        if let Some(contract) = &args.contract {
            let key = match &record.key {
                Some(k) => codec
                    .decode_key(k)
                    .await
                    .unwrap_or_else(|_| String::from_utf8_lossy(k).into_owned()),
                None => String::new(),
            };
            if key != *contract {
                continue;
            }
        }
        selected += 1;
        let target = match (&args.to, source_topic(&record)) {
            (Some(to), _) => to.clone(),
            (None, Some(source)) => source,
            (None, None) => bail!(
                "record {}/{} is not a dead letter: give --to",
                record.partition,
                record.offset
            ),
        };
        match record.payload.as_deref() {
            Some(value) => match applied(&codec, &client, value).await? {
                Some(true) => already += 1,
                Some(false) => fresh += 1,
                None => unknown += 1,
            },
            None => unknown += 1,
        }
        if args.dry_run {
            println!(
                "would replay {}/{}/{} -> {target}",
                args.from, record.partition, record.offset
            );
            continue;
        }
        reinject(&producer, &record, &target).await?;
        emitted += 1;
    }
    let verb = if args.dry_run {
        "would re-emit"
    } else {
        "re-emitted"
    };
    println!(
        "{selected} record(s) selected from {}; {verb} {}; already applied (recognised, no new effect): {already}; not yet applied: {fresh}; not contract events: {unknown}",
        args.from,
        if args.dry_run { selected } else { emitted },
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes `record` to `target` as it was, without the dead-letter headers.
pub async fn reinject(
    producer: &FutureProducer,
    record: &Record,
    target: &str,
) -> anyhow::Result<()> {
    let mut headers = OwnedHeaders::new();
    for (name, value) in record
        .headers
        .iter()
        .filter(|(n, _)| !n.starts_with("moneta.dlq."))
    {
        headers = headers.insert(Header {
            key: name,
            value: value.as_deref(),
        });
    }
    let mut out = FutureRecord::<[u8], [u8]>::to(target).headers(headers);
    if let Some(key) = record.key.as_deref() {
        out = out.key(key);
    }
    if let Some(value) = record.payload.as_deref() {
        out = out.payload(value);
    }
    producer
        .send(out, Duration::from_secs(30))
        .await
        .map_err(|(e, _)| e)?;
    Ok(())
}

/// The topic a dead letter's record failed on.
pub fn source_topic(record: &Record) -> Option<String> {
    header(record, moneta_runtime::dead_letter::SOURCE_TOPIC)
}

/// The text of header `name`.
pub fn header(record: &Record, name: &str) -> Option<String> {
    record
        .header(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}
