//! `moneta contracts …`: find contracts and read one, through the admin API.

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use moneta_topology::Config;
use serde_json::Value;

use super::admin::Client;

/// `moneta contracts …`.
#[derive(Debug, Subcommand)]
pub enum ContractsCommand {
    /// Contracts matching every given filter, oldest first.
    Search(Search),
    /// One contract.
    Get {
        /// The contract id.
        id: String,
    },
}

/// The filters of `moneta contracts search`.
#[derive(Debug, clap::Args)]
pub struct Search {
    /// MO party.
    #[arg(long)]
    mo: Option<String>,
    /// Publisher party.
    #[arg(long)]
    publisher: Option<String>,
    /// The mPass concerned.
    #[arg(long)]
    mpass: Option<String>,
    /// Contract type, e.g. `subscription_charge`.
    #[arg(long = "type")]
    contract_type: Option<String>,
    /// `pending`, `active`, `disputed`, `finalized` or `rejected`.
    #[arg(long)]
    status: Option<String>,
    /// Created at or after (RFC 3339, or Unix seconds).
    #[arg(long)]
    from: Option<String>,
    /// Created before (RFC 3339, or Unix seconds).
    #[arg(long)]
    to: Option<String>,
    /// Contracts per page (1–500).
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Where to start: a `next_cursor` from an earlier page.
    #[arg(long)]
    cursor: Option<String>,
    /// Follow the cursors to the last page and print every contract.
    #[arg(long)]
    all: bool,
}

/// Unix seconds of RFC 3339 text or a plain number.
fn seconds(text: &str) -> anyhow::Result<String> {
    if text.parse::<i64>().is_ok() {
        return Ok(text.to_owned());
    }
    moneta_processors::rules::parse_rfc3339(text)
        .map(|s| s.to_string())
        .ok_or_else(|| anyhow!("{text} is neither RFC 3339 nor Unix seconds"))
}

impl Search {
    fn query(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut query: Vec<(String, String)> = [
            ("mo", &self.mo),
            ("publisher", &self.publisher),
            ("mpass", &self.mpass),
            ("type", &self.contract_type),
            ("status", &self.status),
            ("cursor", &self.cursor),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_owned(), v)))
        .collect();
        for (name, value) in [("created_from", &self.from), ("created_to", &self.to)] {
            if let Some(value) = value {
                query.push((name.to_owned(), seconds(value)?));
            }
        }
        query.push(("limit".to_owned(), self.limit.to_string()));
        Ok(query)
    }
}

/// Runs `moneta contracts …`.
pub async fn contracts(config: &Config, command: ContractsCommand) -> anyhow::Result<ExitCode> {
    let client = Client::new(config)?;
    let get = reqwest::Method::GET;
    let shown = match command {
        ContractsCommand::Get { id } => {
            client
                .call(get, &format!("/contracts/{id}"), &[], None)
                .await?
        }
        ContractsCommand::Search(search) if search.all => {
            let mut query = search.query()?;
            let mut items = Vec::new();
            loop {
                let page = client.call(get.clone(), "/contracts", &query, None).await?;
                items.extend(page["items"].as_array().cloned().unwrap_or_default());
                let Some(next) = page["next_cursor"].as_str() else {
                    break;
                };
                query.retain(|(k, _)| k != "cursor");
                query.push(("cursor".to_owned(), next.to_owned()));
            }
            Value::Array(items)
        }
        ContractsCommand::Search(search) => client
            .call(get, "/contracts", &search.query()?, None)
            .await
            .context("searching contracts")?,
    };
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}
