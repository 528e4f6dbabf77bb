//! The signature base (RFC 9421 §2.5).

use super::components::component_value;
use super::{RequestParts, SigError};

/// Builds the signature base for `components` and the serialized parameters.
///
/// `params_serialized` is the `@signature-params` value, i.e. the
/// `Signature-Input` member without its `label=` prefix.
pub fn signature_base(
    parts: &RequestParts<'_>,
    params_serialized: &str,
    components: &[String],
) -> Result<String, SigError> {
    let mut out = String::new();
    for (i, component) in components.iter().enumerate() {
        if components[..i].contains(component) {
            return Err(SigError::MalformedHeader(format!(
                "component {component} covered twice"
            )));
        }
        let value = component_value(parts, component)?;
        out.push('"');
        out.push_str(component);
        out.push_str("\": ");
        out.push_str(&value);
        out.push('\n');
    }
    out.push_str("\"@signature-params\": ");
    out.push_str(params_serialized);
    Ok(out)
}
