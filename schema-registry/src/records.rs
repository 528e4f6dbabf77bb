//! The registry topic's record format, the same as Confluent's `_schemas`:
//! JSON keys `{"keytype":"SCHEMA",…}` / `{"keytype":"CONFIG",…}` and JSON
//! values; a missing value (tombstone) removes what its key names.

use serde::{Deserialize, Serialize};

use crate::compat::CompatibilityLevel;

/// A record key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "keytype")]
pub enum Key {
    /// One version of one subject.
    #[serde(rename = "SCHEMA")]
    Schema {
        /// The subject.
        subject: String,
        /// The version within the subject.
        version: u32,
        /// Key format version (1).
        magic: u32,
    },
    /// The compatibility level of a subject, or the global one.
    #[serde(rename = "CONFIG")]
    Config {
        /// The subject; `null` for the global level.
        subject: Option<String>,
        /// Key format version (0).
        magic: u32,
    },
    /// Any other key type Confluent writes (`NOOP`, `MODE`, `DELETE_SUBJECT`, …); ignored.
    #[serde(other)]
    Other,
}

impl Key {
    /// The key of `subject`'s `version`.
    pub fn schema(subject: &str, version: u32) -> Self {
        Self::Schema {
            subject: subject.to_owned(),
            version,
            magic: 1,
        }
    }

    /// The key of `subject`'s level, or of the global level.
    pub fn config(subject: Option<&str>) -> Self {
        Self::Config {
            subject: subject.map(str::to_owned),
            magic: 0,
        }
    }
}

/// The value of a `SCHEMA` record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchemaValue {
    /// The subject.
    pub subject: String,
    /// The version within the subject.
    pub version: u32,
    /// The global schema id.
    pub id: u32,
    /// `AVRO`, `JSON` or `PROTOBUF`; absent means `AVRO`.
    #[serde(
        rename = "schemaType",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_type: Option<String>,
    /// The schema text.
    pub schema: String,
    /// Whether the version is soft-deleted.
    #[serde(default)]
    pub deleted: bool,
}

/// The value of a `CONFIG` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    /// The compatibility level.
    #[serde(rename = "compatibilityLevel")]
    pub compatibility_level: CompatibilityLevel,
}

/// One decoded record of the topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A schema version was written (or removed, when `value` is `None`).
    Schema {
        /// The subject.
        subject: String,
        /// The version.
        version: u32,
        /// The version's content; `None` is a hard delete.
        value: Option<SchemaValue>,
    },
    /// A level was set (or cleared, when `level` is `None`).
    Config {
        /// The subject; `None` for the global level.
        subject: Option<String>,
        /// The level.
        level: Option<CompatibilityLevel>,
    },
    /// A record this registry does not use.
    Ignored,
}

impl Record {
    /// Decodes a key and an optional value.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<Self, serde_json::Error> {
        Ok(match serde_json::from_slice::<Key>(key)? {
            Key::Schema {
                subject, version, ..
            } => Record::Schema {
                subject,
                version,
                value: value.map(serde_json::from_slice).transpose()?,
            },
            Key::Config { subject, .. } => Record::Config {
                subject,
                level: value
                    .map(serde_json::from_slice::<ConfigValue>)
                    .transpose()?
                    .map(|v| v.compatibility_level),
            },
            Key::Other => Record::Ignored,
        })
    }

    /// Encodes the record as a key and an optional value.
    pub fn encode(&self) -> Result<(Vec<u8>, Option<Vec<u8>>), serde_json::Error> {
        match self {
            Record::Schema {
                subject,
                version,
                value,
            } => Ok((
                serde_json::to_vec(&Key::schema(subject, *version))?,
                value.as_ref().map(serde_json::to_vec).transpose()?,
            )),
            Record::Config { subject, level } => Ok((
                serde_json::to_vec(&Key::config(subject.as_deref()))?,
                level
                    .map(|compatibility_level| {
                        serde_json::to_vec(&ConfigValue {
                            compatibility_level,
                        })
                    })
                    .transpose()?,
            )),
            Record::Ignored => Ok((serde_json::to_vec(&Key::Other)?, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_look_like_confluents() {
        let record = Record::Schema {
            subject: "s".into(),
            version: 1,
            value: Some(SchemaValue {
                subject: "s".into(),
                version: 1,
                id: 7,
                schema_type: None,
                schema: "\"int\"".into(),
                deleted: false,
            }),
        };
        let (key, value) = record.encode().expect("encodes");
        assert_eq!(
            String::from_utf8_lossy(&key),
            r#"{"keytype":"SCHEMA","subject":"s","version":1,"magic":1}"#
        );
        assert_eq!(
            String::from_utf8_lossy(value.as_deref().unwrap_or_default()),
            r#"{"subject":"s","version":1,"id":7,"schema":"\"int\"","deleted":false}"#
        );
        assert_eq!(
            Record::decode(&key, value.as_deref()).expect("decodes"),
            record
        );

        let global = Record::Config {
            subject: None,
            level: Some(CompatibilityLevel::Full),
        };
        let (key, value) = global.encode().expect("encodes");
        assert_eq!(
            String::from_utf8_lossy(&key),
            r#"{"keytype":"CONFIG","subject":null,"magic":0}"#
        );
        assert_eq!(
            String::from_utf8_lossy(value.as_deref().unwrap_or_default()),
            r#"{"compatibilityLevel":"FULL"}"#
        );
        assert_eq!(
            Record::decode(&key, value.as_deref()).expect("decodes"),
            global
        );
    }

    #[test]
    fn other_key_types_and_tombstones_decode() {
        let noop = Record::decode(br#"{"keytype":"NOOP","magic":0}"#, None).expect("noop");
        assert_eq!(noop, Record::Ignored);
        let gone = Record::decode(
            br#"{"keytype":"SCHEMA","subject":"s","version":2,"magic":1}"#,
            None,
        )
        .expect("tombstone");
        assert!(matches!(
            gone,
            Record::Schema {
                value: None,
                version: 2,
                ..
            }
        ));
    }
}
