//! The signing path end to end on a real broker: `moneta up` (ingest edge,
//! embedded schema registry, validate, template-check, countersign) against
//! the real Kafka broker over TCP, driven the way partners drive it — RFC 9421-signed HTTP
//! requests and Avro records produced straight to the partner topic.
//!
//! One `moneta up` serves every case below (it takes seconds to start);
//! each case is its own function and names itself when it fails.

use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use base64::Engine;
use moneta_avro::{AvroCodec, ContractEvent, PartySignature, RejectedEvent, SchemaName, Source};
use moneta_domain::ContractTerms;
use moneta_ingest::{PartnerClient, Reply};
use moneta_signing::SigningKey;
use moneta_testkit::kafka::{client, produce_raw, read_topic};
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use rdkafka::message::Message;
use rdkafka::producer::{DefaultProducerContext, Producer, ThreadedProducer};
use serde_json::{Value, json};

use support::Moneta;

mod support;

fn expect(case: &str, reply: &Reply, status: u16, code: &str) -> anyhow::Result<()> {
    ensure!(
        reply.status == status && reply.body["code"] == code,
        "{case}: expected {status} {code}, got {} {}",
        reply.status,
        reply.body
    );
    ensure!(
        reply
            .headers
            .get("content-type")
            .is_some_and(|v| v == "application/problem+json"),
        "{case}: not problem+json: {:?}",
        reply.headers.get("content-type")
    );
    Ok(())
}

/// Polls an event until its steps include `want`; returns its status body.
async fn wait_for(client: &PartnerClient, event_id: &str, want: &str) -> anyhow::Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let reply = client.get(&format!("/v1/events/{event_id}")).await?;
        if reply.status == 200
            && reply.body["steps"]
                .as_array()
                .is_some_and(|s| s.iter().any(|s| s["state"] == want))
        {
            return Ok(reply.body);
        }
        ensure!(
            Instant::now() < deadline,
            "event {event_id} never reached {want}: {} {}",
            reply.status,
            reply.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Submits as `client` and expects 202, then waits for the event's rejection code.
async fn rejected_code(
    client: &PartnerClient,
    event_id: &str,
    terms: &ContractTerms,
    party: &str,
) -> anyhow::Result<String> {
    let body = client.submission(event_id, terms, party)?;
    let reply = client.submit(domain_of(terms), &body, None).await?;
    ensure!(
        reply.status == 202,
        "{event_id}: {} {}",
        reply.status,
        reply.body
    );
    let status = wait_for(client, event_id, "rejected").await?;
    Ok(status["reason"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

fn domain_of(terms: &ContractTerms) -> &'static str {
    match terms.contract_type.as_str() {
        "dispute" => "disputes",
        "settlement" => "settlements",
        "reconciliation" => "reconciliations",
        _ => "subscription_charges",
    }
}

fn verify_all(contract: &moneta_avro::Contract, published: &Value) -> anyhow::Result<()> {
    let terms = ContractTerms {
        contract_id: contract.terms.contract_id.clone(),
        contract_type: contract.terms.contract_type.clone(),
        template_name: contract.terms.template_name.clone(),
        template_version: u32::try_from(contract.terms.template_version)?,
        mo_id: contract.terms.mo_id.clone(),
        publisher_id: contract.terms.publisher_id.clone(),
        mpass_id: contract.terms.mpass_id.clone(),
        description: contract.terms.description.clone(),
        terms: serde_json::from_str(&contract.terms.terms_json)?,
    };
    let input = terms.signing_input()?;
    ensure!(contract.signatures.len() == 3, "{:?}", contract.signatures);
    for signature in &contract.signatures {
        let key = match signature.party {
            moneta_avro::Party::Mo => ACME.public_key_b64(),
            moneta_avro::Party::Publisher => GLOBE.public_key_b64(),
            moneta_avro::Party::Moneta => published["keys"]
                .as_array()
                .and_then(|k| k.iter().find(|k| k["kid"] == signature.key_id.as_str()))
                .and_then(|k| k["public_key"].as_str())
                .context("Moneta's key is published")?
                .to_owned(),
        };
        moneta_signing::verify_ed25519(&key, &input, &signature.signature)
            .with_context(|| format!("{:?} signature verifies", signature.party))?;
    }
    Ok(())
}

/// Reads `topic` from the start and decodes every value as `T`.
async fn decoded<T: serde::de::DeserializeOwned>(
    moneta: &Moneta,
    topic: &str,
    schema: SchemaName,
    until: impl Fn(&[T]) -> bool,
) -> anyhow::Result<Vec<T>> {
    let codec = AvroCodec::new(&format!("http://{}", moneta.registry))?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let bootstrap = moneta.bootstrap.clone();
        let topic_name = topic.to_owned();
        let messages = tokio::task::spawn_blocking(move || {
            read_topic(&bootstrap, &topic_name, usize::MAX, Duration::from_secs(2))
        })
        .await??;
        let mut values = Vec::new();
        for message in &messages {
            if let Some(payload) = message.payload() {
                values.push(codec.decode::<T>(schema, payload).await?);
            }
        }
        if until(&values) {
            return Ok(values);
        }
        ensure!(Instant::now() < deadline, "{topic}: condition never held");
    }
}

/// Done-means 1: publisher signs, MO co-signs, Moneta countersigns.
async fn two_partners_sign_over_http(moneta: &Moneta) -> anyhow::Result<()> {
    let (globe, acme) = (GLOBE.client(&moneta.base()), ACME.client(&moneta.base()));
    let terms = subscription_charge("c-http-1");
    let first = globe
        .submit(
            "subscription_charges",
            &globe.submission("ev-http-1", &terms, "publisher")?,
            None,
        )
        .await?;
    ensure!(first.status == 202, "{} {}", first.status, first.body);
    ensure!(first.body["event_id"] == "ev-http-1" && first.body["contract_id"] == "c-http-1");
    ensure!(first.body["status_url"] == "/v1/events/ev-http-1");
    wait_for(&globe, "ev-http-1", "recorded").await?;
    let second = acme
        .submit(
            "subscription_charges",
            &acme.submission("ev-http-2", &terms, "mo")?,
            None,
        )
        .await?;
    ensure!(second.status == 202, "{} {}", second.status, second.body);
    let status = wait_for(&acme, "ev-http-2", "countersigned").await?;
    let states: Vec<&str> = status["steps"]
        .as_array()
        .context("steps")?
        .iter()
        .filter_map(|s| s["state"].as_str())
        .collect();
    ensure!(
        states == ["accepted", "validated", "recorded", "countersigned"],
        "steps: {states:?}"
    );
    let contract = acme.get("/v1/contracts/c-http-1").await?;
    ensure!(contract.status == 200 && contract.body["status"] == "finalized");
    let keys = globe.get("/v1/keys").await?;
    let countersigned = decoded::<moneta_avro::Contract>(
        moneta,
        &moneta.topic("moneta.contracts.countersigned"),
        SchemaName::Contract,
        |all| all.iter().any(|c| c.contract_id == "c-http-1"),
    )
    .await?;
    let ours: Vec<_> = countersigned
        .iter()
        .filter(|c| c.contract_id == "c-http-1")
        .collect();
    ensure!(ours.len() == 1, "countersigned once, got {}", ours.len());
    ensure!(ours[0].status == moneta_avro::ContractStatus::Finalized);
    verify_all(ours[0], &keys.body)
}

/// Done-means 3: a record produced straight to the partner topic is
/// countersigned; a forged one is rejected.
async fn kafka_ingress(moneta: &Moneta) -> anyhow::Result<()> {
    let codec = AvroCodec::new(&format!("http://{}", moneta.registry))?;
    let topic = &moneta.topic("moneta.contracts.partner-ingress");
    let terms = subscription_charge("c-kafka-1");
    let event =
        |event_id: &str, key: &SigningKey, key_id: &str, party| -> anyhow::Result<ContractEvent> {
            let signature = moneta_signing::sign_ed25519(key, &terms.signing_input()?);
            Ok(ContractEvent {
                event_id: event_id.into(),
                contract: moneta_avro::ContractTerms {
                    contract_id: terms.contract_id.clone(),
                    contract_type: terms.contract_type.clone(),
                    template_name: terms.template_name.clone(),
                    template_version: 1,
                    mo_id: terms.mo_id.clone(),
                    publisher_id: terms.publisher_id.clone(),
                    mpass_id: terms.mpass_id.clone(),
                    description: terms.description.clone(),
                    terms_json: terms.terms.to_string(),
                },
                signature: PartySignature {
                    party,
                    key_id: key_id.into(),
                    signature,
                    signed_at: 1,
                },
                source: Source::Kafka,
                submitted_by: None,
                received_at_ms: None,
            })
        };
    let forger = SigningKey::from_bytes(&[0x66; 32]);
    let events = [
        event(
            "ev-kafka-1",
            &GLOBE.signing_key(),
            GLOBE.key_id,
            moneta_avro::Party::Publisher,
        )?,
        event(
            "ev-kafka-2",
            &ACME.signing_key(),
            ACME.key_id,
            moneta_avro::Party::Mo,
        )?,
        event(
            "ev-kafka-forged",
            &forger,
            GLOBE.key_id,
            moneta_avro::Party::Publisher,
        )?,
    ];
    let producer: ThreadedProducer<DefaultProducerContext> = client(&moneta.bootstrap).create()?;
    for e in &events {
        let key = codec.encode_key(topic, &e.contract.contract_id).await?;
        let value = codec.encode(topic, SchemaName::ContractEvent, e).await?;
        produce_raw(&producer, topic, Some(&key), &value)?;
        // One at a time: the co-signature must follow the first signature.
        producer.flush(Duration::from_secs(10))?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let countersigned = decoded::<moneta_avro::Contract>(
        moneta,
        &moneta.topic("moneta.contracts.countersigned"),
        SchemaName::Contract,
        |all| all.iter().any(|c| c.contract_id == "c-kafka-1"),
    )
    .await?;
    let contract = countersigned
        .iter()
        .find(|c| c.contract_id == "c-kafka-1")
        .context("countersigned")?;
    let keys = GLOBE.client(&moneta.base()).get("/v1/keys").await?;
    verify_all(contract, &keys.body)?;
    let rejected = decoded::<RejectedEvent>(
        moneta,
        &moneta.topic("moneta.contracts.rejected"),
        SchemaName::RejectedEvent,
        |all| {
            all.iter()
                .any(|r| r.event_id.as_deref() == Some("ev-kafka-forged"))
        },
    )
    .await?;
    let forged = rejected
        .iter()
        .find(|r| r.event_id.as_deref() == Some("ev-kafka-forged"))
        .context("forged rejected")?;
    ensure!(
        forged.code == "bad_signature" && forged.stage == "validate",
        "{forged:?}"
    );
    ensure!(
        forged.partner_id.is_none(),
        "an unauthenticated record names no partner"
    );
    Ok(())
}

/// Done-means 2: each bad input, with its status and code.
async fn bad_inputs(moneta: &Moneta) -> anyhow::Result<()> {
    let base = moneta.base();
    let globe = GLOBE.client(&base);
    let terms = subscription_charge("c-bad-1");
    let body = serde_json::to_vec(&globe.submission("ev-bad-1", &terms, "publisher")?)?;
    let path = "/v1/events/subscription_charges";

    // Bad request signature: GLOBE's key id, another key.
    let impostor = PartnerClient::new(&base, GLOBE.key_id, SigningKey::from_bytes(&[0x77; 32]));
    let reply = impostor
        .submit(
            "subscription_charges",
            &serde_json::from_slice(&body)?,
            None,
        )
        .await?;
    expect("bad signature", &reply, 401, "bad_signature")?;

    // `created` too old.
    let old = globe.sign_request_at("POST", path, &body, now() - 3600)?;
    let reply = globe.send("POST", path, old, body.clone()).await?;
    expect("created too old", &reply, 401, "stale_signature")?;

    // Replayed request: the same signed request twice.
    let headers = globe.sign_request("GET", "/v1/events/ev-none", &[])?;
    let first = globe
        .send("GET", "/v1/events/ev-none", headers.clone(), Vec::new())
        .await?;
    expect("first use", &first, 404, "event_not_found")?;
    let again = globe
        .send("GET", "/v1/events/ev-none", headers, Vec::new())
        .await?;
    expect("replayed request", &again, 401, "replayed_request")?;

    // Unknown key.
    let stranger = PartnerClient::new(&base, "key-nobody", SigningKey::from_bytes(&[0x78; 32]));
    let reply = stranger.get("/v1/events/ev-none").await?;
    expect("unknown key", &reply, 401, "unknown_key")?;

    // Oversized body (over 1 MiB).
    let huge = vec![b' '; 1024 * 1024 + 1];
    let headers = globe.sign_request("POST", path, &huge)?;
    let reply = globe.send("POST", path, headers, huge).await?;
    expect("oversized body", &reply, 413, "payload_too_large")?;

    // Malformed JSON, naming where.
    let broken = br#"{"event_id": "ev-x", "contract": 5}"#.to_vec();
    let headers = globe.sign_request("POST", path, &broken)?;
    let reply = globe.send("POST", path, headers, broken).await?;
    expect("malformed JSON", &reply, 400, "malformed_json")?;
    ensure!(
        reply.body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("contract")),
        "names where: {}",
        reply.body
    );

    // Schema violation (asynchronous: 202, then rejected).
    let mut no_currency = subscription_charge("c-bad-schema");
    if let Some(t) = no_currency.terms.as_object_mut() {
        t.remove("currency");
    }
    let code = rejected_code(&globe, "ev-bad-schema", &no_currency, "publisher").await?;
    ensure!(code == "schema_violation", "schema violation: {code}");

    // Unknown template.
    let mut unknown = subscription_charge("c-bad-template");
    unknown.template_name = "no-such-template".into();
    let code = rejected_code(&globe, "ev-bad-template", &unknown, "publisher").await?;
    ensure!(code == "unknown_template", "unknown template: {code}");

    // Wrong signer order: the MO may not sign a charge first.
    let acme = ACME.client(&base);
    let code = rejected_code(
        &acme,
        "ev-bad-order",
        &subscription_charge("c-bad-order"),
        "mo",
    )
    .await?;
    ensure!(code == "wrong_signer_order", "wrong signer order: {code}");

    // Duplicate event id: ev-http-1 was used for c-http-1.
    let reuse = globe.submission("ev-http-1", &subscription_charge("c-bad-dup"), "publisher")?;
    let reply = globe.submit("subscription_charges", &reuse, None).await?;
    expect("duplicate event id", &reply, 409, "duplicate_event_id")?;

    // Idempotency-Key: replayed, then reused for another body (422).
    let charge = globe.submission("ev-idem-1", &subscription_charge("c-idem-1"), "publisher")?;
    let first = globe
        .submit("subscription_charges", &charge, Some("idem-1"))
        .await?;
    ensure!(first.status == 202, "idempotent first: {}", first.body);
    let again = globe
        .submit("subscription_charges", &charge, Some("idem-1"))
        .await?;
    ensure!(
        again.status == 202
            && again.body == first.body
            && again
                .headers
                .get("idempotent-replayed")
                .is_some_and(|v| v == "true"),
        "replayed: {} {}",
        again.status,
        again.body
    );
    let other = globe.submission("ev-idem-2", &subscription_charge("c-idem-2"), "publisher")?;
    let reply = globe
        .submit("subscription_charges", &other, Some("idem-1"))
        .await?;
    expect(
        "idempotency key reused",
        &reply,
        422,
        "idempotency_key_reused",
    )?;

    // A party reading another party's contract.
    let outsider_key = SigningKey::from_bytes(&[0x79; 32]);
    register_outsider(moneta, &outsider_key).await?;
    let outsider = PartnerClient::new(&base, "key-outsider-1", outsider_key);
    let reply = outsider.get("/v1/contracts/c-http-1").await?;
    expect(
        "another party's contract",
        &reply,
        404,
        "contract_not_found",
    )?;
    let reply = outsider.get("/v1/events/ev-http-1").await?;
    expect("another party's event", &reply, 404, "event_not_found")?;

    // A revoked key stops working at once.
    moneta
        .admin("/keys/key-outsider-1/revoke", json!({}))
        .await?;
    let reply = outsider.get("/v1/events/ev-none").await?;
    expect("revoked key", &reply, 401, "revoked_key")?;

    // A suspended organization: 403.
    moneta
        .admin(
            "/membership-organizations/mo-acme/status",
            json!({"status": "suspended"}),
        )
        .await?;
    let reply = acme.get("/v1/events/ev-http-2").await?;
    expect(
        "suspended organization",
        &reply,
        403,
        "organization_inactive",
    )?;
    Ok(())
}

async fn register_outsider(moneta: &Moneta, key: &SigningKey) -> anyhow::Result<()> {
    moneta
        .admin(
            "/publishers",
            json!({"id": "pub-outsider", "mpc": "OUTSIDE", "name": "Outsider", "status": "pending",
            "sso_group_id": null, "created_at": 0, "updated_at": 0, "created_by": "test",
            "organization_id": null, "metadata": {}, "certificates": [], "services": [], "industries": []}),
        )
        .await?;
    moneta
        .admin(
            "/publishers/pub-outsider/status",
            json!({"status": "active"}),
        )
        .await?;
    let public = base64::engine::general_purpose::STANDARD.encode(key.verifying_key().to_bytes());
    moneta
        .admin(
            "/keys",
            json!({"id": "key-outsider-1", "organization_id": "pub-outsider", "algorithm": "ed25519",
            "public_key": public, "state": "active", "created_at": 0, "revoked_at": null}),
        )
        .await?;
    Ok(())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default()
}

/// `moneta topology describe` prints the graph the running topology has:
/// every topic a stage wrote to (`moneta_records_written_total`) is one it
/// declares as an output (or its dead-letter topic), every input it
/// consumed is declared, and the signing path wrote each of its outputs.
async fn describe_matches_the_running_topology(moneta: &Moneta) -> anyhow::Result<()> {
    let described: Value =
        serde_json::from_str(&moneta.command(&["topology", "describe", "--format", "json"])?)?;
    let names = |stage: &Value, key: &str| -> Vec<String> {
        stage[key]
            .as_array()
            .map(|topics| {
                topics
                    .iter()
                    .filter_map(|t| t["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let stages = described["stages"].as_array().context("stages")?;
    let text = moneta.scrape().await?;
    let mut written = Vec::new();
    for (processor, topic) in processor_topics(&text, "moneta_records_written_total")? {
        let (processor, topic) = (processor.as_str(), topic.as_str());
        let stage = stages
            .iter()
            .find(|s| s["name"] == processor)
            .with_context(|| format!("{processor} writes but is not described"))?;
        let mut allowed = names(stage, "outputs");
        allowed.extend(stage["dead_letter"].as_str().map(str::to_owned));
        ensure!(
            allowed.contains(&topic.to_owned()),
            "{processor} wrote to {topic}, which describe does not list: {allowed:?}"
        );
        written.push((processor.to_owned(), topic.to_owned()));
    }
    for (stage, output) in [
        ("validate", "moneta.contracts.validated"),
        ("validate", "moneta.contracts.rejected"),
        ("template-check", "moneta.contracts.recorded"),
        ("countersign", "moneta.contracts.countersigned"),
        ("ledger", "moneta.ledger.entries"),
    ] {
        let output = moneta.topic(output);
        ensure!(
            written.contains(&(stage.to_owned(), output.clone())),
            "{stage} never wrote {output}: {written:?}"
        );
    }
    for (processor, topic) in processor_topics(&text, "moneta_consumer_lag")? {
        let (processor, topic) = (processor.as_str(), topic.as_str());
        let stage = stages
            .iter()
            .find(|s| s["name"] == processor)
            .with_context(|| format!("{processor} reads but is not described"))?;
        ensure!(
            names(stage, "inputs").contains(&topic.to_owned()),
            "{processor} reads {topic}, which describe does not list"
        );
    }
    Ok(())
}

/// The `(processor, topic)` labels of every sample of `metric` in `text`.
fn processor_topics(text: &str, metric: &str) -> anyhow::Result<Vec<(String, String)>> {
    let prefix = format!("{metric}{{");
    let mut found = Vec::new();
    for line in text.lines().filter(|l| l.starts_with(&prefix)) {
        let label = |name: &str| {
            line.split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .map(str::to_owned)
        };
        let (Some(processor), Some(topic)) = (label("processor"), label("topic")) else {
            bail!("unlabelled sample {line}");
        };
        found.push((processor, topic));
    }
    Ok(found)
}

/// #7: `/metrics` holds each documented metric with plausible values, and
/// `/readyz` is ready.
async fn metrics_after_the_run(moneta: &Moneta) -> anyhow::Result<()> {
    let text = moneta.scrape().await?;
    let get = |metric: &str, labels: &[&str]| Moneta::sample(&text, metric, labels);
    for stage in ["validate", "template-check", "countersign"] {
        let label = format!("processor=\"{stage}\"");
        let records_in = get("moneta_records_in_total", &[&label]).unwrap_or(0.0);
        let records_out = get("moneta_records_out_total", &[&label]).unwrap_or(0.0);
        ensure!(records_in >= 3.0, "{stage}: records in {records_in}");
        ensure!(records_out >= 1.0, "{stage}: records out {records_out}");
        ensure!(
            get("moneta_processing_seconds_count", &[&label]).unwrap_or(0.0) >= records_in,
            "{stage}: one latency sample per input record"
        );
        ensure!(
            get("moneta_batches_total", &[&label, "outcome=\"committed\""]).unwrap_or(0.0) >= 1.0,
            "{stage}: committed batches"
        );
        // Records that came through the edge carry its acceptance time.
        let end_to_end = get("moneta_end_to_end_seconds_count", &[&label]).unwrap_or(0.0);
        ensure!(
            end_to_end >= 1.0 && end_to_end <= records_in,
            "{stage}: end-to-end samples {end_to_end} of {records_in} records"
        );
        let slow = get("moneta_end_to_end_seconds_sum", &[&label]).unwrap_or(f64::MAX);
        ensure!(
            slow / end_to_end < 60.0,
            "{stage}: mean end-to-end latency {}s",
            slow / end_to_end
        );
    }
    lag_drains_to_zero(moneta).await?;
    let accepted = get(
        "moneta_http_requests_total",
        &["route=\"POST /v1/events/{key}\"", "status=\"202\""],
    )
    .unwrap_or(0.0);
    ensure!(accepted >= 4.0, "edge 202s: {accepted}");
    ensure!(
        get("moneta_http_requests_total", &["status=\"401\""]).unwrap_or(0.0) >= 1.0,
        "edge 401s are counted"
    );
    ensure!(
        get(
            "moneta_http_request_seconds_count",
            &["route=\"POST /v1/events/{key}\""]
        )
        .unwrap_or(0.0)
            >= accepted,
        "edge latency samples"
    );
    let ready = reqwest::get(format!("http://{}/readyz", moneta.metrics)).await?;
    ensure!(ready.status() == 200, "readyz: {}", ready.text().await?);
    let health = reqwest::get(format!("http://{}/healthz", moneta.metrics)).await?;
    ensure!(health.status() == 200);
    Ok(())
}

/// Every input has been consumed: each assigned partition's lag gauge
/// reaches 0 (gauges refresh every 5 s).
async fn lag_drains_to_zero(moneta: &Moneta) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = moneta.scrape().await?;
        let mut pending = Vec::new();
        for stage in ["validate", "template-check", "countersign"] {
            let label = format!("processor=\"{stage}\"");
            let lags: Vec<f64> = text
                .lines()
                .filter(|l| l.starts_with("moneta_consumer_lag{") && l.contains(&label))
                .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
                .collect();
            if lags.is_empty() || lags.iter().any(|lag| *lag != 0.0) {
                pending.push(format!("{stage}: {lags:?}"));
            }
        }
        if pending.is_empty() {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "consumer lag not drained: {pending:?}"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[test]
fn signing_path_end_to_end() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let moneta = Moneta::start(&bootstrap, dir.path(), "")?;
    moneta.seed()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let outcome = runtime.block_on(async {
        two_partners_sign_over_http(&moneta)
            .await
            .context("two partners sign over HTTP")?;
        kafka_ingress(&moneta).await.context("Kafka ingress")?;
        bad_inputs(&moneta).await.context("bad inputs")?;
        describe_matches_the_running_topology(&moneta)
            .await
            .context("describe matches the running topology")?;
        metrics_after_the_run(&moneta)
            .await
            .context("metrics after the run")?;
        Ok::<_, anyhow::Error>(())
    });
    if let Err(e) = outcome {
        bail!("{e:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    Ok(())
}
