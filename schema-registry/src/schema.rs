//! One registered Avro schema: its text as submitted, parsed, and its
//! Parsing Canonical Form (the dedupe key for global ids).

use apache_avro::Schema;

/// The only schema type this registry accepts.
pub const AVRO: &str = "AVRO";

/// A parsed Avro schema together with the text it was registered with.
#[derive(Debug, Clone)]
pub struct AvroSchema {
    /// The schema text as first registered; served back verbatim.
    pub text: String,
    /// The parsed schema, for compatibility checks.
    pub parsed: Schema,
    /// Parsing Canonical Form: schemas with equal forms share one id.
    pub canonical: String,
}

impl AvroSchema {
    /// Parses `text`; the error explains why it is not a valid Avro schema.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim().is_empty() {
            return Err("Empty schema".into());
        }
        let parsed = Schema::parse_str(text).map_err(|e| format!("Invalid schema: {e}"))?;
        Ok(Self {
            text: text.to_owned(),
            canonical: parsed.canonical_form(),
            parsed,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_canonical_forms_ignore_docs_and_whitespace() {
        let a = AvroSchema::parse(
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#,
        )
        .expect("a");
        let b = AvroSchema::parse(
            r#"{ "type": "record", "name": "R", "doc": "x",
                 "fields": [ { "name": "a", "type": "int", "doc": "y" } ] }"#,
        )
        .expect("b");
        assert_eq!(a.canonical, b.canonical);
        assert_ne!(a.text, b.text);
    }

    #[test]
    fn refuses_invalid_and_empty_schemas() {
        assert!(AvroSchema::parse("").is_err());
        assert!(AvroSchema::parse(r#"{"type":"record","name":"R"}"#).is_err());
        assert!(AvroSchema::parse(r#"{"type":"nope"}"#).is_err());
    }
}
