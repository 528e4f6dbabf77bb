//! Encoding and decoding in the Confluent wire format against a schema
//! registry (Confluent's, or Moneta's embedded one).
//!
//! Encoding registers (or finds) the shipped schema under the topic's
//! subject and caches its id. Decoding fetches the writer's schema by the id
//! in the record, then resolves the datum to the shipped reader schema, so
//! records written with any compatible version decode.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use apache_avro::Schema;
use schema_registry_converter::async_impl::avro::{AvroDecoder, AvroEncoder};
use schema_registry_converter::async_impl::schema_registry::SrSettings;
use schema_registry_converter::avro_common::get_supplied_schema;
use schema_registry_converter::error::SRCError;
use schema_registry_converter::schema_registry_common::SubjectNameStrategy;
use serde::Serialize;
use serde::de::DeserializeOwned;

use moneta_records::Message;

use crate::catalog::{ParseSchema, SchemaName};

/// Why a record could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a valid record of the schema: never retry.
    #[error("not a valid {schema} record: {message}")]
    Malformed {
        /// The schema expected.
        schema: &'static str,
        /// What was wrong.
        message: String,
    },
    /// The schema registry could not be reached: retry later.
    #[error("schema registry unavailable: {0}")]
    Registry(String),
    /// A shipped schema does not parse (a build defect).
    #[error("schema {file} does not parse: {message}")]
    Schema {
        /// The schema file.
        file: &'static str,
        /// The parser's message.
        message: String,
    },
}

impl CodecError {
    /// Whether retrying may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(self, CodecError::Registry(_))
    }

    fn from_src(schema: SchemaName, e: SRCError) -> Self {
        if e.retriable {
            CodecError::Registry(e.to_string())
        } else {
            CodecError::Malformed {
                schema: schema.file(),
                message: e.to_string(),
            }
        }
    }
}

/// Avro encoder and decoder bound to one schema registry.
#[derive(Debug)]
pub struct AvroCodec {
    encoder: AvroEncoder,
    decoder: AvroDecoder,
    readers: HashMap<SchemaName, Schema>,
    /// Per (writer schema id, reader): whether the writer's schema is the
    /// reader's exactly, so its values need no resolution (the costliest
    /// part of a decode).
    identical: RwLock<HashMap<(u32, SchemaName), bool>>,
    /// Per (topic, key or value, schema): the subject strategy to encode with.
    strategies: RwLock<HashMap<(String, bool, SchemaName), Arc<SubjectNameStrategy>>>,
}

impl AvroCodec {
    /// A codec using the registry at `registry_url` (e.g. `http://127.0.0.1:8082`).
    pub fn new(registry_url: &str) -> Result<Self, CodecError> {
        let mut readers = HashMap::new();
        for name in SchemaName::ALL {
            let schema = name.parse().map_err(|e| CodecError::Schema {
                file: name.file(),
                message: e.to_string(),
            })?;
            readers.insert(name, schema);
        }
        // SrSettings builds a reqwest client: it needs the process's provider.
        moneta_tls::install_crypto_provider();
        Ok(Self {
            encoder: AvroEncoder::new(SrSettings::new(registry_url.to_owned())),
            decoder: AvroDecoder::new(SrSettings::new(registry_url.to_owned())),
            readers,
            identical: RwLock::default(),
            strategies: RwLock::default(),
        })
    }

    /// Whether the writer schema `id` (`writer`) is exactly the reader
    /// schema of `name` (the same JSON, logical types, defaults and docs
    /// included): decided once per id.
    fn is_reader(&self, id: u32, name: SchemaName, writer: &Schema, reader: &Schema) -> bool {
        let known = self
            .identical
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(id, name))
            .copied();
        if let Some(same) = known {
            return same;
        }
        let json = |schema: &Schema| serde_json::to_value(schema).ok();
        let same = json(writer).is_some_and(|w| json(reader) == Some(w));
        self.identical
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((id, name), same);
        same
    }

    fn reader(&self, name: SchemaName) -> Result<&Schema, CodecError> {
        self.readers.get(&name).ok_or(CodecError::Schema {
            file: name.file(),
            message: "not loaded".to_owned(),
        })
    }

    /// Encodes `value` as the value of a record on `topic`.
    pub async fn encode<T: Serialize>(
        &self,
        topic: &str,
        schema: SchemaName,
        value: &T,
    ) -> Result<Vec<u8>, CodecError> {
        self.encode_as(topic, false, schema, value).await
    }

    /// Encodes a contract id as the key of a record on `topic`.
    pub async fn encode_key(&self, topic: &str, contract_id: &str) -> Result<Vec<u8>, CodecError> {
        self.encode_as(topic, true, SchemaName::ContractKey, &contract_id)
            .await
    }

    async fn encode_as<T: Serialize>(
        &self,
        topic: &str,
        is_key: bool,
        schema: SchemaName,
        value: &T,
    ) -> Result<Vec<u8>, CodecError> {
        let strategy = self.strategy(topic, is_key, schema)?;
        self.encoder
            .encode_struct(value, &strategy)
            .await
            .map_err(|e| CodecError::from_src(schema, e))
    }

    /// The subject strategy for `schema` on `topic`, made once: it carries
    /// the schema as JSON, which is costly to write out per record.
    fn strategy(
        &self,
        topic: &str,
        is_key: bool,
        schema: SchemaName,
    ) -> Result<Arc<SubjectNameStrategy>, CodecError> {
        let key = (topic.to_owned(), is_key, schema);
        let known = self
            .strategies
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(strategy) = known {
            return Ok(strategy);
        }
        let supplied = get_supplied_schema(self.reader(schema)?);
        let strategy = Arc::new(SubjectNameStrategy::TopicNameStrategyWithSchema(
            topic.to_owned(),
            is_key,
            supplied,
        ));
        self.strategies
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::clone(&strategy));
        Ok(strategy)
    }

    /// Decodes a Confluent-framed record into the shipped `schema`'s type.
    pub async fn decode<T: DeserializeOwned>(
        &self,
        schema: SchemaName,
        bytes: &[u8],
    ) -> Result<T, CodecError> {
        let decoded = self
            .decoder
            .decode_with_schema(Some(bytes))
            .await
            .map_err(|e| CodecError::from_src(schema, e))?
            .ok_or_else(|| CodecError::Malformed {
                schema: schema.file(),
                message: "no value".to_owned(),
            })?;
        let reader = self.reader(schema)?;
        let writer = &decoded.schema;
        if self.is_reader(writer.id, schema, &writer.parsed, reader) {
            // Written with the reader's own schema: already its shape.
            return apache_avro::from_value(&decoded.value).map_err(|e| CodecError::Malformed {
                schema: schema.file(),
                message: e.to_string(),
            });
        }
        to_reader(decoded.value, schema, reader)
    }

    /// Decodes a Confluent-framed value of `schema` into its [`Message`].
    pub async fn decode_message(
        &self,
        schema: SchemaName,
        bytes: &[u8],
    ) -> Result<Message, CodecError> {
        Ok(match schema {
            SchemaName::ContractEvent => Message::ContractEvent(self.decode(schema, bytes).await?),
            SchemaName::RejectedEvent => Message::RejectedEvent(self.decode(schema, bytes).await?),
            SchemaName::Contract => Message::Contract(self.decode(schema, bytes).await?),
            SchemaName::LedgerEntry => Message::LedgerEntry(self.decode(schema, bytes).await?),
            SchemaName::Settlement => Message::Settlement(self.decode(schema, bytes).await?),
            SchemaName::ReconciliationReport => {
                Message::ReconciliationReport(self.decode(schema, bytes).await?)
            }
            SchemaName::SettlementComparison => {
                Message::SettlementComparison(self.decode(schema, bytes).await?)
            }
            SchemaName::ContractKey => {
                return Err(CodecError::Malformed {
                    schema: schema.file(),
                    message: "a key schema carries no message".to_owned(),
                });
            }
        })
    }

    /// Encodes `message` with its schema as the value of a record on `topic`.
    pub async fn encode_message(
        &self,
        topic: &str,
        message: &Message,
    ) -> Result<Vec<u8>, CodecError> {
        let schema = message.schema();
        match message {
            Message::ContractEvent(v) => self.encode(topic, schema, v).await,
            Message::RejectedEvent(v) => self.encode(topic, schema, v).await,
            Message::Contract(v) => self.encode(topic, schema, v).await,
            Message::LedgerEntry(v) => self.encode(topic, schema, v).await,
            Message::Settlement(v) => self.encode(topic, schema, v).await,
            Message::ReconciliationReport(v) => self.encode(topic, schema, v).await,
            Message::SettlementComparison(v) => self.encode(topic, schema, v).await,
        }
    }

    /// Decodes any Confluent-framed record into JSON, with its writer's schema.
    pub async fn decode_json(&self, bytes: &[u8]) -> Result<serde_json::Value, CodecError> {
        let schema = SchemaName::Contract;
        let decoded = self
            .decoder
            .decode(Some(bytes))
            .await
            .map_err(|e| CodecError::from_src(schema, e))?;
        serde_json::Value::try_from(decoded.value).map_err(|e| CodecError::Malformed {
            schema: "writer schema",
            message: e.to_string(),
        })
    }

    /// Decodes a contract-topic key.
    pub async fn decode_key(&self, bytes: &[u8]) -> Result<String, CodecError> {
        self.decode(SchemaName::ContractKey, bytes).await
    }
}

/// Resolves a value decoded with its writer's schema to the shipped reader
/// `schema` and deserializes it.
fn to_reader<T: DeserializeOwned>(
    value: apache_avro::types::Value,
    schema: SchemaName,
    reader: &Schema,
) -> Result<T, CodecError> {
    let malformed = |message: String| CodecError::Malformed {
        schema: schema.file(),
        message,
    };
    let resolved = value
        .resolve(reader)
        .map_err(|e| malformed(e.to_string()))?;
    apache_avro::from_value(&resolved).map_err(|e| malformed(e.to_string()))
}

/// Decodes a Confluent-framed record whose writer's schema is already known,
/// without a registry: what [`AvroCodec::decode`] does once it has fetched
/// `writer` by the record's schema id (the id itself is not checked here).
/// Used by tests and the fuzz targets.
pub fn decode_framed<T: DeserializeOwned>(
    schema: SchemaName,
    writer: &Schema,
    reader: &Schema,
    bytes: &[u8],
) -> Result<T, CodecError> {
    let malformed = |message: String| CodecError::Malformed {
        schema: schema.file(),
        message,
    };
    let mut datum = match bytes {
        [0, _, _, _, _, datum @ ..] => datum,
        _ => return Err(malformed("not in the Confluent wire format".to_owned())),
    };
    let value = apache_avro::reader::datum::GenericDatumReader::builder(writer)
        .build()
        .and_then(|r| r.read_value(&mut datum))
        .map_err(|e| malformed(e.to_string()))?;
    to_reader(value, schema, reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ContractEvent, ContractTerms, Party, PartySignature, Source};

    fn event() -> ContractEvent {
        ContractEvent {
            event_id: "ev-1".into(),
            contract: ContractTerms {
                contract_id: "c-1".into(),
                contract_type: "subscription_charge".into(),
                template_name: "subscription-charge".into(),
                template_version: 1,
                mo_id: "mo-acme".into(),
                publisher_id: "pub-globe".into(),
                mpass_id: None,
                description: String::new(),
                terms_json: "{}".into(),
            },
            signature: PartySignature {
                party: Party::Publisher,
                key_id: "key-globe-1".into(),
                signature: "AA==".into(),
                signed_at: 1,
            },
            source: Source::Kafka,
            submitted_by: None,
            received_at_ms: Some(5),
        }
    }

    #[test]
    fn decode_framed_reads_what_was_written_and_refuses_the_rest() {
        let schema = SchemaName::ContractEvent.parse().expect("schema");
        let value = apache_avro::to_value(event()).expect("value");
        let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
            .build()
            .and_then(|w| w.write_value_to_vec(value))
            .expect("datum");
        let mut framed = vec![0, 0, 0, 0, 7];
        framed.extend_from_slice(&datum);
        let back: ContractEvent =
            decode_framed(SchemaName::ContractEvent, &schema, &schema, &framed).expect("decode");
        assert_eq!(back, event());
        for bad in [
            &[][..],
            &[1, 0, 0, 0, 7],
            &[0, 0, 0, 0],
            &framed[..framed.len() - 1],
        ] {
            let err =
                decode_framed::<ContractEvent>(SchemaName::ContractEvent, &schema, &schema, bad)
                    .expect_err("malformed");
            assert!(matches!(err, CodecError::Malformed { .. }), "{err}");
        }
    }
}
