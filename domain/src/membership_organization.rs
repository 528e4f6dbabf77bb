//! A Membership Organization, found by its Moneta Issuer Code (design §2.3,
//! MembershipOrganizations table).

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};
use crate::rate_limit::RateLimit;
use crate::status::{LifecycleStatus, TransitionError};

/// A Membership Organization (MO): issues mPasses to its members.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MembershipOrganization {
    /// Primary key (UUID v4).
    pub id: String,
    /// Moneta Issuer Code, the human-friendly lookup key.
    pub mic: String,
    /// Official name.
    pub name: String,
    /// Lifecycle status.
    pub status: LifecycleStatus,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last update, Unix seconds.
    pub updated_at: i64,
    /// MO-specific details (contact info, endpoints, configuration).
    pub metadata: serde_json::Value,
    /// Identifiers of associated certificates.
    pub certificates: Vec<String>,
    /// Supported service codes.
    pub services: Vec<String>,
    /// Applicable industry codes.
    pub industries: Vec<String>,
    /// The [`crate::Organization`] behind this MO, if linked.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Its submission rate limit at the edge, when not the default
    /// (`ingest.rate_per_s`, `ingest.burst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl MembershipOrganization {
    /// Index on the Moneta Issuer Code.
    pub const INDEX_MIC: &'static str = "mic";

    /// Applies a status transition and bumps `updated_at` to `now`.
    pub fn set_status(&mut self, to: LifecycleStatus, now: i64) -> Result<(), TransitionError> {
        self.status = self
            .status
            .transition(to)
            .map_err(|e| e.for_entity(Self::KIND.as_str()))?;
        self.updated_at = now;
        Ok(())
    }
}

impl Entity for MembershipOrganization {
    const KIND: Kind = Kind::MembershipOrganization;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![(Self::INDEX_MIC, self.mic.clone())]
    }
}
