//! The registry's in-memory state, rebuilt by applying the topic's records
//! in order; every later write is applied the same way once acknowledged.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::compat::CompatibilityLevel;
use crate::records::{Record, SchemaValue};
use crate::schema::{AVRO, AvroSchema};

/// One version of a subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Version {
    /// The version number.
    pub version: u32,
    /// The global schema id.
    pub id: u32,
    /// Whether the version is soft-deleted.
    pub deleted: bool,
}

/// Subjects, versions, schemas by id and compatibility levels.
#[derive(Debug, Default)]
pub struct State {
    schemas: BTreeMap<u32, Arc<AvroSchema>>,
    by_canonical: HashMap<String, u32>,
    subjects: BTreeMap<String, BTreeMap<u32, Version>>,
    global: Option<CompatibilityLevel>,
    levels: BTreeMap<String, CompatibilityLevel>,
    max_id: u32,
}

impl State {
    /// Applies one record of the topic.
    pub fn apply(&mut self, record: Record) {
        match record {
            Record::Schema {
                subject,
                version,
                value: Some(value),
            } => self.put_version(subject, version, value),
            Record::Schema {
                subject,
                version,
                value: None,
            } => {
                if let Some(versions) = self.subjects.get_mut(&subject) {
                    versions.remove(&version);
                    if versions.is_empty() {
                        self.subjects.remove(&subject);
                    }
                }
            }
            Record::Config {
                subject: None,
                level,
            } => self.global = level,
            Record::Config {
                subject: Some(subject),
                level: Some(level),
            } => {
                self.levels.insert(subject, level);
            }
            Record::Config {
                subject: Some(subject),
                level: None,
            } => {
                self.levels.remove(&subject);
            }
            Record::Ignored => {}
        }
    }

    fn put_version(&mut self, subject: String, version: u32, value: SchemaValue) {
        self.max_id = self.max_id.max(value.id);
        let schema_type = value.schema_type.as_deref().unwrap_or(AVRO);
        if schema_type != AVRO {
            tracing::warn!(%subject, version, schema_type, "skipping a non-Avro schema");
            return;
        }
        if !self.schemas.contains_key(&value.id) {
            match AvroSchema::parse(&value.schema) {
                Ok(schema) => {
                    self.by_canonical
                        .entry(schema.canonical.clone())
                        .or_insert(value.id);
                    self.schemas.insert(value.id, Arc::new(schema));
                }
                Err(reason) => {
                    tracing::warn!(%subject, version, id = value.id, %reason, "skipping a schema that does not parse");
                    return;
                }
            }
        }
        self.subjects.entry(subject).or_default().insert(
            version,
            Version {
                version,
                id: value.id,
                deleted: value.deleted,
            },
        );
    }

    /// The id the next new schema gets.
    pub fn next_id(&self) -> u32 {
        self.max_id + 1
    }

    /// The id of a schema with this canonical form, if any subject registered one.
    pub fn id_of(&self, canonical: &str) -> Option<u32> {
        self.by_canonical.get(canonical).copied()
    }

    /// The schema with global id `id`.
    pub fn schema(&self, id: u32) -> Option<Arc<AvroSchema>> {
        self.schemas.get(&id).cloned()
    }

    /// Subjects with at least one version (live ones unless `deleted`).
    pub fn subjects(&self, deleted: bool) -> Vec<String> {
        self.subjects
            .iter()
            .filter(|(_, versions)| deleted || versions.values().any(|v| !v.deleted))
            .map(|(subject, _)| subject.clone())
            .collect()
    }

    /// `subject`'s versions, oldest first (live ones unless `deleted`).
    pub fn versions(&self, subject: &str, deleted: bool) -> Vec<Version> {
        self.subjects
            .get(subject)
            .map(|versions| {
                versions
                    .values()
                    .filter(|v| deleted || !v.deleted)
                    .copied()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The highest version number `subject` ever had (deleted ones included).
    pub fn max_version(&self, subject: &str) -> u32 {
        self.subjects
            .get(subject)
            .and_then(|versions| versions.keys().next_back().copied())
            .unwrap_or(0)
    }

    /// Every `(subject, version)` that uses schema `id`.
    pub fn uses_of(&self, id: u32, deleted: bool) -> Vec<(String, u32)> {
        self.subjects
            .iter()
            .flat_map(|(subject, versions)| {
                versions
                    .values()
                    .filter(move |v| v.id == id && (deleted || !v.deleted))
                    .map(move |v| (subject.clone(), v.version))
            })
            .collect()
    }

    /// The global level, if one was set.
    pub fn global_level(&self) -> Option<CompatibilityLevel> {
        self.global
    }

    /// `subject`'s own level, if one was set.
    pub fn subject_level(&self, subject: &str) -> Option<CompatibilityLevel> {
        self.levels.get(subject).copied()
    }

    /// The level that applies to `subject`: its own, else the global one, else BACKWARD.
    pub fn effective_level(&self, subject: &str) -> CompatibilityLevel {
        self.subject_level(subject)
            .or(self.global)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(state: &mut State, subject: &str, version: u32, id: u32, schema: &str, deleted: bool) {
        state.apply(Record::Schema {
            subject: subject.into(),
            version,
            value: Some(SchemaValue {
                subject: subject.into(),
                version,
                id,
                schema_type: None,
                schema: schema.into(),
                deleted,
            }),
        });
    }

    #[test]
    fn applies_versions_deletes_and_levels() {
        let mut state = State::default();
        put(&mut state, "a", 1, 1, "\"int\"", false);
        put(&mut state, "b", 1, 1, "\"int\"", false);
        put(&mut state, "b", 2, 5, "\"long\"", false);
        assert_eq!(state.next_id(), 6);
        assert_eq!(state.id_of("\"long\""), Some(5));
        assert_eq!(state.subjects(false), ["a", "b"]);
        assert_eq!(state.uses_of(1, false).len(), 2);

        put(&mut state, "a", 1, 1, "\"int\"", true);
        assert_eq!(state.subjects(false), ["b"]);
        assert_eq!(state.subjects(true), ["a", "b"]);
        state.apply(Record::Schema {
            subject: "a".into(),
            version: 1,
            value: None,
        });
        assert_eq!(state.subjects(true), ["b"]);
        assert_eq!(state.max_version("b"), 2);

        assert_eq!(state.effective_level("b"), CompatibilityLevel::Backward);
        state.apply(Record::Config {
            subject: None,
            level: Some(CompatibilityLevel::Full),
        });
        state.apply(Record::Config {
            subject: Some("b".into()),
            level: Some(CompatibilityLevel::None),
        });
        assert_eq!(state.effective_level("a"), CompatibilityLevel::Full);
        assert_eq!(state.effective_level("b"), CompatibilityLevel::None);
        state.apply(Record::Config {
            subject: Some("b".into()),
            level: None,
        });
        assert_eq!(state.effective_level("b"), CompatibilityLevel::Full);
    }
}
