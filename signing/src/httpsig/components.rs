//! Component values (RFC 9421 §2.1 fields, §2.2 derived components).

use super::{RequestParts, SigError};

/// Computes the signature-base value of one covered component.
pub(super) fn component_value(parts: &RequestParts<'_>, name: &str) -> Result<String, SigError> {
    match name {
        "@method" => Ok(parts.method.as_str().to_owned()),
        "@target-uri" => target_uri(parts),
        "@authority" => authority(parts),
        "@scheme" => Ok(scheme(parts)),
        "@request-target" => Ok(parts
            .uri
            .path_and_query()
            .map(|pq| pq.as_str())
            .filter(|s| !s.is_empty())
            .unwrap_or("/")
            .to_owned()),
        "@path" => Ok(path(parts).to_owned()),
        "@query" => Ok(format!("?{}", parts.uri.query().unwrap_or(""))),
        derived if derived.starts_with('@') => {
            Err(SigError::UnsupportedComponent(derived.to_owned()))
        }
        field => field_value(parts, field),
    }
}

fn path<'a>(parts: &RequestParts<'a>) -> &'a str {
    match parts.uri.path() {
        "" => "/",
        p => p,
    }
}

fn scheme(parts: &RequestParts<'_>) -> String {
    parts
        .uri
        .scheme_str()
        .unwrap_or("http")
        .to_ascii_lowercase()
}

fn authority(parts: &RequestParts<'_>) -> Result<String, SigError> {
    let from_host = || {
        parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
    };
    parts
        .authority
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .or_else(from_host)
        .map(|a| a.trim().to_ascii_lowercase())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| SigError::AbsentField("@authority".into()))
}

fn target_uri(parts: &RequestParts<'_>) -> Result<String, SigError> {
    let query = parts
        .uri
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    Ok(format!(
        "{}://{}{}{query}",
        scheme(parts),
        authority(parts)?,
        path(parts)
    ))
}

/// An HTTP field: values trimmed and combined with `", "` (RFC 9421 §2.1).
fn field_value(parts: &RequestParts<'_>, name: &str) -> Result<String, SigError> {
    let valid = !name.is_empty()
        && name.bytes().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&c)
        });
    if !valid {
        return Err(SigError::UnsupportedComponent(
            name.escape_default().to_string(),
        ));
    }
    let mut values = Vec::new();
    for value in parts.headers.get_all(name) {
        let text = std::str::from_utf8(value.as_bytes())
            .map_err(|_| SigError::UnsupportedComponent(format!("{name} (non-UTF-8 value)")))?;
        values.push(text.trim_matches([' ', '\t']));
    }
    if values.is_empty() {
        return Err(SigError::AbsentField(name.to_owned()));
    }
    Ok(values.join(", "))
}
