//! Versioned contract templates (design §2.3, ContractTemplates table).
//!
//! The design keys a template by `(template_name, version)`; here that pair is
//! one id, `name \u{1f} version` with the version zero-padded to ten digits so
//! ids sort by name, then numerically by version.

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};

/// One version of a contract template.
///
/// On deserialization `id` is recomputed from `name` and `version`, so it
/// always equals [`ContractTemplate::key`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "TemplateWire")]
pub struct ContractTemplate {
    /// Primary key: [`ContractTemplate::key`] of `name` and `version`.
    pub id: String,
    /// Template name, e.g. `transaction-contract`.
    pub name: String,
    /// Version number.
    pub version: u32,
    /// Human-readable description.
    pub description: String,
    /// When this version was created, Unix seconds.
    pub created_at: i64,
    /// Whether this is the current version of the template.
    pub is_latest: bool,
    /// The YAML defining attributes, schema rules and signature rules.
    pub template_payload: String,
}

impl ContractTemplate {
    /// Index on the template name (all versions of one template).
    pub const INDEX_NAME: &'static str = "name";

    /// The id of version `version` of template `name`.
    pub fn key(name: &str, version: u32) -> String {
        Self::join(&[name, &format!("{version:010}")])
    }

    /// A template version with its id computed from `name` and `version`.
    pub fn new(
        name: impl Into<String>,
        version: u32,
        description: impl Into<String>,
        created_at: i64,
        is_latest: bool,
        template_payload: impl Into<String>,
    ) -> Self {
        let name = name.into();
        Self {
            id: Self::key(&name, version),
            name,
            version,
            description: description.into(),
            created_at,
            is_latest,
            template_payload: template_payload.into(),
        }
    }
}

impl Entity for ContractTemplate {
    const KIND: Kind = Kind::ContractTemplate;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![(Self::INDEX_NAME, self.name.clone())]
    }
}

/// The stored form; `id` is ignored and recomputed.
#[derive(Deserialize)]
struct TemplateWire {
    name: String,
    version: u32,
    description: String,
    created_at: i64,
    is_latest: bool,
    template_payload: String,
}

impl From<TemplateWire> for ContractTemplate {
    fn from(w: TemplateWire) -> Self {
        ContractTemplate::new(
            w.name,
            w.version,
            w.description,
            w.created_at,
            w.is_latest,
            w.template_payload,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_index() {
        let t = ContractTemplate::new("transaction-contract", 7, "d", 1, true, "rules: []\n");
        assert_eq!(t.id, "transaction-contract\u{1f}0000000007");
        assert_eq!(t.id(), ContractTemplate::key("transaction-contract", 7));
        assert_eq!(
            t.indexes(),
            vec![("name", "transaction-contract".to_string())]
        );
        // zero padding keeps numeric order in byte order
        assert!(ContractTemplate::key("a", 9) < ContractTemplate::key("a", 10));
        assert_eq!(ContractTemplate::key("a", u32::MAX), "a\u{1f}4294967295");
    }

    #[test]
    fn deserialization_recomputes_id() {
        let t = ContractTemplate::new("t", 2, "d", 1, false, "x: 1\n");
        let mut json = serde_json::to_value(&t).expect("serialize");
        assert_eq!(json["id"], "t\u{1f}0000000002");
        json["id"] = serde_json::json!("bogus");
        let back: ContractTemplate = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, t);
    }
}
