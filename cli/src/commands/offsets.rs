//! `moneta offsets reset <stage> --to …`: moves a stage's committed input
//! offsets, like Kafka Streams' application reset tool. Refused while the
//! stage runs: its consumer group has members, or its instance's effect
//! ledger is open in another process on this machine.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail};
use clap::Args;
use moneta_kafka::watermarks;
use moneta_runtime::ProcessorSpec;
use moneta_topology::{Config, Topology};
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{Offset, TopicPartitionList};

/// `moneta offsets reset` options.
#[derive(Debug, Args)]
pub struct ResetArgs {
    /// The stage.
    stage: String,
    /// `earliest`, `latest`, an RFC 3339 time, or an offset (every partition).
    #[arg(long)]
    to: String,
    /// The stage instance whose state directory is checked.
    #[arg(long, default_value_t = 0)]
    instance: u32,
}

/// Runs `moneta offsets reset`.
pub async fn reset(config: &Config, args: ResetArgs) -> anyhow::Result<ExitCode> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || reset_blocking(&config, &args)).await?
}

fn reset_blocking(config: &Config, args: &ResetArgs) -> anyhow::Result<ExitCode> {
    let topology = Topology::new(config);
    let stage = topology.stage(&args.stage).ok_or_else(|| {
        anyhow!(
            "no stage named `{}`; stages: {}",
            args.stage,
            topology.stage_names().join(", ")
        )
    })?;
    let spec = ProcessorSpec {
        name: stage.name.to_owned(),
        inputs: stage.input_names(),
        dead_letter_topic: stage.dead_letter.clone(),
        instance: args.instance,
    };
    let group = moneta_runtime::group_id(&config.processing, &spec);
    let ledger_dir = config
        .state
        .dir
        .join(format!("{}-{}", stage.name, args.instance));
    if ledger_dir.exists() && moneta_state::EffectLedger::open(&ledger_dir).is_err() {
        bail!(
            "stage {} instance {} is running on this machine ({} is in use); stop it first",
            stage.name,
            args.instance,
            ledger_dir.display()
        );
    }
    let consumer: BaseConsumer = config
        .kafka
        .client_config()
        .set("group.id", &group)
        .set("enable.auto.commit", "false")
        .create()?;
    let timeout = Duration::from_secs(10);
    // With static membership a stopped instance stays a member until its
    // session times out: wait that long for the group to empty. A running
    // instance keeps its membership alive, and the reset is refused.
    let patience =
        Duration::from_millis(config.processing.session_timeout_ms) + Duration::from_secs(5);
    let deadline = Instant::now() + patience;
    let mut told = false;
    while let Some((members, state)) = members(&consumer, &group, timeout)? {
        if Instant::now() >= deadline {
            bail!(
                "consumer group {group} has {members} active member(s) (state {state}); stop stage {} first",
                stage.name
            );
        }
        if !told {
            eprintln!(
                "consumer group {group} has {members} member(s); waiting up to {} s for stopped instances to leave",
                patience.as_secs()
            );
            told = true;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let mut target = TopicPartitionList::new();
    let at_ms = moneta_processors::rules::parse_rfc3339(&args.to).map(|s| s * 1000);
    for topic in &stage.input_names() {
        for range in watermarks(&consumer, topic, timeout)? {
            let (partition, low, high) = (range.partition, range.start, range.end);
            let offset = match args.to.as_str() {
                "earliest" => Offset::Offset(low),
                "latest" => Offset::Offset(high),
                other => match (at_ms, other.parse::<i64>()) {
                    (Some(ms), _) => Offset::Offset(ms),
                    (None, Ok(n)) => Offset::Offset(n.clamp(low, high)),
                    _ => bail!("--to wants earliest, latest, an RFC 3339 time or an offset"),
                },
            };
            target.add_partition_offset(topic, partition, offset)?;
        }
    }
    if at_ms.is_some() {
        let found = consumer.offsets_for_times(target.clone(), timeout)?;
        for element in found.elements() {
            let offset = match element.offset() {
                Offset::Offset(o) => o,
                // No record at or after that time: the end of the partition.
                _ => {
                    consumer
                        .fetch_watermarks(element.topic(), element.partition(), timeout)?
                        .1
                }
            };
            target.set_partition_offset(
                element.topic(),
                element.partition(),
                Offset::Offset(offset),
            )?;
        }
    }
    consumer.commit(&target, CommitMode::Sync)?;
    for element in target.elements() {
        println!(
            "{group}: {}/{} -> {:?}",
            element.topic(),
            element.partition(),
            element.offset()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// The member count and state of `group`, or `None` when it has no members.
fn members(
    consumer: &BaseConsumer,
    group: &str,
    timeout: Duration,
) -> anyhow::Result<Option<(usize, String)>> {
    let groups = consumer
        .fetch_group_list(Some(group), timeout)
        .map_err(|e| {
            anyhow!("cannot tell whether group {group} has active members ({e}); refusing to reset")
        })?;
    Ok(groups
        .groups()
        .iter()
        .find(|g| g.name() == group && !g.members().is_empty())
        .map(|g| (g.members().len(), g.state().to_owned())))
}
