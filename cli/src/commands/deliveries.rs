//! `moneta deliveries …` (the webhook delivery log) and
//! `moneta webhooks redeliver …`, through the admin API.

use std::process::ExitCode;

use anyhow::{anyhow, bail};
use clap::Subcommand;
use moneta_topology::Config;
use serde_json::{Value, json};

use super::admin::{Body, Client};

/// Which deliveries or attempts to show (exactly one).
#[derive(Debug, clap::Args)]
pub struct Filter {
    /// Of this contract.
    #[arg(long)]
    contract: Option<String>,
    /// To this endpoint.
    #[arg(long)]
    endpoint: Option<String>,
    /// In this state (`pending`, `delivered`, `failed`; deliveries only).
    #[arg(long)]
    state: Option<String>,
}

impl Filter {
    fn query(&self) -> anyhow::Result<Vec<(String, String)>> {
        let given: Vec<(String, String)> = [
            ("contract_id", &self.contract),
            ("endpoint_id", &self.endpoint),
            ("state", &self.state),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
        .collect();
        if given.len() != 1 {
            bail!("give exactly one of --contract, --endpoint, --state");
        }
        Ok(given)
    }
}

/// `moneta deliveries …`.
#[derive(Debug, Subcommand)]
pub enum DeliveriesCommand {
    /// Deliveries, oldest first.
    List(Filter),
    /// Attempts of one delivery, or of a contract's or endpoint's deliveries.
    Attempts {
        /// A delivery id (`msg_…`).
        id: Option<String>,
        #[command(flatten)]
        filter: Filter,
    },
}

/// `moneta webhooks …`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Deliver again: one delivery by id, or every failed delivery created
    /// between `--from` and `--to` (RFC 3339 or ms since the epoch).
    Redeliver {
        /// A delivery id (`msg_…`).
        id: Option<String>,
        /// Start of the range (inclusive).
        #[arg(long, requires = "to")]
        from: Option<String>,
        /// End of the range (exclusive).
        #[arg(long, requires = "from")]
        to: Option<String>,
        /// Only this endpoint's deliveries (with a range).
        #[arg(long)]
        endpoint: Option<String>,
    },
}

/// Runs `moneta deliveries …`.
pub async fn deliveries(config: &Config, command: DeliveriesCommand) -> anyhow::Result<ExitCode> {
    let client = Client::new(config)?;
    let get = reqwest::Method::GET;
    let shown = match command {
        DeliveriesCommand::List(filter) => {
            client
                .call(get, "/deliveries", &filter.query()?, None)
                .await?
        }
        DeliveriesCommand::Attempts { id: Some(id), .. } => {
            client
                .call(get, &format!("/deliveries/{id}/attempts"), &[], None)
                .await?
        }
        DeliveriesCommand::Attempts { id: None, filter } => {
            client
                .call(get, "/delivery-attempts", &filter.query()?, None)
                .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}

/// Runs `moneta webhooks …`.
pub async fn webhooks(config: &Config, command: WebhooksCommand) -> anyhow::Result<ExitCode> {
    let client = Client::new(config)?;
    let post = reqwest::Method::POST;
    let WebhooksCommand::Redeliver {
        id,
        from,
        to,
        endpoint,
    } = command;
    let shown: Value = match (id, from, to) {
        (Some(id), None, None) => {
            client
                .call(post, &format!("/deliveries/{id}/redeliver"), &[], None)
                .await?
        }
        (None, Some(from), Some(to)) => {
            let body = json!({"from_ms": instant_ms(&from)?, "to_ms": instant_ms(&to)?, "endpoint_id": endpoint});
            client
                .call(post, "/deliveries/redeliver", &[], Some(Body::Json(body)))
                .await?
        }
        _ => bail!("give a delivery id, or --from and --to"),
    };
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}

/// Milliseconds since the epoch of RFC 3339 text or a plain number.
fn instant_ms(text: &str) -> anyhow::Result<i64> {
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    moneta_processors::rules::parse_rfc3339(text)
        .map(|s| s * 1000)
        .ok_or_else(|| anyhow!("{text} is neither RFC 3339 nor milliseconds since the epoch"))
}
