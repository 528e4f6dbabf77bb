//! Signature parameters and their `@signature-params` serialization.

use super::SigError;
use crate::sfv::{self, BareItem, InnerList, Item};

/// Covered components and metadata of one signature (RFC 9421 §2.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignatureParams {
    /// Covered component identifiers, in order (e.g. `@method`, `content-digest`).
    pub components: Vec<String>,
    /// `created`: UNIX seconds at signing time.
    pub created: Option<i64>,
    /// `expires`: UNIX seconds after which the signature is invalid.
    pub expires: Option<i64>,
    /// `keyid`: identifier of the signing key.
    pub keyid: Option<String>,
    /// `alg`: algorithm; only `ed25519` is accepted.
    pub alg: Option<String>,
    /// `nonce`: random value for replay protection.
    pub nonce: Option<String>,
    /// `tag`: application-specific tag.
    pub tag: Option<String>,
}

impl SignatureParams {
    /// Creates parameters covering `components` with no metadata.
    pub fn new(components: &[&str]) -> Self {
        Self {
            components: components.iter().map(|c| (*c).to_owned()).collect(),
            ..Self::default()
        }
    }

    /// Serializes as the `@signature-params` value / `Signature-Input` member.
    ///
    /// Parameters are written in the order created, expires, keyid, alg,
    /// nonce, tag — e.g. `("@method" "@path");created=1618884473;keyid="k"`.
    pub fn serialize(&self) -> Result<String, SigError> {
        let mut items = Vec::with_capacity(self.components.len());
        for component in &self.components {
            if !sfv::is_sf_string(component) {
                return Err(SigError::UnsupportedComponent(
                    component.escape_default().to_string(),
                ));
            }
            items.push(Item {
                bare: BareItem::String(component.clone()),
                params: Vec::new(),
            });
        }
        let mut params = Vec::new();
        let ints = [("created", self.created), ("expires", self.expires)];
        for (key, value) in ints {
            if let Some(v) = value {
                params.push((key.to_owned(), BareItem::Integer(v)));
            }
        }
        let strings = [
            ("keyid", &self.keyid),
            ("alg", &self.alg),
            ("nonce", &self.nonce),
            ("tag", &self.tag),
        ];
        for (key, value) in strings {
            if let Some(v) = value {
                if !sfv::is_sf_string(v) {
                    return Err(SigError::MalformedHeader(format!(
                        "{key} must be printable ASCII"
                    )));
                }
                params.push((key.to_owned(), BareItem::String(v.clone())));
            }
        }
        Ok(sfv::serialize_inner_list(&InnerList { items, params }))
    }

    /// Reads parameters from a parsed `Signature-Input` inner list.
    pub(crate) fn from_inner_list(list: &InnerList) -> Result<Self, SigError> {
        let mut out = Self::default();
        for item in &list.items {
            let BareItem::String(name) = &item.bare else {
                return Err(SigError::MalformedHeader(
                    "component identifiers must be strings".into(),
                ));
            };
            if let Some((param, _)) = item.params.first() {
                return Err(SigError::UnsupportedComponent(format!("{name};{param}")));
            }
            if out.components.contains(name) {
                return Err(SigError::MalformedHeader(format!(
                    "component {name} covered twice"
                )));
            }
            out.components.push(name.clone());
        }
        for (key, value) in &list.params {
            match (key.as_str(), value) {
                ("created", BareItem::Integer(v)) => out.created = Some(*v),
                ("expires", BareItem::Integer(v)) => out.expires = Some(*v),
                ("keyid", BareItem::String(v)) => out.keyid = Some(v.clone()),
                ("alg", BareItem::String(v)) => out.alg = Some(v.clone()),
                ("nonce", BareItem::String(v)) => out.nonce = Some(v.clone()),
                ("tag", BareItem::String(v)) => out.tag = Some(v.clone()),
                ("created" | "expires" | "keyid" | "alg" | "nonce" | "tag", _) => {
                    return Err(SigError::MalformedHeader(format!(
                        "signature parameter {key} has the wrong type"
                    )));
                }
                // Unknown parameters stay in the serialized form only.
                _ => {}
            }
        }
        Ok(out)
    }
}
