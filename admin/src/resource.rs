//! What the admin API needs to know about each registry entity: its URL
//! collection, the lookups it answers, and how it is prepared on create.

use std::collections::BTreeMap;

use moneta_domain::{
    BillingAccount, BillingAccountStatus, ContractTemplate, DeveloperStatus, Entity, KeyState,
    Kind, LifecycleStatus, MPass, MPassStatus, MembershipOrganization, MoDeveloper, Organization,
    PartnerKey, Publisher, PublisherDeveloper, SettlementAgreement, TransitionError,
    WebhookEndpoint,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use axum::http::StatusCode;
use moneta_problem::Problem;

use crate::AdminState;

/// How long a webhook endpoint's replaced secret keeps signing beside the
/// new one, seconds (one day).
pub const SECRET_OVERLAP_S: i64 = 86_400;

/// A registry entity served under `/v1/admin/<COLLECTION>`.
pub trait Resource: Entity + Clone + 'static {
    /// URL segment of the collection.
    const COLLECTION: &'static str;
    /// `(index, query parameters)`: the parameters that select each lookup;
    /// several parameters form a composite value in the listed order.
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])];

    /// Whether the design document keys this entity by a UUID v4 (checked
    /// when `[admin] uuid_ids` is on).
    const UUID_IDS: bool = false;

    /// Fields of this entity a `PATCH` never changes (besides identity,
    /// status and creation, which none may).
    const FIXED: &'static [&'static str] = &[];

    /// Sets server-side fields (timestamps, initial status) and checks the
    /// entity before it is created.
    fn prepare(&mut self, now: i64) -> Result<(), Problem>;

    /// Its `created_by`, for entities that record who created them: set
    /// from the authenticated operator, never taken from the body.
    fn created_by(&mut self) -> Option<&mut String> {
        None
    }

    /// Sets server-side fields (`updated_at`) and checks the entity after a
    /// `PATCH`, before it is written.
    fn revise(&mut self, _now: i64) -> Result<(), Problem> {
        Ok(())
    }

    /// Carries over what a `PATCH` keeps from the entity as it was `before`
    /// (a rotated secret's overlap).
    fn carry(&mut self, _before: &Self, _now: i64) {}

    /// The records this entity names that must exist when it is created:
    /// `(field, id, the kinds it may be)`.
    fn references(&self) -> Vec<(&'static str, String, &'static [Kind])> {
        Vec::new()
    }

    /// Checks the entity against the deployment's policy before it is
    /// created (e.g. cleartext webhook endpoints).
    fn admit(&self, _state: &AdminState) -> Result<(), Problem> {
        Ok(())
    }

    /// Hides what must never leave the server (secrets) before a response.
    fn redact(&mut self) {}
}

/// An entity with a status lifecycle, changed through `…/{id}/status`.
pub trait Lifecycle: Resource {
    /// Its status type.
    type Status: DeserializeOwned + Serialize + Send + Copy;
    /// Applies an allowed transition.
    fn change_status(&mut self, to: Self::Status, now: i64) -> Result<(), TransitionError>;
}

/// The lookup selected by `query` (pagination parameters aside), if any.
pub fn lookup<R: Resource>(
    query: &BTreeMap<String, String>,
) -> Result<Option<(&'static str, String)>, Problem> {
    let given: Vec<&str> = query
        .keys()
        .map(String::as_str)
        .filter(|k| !matches!(*k, "after" | "limit"))
        .collect();
    if given.is_empty() {
        return Ok(None);
    }
    for (index, params) in R::LOOKUPS {
        let mut wanted: Vec<&str> = params.to_vec();
        wanted.sort_unstable();
        if wanted == given {
            let parts: Vec<&str> = params
                .iter()
                .filter_map(|p| query.get(*p).map(String::as_str))
                .collect();
            return Ok(Some((index, R::join(&parts))));
        }
    }
    let known: Vec<String> = R::LOOKUPS.iter().map(|(_, p)| p.join("+")).collect();
    Err(Problem::malformed(format!(
        "no lookup of {} by {}; lookups: {}",
        R::COLLECTION,
        given.join("+"),
        if known.is_empty() {
            "none".into()
        } else {
            known.join(", ")
        }
    )))
}

macro_rules! lifecycle {
    ($type:ty, $status:ty) => {
        impl Lifecycle for $type {
            type Status = $status;
            fn change_status(&mut self, to: $status, now: i64) -> Result<(), TransitionError> {
                self.set_status(to, now)
            }
        }
    };
}

impl Resource for Organization {
    const UUID_IDS: bool = true;
    const COLLECTION: &'static str = "organizations";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] = &[];
    fn created_by(&mut self) -> Option<&mut String> {
        Some(&mut self.created_by)
    }
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        self.created_at = now;
        self.status = LifecycleStatus::Pending;
        Ok(())
    }
}
lifecycle!(Organization, LifecycleStatus);

impl Resource for MembershipOrganization {
    const UUID_IDS: bool = true;
    const COLLECTION: &'static str = "membership-organizations";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] = &[("mic", &["mic"])];
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        (self.created_at, self.updated_at, self.status) = (now, now, LifecycleStatus::Pending);
        crate::rate_limits::check(self.rate_limit.as_ref())
    }
    fn revise(&mut self, now: i64) -> Result<(), Problem> {
        self.updated_at = now;
        crate::rate_limits::check(self.rate_limit.as_ref())
    }
}
lifecycle!(MembershipOrganization, LifecycleStatus);

impl Resource for Publisher {
    const UUID_IDS: bool = true;
    const COLLECTION: &'static str = "publishers";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] = &[("mpc", &["mpc"])];
    fn created_by(&mut self) -> Option<&mut String> {
        Some(&mut self.created_by)
    }
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        (self.created_at, self.updated_at, self.status) = (now, now, LifecycleStatus::Pending);
        crate::rate_limits::check(self.rate_limit.as_ref())
    }
    fn revise(&mut self, now: i64) -> Result<(), Problem> {
        self.updated_at = now;
        crate::rate_limits::check(self.rate_limit.as_ref())
    }
}
lifecycle!(Publisher, LifecycleStatus);

impl Resource for MoDeveloper {
    const UUID_IDS: bool = true;
    const COLLECTION: &'static str = "mo-developers";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] = &[("mo_id", &["mo_id"])];
    fn created_by(&mut self) -> Option<&mut String> {
        Some(&mut self.created_by)
    }
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        (self.created_at, self.status) = (now, DeveloperStatus::Active);
        Ok(())
    }
}
lifecycle!(MoDeveloper, DeveloperStatus);

impl Resource for PublisherDeveloper {
    const UUID_IDS: bool = true;
    const COLLECTION: &'static str = "publisher-developers";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] =
        &[("publisher_id", &["publisher_id"])];
    fn created_by(&mut self) -> Option<&mut String> {
        Some(&mut self.created_by)
    }
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        (self.created_at, self.status) = (now, DeveloperStatus::Active);
        Ok(())
    }
}
lifecycle!(PublisherDeveloper, DeveloperStatus);

impl Resource for MPass {
    const UUID_IDS: bool = true;
    const COLLECTION: &'static str = "mpasses";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] = &[
        ("mpass_number", &["mpass_number"]),
        ("mo_number", &["mo_id", "mpass_number"]),
        ("billing_account", &["billing_account_id"]),
        ("mo", &["mo_id"]),
    ];
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        (self.created_at, self.updated_at, self.status) = (now, now, MPassStatus::Pending);
        Ok(())
    }
    fn revise(&mut self, now: i64) -> Result<(), Problem> {
        self.updated_at = now;
        Ok(())
    }
}
lifecycle!(MPass, MPassStatus);

impl Resource for BillingAccount {
    const UUID_IDS: bool = true;
    const COLLECTION: &'static str = "billing-accounts";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] = &[
        ("mo_account_type", &["mo_id", "account_type"]),
        ("mo", &["mo_id"]),
    ];
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        (self.created_at, self.updated_at, self.status) = (now, now, BillingAccountStatus::Active);
        Ok(())
    }
    fn revise(&mut self, now: i64) -> Result<(), Problem> {
        self.updated_at = now;
        Ok(())
    }
}
lifecycle!(BillingAccount, BillingAccountStatus);

impl Resource for PartnerKey {
    const COLLECTION: &'static str = "keys";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] =
        &[("organization", &["organization_id"])];
    /// A key is rotated by registering a new one, never by editing it.
    const FIXED: &'static [&'static str] = &["organization_id", "algorithm", "public_key"];
    /// A key belongs to an MO or a publisher (not a legal organization).
    fn references(&self) -> Vec<(&'static str, String, &'static [Kind])> {
        vec![(
            "organization_id",
            self.organization_id.clone(),
            &[Kind::MembershipOrganization, Kind::Publisher],
        )]
    }
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        (self.created_at, self.state, self.revoked_at) = (now, KeyState::Active, None);
        self.validate().map_err(|e| Problem::invalid(e.to_string()))
    }
}
lifecycle!(PartnerKey, KeyState);

impl Resource for WebhookEndpoint {
    const COLLECTION: &'static str = "webhook-endpoints";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] =
        &[("organization", &["organization_id"])];
    const FIXED: &'static [&'static str] = &[
        "organization_id",
        "previous_secret",
        "previous_secret_until",
    ];
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        self.created_at = now;
        (self.previous_secret, self.previous_secret_until) = (None, None);
        self.revise(now)
    }
    /// A new secret signs at once; the one it replaces signs beside it for
    /// [`SECRET_OVERLAP_S`], so receivers can switch without losing one
    /// delivery (Standard Webhooks: several `v1` signatures).
    fn carry(&mut self, before: &Self, now: i64) {
        if self.secret != before.secret && before.secret.is_some() {
            self.previous_secret = before.secret.clone();
            self.previous_secret_until = Some(now + SECRET_OVERLAP_S);
        }
    }
    fn revise(&mut self, _now: i64) -> Result<(), Problem> {
        let scheme_ok = self.url.starts_with("https://") || self.url.starts_with("http://");
        if !scheme_ok {
            return Err(Problem::invalid("url must be an http(s) URL"));
        }
        Ok(())
    }

    fn admit(&self, state: &AdminState) -> Result<(), Problem> {
        if self.url.starts_with("http://") && !state.allow_http {
            return Err(Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "insecure_endpoint",
                "Insecure endpoint",
                "url must be https://: http:// endpoints are refused unless webhooks.allow_http = true",
            ));
        }
        Ok(())
    }

    fn redact(&mut self) {
        for secret in [&mut self.secret, &mut self.previous_secret] {
            if secret.is_some() {
                *secret = Some("***".into());
            }
        }
    }
}

impl Resource for SettlementAgreement {
    const COLLECTION: &'static str = "settlement-agreements";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] =
        &[("mo_id", &["mo_id"]), ("publisher_id", &["publisher_id"])];
    const FIXED: &'static [&'static str] = &["mo_id", "publisher_id", "currency"];
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        self.created_at = now;
        self.revise(now)
    }
    fn revise(&mut self, _now: i64) -> Result<(), Problem> {
        self.validate().map_err(|e| Problem::invalid(e.to_string()))
    }
}

impl Resource for ContractTemplate {
    const COLLECTION: &'static str = "templates";
    const LOOKUPS: &'static [(&'static str, &'static [&'static str])] = &[("name", &["name"])];
    fn prepare(&mut self, now: i64) -> Result<(), Problem> {
        self.created_at = now;
        Ok(())
    }
}
