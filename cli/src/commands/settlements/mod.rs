//! `moneta settlements …`: what finance reads, and closing periods.
//!
//! - `export` reads the settlements topic (read-committed), keeps each
//!   settlement id once, and writes CSV or JSON, for a period range and
//!   optionally one party.
//! - `verify` recomputes from the ledger topic and compares it with the
//!   settlements ([`moneta_settlement::verify`]); exit 1 on a difference.
//! - `watermark` tells settle-aggregate that event time has reached a
//!   moment: a `WATERMARK` ledger entry on every partition closes every
//!   period whose end plus the grace period has passed, even for parties
//!   with no later activity.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use clap::{Subcommand, ValueEnum};
use moneta_avro::{
    AvroCodec, Contract, ContractStatus, LedgerEntry, Party, SchemaName, Settlement,
    SettlementComparison,
};
use moneta_kafka::partition_ids;
use moneta_settlement::Scope;
use moneta_topology::Config;
use rdkafka::producer::{FutureProducer, FutureRecord};

use super::io::read_values;

mod table;

use table::{Answer, Answers, Row};

/// Output formats of `export`.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// Comma-separated values, one row per settlement or adjustment.
    Csv,
    /// Apache Parquet (needs `--out`): the CSV's columns, minor units as INT64.
    Parquet,
    /// A JSON array.
    Json,
}

/// `moneta settlements …`.
#[derive(Debug, Subcommand)]
pub enum SettlementsCommand {
    /// Settlements (and adjustments) of a period range, de-duplicated by id.
    Export {
        /// `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD` (period starts, inclusive).
        #[arg(long)]
        period: String,
        /// Which party's settlements.
        #[command(flatten)]
        party: PartyFilter,
        /// Output format.
        #[arg(long, value_enum, default_value = "csv")]
        format: Format,
        /// Output file (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Recompute from the ledger topic and compare with the settlements:
    /// every ledger entry of a settled period counted exactly once, in the
    /// right period, with its amount; exit 1 on any difference.
    Verify {
        /// `YYYY-MM-DD` or `YYYY-MM-DD..YYYY-MM-DD` (period starts,
        /// inclusive); every period if omitted.
        #[arg(long)]
        period: Option<String>,
        /// Which party's settlements.
        #[command(flatten)]
        party: PartyFilter,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Advance the event-time watermark to `--at` (RFC 3339), closing due periods.
    Watermark {
        /// The event time reached.
        #[arg(long)]
        at: String,
    },
}

/// One party's settlements only (both: that pair's).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct PartyFilter {
    /// Only this MO's.
    #[arg(long)]
    mo: Option<String>,
    /// Only this publisher's.
    #[arg(long)]
    publisher: Option<String>,
}

/// The scope of `--period` (`None`: every period) and `party`.
fn scope(period: Option<&str>, party: PartyFilter) -> anyhow::Result<Scope> {
    let (from, to) = match period {
        None => ("0000-01-01", "9999-12-31"),
        Some(period) => period.split_once("..").unwrap_or((period, period)),
    };
    for day in [from, to] {
        moneta_processors::rules::parse_date(day).ok_or_else(|| {
            anyhow!(
                "--period wants YYYY-MM-DD[..YYYY-MM-DD], got {}",
                period.unwrap_or_default()
            )
        })?;
    }
    Ok(Scope {
        from: from.to_owned(),
        to: to.to_owned(),
        mo_id: party.mo,
        publisher_id: party.publisher,
    })
}

/// Runs `moneta settlements …`.
pub async fn execute(config: &Config, command: SettlementsCommand) -> anyhow::Result<ExitCode> {
    match command {
        SettlementsCommand::Export {
            period,
            party,
            format,
            out,
        } => export(config, &scope(Some(&period), party)?, format, out).await,
        SettlementsCommand::Verify {
            period,
            party,
            json,
        } => verify(config, &scope(period.as_deref(), party)?, json).await,
        SettlementsCommand::Watermark { at } => watermark(config, &at).await,
    }
}

/// Every record of `topic`, decoded as `schema`.
async fn read_all<T: serde::de::DeserializeOwned>(
    config: &Config,
    topic: &str,
    schema: SchemaName,
) -> anyhow::Result<Vec<T>> {
    let codec = AvroCodec::new(&config.schema_registry.effective_url())?;
    let (reader, topic) = (config.clone(), topic.to_owned());
    let values = tokio::task::spawn_blocking(move || read_values(&reader, &topic)).await??;
    let mut out = Vec::with_capacity(values.len());
    for value in values {
        out.push(codec.decode(schema, &value).await?);
    }
    Ok(out)
}

/// The settlements topic, each settlement id once (the first copy).
async fn read_settlements(config: &Config) -> anyhow::Result<BTreeMap<String, Settlement>> {
    let all: Vec<Settlement> = read_all(
        config,
        &config.contracts.topics.settlements,
        SchemaName::Settlement,
    )
    .await?;
    let mut unique = BTreeMap::new();
    for s in all {
        unique.entry(s.settlement_id.clone()).or_insert(s);
    }
    Ok(unique)
}

async fn verify(config: &Config, scope: &Scope, json: bool) -> anyhow::Result<ExitCode> {
    let ledger: Vec<LedgerEntry> = read_all(
        config,
        &config.contracts.topics.ledger,
        SchemaName::LedgerEntry,
    )
    .await?;
    let settlements: Vec<Settlement> = read_settlements(config).await?.into_values().collect();
    let v = moneta_settlement::verify(&ledger, &settlements, config.settlement.period, scope);
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "ledger: {} entries ({} minor units); settlements: {} and {} adjustments ({} minor units); \
             carried below the minimum: {} minor units; open periods: {} entries ({} minor units); differences: {}",
            v.ledger_entries,
            v.ledger_minor,
            v.settlements,
            v.adjustments,
            v.settled_minor,
            v.carried_minor,
            v.open_entries,
            v.open_minor,
            v.differences.len()
        );
        for d in &v.differences {
            println!("differs  {d}");
        }
    }
    Ok(if v.differences.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The settlements `scope` covers, each once, in (period, MO, publisher,
/// currency, id) order, with the parties' answers: the export's rows.
pub async fn collect(
    config: &Config,
    scope: Option<&Scope>,
) -> anyhow::Result<(Vec<Settlement>, Answers)> {
    let mut unique: BTreeMap<(String, String, String, String, String), Settlement> =
        BTreeMap::new();
    for s in read_settlements(config).await?.into_values() {
        if scope.is_some_and(|scope| !scope.covers(&s.mo_id, &s.publisher_id, &s.period_start)) {
            continue;
        }
        let key = (
            s.period_start.clone(),
            s.mo_id.clone(),
            s.publisher_id.clone(),
            s.currency.clone(),
            s.settlement_id.clone(),
        );
        unique.insert(key, s);
    }
    Ok((unique.into_values().collect(), read_answers(config).await?))
}

/// Every settlement, as the console shows it: rows by column name, and the CSV.
pub async fn export_all(config: &Config) -> anyhow::Result<moneta_admin::SettlementExport> {
    let (settlements, answers) = collect(config, None).await?;
    let rows: Vec<Row<'_>> = settlements.iter().map(|s| Row::new(s, &answers)).collect();
    let json = rows
        .iter()
        .map(|row| match serde_json::to_value(row)? {
            serde_json::Value::Object(map) => Ok(map),
            other => Err(anyhow!("a settlement row is not an object: {other}")),
        })
        .collect::<anyhow::Result<_>>()?;
    let comparisons: Vec<SettlementComparison> = read_all(
        config,
        &config.contracts.topics.settlement_comparisons,
        SchemaName::SettlementComparison,
    )
    .await?;
    let comparisons = comparisons
        .iter()
        .map(|c| match serde_json::to_value(c)? {
            serde_json::Value::Object(map) => Ok(map),
            other => Err(anyhow!("a comparison is not an object: {other}")),
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(moneta_admin::SettlementExport {
        rows: json,
        csv: table::csv(&rows),
        comparisons,
    })
}

async fn export(
    config: &Config,
    scope: &Scope,
    format: Format,
    out: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let (settlements, answers) = collect(config, Some(scope)).await?;
    let rows: Vec<Row<'_>> = settlements.iter().map(|s| Row::new(s, &answers)).collect();
    let bytes = match format {
        Format::Json => (serde_json::to_string_pretty(&rows)? + "\n").into_bytes(),
        Format::Csv => table::csv(&rows).into_bytes(),
        Format::Parquet if out.is_none() => bail!("--format parquet writes a file: give --out"),
        Format::Parquet => table::parquet(&rows)?,
    };
    match out {
        Some(path) => {
            std::fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            eprintln!(
                "wrote {} settlement record(s) to {}",
                rows.len(),
                path.display()
            );
        }
        None => std::io::stdout().write_all(&bytes)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The parties' answers to statements, from the countersigned contracts
/// (a later answer of a party replaces its earlier one).
async fn read_answers(config: &Config) -> anyhow::Result<Answers> {
    let contracts: Vec<Contract> = read_all(
        config,
        &config.contracts.topics.countersigned,
        SchemaName::Contract,
    )
    .await?;
    let mut answers = Answers::new();
    for c in contracts {
        if c.terms.contract_type != "settlement_statement" || c.status != ContractStatus::Finalized
        {
            continue;
        }
        let terms: serde_json::Value = serde_json::from_str(&c.terms.terms_json)?;
        let text = |f: &str| terms.get(f).and_then(|v| v.as_str()).map(str::to_owned);
        let Some(settlement_id) = text("settlement_id") else {
            continue;
        };
        for party in c.signatures.iter().map(|s| s.party) {
            if party == Party::Moneta {
                continue;
            }
            let answer = Answer {
                decision: text("decision").unwrap_or_default(),
                reason: text("reason"),
                contract_id: c.contract_id.clone(),
            };
            answers.insert((settlement_id.clone(), party), answer);
        }
    }
    Ok(answers)
}

async fn watermark(config: &Config, at: &str) -> anyhow::Result<ExitCode> {
    let at_ms = moneta_processors::rules::parse_rfc3339(at)
        .map(|s| s * 1000)
        .ok_or_else(|| anyhow!("--at wants an RFC 3339 time, got {at}"))?;
    let topic = config.contracts.topics.ledger.clone();
    let codec = AvroCodec::new(&config.schema_registry.effective_url())?;
    let entry = LedgerEntry::watermark(at_ms);
    let value = codec
        .encode(&topic, SchemaName::LedgerEntry, &entry)
        .await?;
    let key = codec.encode_key(&topic, "watermark").await?;
    let producer: FutureProducer = config
        .kafka
        .producer_config("moneta-settlements-cli")
        .create()?;
    let metadata_config = config.clone();
    let metadata_topic = topic.clone();
    let partitions = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<i32>> {
        let consumer: rdkafka::consumer::BaseConsumer =
            metadata_config.kafka.client_config().create()?;
        Ok(partition_ids(
            &consumer,
            &metadata_topic,
            Duration::from_secs(10),
        )?)
    })
    .await??;
    if partitions.is_empty() {
        bail!("topic {topic} has no partitions");
    }
    for partition in &partitions {
        producer
            .send(
                FutureRecord::to(&topic)
                    .partition(*partition)
                    .key(&key)
                    .payload(&value),
                Duration::from_secs(30),
            )
            .await
            .map_err(|(e, _)| e)?;
    }
    eprintln!(
        "watermark {at} written to {} partition(s) of {topic}",
        partitions.len()
    );
    Ok(ExitCode::SUCCESS)
}
