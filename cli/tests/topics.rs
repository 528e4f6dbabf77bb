//! Topics by data class on a real broker: after `moneta up` every topic has
//! its class's retention and cleanup policy; a topic changed by hand is
//! reported by `moneta topics check` and put back by `moneta topics create`
//! (the next `moneta up` does the same), keeping settings Moneta does not own.

mod support;

use std::collections::HashMap;
use std::process::Command;

use anyhow::{Context, ensure};
use rdkafka::admin::{AdminClient, AdminOptions, AlterConfig, ResourceSpecifier};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use support::Moneta;

const DAY_MS: i64 = 86_400_000;

/// `(retention.ms, cleanup.policy, max.message.bytes)` of each topic, as the broker describes them.
async fn described(
    admin: &AdminClient<DefaultClientContext>,
    topics: &[String],
) -> anyhow::Result<HashMap<String, (String, String, String)>> {
    let specifiers: Vec<ResourceSpecifier<'_>> =
        topics.iter().map(|t| ResourceSpecifier::Topic(t)).collect();
    let mut out = HashMap::new();
    for (topic, result) in topics.iter().zip(
        admin
            .describe_configs(&specifiers, &AdminOptions::new())
            .await?,
    ) {
        let config = result.map_err(|e| anyhow::anyhow!("describe {topic}: {e}"))?;
        let value = |key: &str| {
            config
                .get(key)
                .and_then(|e| e.value.clone())
                .unwrap_or_default()
        };
        out.insert(
            topic.clone(),
            (
                value("retention.ms"),
                value("cleanup.policy"),
                value("max.message.bytes"),
            ),
        );
    }
    Ok(out)
}

/// The topic's config once the broker shows `retention.ms` = `want` (10 s at
/// most): an altered config applies once the broker's metadata log has it, so
/// a describe right after the change may still show the old value (seen in CI
/// both after an alter and after `moneta topics create`).
fn once_retention_is(
    runtime: &tokio::runtime::Runtime,
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    want: &str,
) -> anyhow::Result<(String, String, String)> {
    let topics = [topic.to_string()];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let mut described = runtime.block_on(described(admin, &topics))?;
        let config = described.remove(topic).context("described")?;
        if config.0 == want || std::time::Instant::now() > deadline {
            return Ok(config);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn check(moneta: &Moneta) -> anyhow::Result<(bool, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_moneta"))
        .arg("--config")
        .arg(&moneta.config)
        .args(["topics", "check"])
        .output()?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[test]
fn every_topic_has_its_data_class_retention_and_a_changed_one_is_put_back() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let moneta = Moneta::start(&bootstrap, dir.path(), "")?;
    let runtime = tokio::runtime::Runtime::new()?;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()?;

    let events = [
        "moneta.contracts.ingest",
        "moneta.contracts.partner-ingress",
        "moneta.contracts.validated",
        "moneta.contracts.recorded",
        "moneta.contracts.rejected",
    ];
    let financial = [
        "moneta.contracts.countersigned",
        "moneta.ledger.entries",
        "moneta.settlements",
        "moneta.reconciliation.reports",
    ];
    let dead_letters = [
        "moneta.validate.dlq",
        "moneta.template-check.dlq",
        "moneta.countersign.dlq",
        "moneta.ledger.dlq",
        "moneta.settle-aggregate.dlq",
        "moneta.reconcile-match.dlq",
        "moneta.webhooks.dlq",
    ];
    let want: Vec<(String, String, &str)> = events
        .iter()
        .map(|t| (moneta.topic(t), (90 * DAY_MS).to_string(), "delete"))
        .chain(financial.iter().map(|t| {
            (
                moneta.topic(t),
                ((7 * 365 + 2) * DAY_MS).to_string(),
                "delete",
            )
        }))
        .chain(
            dead_letters
                .iter()
                .map(|t| (moneta.topic(t), (30 * DAY_MS).to_string(), "delete")),
        )
        .collect();
    let names: Vec<String> = want.iter().map(|(t, _, _)| t.clone()).collect();
    let registry = moneta.topic("moneta.registry");

    // After `moneta up`: every topic as its class says.
    let have = runtime.block_on(described(&admin, &names))?;
    for (topic, retention, policy) in &want {
        let (r, p, _) = have.get(topic).context("described")?;
        ensure!(
            (r.as_str(), p.as_str()) == (retention.as_str(), *policy),
            "{topic}: retention.ms={r} cleanup.policy={p}, want {retention} {policy}"
        );
    }
    let changelog = runtime.block_on(described(&admin, std::slice::from_ref(&registry)))?;
    ensure!(changelog[&registry].1 == "compact", "{changelog:?}");
    let (ok, out) = check(&moneta)?;
    ensure!(ok, "moneta topics check after up: {out}");

    // By hand: settlements kept a week, and a setting Moneta does not own.
    let settlements = moneta.topic("moneta.settlements");
    let week = (7 * DAY_MS).to_string();
    let by_hand = AlterConfig::new(ResourceSpecifier::Topic(&settlements))
        .set("retention.ms", &week)
        .set("max.message.bytes", "2097152");
    for result in runtime.block_on(admin.alter_configs([&by_hand], &AdminOptions::new()))? {
        result.map_err(|(_, code)| anyhow::anyhow!("alter: {code}"))?;
    }
    let altered = once_retention_is(&runtime, &admin, &settlements, &week)?;
    ensure!(altered.0 == week, "the alter applied: {altered:?}");
    let (ok, out) = check(&moneta)?;
    ensure!(
        !ok && out.contains(&format!(
            "{settlements}: retention.ms is {week}, declared {}",
            (7 * 365 + 2) * DAY_MS
        )),
        "moneta topics check must report the change: {out}"
    );

    let out = moneta.command(&["topics", "create"])?;
    ensure!(
        out.contains(&format!("topic {settlements}: retention.ms")),
        "{out}"
    );
    let declared = ((7 * 365 + 2) * DAY_MS).to_string();
    let after = once_retention_is(&runtime, &admin, &settlements, &declared)?;
    let (retention, policy, max_bytes) = &after;
    ensure!(
        retention == &declared && policy == "delete",
        "put back: {after:?}"
    );
    ensure!(
        max_bytes == "2097152",
        "a setting Moneta does not own is kept: {after:?}"
    );
    let (ok, out) = check(&moneta)?;
    ensure!(ok, "moneta topics check after create: {out}");
    Ok(())
}
