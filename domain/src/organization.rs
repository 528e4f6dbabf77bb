//! The legal organization behind a Membership Organization or a publisher
//! (design §2.3, Organizations table).

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};
use crate::status::{LifecycleStatus, TransitionError};

/// A legal organization (`org_id` in the design is our `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    /// Primary key (`org_id`, UUID v4).
    pub id: String,
    /// Legal name.
    pub name: String,
    /// Brief description.
    pub description: String,
    /// When it was registered, Unix seconds.
    pub created_at: i64,
    /// The operator who created the record: set by the admin API from
    /// the authenticated operator; a body's value is ignored.
    #[serde(default)]
    pub created_by: String,
    /// Lifecycle status.
    pub status: LifecycleStatus,
}

impl Organization {
    /// Applies a status transition (organizations keep no `updated_at`).
    pub fn set_status(&mut self, to: LifecycleStatus, _now: i64) -> Result<(), TransitionError> {
        self.status = self
            .status
            .transition(to)
            .map_err(|e| e.for_entity(Self::KIND.as_str()))?;
        Ok(())
    }
}

impl Entity for Organization {
    const KIND: Kind = Kind::Organization;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}
