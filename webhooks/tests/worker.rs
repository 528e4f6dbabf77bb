//! The delivery worker's error classes, against a real local HTTP receiver
//! and real Kafka (the dead-letter topic): a state store fault is transient
//! (the delivery waits it out and is delivered), corrupt data is permanent
//! (dead-lettered with its reason while other deliveries keep flowing).

#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use moneta_domain::{Delivery, DeliveryState, Kind, WebhookEndpoint};
use moneta_kafka::KafkaConfig;
use moneta_signing::{KeyRing, SigningKey};
use moneta_state::faulty::FaultyStore;
use moneta_state::{Deliveries, EmbeddedStore, Expect, Registry, StateStore};
use moneta_testkit::kafka::{create_topics, header, read_topic};
use moneta_webhooks::{WebhookMetrics, WebhooksConfig, Worker};
use rdkafka::Message;

// ---------------------------------------------------------------- receiver

/// `webhook-id`s received, in order.
type Received = Arc<Mutex<Vec<String>>>;

async fn handle(
    State(received): State<Received>,
    Path(route): Path<String>,
    headers: HeaderMap,
) -> StatusCode {
    let id = headers["webhook-id"].to_str().unwrap().to_owned();
    received.lock().unwrap().push(id);
    match route.as_str() {
        "ok" => StatusCode::NO_CONTENT,
        _ => StatusCode::NOT_FOUND,
    }
}

async fn start_receiver() -> (Received, String) {
    let received = Received::default();
    let app = Router::new()
        .route("/{route}", axum::routing::post(handle))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (received, format!("http://{addr}"))
}

// ---------------------------------------------------------------- helpers

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap()
}

fn endpoint(id: &str, url: &str, enabled: bool) -> WebhookEndpoint {
    WebhookEndpoint {
        id: id.into(),
        organization_id: "org-test".into(),
        url: url.into(),
        event_types: vec!["contract.countersigned".into()],
        enabled,
        secret: None,
        created_at: 0,
        max_attempts: None,
        timeout_ms: None,
        previous_secret: None,
        previous_secret_until: None,
    }
}

fn delivery(id: &str, endpoint_id: &str) -> Delivery {
    let now = now_ms();
    Delivery {
        id: id.into(),
        endpoint_id: endpoint_id.into(),
        organization_id: "org-test".into(),
        contract_id: format!("c-{id}"),
        contract_version: 1,
        event_type: "contract.countersigned".into(),
        payload: r#"{"type":"contract.countersigned","data":{}}"#.into(),
        state: DeliveryState::Pending,
        attempts: 0,
        next_attempt_at_ms: now,
        created_at_ms: now,
        last_status: None,
        last_error: None,
        finished_at_ms: None,
        total_attempts: 0,
        event_key: None,
        traceparent: None,
        parked: false,
    }
}

/// A worker on `store`, dead-lettering to `dead_letter` on the test broker.
fn worker(bootstrap: &str, dead_letter: &str, store: Arc<dyn StateStore>) -> Worker {
    let config = WebhooksConfig {
        allow_loopback: true,
        allow_http: true,
        timeout_ms: 5_000,
        poll_interval_ms: 10,
        dead_letter: dead_letter.into(),
        ..WebhooksConfig::default()
    };
    let kafka = KafkaConfig {
        bootstrap_servers: bootstrap.into(),
        ..KafkaConfig::default()
    };
    let keys = Arc::new(KeyRing::new("test", SigningKey::from_bytes(&[7; 32])).unwrap());
    let metrics = WebhookMetrics::new(&prometheus::Registry::new()).unwrap();
    Worker::new(config, &kafka, store, keys, metrics).unwrap()
}

/// Runs `worker` until every delivery in `ids` is finished (delivered or
/// failed), at most `limit`; returns them as stored.
async fn run_until_finished(
    worker: &Worker,
    deliveries: &Deliveries,
    ids: &[&str],
    limit: Duration,
) -> Vec<Delivery> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn({
        let worker = worker.clone();
        async move {
            worker
                .run(async {
                    let _ = stopped.await;
                })
                .await;
        }
    });
    let deadline = Instant::now() + limit;
    let finished = loop {
        let mut all = Vec::new();
        for id in ids {
            if let Some(stored) = deliveries.get(id).await.unwrap() {
                all.push(stored.delivery);
            }
        }
        let done = all.len() == ids.len() && all.iter().all(|d| d.state != DeliveryState::Pending);
        if done || Instant::now() > deadline {
            break all;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = stop.send(());
    running.await.unwrap();
    finished
}

/// Every record of `topic` (blocking reads off the runtime's thread).
async fn dead_letters(
    bootstrap: &str,
    topic: &str,
    expected: usize,
) -> Vec<(String, String, String)> {
    let (bootstrap, topic) = (bootstrap.to_owned(), topic.to_owned());
    tokio::task::spawn_blocking(move || {
        read_topic(&bootstrap, &topic, expected, Duration::from_secs(3))
            .unwrap()
            .iter()
            .map(|m| {
                let key = String::from_utf8_lossy(m.key().unwrap_or_default()).into_owned();
                let code = header(m, "moneta.dlq.error.code").unwrap_or_default();
                let message = header(m, "moneta.dlq.error.message").unwrap_or_default();
                (key, code, message)
            })
            .collect()
    })
    .await
    .unwrap()
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn a_store_outage_during_an_attempt_is_waited_out_then_delivered_never_dead_lettered() {
    let bootstrap = moneta_testkit::kafka().unwrap();
    let dlq = moneta_testkit::unique("webhooks-dlq");
    create_topics(&bootstrap, &[&dlq], 1).await.unwrap();
    let (received, base) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(FaultyStore::new(Arc::new(
        EmbeddedStore::open(dir.path()).unwrap(),
    )));
    Registry::new(store.clone())
        .create(&endpoint("wh-ok", &format!("{base}/ok"), true))
        .await
        .unwrap();
    let deliveries = Deliveries::new(store.clone());
    deliveries
        .schedule(&delivery("msg_outage", "wh-ok"))
        .await
        .unwrap();
    let worker = worker(&bootstrap, &dlq, store.clone());

    // The scan reads the queue while the store is up and starts the
    // attempt; the store goes down before the attempt first runs (this
    // runtime has one thread: the attempt's task runs at the next await).
    assert_eq!(worker.tick().await.unwrap(), 1);
    store.set_down(true);
    let deadline = Instant::now() + Duration::from_secs(10);
    while store.failed() == 0 {
        assert!(
            Instant::now() < deadline,
            "the attempt never met the outage"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Whatever the attempt does about the outage, it does now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        received.lock().unwrap().is_empty(),
        "nothing can be sent without the endpoint"
    );
    store.set_down(false);

    let finished = run_until_finished(
        &worker,
        &deliveries,
        &["msg_outage"],
        Duration::from_secs(20),
    )
    .await;
    let d = &finished[0];
    assert_eq!(
        (d.state, d.last_error.as_deref()),
        (DeliveryState::Delivered, None),
        "{d:?}"
    );
    // The outage cost no attempt of the retry schedule.
    assert_eq!((d.attempts, d.total_attempts), (1, 1), "{d:?}");
    assert_eq!(*received.lock().unwrap(), vec!["msg_outage".to_owned()]);
    assert_eq!(
        dead_letters(&bootstrap, &dlq, 1).await,
        vec![],
        "a store outage must never dead-letter a delivery"
    );
}

#[tokio::test]
async fn a_corrupt_endpoint_is_dead_lettered_with_its_reason_and_the_others_keep_flowing() {
    let bootstrap = moneta_testkit::kafka().unwrap();
    let dlq = moneta_testkit::unique("webhooks-dlq");
    create_topics(&bootstrap, &[&dlq], 1).await.unwrap();
    let (received, base) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path()).unwrap());
    let registry = Registry::new(store.clone());
    registry
        .create(&endpoint("wh-ok", &format!("{base}/ok"), true))
        .await
        .unwrap();
    registry
        .create(&endpoint("wh-off", &format!("{base}/ok"), false))
        .await
        .unwrap();
    // A stored endpoint that is not an endpoint: `url` is a number.
    let corrupt = br#"{"id":"wh-corrupt","organization_id":"org-test","url":42}"#;
    store
        .put(
            Kind::WebhookEndpoint,
            "wh-corrupt",
            corrupt,
            &[],
            Expect::Absent,
        )
        .await
        .unwrap();
    let deliveries = Deliveries::new(store.clone());
    let scheduled = [
        ("msg_corrupt", "wh-corrupt"),
        ("msg_ok_1", "wh-ok"),
        ("msg_off", "wh-off"),
        ("msg_missing", "wh-missing"),
        ("msg_ok_2", "wh-ok"),
    ];
    for (id, endpoint_id) in scheduled {
        deliveries
            .schedule(&delivery(id, endpoint_id))
            .await
            .unwrap();
    }
    let worker = worker(&bootstrap, &dlq, store.clone());
    let ids: Vec<&str> = scheduled.iter().map(|(id, _)| *id).collect();
    let finished = run_until_finished(&worker, &deliveries, &ids, Duration::from_secs(30)).await;

    let outcome = |id: &str| {
        let d = finished.iter().find(|d| d.id == id).unwrap();
        let code = d
            .last_error
            .as_deref()
            .and_then(|e| e.split_once(':'))
            .map(|(code, _)| code.to_owned());
        (d.state, code)
    };
    assert_eq!(
        outcome("msg_corrupt"),
        (DeliveryState::Failed, Some("endpoint_corrupt".into())),
        "{finished:?}"
    );
    for id in ["msg_off", "msg_missing"] {
        assert_eq!(
            outcome(id),
            (DeliveryState::Failed, Some("endpoint_disabled".into())),
            "{id}: {finished:?}"
        );
    }
    for id in ["msg_ok_1", "msg_ok_2"] {
        assert_eq!(outcome(id), (DeliveryState::Delivered, None), "{id}");
    }
    let mut got = received.lock().unwrap().clone();
    got.sort();
    assert_eq!(got, vec!["msg_ok_1".to_owned(), "msg_ok_2".to_owned()]);

    // Dead letters are keyed by endpoint; the corrupt one says why.
    let mut letters = dead_letters(&bootstrap, &dlq, 3).await;
    letters.sort();
    let codes: Vec<(&str, &str)> = letters
        .iter()
        .map(|(key, code, _)| (key.as_str(), code.as_str()))
        .collect();
    assert_eq!(
        codes,
        vec![
            ("wh-corrupt", "endpoint_corrupt"),
            ("wh-missing", "endpoint_disabled"),
            ("wh-off", "endpoint_disabled"),
        ]
    );
    assert!(
        letters[0]
            .2
            .starts_with("stored webhook_endpoint wh-corrupt does not decode"),
        "{letters:?}"
    );
}
