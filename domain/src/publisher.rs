//! A publisher, found by its Moneta Partner Code (design §2.3, Publishers
//! table).

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};
use crate::rate_limit::RateLimit;
use crate::status::{LifecycleStatus, TransitionError};

/// A publisher: sells content or services to mPass holders.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publisher {
    /// Primary key (`publisherID`, UUID v4).
    pub id: String,
    /// Moneta Partner Code, the human-friendly lookup key.
    pub mpc: String,
    /// Official name.
    pub name: String,
    /// Lifecycle status.
    pub status: LifecycleStatus,
    /// SSO group identifier, if any.
    #[serde(default)]
    pub sso_group_id: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last update, Unix seconds.
    pub updated_at: i64,
    /// The operator who created the record: set by the admin API from
    /// the authenticated operator; a body's value is ignored.
    #[serde(default)]
    pub created_by: String,
    /// Publisher-specific details (service endpoints, categories, logo URL).
    pub metadata: serde_json::Value,
    /// Identifiers of associated certificates.
    pub certificates: Vec<String>,
    /// Supported service codes.
    pub services: Vec<String>,
    /// Applicable industry codes.
    pub industries: Vec<String>,
    /// The [`crate::Organization`] behind this publisher, if linked.
    #[serde(default)]
    pub organization_id: Option<String>,
    /// Its submission rate limit at the edge, when not the default
    /// (`ingest.rate_per_s`, `ingest.burst`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
}

impl Publisher {
    /// Index on the Moneta Partner Code.
    pub const INDEX_MPC: &'static str = "mpc";

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

impl Entity for Publisher {
    const KIND: Kind = Kind::Publisher;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![(Self::INDEX_MPC, self.mpc.clone())]
    }
}
