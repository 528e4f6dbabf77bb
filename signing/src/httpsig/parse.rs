//! Parsing `Signature-Input` and `Signature` header values.

use super::{SigError, SignatureParams};
use crate::sfv::{self, BareItem, Member};

/// One signature found in a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSignature {
    /// Dictionary label, e.g. `sig1`.
    pub label: String,
    /// Parsed parameters.
    pub params: SignatureParams,
    /// `@signature-params` value used in the signature base (RFC 9421 §2.3
    /// serialization of the received inner list, unknown parameters kept).
    pub params_serialized: String,
    /// Raw signature bytes.
    pub signature: Vec<u8>,
}

/// Parses every signature in `Signature-Input` with its `Signature` value.
///
/// Each input label must have a byte-sequence `Signature` member; extra
/// `Signature` members without an input are ignored.
pub fn parse_signatures(
    signature_input: &str,
    signature: &str,
) -> Result<Vec<ParsedSignature>, SigError> {
    let inputs = sfv::parse_dictionary(signature_input)
        .map_err(|e| SigError::MalformedHeader(format!("Signature-Input: {e}")))?;
    let values = sfv::parse_dictionary(signature)
        .map_err(|e| SigError::MalformedHeader(format!("Signature: {e}")))?;
    if inputs.is_empty() {
        return Err(SigError::MissingSignature(
            "Signature-Input is empty".into(),
        ));
    }
    let mut out = Vec::with_capacity(inputs.len());
    for (label, member) in inputs {
        let Member::InnerList(list) = member else {
            return Err(SigError::MalformedHeader(format!(
                "Signature-Input member {label} is not an inner list"
            )));
        };
        let sig = match values.iter().find(|(l, _)| *l == label) {
            Some((_, Member::Item(item))) => match &item.bare {
                BareItem::ByteSeq(bytes) => bytes.clone(),
                _ => {
                    return Err(SigError::MalformedHeader(format!(
                        "Signature member {label} is not a byte sequence"
                    )));
                }
            },
            Some((_, Member::InnerList(_))) => {
                return Err(SigError::MalformedHeader(format!(
                    "Signature member {label} is not a byte sequence"
                )));
            }
            None => {
                return Err(SigError::MissingSignature(format!(
                    "no Signature for {label}"
                )));
            }
        };
        out.push(ParsedSignature {
            params: SignatureParams::from_inner_list(&list)?,
            params_serialized: sfv::serialize_inner_list(&list),
            label,
            signature: sig,
        });
    }
    Ok(out)
}

/// Parses signatures from request headers, combining repeated field lines.
pub fn parse_signatures_from_headers(
    headers: &http::HeaderMap,
) -> Result<Vec<ParsedSignature>, SigError> {
    let input = combined(headers, "signature-input")?
        .ok_or_else(|| SigError::MissingSignature("no Signature-Input header".into()))?;
    let signature = combined(headers, "signature")?
        .ok_or_else(|| SigError::MissingSignature("no Signature header".into()))?;
    parse_signatures(&input, &signature)
}

fn combined(headers: &http::HeaderMap, name: &str) -> Result<Option<String>, SigError> {
    let mut lines = Vec::new();
    for value in headers.get_all(name) {
        let text = value
            .to_str()
            .map_err(|_| SigError::MalformedHeader(format!("{name} is not ASCII")))?;
        lines.push(text);
    }
    Ok((!lines.is_empty()).then(|| lines.join(", ")))
}
