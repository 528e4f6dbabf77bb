//! Reconciliation end to end: five charges are countersigned into the
//! ledger; the publisher, then the MO, submit their records for November.
//! The MO's report has one line of every outcome class; both reports reach
//! both parties' webhook endpoints. Then the day closes, the parties submit
//! their own settlement of it without one contract, and the comparison with
//! Moneta's names that contract, on its topic and at both endpoints.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use moneta_avro::{
    AvroCodec, ComparisonOutcome, LineOutcome, ReconciliationReport, SchemaName,
    SettlementComparison,
};
use moneta_domain::ContractTerms;
use moneta_testkit::kafka::read_topic;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use rdkafka::message::Message;
use serde_json::{Value, json};
use support::{Moneta, submit_as};

mod support;

fn charge(id: &str, amount: i64) -> ContractTerms {
    let mut terms = subscription_charge(id);
    terms.terms["amount_minor"] = json!(amount);
    terms.terms["charged_at"] = json!("2026-11-05T10:00:00Z");
    terms
}

fn reconciliation(id: &str, by: &str, records: &[(&str, i64, &str)]) -> ContractTerms {
    ContractTerms {
        contract_id: id.into(),
        contract_type: "reconciliation".into(),
        template_name: "reconciliation".into(),
        template_version: 1,
        mo_id: ACME.organization_id.into(),
        publisher_id: GLOBE.organization_id.into(),
        mpass_id: None,
        description: format!("November, as the {by} sees it"),
        terms: json!({
            "period_start": "2026-11-01",
            "period_end": "2026-11-30",
            "submitted_by": by,
            "records": records.iter().map(|(c, a, cur)| json!({"contract_id": c, "amount_minor": a, "currency": cur})).collect::<Vec<_>>(),
        }),
    }
}

/// The parties' own settlement of Nov 5, listing `contracts`.
fn settlement(id: &str, contracts: &[(&str, i64)]) -> ContractTerms {
    let total: i64 = contracts.iter().map(|(_, a)| a).sum();
    let publisher = total * 7 / 10;
    let mo = total / 4;
    ContractTerms {
        contract_id: id.into(),
        contract_type: "settlement".into(),
        template_name: "settlement".into(),
        template_version: 2,
        mo_id: ACME.organization_id.into(),
        publisher_id: GLOBE.organization_id.into(),
        mpass_id: None,
        description: "Nov 5, as the parties count it".into(),
        terms: json!({
            "agreement_id": "agr-acme-globe", "period_start": "2026-11-05", "period_end": "2026-11-05",
            "currency": "EUR", "total_minor": total, "publisher_minor": publisher, "mo_minor": mo,
            "moneta_fee_minor": total - publisher - mo,
            "contracts": contracts.iter().map(|(c, a)| json!({"contract_id": c, "amount_minor": a})).collect::<Vec<_>>(),
        }),
    }
}

type Received = Arc<Mutex<Vec<Value>>>;

async fn receive(State(received): State<Received>, body: Bytes) -> StatusCode {
    if let (Ok(json), Ok(mut all)) = (serde_json::from_slice::<Value>(&body), received.lock()) {
        all.push(json);
    }
    StatusCode::NO_CONTENT
}

#[test]
fn every_outcome_class_is_reported_to_both_parties() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let extra = "[webhooks]\nallow_loopback = true\nallow_http = true\npoll_interval_ms = 50\n";
    let moneta = Moneta::start(&bootstrap, dir.path(), extra)?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        let received: Received = Arc::default();
        let app = Router::new().route("/hook", post(receive)).with_state(received.clone());
        let addr = support::serve(app).await?;
        for (id, org) in [("wh-acme-rcn", ACME.organization_id), ("wh-globe-rcn", GLOBE.organization_id)] {
            moneta
                .admin(
                    "/webhook-endpoints",
                    json!({"id": id, "organization_id": org, "url": format!("http://{addr}/hook"),
                           "event_types": ["reconciliation.report", "settlement.comparison", "settlement.statement"], "enabled": true, "secret": null, "created_at": 0}),
                )
                .await?;
        }
        // The ledger: five charges, countersigned.
        for (id, amount) in [("c1", 999), ("c2", 500), ("c3", 700), ("c4", 300), ("c5", 800)] {
            let terms = charge(id, amount);
            submit_as(&moneta, GLOBE, "subscription_charges", &format!("{id}-p"), &terms, "recorded").await?;
            submit_as(&moneta, ACME, "subscription_charges", &format!("{id}-m"), &terms, "countersigned").await?;
        }
        let ledger = read_topic(&moneta.bootstrap, &moneta.topic("moneta.ledger.entries"), 5, Duration::from_secs(20))?;
        ensure!(ledger.len() == 5, "ledger entries: {}", ledger.len());
        tokio::time::sleep(Duration::from_secs(2)).await; // settle-aggregate consumes them

        // The publisher's view: c5 differs from the ledger.
        let by_publisher = reconciliation(
            "r-pub",
            "publisher",
            &[("c1", 999, "EUR"), ("c2", 500, "EUR"), ("c3", 700, "EUR"), ("c4", 300, "EUR"), ("c5", 810, "EUR")],
        );
        submit_as(&moneta, GLOBE, "reconciliations", "r-pub-1", &by_publisher, "countersigned").await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The MO's view: one of every class.
        let by_mo = reconciliation(
            "r-mo",
            "mo",
            &[
                ("c1", 999, "EUR"), // matched (and the publisher agrees)
                ("c1", 999, "EUR"), // duplicate
                ("c2", 450, "EUR"), // amount mismatch
                ("c3", 700, "USD"), // currency mismatch
                ("c5", 800, "EUR"), // matches the ledger; the publisher said 810
                ("c9", 100, "EUR"), // not in Moneta's ledger
                                    // c4 missing: missing on their side
            ],
        );
        submit_as(&moneta, ACME, "reconciliations", "r-mo-1", &by_mo, "countersigned").await?;

        let codec = AvroCodec::new(&format!("http://{}", moneta.registry))?;
        let reports = read_topic(&moneta.bootstrap, &moneta.topic("moneta.reconciliation.reports"), 2, Duration::from_secs(30))?;
        let mut decoded = Vec::new();
        for m in &reports {
            let payload = m.payload().context("payload")?;
            decoded.push(codec.decode::<ReconciliationReport>(SchemaName::ReconciliationReport, payload).await?);
        }
        let publisher = decoded.iter().find(|r| r.reconciliation_id == "r-pub").context("publisher report")?;
        ensure!(
            publisher.matched == 4 && publisher.mismatched == 1,
            "publisher report: {publisher:?}"
        );
        let mo = decoded.iter().find(|r| r.reconciliation_id == "r-mo").context("MO report")?;
        ensure!(mo.counterparty_reconciliation_id.as_deref() == Some("r-pub"), "{mo:?}");
        let outcomes: Vec<(&str, LineOutcome)> = mo.lines.iter().map(|l| (l.contract_id.as_str(), l.outcome)).collect();
        let want = [
            ("c1", LineOutcome::Matched),
            ("c1", LineOutcome::Duplicate),
            ("c2", LineOutcome::AmountMismatch),
            ("c3", LineOutcome::CurrencyMismatch),
            ("c4", LineOutcome::MissingOnTheirSide),
            ("c5", LineOutcome::CounterpartyMismatch),
            ("c9", LineOutcome::MissingOnOurSide),
        ];
        ensure!(outcomes == want, "MO report lines: {outcomes:?}");

        // Both reports reach both parties.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = received.lock().map(|r| r.clone()).unwrap_or_default();
            let ids: Vec<String> = got
                .iter()
                .filter(|v| v["type"] == "reconciliation.report")
                .filter_map(|v| v["data"]["reconciliation_id"].as_str().map(str::to_owned))
                .collect();
            let count = |id: &str| ids.iter().filter(|i| *i == id).count();
            if count("r-pub") >= 2 && count("r-mo") >= 2 {
                break;
            }
            ensure!(Instant::now() < deadline, "reports delivered: {ids:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Nov 5 closes; the parties' own settlement of it leaves c5 out.
        moneta.command(&["settlements", "watermark", "--at", "2026-11-07T00:00:00Z"])?;
        let theirs = settlement("s-nov5", &[("c1", 999), ("c2", 500), ("c3", 700), ("c4", 300)]);
        submit_as(&moneta, GLOBE, "settlements", "s-nov5-p", &theirs, "recorded").await?;
        submit_as(&moneta, ACME, "settlements", "s-nov5-m", &theirs, "countersigned").await?;
        let compared = read_topic(&moneta.bootstrap, &moneta.topic("moneta.settlement.comparisons"), 1, Duration::from_secs(30))?;
        let payload = compared.first().and_then(|m| m.payload()).context("a comparison")?;
        let comparison: SettlementComparison = codec.decode(SchemaName::SettlementComparison, payload).await?;
        let lines: Vec<(&str, LineOutcome, Option<i64>)> = comparison
            .lines
            .iter()
            .map(|l| (l.contract_id.as_str(), l.outcome, l.computed_amount_minor))
            .collect();
        ensure!(
            comparison.outcome == ComparisonOutcome::Discrepancy
                && comparison.settlement_id == "stl:mo-acme:pub-globe:EUR:2026-11-05"
                && (comparison.computed_total_minor, comparison.submitted_total_minor) == (3299, 2499)
                && lines == [("c5", LineOutcome::MissingOnTheirSide, Some(800))],
            "comparison: {comparison:?}"
        );
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = received.lock().map(|r| r.clone()).unwrap_or_default();
            let delivered = got.iter().filter(|v| v["type"] == "settlement.comparison").count();
            if delivered >= 2 {
                break;
            }
            ensure!(Instant::now() < deadline, "comparisons delivered: {delivered}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }

        // Moneta's statement of Nov 5 reached both parties; the MO accepts
        // it, the publisher disputes it; finance sees both answers.
        let statement = "stl:mo-acme:pub-globe:EUR:2026-11-05";
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let got = received.lock().map(|r| r.clone()).unwrap_or_default();
            let delivered = got
                .iter()
                .filter(|v| v["type"] == "settlement.statement" && v["data"]["settlement_id"] == statement)
                .count();
            if delivered >= 2 {
                break;
            }
            ensure!(Instant::now() < deadline, "statements delivered: {delivered}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let answer = |id: &str, decision: &str, reason: Option<&str>| {
            let mut terms = settlement(id, &[]);
            terms.contract_type = "settlement_statement".into();
            terms.template_name = "settlement-statement".into();
            terms.template_version = 1;
            terms.terms = json!({"settlement_id": statement, "decision": decision});
            if let Some(reason) = reason {
                terms.terms["reason"] = json!(reason);
            }
            terms
        };
        submit_as(&moneta, ACME, "settlement_statements", "ans-mo", &answer("ans-mo", "accepted", None), "countersigned").await?;
        let dispute = answer("ans-pub", "disputed", Some("c5 was refunded on Nov 6"));
        submit_as(&moneta, GLOBE, "settlement_statements", "ans-pub", &dispute, "countersigned").await?;
        let exported = moneta.command(&["settlements", "export", "--period", "2026-11-05", "--format", "json"])?;
        let rows: Value = serde_json::from_str(&exported)?;
        let row = rows
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["settlement_id"] == statement))
            .context("the statement in the export")?;
        ensure!(
            row["status"] == "disputed"
                && row["mo_answer"]["decision"] == "accepted"
                && row["publisher_answer"]["reason"] == "c5 was refunded on Nov 6",
            "export row: {row}"
        );
        Ok::<_, anyhow::Error>(())
    });
    if let Err(e) = outcome {
        bail!("{e:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    Ok(())
}
