//! `console`: how long the operator console takes to render its pages with
//! a large store (100,000 contracts by default, every one signed by both
//! parties and Moneta, plus deliveries), in process through the admin
//! router, on the embedded store. Target: every page within 200 ms.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use moneta_admin::{AdminState, AdminToken, router};
use moneta_domain::{
    Contract, ContractStatus, Delivery, EventLogEntry, KeyAlgorithm, PartnerKey, Signature,
    WebhookEndpoint,
};
use moneta_signing::{PublishedKey, SigningKey, sign_ed25519};
use moneta_state::{ContractKeys, ContractWrite, Deliveries, EmbeddedStore, Registry, StateStore};
use serde::Serialize;
use tower::ServiceExt;

use crate::machine::{Commit, Machine, UtcTime, context, load_average};

const TOKEN: &str = "console-benchmark";
/// The target of every page, ms.
const TARGET_MS: f64 = 200.0;
/// Parties' pairs the contracts are spread over.
const PAIRS: usize = 50;
/// The first contract's creation, Unix seconds (2026-09-01).
const FIRST: i64 = 1_788_220_800;

/// Options of `console`.
pub struct Options {
    /// Contracts in the store.
    pub contracts: usize,
    /// Timed requests per page.
    pub samples: usize,
    /// Where the results go.
    pub out: PathBuf,
}

#[derive(Debug, Serialize)]
struct PageTiming {
    page: String,
    path: String,
    p50_ms: f64,
    p95_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    met: bool,
}

#[derive(Debug, Serialize)]
struct ConsoleReport {
    started_at: String,
    machine: Machine,
    git: Commit,
    load_average_at_start: String,
    store: String,
    contracts: usize,
    deliveries: usize,
    fill_seconds: f64,
    samples: usize,
    target_ms: f64,
    pages: Vec<PageTiming>,
}

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn public(key: &SigningKey) -> String {
    STANDARD.encode(key.verifying_key().as_bytes())
}

fn party_ids(i: usize) -> (String, String) {
    let pair = i % PAIRS;
    (format!("mo-{pair:02}"), format!("pub-{pair:02}"))
}

/// Writes `n` countersigned contracts and a delivery per 100 of them.
async fn fill(store: &Arc<EmbeddedStore>, n: usize) -> anyhow::Result<usize> {
    let registry = Registry::new(store.clone());
    for pair in 0..PAIRS {
        let (mo, publisher) = party_ids(pair);
        for (id, org, seed) in [
            (format!("k-{mo}"), mo, 1),
            (format!("k-{publisher}"), publisher, 2),
        ] {
            let partner =
                PartnerKey::new(id, org, KeyAlgorithm::Ed25519, public(&key(seed)), FIRST)?;
            registry.create(&partner).await?;
        }
    }
    let endpoint: WebhookEndpoint = serde_json::from_value(serde_json::json!({
        "id": "wh-mo-00", "organization_id": "mo-00", "url": "https://mo-00.example/hooks",
        "event_types": ["contract.finalized"], "enabled": true, "created_at": FIRST}))?;
    registry.create(&endpoint).await?;
    let deliveries = Deliveries::new(store.clone());
    let mut delivered = 0;
    for i in 0..n {
        let (mo_id, publisher_id) = party_ids(i);
        let created_at = FIRST + i64::try_from(i)? * 60;
        let mut contract = Contract {
            id: format!("c-{i:07}"),
            description: "Monthly subscription".into(),
            template_name: "subscription-charge".into(),
            template_version: 1,
            mo_id: mo_id.clone(),
            publisher_id: publisher_id.clone(),
            mpass_id: Some(format!("mp-{:05}", i % 10_000)),
            contract_type: "subscription_charge".into(),
            version: 3,
            payload: serde_json::json!({"amount_minor": 999, "currency": "EUR", "charged_at": "2026-11-05T10:00:00Z"}),
            signatures: BTreeMap::new(),
            event_log: vec![
                EventLogEntry {
                    event_id: format!("{publisher_id}/e-{i}"),
                    version: 1,
                    kind: "created".into(),
                    at: created_at,
                },
                EventLogEntry {
                    event_id: format!("{mo_id}/e-{i}"),
                    version: 2,
                    kind: "signed".into(),
                    at: created_at,
                },
                EventLogEntry {
                    event_id: "moneta/countersign".into(),
                    version: 3,
                    kind: "countersigned".into(),
                    at: created_at,
                },
            ],
            status: ContractStatus::Finalized,
            created_at,
            finalized_at: Some(created_at),
            disputes: Vec::new(),
        };
        let input = contract.terms().signing_input()?;
        for (party, key_id, seed) in [
            ("mo", format!("k-{mo_id}"), 1),
            ("publisher", format!("k-{publisher_id}"), 2),
            ("moneta", "moneta-1".to_owned(), 3),
        ] {
            contract.signatures.insert(
                party.into(),
                Signature {
                    key_id,
                    algorithm: KeyAlgorithm::Ed25519,
                    signature: sign_ed25519(&key(seed), &input),
                    signed_at: created_at,
                },
            );
        }
        store
            .apply_contract(ContractWrite {
                contract_id: contract.id.clone(),
                event_id: format!("{publisher_id}/e-{i}"),
                expected_version: 0,
                body: serde_json::to_vec(&contract)?,
                keys: ContractKeys {
                    mo_id,
                    publisher_id,
                    mpass_id: contract.mpass_id.clone(),
                    contract_type: contract.contract_type.clone(),
                    created_at,
                },
            })
            .await?;
        if i % 100 == 0 {
            let delivery: Delivery = serde_json::from_value(serde_json::json!({
                "id": format!("msg_{i}"), "endpoint_id": "wh-mo-00", "organization_id": "mo-00",
                "contract_id": contract.id, "contract_version": 3, "event_type": "contract.finalized",
                "payload": "{}", "state": if i % 1000 == 0 { "failed" } else { "delivered" },
                "attempts": 1, "next_attempt_at_ms": created_at * 1000, "created_at_ms": created_at * 1000}))?;
            deliveries.schedule(&delivery).await?;
            delivered += 1;
        }
    }
    store.flush().await?;
    Ok(delivered)
}

fn quantile(sorted: &[f64], q: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}

/// Runs the benchmark and writes `console-<date>.{json,md}`.
pub fn main(options: &Options) -> anyhow::Result<()> {
    let started = UtcTime::now();
    let load_average_at_start = load_average();
    let tokio = tokio::runtime::Runtime::new()?;
    let dir = tempfile::tempdir()?;
    let report = tokio.block_on(async {
        let store = Arc::new(EmbeddedStore::open(dir.path())?);
        let filling = Instant::now();
        let deliveries = fill(&store, options.contracts).await?;
        let fill_seconds = filling.elapsed().as_secs_f64();
        eprintln!(
            "console: {} contracts, {deliveries} deliveries written in {fill_seconds:.0} s",
            options.contracts
        );
        let mut state = AdminState::new(Registry::new(store.clone()), AdminToken::new(TOKEN));
        state.moneta_keys = vec![PublishedKey {
            kid: "moneta-1".into(),
            alg: "ed25519".into(),
            public_key: public(&key(3)),
            status: "active".into(),
        }];
        let app = router(state);
        let middle = options.contracts / 2;
        let pages = [
            (
                "contract search, first page",
                "/console/contracts".to_owned(),
            ),
            (
                "contract search by MO and status",
                "/console/contracts?mo=mo-07&status=finalized".to_owned(),
            ),
            (
                "contract search by creation day",
                "/console/contracts?from=2026-10-15&to=2026-10-15".to_owned(),
            ),
            (
                "contract search, mPass",
                "/console/contracts?mpass=mp-04242".to_owned(),
            ),
            (
                "contract search, a status none has (reads 2,000 contracts, then a cursor)",
                "/console/contracts?status=pending".to_owned(),
            ),
            (
                "contract page (3 signatures verified)",
                format!("/console/contracts/c-{middle:07}"),
            ),
            ("deliveries overview", "/console/deliveries".to_owned()),
            ("endpoint page", "/console/endpoints/wh-mo-00".to_owned()),
            ("topology", "/console/topology".to_owned()),
        ];
        let mut timings = Vec::new();
        for (name, path) in pages {
            let mut samples = Vec::new();
            for i in 0..options.samples + 3 {
                let request = Request::get(&path)
                    .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                    .body(Body::empty())?;
                let begun = Instant::now();
                let response = app.clone().oneshot(request).await?;
                let status = response.status();
                let _ = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
                let ms = begun.elapsed().as_secs_f64() * 1000.0;
                anyhow::ensure!(status == StatusCode::OK, "{path}: {status}");
                if i >= 3 {
                    samples.push(ms);
                }
            }
            samples.sort_by(f64::total_cmp);
            let max = samples.last().copied().unwrap_or_default();
            eprintln!(
                "console: {name}: p50 {:.1} ms, p99 {:.1} ms",
                quantile(&samples, 0.5),
                quantile(&samples, 0.99)
            );
            timings.push(PageTiming {
                page: name.into(),
                path,
                p50_ms: quantile(&samples, 0.5),
                p95_ms: quantile(&samples, 0.95),
                p99_ms: quantile(&samples, 0.99),
                max_ms: max,
                met: quantile(&samples, 0.99) <= TARGET_MS,
            });
        }
        Ok::<_, anyhow::Error>(ConsoleReport {
            started_at: started.rfc3339(),
            machine: Machine::detect(),
            git: Commit::detect(),
            load_average_at_start,
            store: "embedded (redb)".into(),
            contracts: options.contracts,
            deliveries,
            fill_seconds,
            samples: options.samples,
            target_ms: TARGET_MS,
            pages: timings,
        })
    })?;
    std::fs::create_dir_all(&options.out)?;
    let stem = options.out.join(format!("console-{}", started.date()));
    let paths = crate::report::write_files(
        &stem,
        vec![
            ("json", serde_json::to_string_pretty(&report)? + "\n"),
            ("md", markdown(&report)),
        ],
    )?;
    for path in paths {
        println!("{}", path.display());
    }
    Ok(())
}

fn markdown(report: &ConsoleReport) -> String {
    let mut out = format!(
        "# Console pages at {} contracts ({})\n\n{}\n\nStore: {}, {} contracts (each signed by both parties and Moneta), {} deliveries; filled in {:.0} s. {} timed requests per page after 3 warm-ups, in process through the admin router (HTML rendered, body read). Target: p99 within {:.0} ms.\n\n| page | path | p50 ms | p95 ms | p99 ms | max ms | met |\n|---|---|---|---|---|---|---|\n",
        report.contracts,
        report.started_at,
        context(&report.git, &report.machine, &report.load_average_at_start),
        report.store,
        report.contracts,
        report.deliveries,
        report.fill_seconds,
        report.samples,
        report.target_ms,
    );
    for p in &report.pages {
        out.push_str(&format!(
            "| {} | `{}` | {:.1} | {:.1} | {:.1} | {:.1} | {} |\n",
            p.page,
            p.path,
            p.p50_ms,
            p.p95_ms,
            p.p99_ms,
            p.max_ms,
            if p.met { "yes" } else { "no" }
        ));
    }
    out.push_str("\nNot measured here: the dead-letter and settlement pages, whose cost is reading a Kafka topic (its size, not the store's).\n");
    out
}
