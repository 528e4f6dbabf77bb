//! Telling a refused login apart from an unreachable broker: librdkafka
//! reports a failed SASL authentication only to the client's error
//! callback, while the request that needed it fails as a transport error.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::metadata::Metadata;

/// A client context that remembers why the broker refused the login, if it
/// did. librdkafka's reasons name the mechanism, never the password.
#[derive(Debug, Default)]
pub struct LoginWatch {
    refused: Mutex<Option<String>>,
}

impl LoginWatch {
    /// librdkafka's reason for the last refused login, if any.
    pub fn refused(&self) -> Option<String> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }

    /// `error`, or an authentication error (with the reason logged) when the
    /// broker refused the login meanwhile.
    pub fn explain(&self, error: KafkaError) -> KafkaError {
        match self.refused() {
            Some(reason) => {
                tracing::error!(%reason, "the Kafka broker refused the SASL login: check sasl.username and the password");
                KafkaError::MetadataFetch(RDKafkaErrorCode::Authentication)
            }
            None => error,
        }
    }
}

impl LoginWatch {
    fn remember(&self, reason: &str) {
        if let Ok(mut refused) = self.refused.lock() {
            *refused = Some(reason.to_owned());
        }
    }
}

impl ClientContext for LoginWatch {
    // A broker thread logs the refusal as it happens; the error callback
    // runs only when the client is polled, which a blocking request is not.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        if message.contains("SASL authentication error") {
            self.remember(message);
        }
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(%fac, %message, "librdkafka"),
            RDKafkaLogLevel::Warning => tracing::warn!(%fac, %message, "librdkafka"),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(%fac, %message, "librdkafka")
            }
            RDKafkaLogLevel::Debug => tracing::debug!(%fac, %message, "librdkafka"),
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::Authentication) {
            self.remember(reason);
        }
        tracing::warn!(%error, %reason, "librdkafka");
    }
}

impl ConsumerContext for LoginWatch {}

/// The cluster's metadata, fetched with `consumer` in short attempts that
/// serve its error callback in between: a refused login fails at once as
/// an authentication error, not after `timeout` as a transport failure.
pub fn fetch_metadata(
    consumer: &BaseConsumer<LoginWatch>,
    timeout: Duration,
) -> Result<Metadata, KafkaError> {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match consumer.fetch_metadata(None, left.min(Duration::from_secs(1))) {
            Ok(metadata) => return Ok(metadata),
            Err(error) => {
                // No group: this serves the main queue, errors included.
                let _ = consumer.poll(Duration::ZERO);
                if consumer.context().refused().is_some() || Instant::now() >= deadline {
                    return Err(consumer.context().explain(error));
                }
            }
        }
    }
}
