//! A small client for any Confluent-compatible registry: registers the
//! schemas Moneta needs at start-up and returns their ids.

use reqwest::Url;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde::Deserialize;
use serde_json::json;

use crate::api::MEDIA_TYPE;
use crate::error::RegistryError;

#[derive(Deserialize)]
struct Registered {
    id: u32,
}

#[derive(Deserialize)]
struct ErrorBody {
    error_code: i64,
    message: String,
}

/// Registers each `(subject, Avro schema JSON)` at the registry at
/// `base_url` (e.g. `http://127.0.0.1:8081`), in order; returns the ids.
pub async fn register_all(
    base_url: &str,
    subjects: &[(String, String)],
) -> Result<Vec<u32>, RegistryError> {
    moneta_tls::install_crypto_provider();
    let client = reqwest::Client::new();
    let mut ids = Vec::with_capacity(subjects.len());
    for (subject, schema) in subjects {
        ids.push(register(&client, base_url, subject, schema).await?);
    }
    Ok(ids)
}

/// `POST {base_url}/subjects/{subject}/versions`.
async fn register(
    client: &reqwest::Client,
    base_url: &str,
    subject: &str,
    schema: &str,
) -> Result<u32, RegistryError> {
    let url = versions_url(base_url, subject)?;
    let http = |source| RegistryError::Http {
        subject: subject.to_owned(),
        url: base_url.to_owned(),
        source,
    };
    let response = client
        .post(url)
        .header(CONTENT_TYPE, MEDIA_TYPE)
        .header(ACCEPT, MEDIA_TYPE)
        .body(json!({ "schema": schema }).to_string())
        .send()
        .await
        .map_err(http)?;
    let status = response.status();
    if status.is_success() {
        return Ok(response.json::<Registered>().await.map_err(http)?.id);
    }
    let text = response.text().await.map_err(http)?;
    let (error_code, message) = match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => (body.error_code, body.message),
        Err(_) => (i64::from(status.as_u16()), text),
    };
    if status == reqwest::StatusCode::CONFLICT {
        return Err(RegistryError::Incompatible {
            subject: subject.to_owned(),
            message,
        });
    }
    Err(RegistryError::Refused {
        subject: subject.to_owned(),
        status: status.as_u16(),
        error_code,
        message,
    })
}

/// `{base_url}/subjects/{subject}/versions`, the subject percent-encoded.
fn versions_url(base_url: &str, subject: &str) -> Result<Url, RegistryError> {
    let bad = |reason: String| RegistryError::BadUrl {
        url: base_url.to_owned(),
        reason,
    };
    let mut url = Url::parse(base_url).map_err(|e| bad(e.to_string()))?;
    url.path_segments_mut()
        .map_err(|()| bad("cannot be a base URL".into()))?
        .pop_if_empty()
        .extend(["subjects", subject, "versions"]);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_subject_as_one_path_segment() {
        let url = versions_url("http://h:8081/", "a/b c-value").expect("url");
        assert_eq!(
            url.as_str(),
            "http://h:8081/subjects/a%2Fb%20c-value/versions"
        );
        let url = versions_url("http://h:8081/prefix", "s").expect("url");
        assert_eq!(url.as_str(), "http://h:8081/prefix/subjects/s/versions");
        assert!(versions_url("not a url", "s").is_err());
    }
}
