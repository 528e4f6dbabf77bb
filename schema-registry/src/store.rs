//! The registry's operations: reads from the in-memory [`State`], writes
//! appended to the topic and applied to memory only once acknowledged.
//!
//! Single writer: one embedded registry owns the topic. Writes are
//! serialised by a lock so ids and versions are allocated without races;
//! a second registry writing the same topic concurrently would not see
//! this one's writes until restarted, and could hand out the same ids.

use std::sync::{PoisonError, RwLock};

use moneta_kafka::KafkaConfig;

use crate::api::ApiError;
use crate::compat::{self, CompatibilityLevel};
use crate::error::RegistryError;
use crate::log::Log;
use crate::records::{Record, SchemaValue};
use crate::schema::AvroSchema;
use crate::state::{State, Version};

/// A version reference in a URL: a number or `latest` (also `-1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionRef {
    /// The highest version.
    Latest,
    /// A version number.
    Number(u32),
}

impl VersionRef {
    /// Parses `latest`, `-1` or `1..=2^31-1`.
    pub fn parse(text: &str) -> Result<Self, ApiError> {
        match text {
            "latest" | "-1" => Ok(Self::Latest),
            _ => match text.parse::<u32>() {
                Ok(n) if (1..=i32::MAX as u32).contains(&n) => Ok(Self::Number(n)),
                _ => Err(ApiError::invalid_version(text)),
            },
        }
    }
}

/// The registry's state and the topic it is persisted in.
pub struct Store {
    state: RwLock<State>,
    log: Log,
    writer: tokio::sync::Mutex<()>,
}

impl Store {
    /// Ensures the topic, replays it into memory and opens the writer.
    pub async fn open(kafka: &KafkaConfig, topic: &str) -> Result<Self, RegistryError> {
        let (log, records) = Log::open(kafka, topic).await?;
        let mut state = State::default();
        for (key, value) in records {
            match Record::decode(&key, value.as_deref()) {
                Ok(record) => state.apply(record),
                Err(e) => tracing::warn!(
                    topic,
                    key = %String::from_utf8_lossy(&key),
                    error = %e,
                    "skipping an unreadable registry record"
                ),
            }
        }
        Ok(Self {
            state: RwLock::new(state),
            log,
            writer: tokio::sync::Mutex::new(()),
        })
    }

    /// Runs `f` on the current state.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.state.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Appends `record` and, once acknowledged, applies it to memory.
    async fn write(&self, record: Record) -> Result<(), ApiError> {
        let (key, value) = record
            .encode()
            .map_err(|e| ApiError::store(format!("Error encoding a registry record: {e}")))?;
        self.log
            .append(&key, value.as_deref())
            .await
            .map_err(|e| ApiError::store(format!("Error writing to the registry topic: {e}")))?;
        self.state
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .apply(record);
        Ok(())
    }

    /// Resolves `version` of `subject`, deleted versions included if `deleted`.
    pub fn version(
        &self,
        subject: &str,
        version: VersionRef,
        deleted: bool,
    ) -> Result<Version, ApiError> {
        let versions = self.read(|s| s.versions(subject, deleted));
        let found = match version {
            VersionRef::Latest => versions.last(),
            VersionRef::Number(n) => versions.iter().find(|v| v.version == n),
        };
        match (found, version) {
            (Some(v), _) => Ok(*v),
            (None, _) if versions.is_empty() => Err(ApiError::subject_not_found(subject)),
            (None, VersionRef::Number(n)) => Err(ApiError::version_not_found(n)),
            (None, VersionRef::Latest) => Err(ApiError::subject_not_found(subject)),
        }
    }

    /// The live version of `subject` whose schema equals `schema`, if any.
    pub fn find(&self, subject: &str, schema: &AvroSchema) -> Option<Version> {
        self.read(|s| {
            let id = s.id_of(&schema.canonical)?;
            s.versions(subject, false).into_iter().find(|v| v.id == id)
        })
    }

    /// The incompatibilities of `schema` with `subject`'s live versions under its level.
    pub fn check(&self, subject: &str, schema: &AvroSchema) -> Vec<String> {
        self.read(|s| {
            let registered: Vec<_> = s
                .versions(subject, false)
                .into_iter()
                .filter_map(|v| Some((v.version, s.schema(v.id)?)))
                .collect();
            let versions: Vec<_> = registered.iter().map(|(v, s)| (*v, &s.parsed)).collect();
            compat::check(s.effective_level(subject), &schema.parsed, &versions)
        })
    }

    /// The incompatibilities of `schema` with one `version` under `subject`'s level.
    pub fn check_against(
        &self,
        subject: &str,
        schema: &AvroSchema,
        version: Version,
    ) -> Vec<String> {
        self.read(|s| match s.schema(version.id) {
            Some(old) => compat::check(
                s.effective_level(subject),
                &schema.parsed,
                &[(version.version, &old.parsed)],
            ),
            None => Vec::new(),
        })
    }

    /// Registers `schema` under `subject`; returns its global id.
    pub async fn register(&self, subject: &str, schema: AvroSchema) -> Result<u32, ApiError> {
        let _writer = self.writer.lock().await;
        if let Some(existing) = self.find(subject, &schema) {
            return Ok(existing.id);
        }
        let messages = self.check(subject, &schema);
        if !messages.is_empty() {
            return Err(ApiError::incompatible(subject, &messages));
        }
        let (id, text, version) = self.read(|s| match s.id_of(&schema.canonical) {
            Some(id) => {
                let text = s.schema(id).map(|known| known.text.clone());
                (
                    id,
                    text.unwrap_or(schema.text.clone()),
                    s.max_version(subject) + 1,
                )
            }
            None => (s.next_id(), schema.text.clone(), s.max_version(subject) + 1),
        });
        self.write(Record::Schema {
            subject: subject.to_owned(),
            version,
            value: Some(SchemaValue {
                subject: subject.to_owned(),
                version,
                id,
                schema_type: None,
                schema: text,
                deleted: false,
            }),
        })
        .await?;
        tracing::info!(subject, version, id, "registered a schema");
        Ok(id)
    }

    /// Sets (or with `None` clears) the level of `subject`, or the global one.
    pub async fn set_level(
        &self,
        subject: Option<&str>,
        level: Option<CompatibilityLevel>,
    ) -> Result<(), ApiError> {
        let _writer = self.writer.lock().await;
        self.write(Record::Config {
            subject: subject.map(str::to_owned),
            level,
        })
        .await
    }

    /// Soft-deletes (or, if already soft-deleted and `permanent`, removes)
    /// every version of `subject`; returns the version numbers.
    pub async fn delete_subject(
        &self,
        subject: &str,
        permanent: bool,
    ) -> Result<Vec<u32>, ApiError> {
        let _writer = self.writer.lock().await;
        let all = self.read(|s| s.versions(subject, true));
        if all.is_empty() {
            return Err(ApiError::subject_not_found(subject));
        }
        let live = all.iter().any(|v| !v.deleted);
        match (permanent, live) {
            (false, false) => return Err(ApiError::subject_soft_deleted(subject)),
            (true, true) => return Err(ApiError::subject_not_soft_deleted(subject)),
            _ => {}
        }
        for version in &all {
            self.delete(subject, *version, permanent).await?;
        }
        Ok(all.iter().map(|v| v.version).collect())
    }

    /// Soft-deletes (or, if already soft-deleted and `permanent`, removes) one version.
    pub async fn delete_version(
        &self,
        subject: &str,
        version: VersionRef,
        permanent: bool,
    ) -> Result<u32, ApiError> {
        let _writer = self.writer.lock().await;
        // `latest` means the latest live version unless deleting permanently.
        let deleted = permanent || matches!(version, VersionRef::Number(_));
        let found = self.version(subject, version, deleted)?;
        match (permanent, found.deleted) {
            (false, true) => return Err(ApiError::version_soft_deleted(subject, found.version)),
            (true, false) => {
                return Err(ApiError::version_not_soft_deleted(subject, found.version));
            }
            _ => {}
        }
        self.delete(subject, found, permanent).await?;
        Ok(found.version)
    }

    async fn delete(
        &self,
        subject: &str,
        version: Version,
        permanent: bool,
    ) -> Result<(), ApiError> {
        let value = if permanent {
            None
        } else {
            let text = self.read(|s| s.schema(version.id).map(|schema| schema.text.clone()));
            Some(SchemaValue {
                subject: subject.to_owned(),
                version: version.version,
                id: version.id,
                schema_type: None,
                schema: text.unwrap_or_default(),
                deleted: true,
            })
        };
        self.write(Record::Schema {
            subject: subject.to_owned(),
            version: version.version,
            value,
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_version_references() {
        assert_eq!(VersionRef::parse("latest"), Ok(VersionRef::Latest));
        assert_eq!(VersionRef::parse("-1"), Ok(VersionRef::Latest));
        assert_eq!(VersionRef::parse("3"), Ok(VersionRef::Number(3)));
        for bad in ["0", "-2", "x", "2147483648"] {
            assert_eq!(
                VersionRef::parse(bad).map_err(|e| e.code),
                Err(42202),
                "{bad}"
            );
        }
    }
}
