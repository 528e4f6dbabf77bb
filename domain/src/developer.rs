//! Developers acting for an MO or a publisher (design §2.3, MODevelopers and
//! PublisherDevelopers tables).

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};
use crate::status::{DeveloperStatus, TransitionError};

/// A developer of a Membership Organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MoDeveloper {
    /// Primary key (UUID v4 from the identity provider).
    pub id: String,
    /// The MO they work for.
    pub mo_id: String,
    /// Name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// When they were added, Unix seconds.
    pub created_at: i64,
    /// The operator who created the record: set by the admin API from
    /// the authenticated operator; a body's value is ignored.
    #[serde(default)]
    pub created_by: String,
    /// Status.
    pub status: DeveloperStatus,
}

impl MoDeveloper {
    /// Index on the MO.
    pub const INDEX_MO_ID: &'static str = "mo_id";

    /// Applies a status transition (developers keep no `updated_at`).
    pub fn set_status(&mut self, to: DeveloperStatus, _now: i64) -> Result<(), TransitionError> {
        self.status = self
            .status
            .transition(to)
            .map_err(|e| e.for_entity(Self::KIND.as_str()))?;
        Ok(())
    }
}

impl Entity for MoDeveloper {
    const KIND: Kind = Kind::MoDeveloper;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![(Self::INDEX_MO_ID, self.mo_id.clone())]
    }
}

/// A developer of a publisher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublisherDeveloper {
    /// Primary key (UUID v4 from the identity provider).
    pub id: String,
    /// The publisher they work for.
    pub publisher_id: String,
    /// Name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// When they were added, Unix seconds.
    pub created_at: i64,
    /// The operator who created the record: set by the admin API from
    /// the authenticated operator; a body's value is ignored.
    #[serde(default)]
    pub created_by: String,
    /// Status.
    pub status: DeveloperStatus,
}

impl PublisherDeveloper {
    /// Index on the publisher.
    pub const INDEX_PUBLISHER_ID: &'static str = "publisher_id";

    /// Applies a status transition (developers keep no `updated_at`).
    pub fn set_status(&mut self, to: DeveloperStatus, _now: i64) -> Result<(), TransitionError> {
        self.status = self
            .status
            .transition(to)
            .map_err(|e| e.for_entity(Self::KIND.as_str()))?;
        Ok(())
    }
}

impl Entity for PublisherDeveloper {
    const KIND: Kind = Kind::PublisherDeveloper;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![(Self::INDEX_PUBLISHER_ID, self.publisher_id.clone())]
    }
}
