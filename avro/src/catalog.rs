//! Which schema each topic's keys and values use, and the subjects they are
//! registered under (Confluent's TopicNameStrategy: `<topic>-key`,
//! `<topic>-value`).

use apache_avro::Schema;

pub use moneta_records::SchemaName;

/// Parsing a shipped schema.
pub trait ParseSchema {
    /// The parsed schema.
    fn parse(self) -> Result<Schema, apache_avro::Error>;
}

impl ParseSchema for SchemaName {
    fn parse(self) -> Result<Schema, apache_avro::Error> {
        Schema::parse_str(self.text())
    }
}

/// A registry subject and the schema registered under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// `<topic>-key` or `<topic>-value`.
    pub name: String,
    /// The schema.
    pub schema: SchemaName,
}

impl Subject {
    /// The key and value subjects of a contract topic whose values use `value`.
    pub fn for_topic(topic: &str, value: SchemaName) -> [Subject; 2] {
        [
            Subject {
                name: format!("{topic}-key"),
                schema: SchemaName::ContractKey,
            },
            Subject {
                name: format!("{topic}-value"),
                schema: value,
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_schema_parses() {
        for name in SchemaName::ALL {
            name.parse()
                .unwrap_or_else(|e| panic!("{} does not parse: {e}", name.file()));
        }
    }

    #[test]
    fn subjects_follow_the_topic_name_strategy() {
        let [key, value] = Subject::for_topic("moneta.contracts.ingest", SchemaName::ContractEvent);
        assert_eq!(key.name, "moneta.contracts.ingest-key");
        assert_eq!(value.name, "moneta.contracts.ingest-value");
        assert_eq!(value.schema, SchemaName::ContractEvent);
    }
}
