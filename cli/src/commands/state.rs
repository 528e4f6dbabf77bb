//! `moneta state …`: the state store's digest, and rebuilding the embedded
//! store from the log (see `moneta_topology::rebuild`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use moneta_state::rebuild::{StateDigest, digest};
use moneta_state::{EmbeddedStore, StateStore, StoreError};
use moneta_topology::Config;
use moneta_topology::config::StateBackend;
use moneta_topology::rebuild::{RebuildOptions, rebuild};
use moneta_topology::services::{self, load_keys};

use super::stages::serve_registry;

/// State subcommands.
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// Print the state store's digest: a SHA-256 per table and a total.
    Digest {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Rebuild the state store from the log (Moneta stopped): the embedded
    /// store beside the current one, swapped in when the digests agree; on
    /// CQL, into another keyspace (`--into`) that the configuration can
    /// then name.
    Rebuild(RebuildArgs),
}

/// `moneta state rebuild` options.
#[derive(Debug, Args)]
pub struct RebuildArgs {
    /// Rebuild beside the current store and compare digests; swap nothing.
    #[arg(long)]
    dry_run: bool,
    /// Swap the rebuilt store in even if its digest differs from the current one's.
    #[arg(long)]
    force: bool,
    /// Go on even if a financial topic lost records to retention (the event
    /// topics may: contract rows come from the contract changelog).
    #[arg(long)]
    allow_truncated: bool,
    /// CQL backend: the keyspace to rebuild into (dropped first); by default
    /// `<state.scylla_keyspace>_rebuilt`.
    #[arg(long)]
    into: Option<String>,
}

/// Runs a state subcommand.
pub async fn execute(config: &Config, command: StateCommand) -> anyhow::Result<ExitCode> {
    match command {
        StateCommand::Digest { json } => {
            let store = open_store(config).await?;
            let digest = digest(store.as_ref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&digest)?);
            } else {
                print_digest(&digest);
            }
            Ok(ExitCode::SUCCESS)
        }
        StateCommand::Rebuild(args) => rebuild_command(config, args).await,
    }
}

/// Opens the configured store, with a clear error if another process holds it.
async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn StateStore>> {
    if config.state.backend != StateBackend::Embedded {
        return Ok(services::open_store(config).await?);
    }
    match EmbeddedStore::open(&config.state.dir.join("registry")) {
        Ok(store) => Ok(Arc::new(store)),
        Err(StoreError::InUse(path)) => bail!(
            "the state store {path} is in use: stop `moneta up` (and any `moneta run` or \
             `moneta admin serve` on this state directory) first"
        ),
        Err(error) => Err(error.into()),
    }
}

fn print_digest(digest: &StateDigest) {
    for table in &digest.tables {
        println!("{:<24} {:>8}  {}", table.table, table.rows, table.sha256);
    }
    println!("{:<24} {:>8}  {}", "total", "", digest.total);
}

/// The first `registry.before-rebuild-<n>` directory not taken yet.
fn backup_dir(state_dir: &Path) -> PathBuf {
    (1u32..)
        .map(|n| state_dir.join(format!("registry.before-rebuild-{n}")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| state_dir.join("registry.before-rebuild"))
}

async fn rebuild_command(config: &Config, args: RebuildArgs) -> anyhow::Result<ExitCode> {
    match config.state.backend {
        StateBackend::Embedded => rebuild_embedded(config, args).await,
        StateBackend::Scylla => rebuild_cql(config, args).await,
    }
}

/// Rebuilds the CQL state into another keyspace, from the log and the
/// current keyspace's carried records, and compares the digests. Nothing is
/// swapped: the configuration names the keyspace Moneta uses.
async fn rebuild_cql(config: &Config, args: RebuildArgs) -> anyhow::Result<ExitCode> {
    let nodes = &config.state.scylla_nodes;
    let live = &config.state.scylla_keyspace;
    let target = args
        .into
        .clone()
        .unwrap_or_else(|| format!("{live}_rebuilt"));
    if &target == live {
        bail!("--into names the keyspace in use ({live}); rebuild into another one");
    }
    let old = open_store(config).await?;
    moneta_state_scylla::ScyllaStore::drop_keyspace(nodes, &target)
        .await
        .with_context(|| format!("dropping the old {target} at {nodes}"))?;
    let fresh: Arc<dyn StateStore> = Arc::new(
        moneta_state_scylla::ScyllaStore::connect(nodes, &target)
            .await
            .with_context(|| format!("creating {target} at {nodes}"))?,
    );
    let differences = rebuild_and_compare(config, &args, fresh, Some(old)).await?;
    if differences.is_empty() {
        println!(
            "rebuilt into keyspace {target}; to use it, set state.scylla_keyspace = \"{target}\""
        );
        Ok(ExitCode::SUCCESS)
    } else {
        println!("rebuilt into keyspace {target}; keyspace {live} is unchanged");
        Ok(ExitCode::FAILURE)
    }
}

/// Rebuilds `fresh` from the log (carrying what the log does not hold from
/// `old`), prints the report and both digests; the tables that differ.
async fn rebuild_and_compare(
    config: &Config,
    args: &RebuildArgs,
    fresh: Arc<dyn StateStore>,
    old: Option<Arc<dyn StateStore>>,
) -> anyhow::Result<Vec<String>> {
    serve_registry(config).await?;
    let (keys, _) = load_keys(config, false)?;
    let services = services::services(config, fresh.clone(), keys)?;
    let options = RebuildOptions {
        allow_truncated: args.allow_truncated,
    };
    let report = rebuild(config, &services, old.clone(), options)
        .await
        .context("rebuilding the state from the log")?;
    drop(services);
    println!(
        "registry    {} record(s) from {}",
        report.registry, config.state.registry_topic
    );
    println!(
        "contracts   {} row(s) from {}",
        report.contracts, config.contracts.topics.contract_changelog
    );
    for start in &report.truncated_events {
        println!("retention   {start} (events before it are gone)");
    }
    if !report.truncated_events.is_empty() {
        println!(
            "carried     {} event record(s) whose submission is gone from the log, from the old store",
            report.carried_events
        );
    }
    for (kind, count) in &report.carried {
        println!("carried     {count} {kind} record(s) from the old store");
    }
    println!(
        "carried     {} delivered step(s) of event records from the old store",
        report.delivered_steps
    );
    for stage in &report.stages {
        println!(
            "replayed    {}: {} record(s), {} rejected",
            stage.stage, stage.records, stage.rejected
        );
    }
    let rebuilt = digest(fresh.as_ref()).await?;
    drop(fresh);
    let before = match &old {
        Some(old) => Some(digest(old.as_ref()).await?),
        None => None,
    };
    drop(old);
    println!("rebuilt state digest:");
    print_digest(&rebuilt);
    let differences = before
        .as_ref()
        .map(|b| b.differences(&rebuilt))
        .unwrap_or_default();
    if let Some(before) = &before {
        println!("current state digest: {}", before.total);
        if differences.is_empty() {
            println!("digests are equal");
        } else {
            println!("digests differ in: {}", differences.join(", "));
        }
    }
    Ok(differences)
}

/// Rebuilds the embedded store beside the current one and swaps it in.
async fn rebuild_embedded(config: &Config, args: RebuildArgs) -> anyhow::Result<ExitCode> {
    let state_dir = &config.state.dir;
    let live_dir = state_dir.join("registry");
    let live_file = live_dir.join("state.redb");
    let scratch = state_dir.join("registry.rebuild");
    let old: Option<Arc<dyn StateStore>> = if live_file.exists() {
        match EmbeddedStore::open(&live_dir) {
            Ok(store) => Some(Arc::new(store)),
            Err(StoreError::InUse(path)) => bail!(
                "the state store {path} is in use: stop `moneta up` (and any `moneta run` or \
                 `moneta admin serve` on this state directory) before rebuilding"
            ),
            Err(error) => bail!(
                "cannot open the state store {}: {error}; to rebuild without it (webhook \
                 deliveries and attempts, idempotency keys and nonces are then lost), move it \
                 aside and run the rebuild again",
                live_file.display()
            ),
        }
    } else {
        println!(
            "no state store at {}: rebuilding from the log alone",
            live_file.display()
        );
        None
    };
    if scratch.exists() {
        std::fs::remove_dir_all(&scratch)
            .with_context(|| format!("removing the leftover {}", scratch.display()))?;
    }
    let fresh: Arc<dyn StateStore> = Arc::new(
        EmbeddedStore::open(&scratch).with_context(|| format!("creating {}", scratch.display()))?,
    );
    let differences = rebuild_and_compare(config, &args, fresh, old).await?;
    if args.dry_run {
        std::fs::remove_dir_all(&scratch)?;
        println!("dry run: the current store is unchanged");
        return Ok(if differences.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    if !differences.is_empty() && !args.force {
        eprintln!(
            "moneta: not swapped in: the rebuilt store (kept in {}) differs from the current one; \
             `--force` swaps it in anyway",
            scratch.display()
        );
        return Ok(ExitCode::FAILURE);
    }
    swap(state_dir, &live_dir, &scratch)?;
    Ok(ExitCode::SUCCESS)
}

/// Puts the rebuilt store in place: the current file is hard-linked into a
/// backup directory, then the rebuilt file is renamed over it, so
/// `registry/state.redb` is at every moment either the old or the new store.
fn swap(state_dir: &Path, live_dir: &Path, scratch: &Path) -> anyhow::Result<()> {
    let live_file = live_dir.join("state.redb");
    std::fs::create_dir_all(live_dir)?;
    if live_file.exists() {
        let backup = backup_dir(state_dir);
        std::fs::create_dir_all(&backup)?;
        std::fs::hard_link(&live_file, backup.join("state.redb"))
            .with_context(|| format!("backing up {}", live_file.display()))?;
        println!("backup      {}", backup.join("state.redb").display());
    }
    std::fs::rename(scratch.join("state.redb"), &live_file)
        .with_context(|| format!("moving the rebuilt store to {}", live_file.display()))?;
    std::fs::File::open(live_dir)?.sync_all()?;
    std::fs::remove_dir_all(scratch)?;
    println!(
        "swapped     the rebuilt store is now {}",
        live_file.display()
    );
    Ok(())
}
