//! The contract template format: a YAML document holding the attribute
//! schema (JSON Schema) of a contract's payload and the signature rules.
//!
//! ```yaml
//! name: subscription-charge        # [a-z0-9-]+
//! version: 1                       # ≥ 1; name + version identify it
//! description: A subscription charge from a publisher to an MO member.
//! contract_type: subscription_charge
//! attributes:                      # JSON Schema (2020-12) of the payload
//!   type: object
//!   required: [amount_minor, currency]
//!   properties:
//!     amount_minor: { type: integer, minimum: 0 }
//!     currency: { type: string, pattern: "^[A-Z]{3}$" }
//! signatures:
//!   required: [publisher, mo]      # parties that must sign
//!   order: [publisher, mo]         # optional: the order they sign in
//!   moneta_countersigns: true      # Moneta signs once the parties have
//! ```
//!
//! Documented in `docs/templates.md`; examples ship in `schemas/templates/`.

use serde::{Deserialize, Serialize};

/// A party that signs contracts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The Membership Organization.
    Mo,
    /// The publisher.
    Publisher,
}

impl Party {
    /// The party's name in templates, contracts and webhooks: `mo`, `publisher`.
    pub fn as_str(self) -> &'static str {
        match self {
            Party::Mo => "mo",
            Party::Publisher => "publisher",
        }
    }
}

/// Who signs, in what order, and whether Moneta countersigns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureRules {
    /// Parties whose signatures are required.
    pub required: Vec<Party>,
    /// The order they must sign in; empty means any order.
    #[serde(default)]
    pub order: Vec<Party>,
    /// Parties of which exactly one signs (e.g. whoever submits a
    /// reconciliation); in addition to `required`.
    #[serde(default)]
    pub any_of: Vec<Party>,
    /// Whether Moneta countersigns once every required party has signed.
    pub moneta_countersigns: bool,
    /// Seconds after its creation within which every required party must
    /// have signed a contract of this template; past it the contract is
    /// `expired`. Unset: `[rules] signature_expiry_s`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_after_s: Option<i64>,
}

/// A parsed and validated contract template.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateDocument {
    /// Template name.
    pub name: String,
    /// Template version, from 1.
    pub version: u32,
    /// What contracts of this template are for.
    pub description: String,
    /// The contract type it creates (`subscription_charge`, `dispute`, …).
    pub contract_type: String,
    /// JSON Schema of the contract payload.
    pub attributes: serde_json::Value,
    /// Signature rules.
    pub signatures: SignatureRules,
}

/// Why a template was refused; `code` is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct TemplateError {
    /// `invalid_yaml`, `invalid_name`, `invalid_version`, `invalid_attribute_schema`
    /// or `invalid_signature_rules`.
    pub code: &'static str,
    /// What is wrong, and where.
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> TemplateError {
    TemplateError {
        code,
        message: message.into(),
    }
}

impl TemplateDocument {
    /// Parses and validates a template's YAML.
    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        let document: TemplateDocument =
            serde_norway::from_str(yaml).map_err(|e| refuse("invalid_yaml", e.to_string()))?;
        document.validate()?;
        Ok(document)
    }

    /// Checks name, version, attribute schema and signature rules.
    pub fn validate(&self) -> Result<(), TemplateError> {
        let name_ok = !self.name.is_empty()
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(refuse(
                "invalid_name",
                format!("name {:?} must be non-empty [a-z0-9-]", self.name),
            ));
        }
        if self.version == 0 {
            return Err(refuse("invalid_version", "version starts at 1"));
        }
        if self.attributes.get("type").and_then(|t| t.as_str()) != Some("object") {
            return Err(refuse(
                "invalid_attribute_schema",
                "attributes must be a JSON Schema with `type: object`",
            ));
        }
        jsonschema::validator_for(&self.attributes)
            .map_err(|e| refuse("invalid_attribute_schema", e.to_string()))?;
        self.validate_signatures()
    }

    fn validate_signatures(&self) -> Result<(), TemplateError> {
        let rules = &self.signatures;
        let bad = |m: String| Err(refuse("invalid_signature_rules", m));
        if rules.required.is_empty() && rules.any_of.is_empty() {
            return bad("at least one party must sign (`required` or `any_of`)".into());
        }
        if rules.any_of.iter().any(|p| rules.required.contains(p)) {
            return bad("a party is both `required` and in `any_of`".into());
        }
        if rules.expires_after_s.is_some_and(|s| s <= 0) {
            return bad("`expires_after_s` must be a positive number of seconds".into());
        }
        let mut required = rules.required.clone();
        required.sort();
        required.dedup();
        if required.len() != rules.required.len() {
            return bad("a party is listed twice in `required`".into());
        }
        if !rules.order.is_empty() {
            let mut order = rules.order.clone();
            order.sort();
            if order != required {
                return bad("`order` must list each required party exactly once".into());
            }
        }
        Ok(())
    }

    /// Every way `payload` breaks the attribute schema (empty if none), each
    /// naming the JSON pointer where it happens.
    pub fn payload_errors(&self, payload: &serde_json::Value) -> Vec<String> {
        match jsonschema::validator_for(&self.attributes) {
            Ok(validator) => validator
                .iter_errors(payload)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect(),
            Err(e) => vec![format!("template schema: {e}")],
        }
    }

    /// Whether the partner signatures are complete: every required party,
    /// and one of `any_of` if it is set.
    pub fn signatures_complete(&self, signed: &[Party]) -> bool {
        let rules = &self.signatures;
        rules.required.iter().all(|p| signed.contains(p))
            && (rules.any_of.is_empty() || rules.any_of.iter().any(|p| signed.contains(p)))
    }

    /// The parties a contract that `signed` have signed waits for now: the
    /// next in the template's order, or else every required party that has
    /// not signed. None once the signatures are complete.
    pub fn awaited(&self, signed: &[Party]) -> Vec<Party> {
        if self.signatures_complete(signed) {
            return Vec::new();
        }
        if self.signatures.order.is_empty() {
            let pending = |p: &&Party| !signed.contains(p);
            self.signatures
                .required
                .iter()
                .filter(pending)
                .copied()
                .collect()
        } else {
            self.next_signer(signed).into_iter().collect()
        }
    }

    /// The party that must sign next given those that have, if any.
    pub fn next_signer(&self, signed: &[Party]) -> Option<Party> {
        let pending = |p: &Party| !signed.contains(p);
        if self.signatures.order.is_empty() {
            self.signatures.required.iter().copied().find(pending)
        } else {
            self.signatures.order.iter().copied().find(pending)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
name: subscription-charge
version: 1
description: A subscription charge.
contract_type: subscription_charge
attributes:
  type: object
  required: [amount_minor, currency]
  properties:
    amount_minor: { type: integer, minimum: 0 }
    currency: { type: string, pattern: "^[A-Z]{3}$" }
signatures:
  required: [publisher, mo]
  order: [publisher, mo]
  moneta_countersigns: true
"#;

    #[test]
    fn parses_a_valid_template_and_checks_payloads() {
        let t = TemplateDocument::parse(VALID).expect("valid");
        assert_eq!((t.name.as_str(), t.version), ("subscription-charge", 1));
        assert!(
            t.payload_errors(&serde_json::json!({"amount_minor": 999, "currency": "EUR"}))
                .is_empty()
        );
        let errors = t.payload_errors(&serde_json::json!({"amount_minor": -1, "currency": "euro"}));
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors.iter().any(|e| e.starts_with("/amount_minor")),
            "{errors:?}"
        );
        assert_eq!(t.next_signer(&[]), Some(Party::Publisher));
        assert_eq!(t.next_signer(&[Party::Publisher]), Some(Party::Mo));
        assert_eq!(t.next_signer(&[Party::Publisher, Party::Mo]), None);
        assert_eq!(t.awaited(&[Party::Publisher]), [Party::Mo]);
        assert!(t.awaited(&[Party::Publisher, Party::Mo]).is_empty());
        let unordered = VALID.replace("  order: [publisher, mo]\n", "");
        let u = TemplateDocument::parse(&unordered).expect("valid");
        assert_eq!(u.awaited(&[]), [Party::Publisher, Party::Mo]);
        assert_eq!(u.awaited(&[Party::Mo]), [Party::Publisher]);
    }

    #[test]
    fn every_shipped_example_template_is_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/templates");
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&dir).expect("schemas/templates") {
            let path = entry.expect("entry").path();
            let yaml = std::fs::read_to_string(&path).expect("read");
            let template = TemplateDocument::parse(&yaml)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            names.push(template.contract_type);
        }
        names.sort();
        assert_eq!(
            names,
            [
                "dispute",
                "dispute",
                "dispute_resolution",
                "reconciliation",
                "settlement",
                "settlement_statement",
                "subscription_charge"
            ]
        );
    }

    #[test]
    fn refuses_bad_templates_with_stable_codes() {
        let cases = [
            ("name: x\nversion: [", "invalid_yaml"),
            (
                &VALID.replace("name: subscription-charge", "name: Sub Charge"),
                "invalid_name",
            ),
            (
                &VALID.replace("version: 1", "version: 0"),
                "invalid_version",
            ),
            (
                &VALID.replace("  type: object", "  type: array"),
                "invalid_attribute_schema",
            ),
            (
                &VALID.replace("{ type: integer, minimum: 0 }", "{ type: integr }"),
                "invalid_attribute_schema",
            ),
            (
                &VALID.replace("required: [publisher, mo]", "required: []"),
                "invalid_signature_rules",
            ),
            (
                &VALID.replace("order: [publisher, mo]", "order: [publisher]"),
                "invalid_signature_rules",
            ),
            (
                &VALID.replace("required: [publisher, mo]", "required: [mo, mo]"),
                "invalid_signature_rules",
            ),
            (
                &VALID.replace(
                    "moneta_countersigns: true",
                    "moneta_countersigns: true\n  extra: 1",
                ),
                "invalid_yaml",
            ),
        ];
        for (yaml, code) in cases {
            let error = TemplateDocument::parse(yaml).expect_err(code);
            assert_eq!(error.code, code, "{error}");
        }
    }
}
