//! `moneta admin …`: the admin API, served or called, and `moneta seed-demo`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, anyhow};
use clap::Subcommand;
use moneta_admin::{AdminState, AdminToken, Operators};
use moneta_state::{Registry, StateStore};
use moneta_topology::Config;
use serde_json::Value;

use super::stop_signal;

/// Admin subcommands: each mirrors one admin API call.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Serve the admin API (`admin.listen`) until stopped.
    Serve,
    /// List a collection, or look entities up: `moneta admin list mpasses mo_id=m1 mpass_number=0001`.
    List {
        /// Collection (organizations, membership-organizations, publishers, mo-developers,
        /// publisher-developers, mpasses, billing-accounts, keys, webhook-endpoints,
        /// settlement-agreements, templates).
        collection: String,
        /// Lookup or paging parameters, `name=value`.
        params: Vec<String>,
    },
    /// Show one entity.
    Get {
        /// Collection.
        collection: String,
        /// Entity id.
        id: String,
    },
    /// Create an entity from a JSON file (`-` for stdin).
    Create {
        /// Collection.
        collection: String,
        /// JSON file.
        file: PathBuf,
    },
    /// Change an entity's status.
    Status {
        /// Collection.
        collection: String,
        /// Entity id.
        id: String,
        /// New status.
        status: String,
    },
    /// Change fields of an entity: a JSON merge patch, based on the revision
    /// the entity is at (`moneta admin get` shows it); status changes go
    /// through `status`.
    Patch {
        /// Collection.
        collection: String,
        /// Entity id.
        id: String,
        /// The revision the change is based on (refused if it moved on).
        #[arg(long)]
        revision: u64,
        /// The changes, a JSON object, e.g. '{"enabled": false}'.
        changes: String,
    },
    /// Revoke a partner key; it stops working at once.
    RevokeKey {
        /// Key id.
        id: String,
    },
    /// Print the digest of an operator's token (read from stdin) for
    /// `[admin.operators]`; the token itself never goes into configuration.
    TokenDigest,
    /// Upload a template version from its YAML file.
    UploadTemplate {
        /// Template YAML (see docs/templates.md).
        file: PathBuf,
    },
    /// Show the latest version of a template.
    LatestTemplate {
        /// Template name.
        name: String,
    },
}

/// Opens the configured state store.
pub async fn open_store(config: &Config) -> anyhow::Result<Arc<dyn StateStore>> {
    Ok(moneta_topology::services::open_store(config).await?)
}

/// Serves the admin API (and the console, with `live`: the stages and
/// metrics of the process it runs in) on `listener` until `stop` resolves.
pub async fn serve(
    config: &Config,
    listener: tokio::net::TcpListener,
    store: Arc<dyn StateStore>,
    live: moneta_admin::Live,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    if config.admin.token.0.is_empty() && config.admin.operators.is_empty() {
        tracing::warn!(
            "admin.token is empty and no admin.operators are named: the admin API refuses every request (set MONETA_ADMIN__TOKEN)"
        );
    }
    let mut operators = Operators::from(AdminToken::new(&config.admin.token.0));
    for (name, digest) in &config.admin.operators {
        operators = operators.with_named(name, digest)?;
    }
    let mut state = AdminState::new(Registry::new(store.clone()), operators);
    state.allow_http = config.webhooks.allow_http;
    state.uuid_ids = config.admin.uuid_ids;
    state.secure_cookies = config.admin.tls.is_some();
    state.live = live;
    state.logs = Some(crate::console::ConsoleLogs::shared(config, store.clone()));
    // The console verifies Moneta's countersignatures with its public keys.
    match moneta_topology::services::load_keys(config, false) {
        Ok((ring, _)) => state.moneta_keys = ring.published(),
        Err(error) => tracing::warn!(
            %error,
            "Moneta's signing keys are not readable here: the console cannot verify countersignatures"
        ),
    }
    let tls = config
        .admin
        .tls
        .as_ref()
        .map(moneta_tls::server_config)
        .transpose()
        .context("admin TLS")?;
    if let Some(tls) = tls {
        let mutual = config
            .admin
            .tls
            .as_ref()
            .is_some_and(|t| t.client_ca.is_some());
        tracing::info!(listen = %config.admin.listen, mutual, "admin API listening (TLS)");
        moneta_tls::serve(listener, moneta_admin::router(state), tls, stop).await;
        return Ok(());
    }
    tracing::info!(listen = %config.admin.listen, "admin API listening");
    axum::serve(listener, moneta_admin::router(state))
        .with_graceful_shutdown(stop)
        .await?;
    Ok(())
}

/// Runs an admin subcommand.
pub async fn execute(config: &Config, command: AdminCommand) -> anyhow::Result<ExitCode> {
    let client = Client::new(config)?;
    let shown = match command {
        AdminCommand::Serve => {
            let store = open_store(config).await?;
            let store = moneta_topology::changelog::logged(config, store)
                .await
                .context("registry changelog")?;
            let listener = crate::ops::bind("admin API", &config.admin.listen).await?;
            super::stages::serve_ops(config, &prometheus::Registry::new(), Some(store.clone()))
                .await?;
            let live = moneta_admin::Live::declared(super::stages::stage_summaries(config));
            serve(config, listener, store, live, stop_signal()).await?;
            return Ok(ExitCode::SUCCESS);
        }
        AdminCommand::List { collection, params } => {
            let query: Vec<(String, String)> = params
                .iter()
                .map(|p| p.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
                .collect::<Option<_>>()
                .ok_or_else(|| anyhow!("parameters are name=value"))?;
            client
                .call(
                    reqwest::Method::GET,
                    &format!("/{collection}"),
                    &query,
                    None,
                )
                .await?
        }
        AdminCommand::Get { collection, id } => {
            client
                .call(
                    reqwest::Method::GET,
                    &format!("/{collection}/{id}"),
                    &[],
                    None,
                )
                .await?
        }
        AdminCommand::Create { collection, file } => {
            let body: Value =
                serde_json::from_str(&read(&file)?).context("the file is not JSON")?;
            client
                .call(
                    reqwest::Method::POST,
                    &format!("/{collection}"),
                    &[],
                    Some(Body::Json(body)),
                )
                .await?
        }
        AdminCommand::Status {
            collection,
            id,
            status,
        } => {
            let body = serde_json::json!({ "status": status });
            client
                .call(
                    reqwest::Method::POST,
                    &format!("/{collection}/{id}/status"),
                    &[],
                    Some(Body::Json(body)),
                )
                .await?
        }
        AdminCommand::Patch {
            collection,
            id,
            revision,
            changes,
        } => {
            let changes: Value =
                serde_json::from_str(&changes).context("the changes must be a JSON object")?;
            client
                .call(
                    reqwest::Method::PATCH,
                    &format!("/{collection}/{id}"),
                    &[],
                    Some(Body::MergePatch { changes, revision }),
                )
                .await?
        }
        AdminCommand::RevokeKey { id } => {
            client
                .call(
                    reqwest::Method::POST,
                    &format!("/keys/{id}/revoke"),
                    &[],
                    None,
                )
                .await?
        }
        AdminCommand::TokenDigest => {
            let mut token = String::new();
            std::io::stdin()
                .read_line(&mut token)
                .context("reading the token from stdin")?;
            let token = token.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!token.is_empty(), "no token on stdin");
            println!("{}", moneta_admin::token_digest(token));
            return Ok(ExitCode::SUCCESS);
        }
        AdminCommand::UploadTemplate { file } => client.upload_template(&read(&file)?).await?,
        AdminCommand::LatestTemplate { name } => {
            client
                .call(
                    reqwest::Method::GET,
                    &format!("/templates/{name}/latest"),
                    &[],
                    None,
                )
                .await?
        }
    };
    println!("{}", serde_json::to_string_pretty(&shown)?);
    Ok(ExitCode::SUCCESS)
}

fn read(file: &PathBuf) -> anyhow::Result<String> {
    if file.as_os_str() == "-" {
        return Ok(std::io::read_to_string(std::io::stdin())?);
    }
    std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))
}

/// A request body.
pub enum Body {
    /// JSON.
    Json(Value),
    /// YAML text.
    Yaml(String),
    /// A JSON merge patch of the entity at `revision` (sent as `If-Match`).
    MergePatch {
        /// The changes.
        changes: Value,
        /// The revision they are based on.
        revision: u64,
    },
}

/// A client of the admin API at `admin.listen`, with `admin.token`.
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    /// A client for the configured admin API: HTTPS when `[admin.tls]` is
    /// set, trusting `[admin.client] ca` and presenting its `cert`/`key`.
    pub fn new(config: &Config) -> anyhow::Result<Self> {
        moneta_tls::install_crypto_provider();
        let listen = &config.admin.listen;
        if config.admin.tls.is_none() {
            return Ok(Self {
                http: reqwest::Client::new(),
                base: format!("http://{listen}/v1/admin"),
                token: config.admin.token.0.clone(),
            });
        }
        let client = config.admin.client.clone().unwrap_or_default();
        let identity = match (client.cert, client.key) {
            (Some(cert), Some(key)) => Some(moneta_tls::ClientIdentity { cert, key }),
            (None, None) => None,
            _ => anyhow::bail!("[admin.client] needs both cert and key"),
        };
        let tls = moneta_tls::client_config(client.ca.as_deref(), identity.as_ref())
            .context("[admin.client]")?;
        Ok(Self {
            http: reqwest::Client::builder()
                .tls_backend_preconfigured(tls)
                .build()?,
            base: format!("https://{listen}/v1/admin"),
            token: config.admin.token.0.clone(),
        })
    }

    /// Calls the API; a problem response becomes an error naming its code.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Body>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .query(query);
        request = match body {
            Some(Body::Json(json)) => request.json(&json),
            Some(Body::Yaml(yaml)) => request
                .header("content-type", "application/yaml")
                .body(yaml),
            Some(Body::MergePatch { changes, revision }) => request
                .header("content-type", "application/merge-patch+json")
                .header("if-match", format!("\"{revision}\""))
                .body(changes.to_string()),
            None => request,
        };
        let response = request.send().await.with_context(|| {
            format!(
                "calling the admin API at {} (is `moneta up` running?)",
                self.base
            )
        })?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(value);
        }
        Err(ApiProblem {
            status: status.as_u16(),
            body: value,
        }
        .into())
    }

    /// Uploads a template version, taking name and version from the YAML.
    pub async fn upload_template(&self, yaml: &str) -> anyhow::Result<Value> {
        let document = moneta_domain::TemplateDocument::parse(yaml)?;
        let path = format!("/templates/{}/versions/{}", document.name, document.version);
        self.call(
            reqwest::Method::PUT,
            &path,
            &[],
            Some(Body::Yaml(yaml.to_owned())),
        )
        .await
    }
}

/// A problem+json answer from the admin API.
#[derive(Debug, thiserror::Error)]
#[error("admin API answered {status}: {}: {}", body["code"].as_str().unwrap_or("?"), body["detail"].as_str().unwrap_or(""))]
pub struct ApiProblem {
    /// HTTP status.
    pub status: u16,
    /// The problem document.
    pub body: Value,
}

impl ApiProblem {
    /// The problem's stable code.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }
}
