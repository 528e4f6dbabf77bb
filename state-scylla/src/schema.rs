//! The CQL schema, `schemas/cql/moneta.cql`, compiled in and split into
//! statements for [`crate::ScyllaStore::connect`] to run at start-up.
//!
//! The file names its keyspace `moneta`; [`statements`] renames it to the
//! keyspace asked for (tests use one keyspace per process), and turns
//! `USE moneta` into a [`SchemaStatement::Use`] so the session switches
//! keyspace on every connection, not only on the one that ran the query.

use moneta_state::StoreError;

/// The schema file, verbatim.
pub const SCHEMA_CQL: &str = include_str!("../../schemas/cql/moneta.cql");

/// The keyspace name the schema file is written with.
pub const SCHEMA_KEYSPACE: &str = "moneta";

/// One statement of the schema, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaStatement {
    /// A CQL statement to execute as is.
    Cql(String),
    /// Switch the session to the keyspace.
    Use,
}

/// The statements of the schema file: `--` comments removed, split on `;`,
/// trimmed, empty ones dropped. Unchanged, so a test can count them.
pub fn raw_statements(cql: &str) -> Vec<String> {
    let code: String = cql
        .lines()
        .map(|line| line.find("--").map_or(line, |at| &line[..at]))
        .collect::<Vec<_>>()
        .join("\n");
    code.split(';')
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|s| !s.is_empty())
        .collect()
}

/// Whether `name` is a keyspace name this backend accepts: lowercase ASCII
/// letters, digits and `_`, starting with a letter, at most 48 characters
/// (CQL's limit). It is spliced into CQL text, so nothing else may pass.
pub fn valid_keyspace(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && name.len() <= 48
}

/// The schema's statements for `keyspace`.
pub fn statements(keyspace: &str) -> Result<Vec<SchemaStatement>, StoreError> {
    if !valid_keyspace(keyspace) {
        return Err(StoreError::Backend(format!(
            "invalid keyspace name {keyspace:?}: want [a-z][a-z0-9_]{{0,47}}"
        )));
    }
    let create = format!("CREATE KEYSPACE IF NOT EXISTS {SCHEMA_KEYSPACE} ");
    let use_keyspace = format!("USE {SCHEMA_KEYSPACE}");
    raw_statements(SCHEMA_CQL)
        .into_iter()
        .map(|statement| {
            if let Some(rest) = statement.strip_prefix(&create) {
                Ok(SchemaStatement::Cql(format!(
                    "CREATE KEYSPACE IF NOT EXISTS {keyspace} {rest}"
                )))
            } else if statement == use_keyspace {
                Ok(SchemaStatement::Use)
            } else if statement.starts_with("CREATE TABLE IF NOT EXISTS ") {
                Ok(SchemaStatement::Cql(statement))
            } else {
                Err(StoreError::Backend(format!(
                    "unexpected statement in moneta.cql: {statement}"
                )))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_file_parses_into_its_statements() {
        let raw = raw_statements(SCHEMA_CQL);
        // Keyspace, USE, and six tables.
        assert_eq!(raw.len(), 8, "{raw:#?}");
        assert!(raw.iter().all(|s| !s.trim().is_empty()));
        let tables: Vec<&str> = raw
            .iter()
            .filter_map(|s| s.strip_prefix("CREATE TABLE IF NOT EXISTS "))
            .filter_map(|s| s.split_whitespace().next())
            .collect();
        assert_eq!(
            tables,
            [
                "docs",
                "docs_by_kind",
                "doc_index",
                "contracts",
                "contract_events",
                "contracts_by_field"
            ]
        );
    }

    #[test]
    fn keyspace_is_renamed() {
        let statements = statements("moneta_test_42").expect("statements");
        assert_eq!(statements.len(), 8);
        match &statements[0] {
            SchemaStatement::Cql(cql) => assert!(
                cql.starts_with("CREATE KEYSPACE IF NOT EXISTS moneta_test_42 WITH replication"),
                "{cql}"
            ),
            other => panic!("first statement: {other:?}"),
        }
        assert_eq!(statements[1], SchemaStatement::Use);
        assert!(
            statements[2..]
                .iter()
                .all(|s| matches!(s, SchemaStatement::Cql(c) if c.starts_with("CREATE TABLE")))
        );
    }

    #[test]
    fn keyspace_names_are_checked() {
        assert!(valid_keyspace("moneta"));
        assert!(valid_keyspace("moneta_test_123"));
        for bad in ["", "1abc", "Moneta", "a;DROP", "a b", &"a".repeat(49)] {
            assert!(!valid_keyspace(bad), "{bad:?}");
            assert!(statements(bad).is_err(), "{bad:?}");
        }
    }
}
