//! Compatibility levels and the Avro compatibility check between a new
//! schema and the versions already registered under a subject.

use std::fmt;
use std::str::FromStr;

use apache_avro::Schema;
use apache_avro::error::CompatibilityError;
use apache_avro::schema_compatibility::{Compatibility, SchemaCompatibility};
use serde::{Deserialize, Serialize};

/// A Confluent compatibility level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CompatibilityLevel {
    /// No check.
    None,
    /// The new schema reads data written with the latest version.
    #[default]
    Backward,
    /// The new schema reads data written with every version.
    BackwardTransitive,
    /// The latest version reads data written with the new schema.
    Forward,
    /// Every version reads data written with the new schema.
    ForwardTransitive,
    /// Backward and forward against the latest version.
    Full,
    /// Backward and forward against every version.
    FullTransitive,
}

/// A compatibility level name that is not one of the seven.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "Invalid compatibility level '{0}'. Valid values are none, backward, forward, full, backward_transitive, forward_transitive, and full_transitive"
)]
pub struct InvalidLevel(pub String);

impl CompatibilityLevel {
    /// The level's Confluent name, e.g. `BACKWARD_TRANSITIVE`.
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::Backward => "BACKWARD",
            Self::BackwardTransitive => "BACKWARD_TRANSITIVE",
            Self::Forward => "FORWARD",
            Self::ForwardTransitive => "FORWARD_TRANSITIVE",
            Self::Full => "FULL",
            Self::FullTransitive => "FULL_TRANSITIVE",
        }
    }

    fn backward(self) -> bool {
        matches!(
            self,
            Self::Backward | Self::BackwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    fn forward(self) -> bool {
        matches!(
            self,
            Self::Forward | Self::ForwardTransitive | Self::Full | Self::FullTransitive
        )
    }

    fn transitive(self) -> bool {
        matches!(
            self,
            Self::BackwardTransitive | Self::ForwardTransitive | Self::FullTransitive
        )
    }
}

impl fmt::Display for CompatibilityLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for CompatibilityLevel {
    type Err = InvalidLevel;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "NONE" => Self::None,
            "BACKWARD" => Self::Backward,
            "BACKWARD_TRANSITIVE" => Self::BackwardTransitive,
            "FORWARD" => Self::Forward,
            "FORWARD_TRANSITIVE" => Self::ForwardTransitive,
            "FULL" => Self::Full,
            "FULL_TRANSITIVE" => Self::FullTransitive,
            _ => return Err(InvalidLevel(s.to_owned())),
        })
    }
}

/// Checks `new` against the registered `versions` (oldest first) under
/// `level`; returns one message per incompatibility, empty when compatible.
pub fn check(level: CompatibilityLevel, new: &Schema, versions: &[(u32, &Schema)]) -> Vec<String> {
    let against = if level.transitive() {
        versions
    } else {
        versions.last().map(std::slice::from_ref).unwrap_or(&[])
    };
    let mut messages = Vec::new();
    for (version, old) in against.iter().rev() {
        if level.backward()
            && let Some(reason) = can_read(old, new)
        {
            messages.push(format!(
                "incompatible with version {version} ({level}): the new schema cannot read data written with version {version}: {reason}"
            ));
        }
        if level.forward()
            && let Some(reason) = can_read(new, old)
        {
            messages.push(format!(
                "incompatible with version {version} ({level}): version {version} cannot read data written with the new schema: {reason}"
            ));
        }
    }
    messages
}

/// Why `reader` cannot read data written with `writer`, if it cannot.
pub fn can_read(writer: &Schema, reader: &Schema) -> Option<String> {
    match SchemaCompatibility::can_read(writer, reader) {
        Ok(Compatibility::Full) => None,
        Ok(Compatibility::Partial) => Some(
            "some enum symbols or union branches of the writer are missing from the reader".into(),
        ),
        Err(e) => Some(describe(&e)),
    }
}

fn describe(error: &CompatibilityError) -> String {
    match error {
        CompatibilityError::FieldTypeMismatch(field, inner) => {
            format!("field '{field}': {}", describe(inner))
        }
        CompatibilityError::MissingDefaultValue(field) => format!(
            "field '{field}' is missing from the writer and has no default value in the reader"
        ),
        CompatibilityError::WrongType {
            writer_schema_type,
            reader_schema_type,
        } => format!(
            "writer type '{}' cannot be read as reader type '{}'",
            kind(writer_schema_type),
            kind(reader_schema_type)
        ),
        other => other.to_string(),
    }
}

/// The schema kind at the start of a schema's `Debug` text, e.g. `Record`.
fn kind(debug: &str) -> &str {
    let end = debug
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(debug.len());
    &debug[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema(fields: &str) -> Schema {
        Schema::parse_str(&format!(
            r#"{{"type":"record","name":"R","fields":[{fields}]}}"#
        ))
        .expect("schema")
    }

    fn v1() -> Schema {
        schema(r#"{"name":"a","type":"int"}"#)
    }

    /// Adds a field with a default: backward and forward compatible.
    fn with_default() -> Schema {
        schema(r#"{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}"#)
    }

    /// Adds a field without a default: forward but not backward compatible.
    fn without_default() -> Schema {
        schema(r#"{"name":"a","type":"int"},{"name":"b","type":"string"}"#)
    }

    /// Removes `a`, which had no default: backward but not forward compatible.
    fn removed() -> Schema {
        schema(r#"{"name":"c","type":"long","default":0}"#)
    }

    fn changed_type() -> Schema {
        schema(r#"{"name":"a","type":"string"}"#)
    }

    fn ok(level: CompatibilityLevel, new: &Schema, old: &[&Schema]) -> bool {
        let versions: Vec<(u32, &Schema)> = old.iter().zip(1..).map(|(s, v)| (v, *s)).collect();
        check(level, new, &versions).is_empty()
    }

    #[test]
    fn parses_levels_case_insensitively() {
        assert_eq!(
            "full_transitive".parse::<CompatibilityLevel>(),
            Ok(CompatibilityLevel::FullTransitive)
        );
        assert_eq!(CompatibilityLevel::default().name(), "BACKWARD");
        assert!("SIDEWAYS".parse::<CompatibilityLevel>().is_err());
    }

    #[test]
    fn none_accepts_anything() {
        assert!(ok(CompatibilityLevel::None, &changed_type(), &[&v1()]));
    }

    #[test]
    fn backward_needs_defaults_for_new_fields() {
        use CompatibilityLevel::Backward;
        assert!(ok(Backward, &with_default(), &[&v1()]));
        assert!(ok(Backward, &removed(), &[&v1()]));
        assert!(!ok(Backward, &without_default(), &[&v1()]));
        assert!(!ok(Backward, &changed_type(), &[&v1()]));
    }

    #[test]
    fn forward_needs_old_readers_to_cope() {
        use CompatibilityLevel::Forward;
        assert!(ok(Forward, &without_default(), &[&v1()]));
        assert!(ok(Forward, &with_default(), &[&v1()]));
        assert!(!ok(Forward, &removed(), &[&v1()]));
    }

    #[test]
    fn full_needs_both_directions() {
        use CompatibilityLevel::Full;
        assert!(ok(Full, &with_default(), &[&v1()]));
        assert!(!ok(Full, &without_default(), &[&v1()]));
        assert!(!ok(Full, &removed(), &[&v1()]));
    }

    #[test]
    fn transitive_levels_check_every_version() {
        use CompatibilityLevel::*;
        // v1 {a: int}, v2 {a: string} (registered under NONE).
        let (first, second) = (v1(), changed_type());
        let old = [&first, &second];
        let v3 = schema(r#"{"name":"a","type":"string"},{"name":"b","type":"int","default":1}"#);
        assert!(ok(Backward, &v3, &old), "reads the latest");
        assert!(!ok(BackwardTransitive, &v3, &old), "not the first");
        assert!(ok(Forward, &changed_type(), &old), "the latest reads it");
        assert!(
            !ok(ForwardTransitive, &changed_type(), &old),
            "not the first"
        );
        assert!(ok(Full, &changed_type(), &old));
        assert!(!ok(FullTransitive, &changed_type(), &old));
    }

    #[test]
    fn messages_name_the_version_and_the_field() {
        let messages = check(
            CompatibilityLevel::Backward,
            &changed_type(),
            &[(1, &v1()), (2, &v1())],
        );
        assert_eq!(messages.len(), 1, "{messages:?}");
        assert!(messages[0].contains("version 2"), "{}", messages[0]);
        assert!(messages[0].contains("field 'a'"), "{}", messages[0]);
        let messages = check(
            CompatibilityLevel::Backward,
            &without_default(),
            &[(1, &v1())],
        );
        assert!(messages[0].contains("'b'"), "{}", messages[0]);
        assert!(messages[0].contains("no default"), "{}", messages[0]);
    }
}
