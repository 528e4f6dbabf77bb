//! Where the end of the chain is observed: a consumer of the countersigned
//! topic, and a local webhook receiver standing in for every partner's
//! endpoint. Each notes, per contract, when it saw it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::tracker::Tracker;

/// The contract id in a contract-topic key: an Avro `string` in the
/// Confluent wire format (magic 0, 4-byte schema id, zig-zag varint
/// length, UTF-8 bytes).
pub fn key_contract_id(key: &[u8]) -> Option<&str> {
    let [0, _, _, _, _, rest @ ..] = key else {
        return None;
    };
    let (mut value, mut shift, mut used) = (0u64, 0u32, 0usize);
    for byte in rest {
        value |= u64::from(byte & 0x7f) << shift;
        used += 1;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    let len = usize::try_from((value >> 1) as i64 ^ -((value & 1) as i64)).ok()?;
    std::str::from_utf8(rest.get(used..used + len)?).ok()
}

/// Reads `topic` from the beginning until `stop`, telling `tracker` when
/// each contract was first seen. `read_committed`, so a record counts once
/// its stage's transaction committed, as for any consumer of the topic;
/// `fetch.wait.max.ms` is 5 ms so it is seen within a few ms of that.
pub fn watch_countersigned(
    bootstrap: &str,
    topic: &str,
    tracker: Arc<Tracker>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<JoinHandle<()>> {
    let consumer: BaseConsumer = moneta_kafka::KafkaConfig::new(bootstrap)
        .reader_config(&moneta_testkit::unique("load-watch"))
        .set("fetch.wait.max.ms", "5")
        .set("fetch.min.bytes", "1")
        .create()
        .context("creating the countersigned watcher")?;
    consumer.subscribe(&[topic])?;
    Ok(std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) else {
                continue;
            };
            let at = Instant::now();
            if let Some(id) = message.key().and_then(key_contract_id) {
                tracker.countersigned(id, at);
            }
        }
    }))
}

/// The tracker the receiver reports to, set once the run starts.
pub type Slot = Arc<std::sync::OnceLock<Arc<Tracker>>>;

async fn receive(State(slot): State<Slot>, body: Bytes) -> StatusCode {
    let at = Instant::now();
    let Some(tracker) = slot.get() else {
        return StatusCode::NO_CONTENT;
    };
    let id = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["data"]["contract_id"].as_str().map(str::to_owned));
    if let Some(id) = id {
        tracker.webhook(&id, at);
    }
    StatusCode::NO_CONTENT
}

/// Serves the partners' webhook endpoints (`POST /hooks/{organization}`)
/// on a free loopback port; returns the base URL of the endpoints.
pub async fn webhook_receiver(slot: Slot) -> anyhow::Result<(String, tokio::task::JoinHandle<()>)> {
    let app = Router::new()
        .route("/hooks/{organization}", post(receive))
        .with_state(slot);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((format!("http://{addr}/hooks"), server))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_confluent_avro_string_key() {
        let id = "lt-x-000000001";
        let mut key = vec![0, 0, 0, 0, 7, (id.len() as u8) << 1];
        key.extend_from_slice(id.as_bytes());
        assert_eq!(key_contract_id(&key), Some(id));
        assert_eq!(key_contract_id(b"plain"), None);
        assert_eq!(key_contract_id(&key[..8]), None, "truncated");
    }
}
