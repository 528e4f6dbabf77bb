//! librdkafka settings for a processor's consumer and producer.

use moneta_kafka::KafkaConfig;
use rdkafka::ClientConfig;

use crate::config::{Guarantee, ProcessingConfig};
use crate::spec::ProcessorSpec;

/// Consumer group id of a processor: every instance shares it.
pub fn group_id(processing: &ProcessingConfig, spec: &ProcessorSpec) -> String {
    format!("{}.{}", processing.application_id, spec.name)
}

/// Transactional id of one processor instance: stable across restarts, so
/// a restarted instance fences its predecessor.
pub fn transactional_id(processing: &ProcessingConfig, spec: &ProcessorSpec) -> String {
    format!(
        "{}.{}.{}",
        processing.application_id, spec.name, spec.instance
    )
}

/// The consumer: a group member as [`KafkaConfig::member_config`] makes
/// one (manual commits, `read_committed`, starting from the earliest
/// offset, cooperative rebalancing), with the processing's session
/// settings, and static membership under the instance's stable id when
/// configured.
pub(crate) fn consumer(
    kafka: &KafkaConfig,
    processing: &ProcessingConfig,
    spec: &ProcessorSpec,
) -> ClientConfig {
    let mut config = kafka.member_config(&group_id(processing, spec));
    config
        .set("client.id", transactional_id(processing, spec))
        .set(
            "session.timeout.ms",
            processing.session_timeout_ms.to_string(),
        )
        // Kafka's advice: heartbeats at most a third of the session timeout.
        .set(
            "heartbeat.interval.ms",
            (processing.session_timeout_ms / 3)
                .clamp(100, 3_000)
                .to_string(),
        )
        .set(
            "max.poll.interval.ms",
            processing.max_poll_interval_ms.to_string(),
        );
    if processing.static_membership {
        config.set("group.instance.id", transactional_id(processing, spec));
    }
    config
}

/// The producer: [`KafkaConfig::producer_config`] (idempotent, `acks=all`);
/// transactional under `exactly_once`.
pub(crate) fn producer(
    kafka: &KafkaConfig,
    processing: &ProcessingConfig,
    spec: &ProcessorSpec,
) -> ClientConfig {
    let mut config = kafka.producer_config(&transactional_id(processing, spec));
    if processing.guarantee == Guarantee::ExactlyOnce {
        config
            .set("transactional.id", transactional_id(processing, spec))
            .set(
                "transaction.timeout.ms",
                processing.transaction_timeout_ms.to_string(),
            );
    }
    config
}
