//! OpenTelemetry end to end (#23): `moneta up` on a real broker exports its
//! spans over OTLP/HTTP to a receiver in this test, and one contract's
//! spans form one trace, from the caller's `traceparent` through the edge,
//! every stage and the webhook delivery.
//!
//! The receiver decodes the export with the OpenTelemetry protocol's own
//! generated types; the webhook receiver records the `traceparent` each
//! request carries. Moneta is stopped with SIGTERM right after the webhook
//! arrives: the delivery's span, still in the export buffer then, must be
//! flushed on the way out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::post;
use moneta_topology::demo::{ACME, GLOBE, subscription_charge};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use prost::Message as _;
use serde_json::json;
use support::{Moneta, TOKEN};

mod support;

/// The caller's trace: the MO's request continues it.
const CALLER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
/// The caller's span: the edge's `submit` span is its child.
const CALLER_SPAN: &str = "b7ad6b7169203331";
/// The webhook secret; it must appear in no exported attribute.
const WEBHOOK_SECRET: &str = "whsec_c2VjcmV0LW9mLXRoZS10cmFjaW5nLXRlc3Q=";

/// One exported span, ids in hex.
#[derive(Debug, Clone)]
struct Span {
    trace_id: String,
    span_id: String,
    parent_id: String,
    name: String,
    attributes: HashMap<String, String>,
}

/// What the receivers saw.
#[derive(Default)]
struct Seen {
    spans: Mutex<Vec<Span>>,
    /// `traceparent` of each webhook request.
    webhooks: Mutex<Vec<Option<String>>>,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(value: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> String {
    match value.and_then(|v| v.value.as_ref()) {
        Some(AnyValue::StringValue(s)) => s.clone(),
        Some(AnyValue::IntValue(i)) => i.to_string(),
        Some(AnyValue::BoolValue(b)) => b.to_string(),
        Some(AnyValue::DoubleValue(d)) => d.to_string(),
        other => format!("{other:?}"),
    }
}

/// `POST /v1/traces`: decodes one OTLP/HTTP protobuf export.
async fn traces(State(seen): State<Arc<Seen>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    if headers.get("content-type") != Some(&HeaderValue::from_static("application/x-protobuf")) {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE;
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST;
    };
    let spans = request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .map(|span| Span {
            trace_id: hex(&span.trace_id),
            span_id: hex(&span.span_id),
            parent_id: hex(&span.parent_span_id),
            name: span.name.clone(),
            attributes: span
                .attributes
                .iter()
                .map(|kv| (kv.key.clone(), text(kv.value.as_ref())))
                .collect(),
        });
    if let Ok(mut all) = seen.spans.lock() {
        all.extend(spans);
    }
    // An empty `ExportTraceServiceResponse`: zero bytes of protobuf.
    StatusCode::OK
}

async fn webhook(State(seen): State<Arc<Seen>>, headers: HeaderMap) -> StatusCode {
    let traceparent = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Ok(mut all) = seen.webhooks.lock() {
        all.push(traceparent);
    }
    StatusCode::NO_CONTENT
}

async fn serve(seen: Arc<Seen>) -> anyhow::Result<SocketAddr> {
    let app = Router::new()
        .route("/v1/traces", post(traces))
        .route("/webhook", post(webhook))
        .with_state(seen);
    let addr = support::serve(app).await?;
    Ok(addr)
}

/// The publisher signs first; the MO's co-signature, sent with the caller's
/// `traceparent`, completes the contract.
async fn submit(moneta: &Moneta, contract_id: &str) -> anyhow::Result<()> {
    let terms = subscription_charge(contract_id);
    let globe = GLOBE.client(&moneta.base());
    let body = globe.submission(&format!("{contract_id}-publisher"), &terms, "publisher")?;
    let reply = globe.submit("subscription_charges", &body, None).await?;
    ensure!(
        reply.status == 202,
        "publisher: {} {}",
        reply.status,
        reply.body
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = globe
            .get(&format!("/v1/events/{contract_id}-publisher"))
            .await?;
        if status.body["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["state"] == "recorded"))
        {
            break;
        }
        ensure!(Instant::now() < deadline, "never recorded: {}", status.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let acme = ACME.client(&moneta.base());
    let body = acme.submission(&format!("{contract_id}-mo"), &terms, "mo")?;
    let path = "/v1/events/subscription_charges";
    let bytes = serde_json::to_vec(&body)?;
    let mut headers = acme.sign_request("POST", path, &bytes)?;
    headers.insert(
        "traceparent",
        HeaderValue::from_str(&format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))?,
    );
    let reply = acme.send("POST", path, headers, bytes).await?;
    ensure!(reply.status == 202, "mo: {} {}", reply.status, reply.body);
    Ok(())
}

/// Waits until the delivery to Acme is recorded delivered: its attempt,
/// and so its span, has ended.
async fn delivered(moneta: &Moneta, contract: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = moneta
            .admin_get(&format!("/deliveries?contract_id={contract}"))
            .await?;
        let items = list["items"].as_array().cloned().unwrap_or_default();
        if items
            .iter()
            .any(|d| d["endpoint_id"] == "wh-acme-trace" && d["state"] == "delivered")
        {
            return Ok(());
        }
        ensure!(Instant::now() < deadline, "not delivered: {list}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until `check` passes on what was seen, or fails with its last error.
async fn eventually(
    seen: &Seen,
    within: Duration,
    check: impl Fn(&[Span], &[Option<String>]) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + within;
    loop {
        let spans = seen
            .spans
            .lock()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .clone();
        let hooks = seen
            .webhooks
            .lock()
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .clone();
        match check(&spans, &hooks) {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// The contract's spans are one tree of one trace: the edge's `submit`
/// under the caller's span, each stage under the span that wrote its
/// input, each delivery under webhook-dispatch; the webhook request carries
/// the delivery span's own `traceparent`.
fn one_trace(spans: &[Span], webhooks: &[Option<String>], contract: &str) -> anyhow::Result<()> {
    let trace: Vec<&Span> = spans
        .iter()
        .filter(|s| s.trace_id == CALLER_TRACE)
        .collect();
    let by_id: HashMap<&str, &Span> = trace.iter().map(|s| (s.span_id.as_str(), *s)).collect();
    for span in &trace {
        ensure!(
            span.parent_id == CALLER_SPAN || by_id.contains_key(span.parent_id.as_str()),
            "{} {:?}: parent {} is not in the trace",
            span.name,
            span.attributes,
            span.parent_id
        );
    }
    // The one span `name` (of `stage`) of the contract under `parent`.
    let child = |name: &str, stage: Option<&str>, parent: &str| -> anyhow::Result<&Span> {
        let found: Vec<&&Span> = trace
            .iter()
            .filter(|s| s.name == name && s.parent_id == parent)
            .filter(|s| s.attributes.get("contract_id").map(String::as_str) == Some(contract))
            .filter(|s| {
                stage.is_none_or(|st| s.attributes.get("stage").map(String::as_str) == Some(st))
            })
            .collect();
        match found.as_slice() {
            [one] => Ok(one),
            [] => bail!(
                "no {name} {stage:?} span of {contract} under {parent}:\n{}",
                tree(&trace)
            ),
            many => bail!("{} {name} {stage:?} spans under {parent}", many.len()),
        }
    };
    let submit = child("submit", None, CALLER_SPAN)?;
    ensure!(submit.attributes.get("partner").map(String::as_str) == Some(ACME.organization_id));
    let mut parent = submit;
    for stage in [
        "validate",
        "template-check",
        "countersign",
        "webhook-dispatch",
    ] {
        let span = child("process", Some(stage), &parent.span_id)?;
        ensure!(
            span.attributes
                .get("event_id")
                .is_some_and(|e| !e.is_empty()),
            "{stage}: no event_id"
        );
        parent = span;
    }
    let delivered: Vec<&&Span> = trace
        .iter()
        .filter(|s| s.name == "deliver")
        .filter(|s| s.attributes.get("partner").map(String::as_str) == Some(ACME.organization_id))
        .collect();
    let [deliver] = delivered.as_slice() else {
        bail!("{} deliver spans to Acme", delivered.len());
    };
    ensure!(
        deliver.parent_id == parent.span_id,
        "deliver under webhook-dispatch"
    );
    let reported = format!("{contract}-mo");
    ensure!(
        deliver.attributes.get("event_id") == Some(&reported),
        "deliver reports the MO's event: {:?}",
        deliver.attributes
    );
    let sent = format!("00-{CALLER_TRACE}-{}-01", deliver.span_id);
    ensure!(
        webhooks == [Some(sent.clone())],
        "webhook requests carried {webhooks:?}, not {sent}"
    );
    Ok(())
}

/// The trace's spans as an indented tree, for failure messages.
fn tree(trace: &[&Span]) -> String {
    fn walk(trace: &[&Span], parent: &str, depth: usize, out: &mut String) {
        for span in trace.iter().filter(|s| s.parent_id == parent) {
            let stage = span.attributes.get("stage").map_or("", String::as_str);
            out.push_str(&format!(
                "{}{} {stage} {}\n",
                "  ".repeat(depth),
                span.name,
                span.span_id
            ));
            walk(trace, &span.span_id, depth + 1, out);
        }
    }
    let mut out = String::new();
    walk(trace, CALLER_SPAN, 0, &mut out);
    out
}

#[test]
fn one_contract_is_one_trace_from_the_edge_to_the_webhook() -> anyhow::Result<()> {
    let bootstrap = moneta_testkit::kafka()?;
    let dir = tempfile::tempdir()?;
    let runtime = tokio::runtime::Runtime::new()?;
    let seen = Arc::new(Seen::default());
    let addr = runtime.block_on(serve(seen.clone()))?;
    let extra = format!(
        r#"
[webhooks]
allow_loopback = true
allow_http = true
poll_interval_ms = 50
[telemetry]
otlp_endpoint = "http://{addr}"
service_name = "moneta-tracing-test"
[telemetry.otlp_headers]
authorization = "Bearer otlp-secret-token"
"#
    );
    let started = Instant::now();
    let mut moneta = Moneta::start(&bootstrap, dir.path(), &extra)?;
    moneta.seed()?;
    let contract = "c-trace-1";
    let outcome = runtime.block_on(async {
        moneta
            .admin(
                "/webhook-endpoints",
                json!({"id": "wh-acme-trace", "organization_id": ACME.organization_id,
                       "url": format!("http://{addr}/webhook"), "event_types": ["contract.countersigned"],
                       "enabled": true, "secret": WEBHOOK_SECRET, "created_at": 0}),
            )
            .await?;
        submit(&moneta, contract).await?;
        eventually(&seen, Duration::from_secs(60), |_, hooks| {
            ensure!(!hooks.is_empty(), "no webhook yet");
            Ok(())
        })
        .await
        .context("the webhook never arrived")?;
        delivered(&moneta, contract).await?;
        // The delivery's span ended a moment ago, well within the export
        // batch's 5 s: only the flush at SIGTERM exports it in time.
        moneta.stop()?;
        eventually(&seen, Duration::from_secs(5), |spans, hooks| {
            one_trace(spans, hooks, contract)
        })
        .await?;
        let spans = seen.spans.lock().map_err(|e| anyhow::anyhow!("{e}"))?;
        let exported = format!("{spans:?}");
        let key = std::fs::read_to_string(dir.path().join("signing.key"))?;
        let seed = key
            .split_whitespace()
            .nth(2)
            .context("the signing key's seed")?;
        for (what, secret) in [
            ("admin token", TOKEN),
            ("webhook secret", WEBHOOK_SECRET),
            ("OTLP header", "otlp-secret-token"),
            ("signing seed", seed),
        ] {
            ensure!(!exported.contains(secret), "the {what} was exported");
        }
        println!(
            "{} spans exported, {} in the contract's trace, in {:.1} s",
            spans.len(),
            spans.iter().filter(|s| s.trace_id == CALLER_TRACE).count(),
            started.elapsed().as_secs_f64()
        );
        Ok::<_, anyhow::Error>(())
    });
    if let Err(e) = outcome {
        bail!("{e:#}\n--- moneta log ---\n{}", moneta.log_tail());
    }
    Ok(())
}
