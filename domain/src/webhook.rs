//! Partners' webhook endpoints, where Moneta delivers contract events.
//!
//! Not in design §2.3 (the design keeps webhooks inside MO metadata); kept
//! as its own record so endpoints and secrets can be managed one by one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};

/// A partner's webhook endpoint.
///
/// `Debug` never prints the signing secret, only `***`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// Primary key.
    pub id: String,
    /// The organization (MO or publisher) that owns it.
    pub organization_id: String,
    /// Where events are POSTed.
    pub url: String,
    /// The event types delivered here.
    pub event_types: Vec<String>,
    /// Whether deliveries are made.
    pub enabled: bool,
    /// The signing secret (prefixed `whsec_`), if deliveries are signed.
    #[serde(default)]
    pub secret: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Attempts per delivery, when this endpoint wants more than the default.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Per-attempt timeout, ms, when not the default.
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    /// The secret `secret` replaced, still signing beside it until
    /// `previous_secret_until` (a rotation's overlap window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret: Option<String>,
    /// When the previous secret stops signing, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_secret_until: Option<i64>,
}

impl WebhookEndpoint {
    /// Index on the owning organization.
    pub const INDEX_ORGANIZATION: &'static str = "organization";

    /// The prefix every webhook signing secret carries.
    pub const SECRET_PREFIX: &'static str = "whsec_";

    /// The secrets deliveries are signed with at `now` (Unix seconds): the
    /// current one, and the previous one during a rotation's overlap.
    pub fn signing_secrets(&self, now: i64) -> Vec<&str> {
        let previous = self
            .previous_secret
            .as_deref()
            .filter(|_| self.previous_secret_until.is_some_and(|until| now < until));
        self.secret.as_deref().into_iter().chain(previous).collect()
    }

    /// Whether the endpoint wants events of type `event_type`.
    pub fn accepts(&self, event_type: &str) -> bool {
        self.enabled && self.event_types.iter().any(|t| t == event_type)
    }
}

impl fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookEndpoint")
            .field("id", &self.id)
            .field("organization_id", &self.organization_id)
            .field("url", &self.url)
            .field("event_types", &self.event_types)
            .field("enabled", &self.enabled)
            .field("secret", &self.secret.as_ref().map(|_| Redacted))
            .field("created_at", &self.created_at)
            .field("max_attempts", &self.max_attempts)
            .field("timeout_ms", &self.timeout_ms)
            .field(
                "previous_secret",
                &self.previous_secret.as_ref().map(|_| Redacted),
            )
            .field("previous_secret_until", &self.previous_secret_until)
            .finish()
    }
}

/// Prints `***` in place of a secret.
struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Entity for WebhookEndpoint {
    const KIND: Kind = Kind::WebhookEndpoint;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![(Self::INDEX_ORGANIZATION, self.organization_id.clone())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(secret: Option<&str>) -> WebhookEndpoint {
        WebhookEndpoint {
            id: "wh-1".into(),
            organization_id: "org-1".into(),
            url: "https://example.test/hook".into(),
            event_types: vec!["contract.signed".into()],
            enabled: true,
            secret: secret.map(Into::into),
            created_at: 1,
            max_attempts: None,
            timeout_ms: None,
            previous_secret: None,
            previous_secret_until: None,
        }
    }

    #[test]
    fn the_previous_secret_signs_only_within_its_overlap() {
        let mut e = endpoint(Some("whsec_new"));
        assert_eq!(e.signing_secrets(100), ["whsec_new"]);
        e.previous_secret = Some("whsec_old".into());
        e.previous_secret_until = Some(200);
        assert_eq!(e.signing_secrets(199), ["whsec_new", "whsec_old"]);
        assert_eq!(e.signing_secrets(200), ["whsec_new"]);
        assert!(!format!("{e:?}").contains("whsec_old"));
    }

    #[test]
    fn debug_never_shows_secret() {
        let e = endpoint(Some("whsec_s3cr3t-value"));
        assert!(format!("{e:?}").contains("secret: Some(***)"));
        for text in [format!("{e:?}"), format!("{e:#?}")] {
            assert!(!text.contains("s3cr3t"), "{text}");
            assert!(!text.contains("whsec_"), "{text}");
            assert!(text.contains("***"), "{text}");
            assert!(text.contains("https://example.test/hook"), "{text}");
        }
        assert!(format!("{:?}", endpoint(None)).contains("secret: None"));
    }

    #[test]
    fn accepts_and_indexes() {
        let mut e = endpoint(None);
        assert!(e.accepts("contract.signed"));
        assert!(!e.accepts("contract.disputed"));
        e.enabled = false;
        assert!(!e.accepts("contract.signed"));
        assert_eq!(e.indexes(), vec![("organization", "org-1".to_string())]);
    }
}
