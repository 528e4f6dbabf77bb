//! Dead letters: a rejected record is written, unchanged, to the processor's
//! dead-letter topic with headers saying where it came from and why.

use crate::processor::{Output, Record, Rejection};

/// Header: topic the record was read from.
pub const SOURCE_TOPIC: &str = "moneta.dlq.source.topic";
/// Header: partition the record was read from.
pub const SOURCE_PARTITION: &str = "moneta.dlq.source.partition";
/// Header: offset the record was read from.
pub const SOURCE_OFFSET: &str = "moneta.dlq.source.offset";
/// Header: the stable error code.
pub const ERROR_CODE: &str = "moneta.dlq.error.code";
/// Header: the error message.
pub const ERROR_MESSAGE: &str = "moneta.dlq.error.message";
/// Header: the processor that rejected the record.
pub const PROCESSOR: &str = "moneta.dlq.processor";

/// The dead-letter record for `record`, rejected by `processor` for `why`.
pub fn dead_letter(topic: &str, processor: &str, record: &Record, why: &Rejection) -> Output {
    let mut headers: Vec<(String, Vec<u8>)> = record
        .headers
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())))
        .collect();
    for (name, value) in [
        (SOURCE_TOPIC, record.topic.clone()),
        (SOURCE_PARTITION, record.partition.to_string()),
        (SOURCE_OFFSET, record.offset.to_string()),
        (ERROR_CODE, why.code.clone()),
        (ERROR_MESSAGE, why.message.clone()),
        (PROCESSOR, processor.to_owned()),
    ] {
        headers.push((name.to_owned(), value.into_bytes()));
    }
    Output {
        topic: topic.to_owned(),
        key: record.key.clone(),
        payload: record.payload.clone(),
        headers,
    }
}
