//! The digital mPass an MO issues to a member (design §2.3, MPasses table).

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};
use crate::status::{MPassStatus, TransitionError};

/// A digital mPass.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MPass {
    /// Primary key (`mPassID`, UUID v4).
    pub id: String,
    /// Human-friendly pass number.
    pub mpass_number: String,
    /// The issuing MO.
    pub mo_id: String,
    /// The billing account it is charged to, if any.
    #[serde(default)]
    pub billing_account_id: Option<String>,
    /// The issuing MO's internal user identifier.
    pub user_id_internal: String,
    /// Lifecycle status.
    pub status: MPassStatus,
    /// Tier, e.g. `Standard`, `Gold`, `Platinum`.
    pub tier: String,
    /// The holder's current public key, if one is registered.
    #[serde(default)]
    pub active_public_key_id: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last update, Unix seconds.
    pub updated_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Any other mPass-specific details.
    pub metadata: serde_json::Value,
}

impl MPass {
    /// Index on the pass number.
    pub const INDEX_MPASS_NUMBER: &'static str = "mpass_number";
    /// Index on MO + pass number (see [`MPass::mo_number_key`]).
    pub const INDEX_MO_NUMBER: &'static str = "mo_number";
    /// Index on the billing account (only for passes that have one).
    pub const INDEX_BILLING_ACCOUNT: &'static str = "billing_account";
    /// Index on the MO: every mPass of one MO.
    pub const INDEX_MO: &'static str = "mo";

    /// The `mo_number` index value for an MO and a pass number.
    pub fn mo_number_key(mo_id: &str, mpass_number: &str) -> String {
        Self::join(&[mo_id, mpass_number])
    }

    /// Applies a status transition and bumps `updated_at` to `now`.
    pub fn set_status(&mut self, to: MPassStatus, now: i64) -> Result<(), TransitionError> {
        self.status = self
            .status
            .transition(to)
            .map_err(|e| e.for_entity(Self::KIND.as_str()))?;
        self.updated_at = now;
        Ok(())
    }
}

impl Entity for MPass {
    const KIND: Kind = Kind::MPass;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        let mut indexes = vec![
            (Self::INDEX_MPASS_NUMBER, self.mpass_number.clone()),
            (
                Self::INDEX_MO_NUMBER,
                Self::mo_number_key(&self.mo_id, &self.mpass_number),
            ),
        ];
        if let Some(account) = &self.billing_account_id {
            indexes.push((Self::INDEX_BILLING_ACCOUNT, account.clone()));
        }
        indexes.push((Self::INDEX_MO, self.mo_id.clone()));
        indexes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mpass(billing_account_id: Option<&str>) -> MPass {
        MPass {
            id: "p-1".into(),
            mpass_number: "0042".into(),
            mo_id: "mo-1".into(),
            billing_account_id: billing_account_id.map(Into::into),
            user_id_internal: "u-9".into(),
            status: MPassStatus::Pending,
            tier: "Gold".into(),
            active_public_key_id: None,
            created_at: 10,
            updated_at: 10,
            expires_at: 1_000,
            metadata: serde_json::json!({}),
        }
    }

    #[test]
    fn indexes_with_billing_account() {
        assert_eq!(
            mpass(Some("ba-7")).indexes(),
            vec![
                ("mpass_number", "0042".to_string()),
                ("mo_number", "mo-1\u{1f}0042".to_string()),
                ("billing_account", "ba-7".to_string()),
                ("mo", "mo-1".to_string()),
            ]
        );
    }

    #[test]
    fn indexes_without_billing_account() {
        assert_eq!(
            mpass(None).indexes(),
            vec![
                ("mpass_number", "0042".to_string()),
                ("mo_number", "mo-1\u{1f}0042".to_string()),
                ("mo", "mo-1".to_string()),
            ]
        );
    }

    #[test]
    fn set_status_bumps_updated_at_and_names_kind() {
        let mut p = mpass(None);
        p.set_status(MPassStatus::Active, 20)
            .expect("pending -> active");
        assert_eq!((p.status, p.updated_at), (MPassStatus::Active, 20));
        p.set_status(MPassStatus::SuspendedAdminLock, 30)
            .expect("admin lock");
        let err = p
            .set_status(MPassStatus::SuspendedUserLock, 40)
            .expect_err("a user lock cannot replace an admin lock");
        assert_eq!(err.entity, "mpass");
        assert_eq!(
            (p.status, p.updated_at),
            (MPassStatus::SuspendedAdminLock, 30)
        );
        let err = p
            .set_status(MPassStatus::SuspendedAdminLock, 50)
            .expect_err("no-op refused");
        assert_eq!(
            (err.from, err.to),
            ("suspended_admin_lock", "suspended_admin_lock")
        );
    }

    #[test]
    fn serde_round_trip_uses_snake_case_status() {
        let mut p = mpass(Some("ba-7"));
        p.status = MPassStatus::SuspendedUserLock;
        let json = serde_json::to_value(&p).expect("serialize");
        assert_eq!(json["status"], "suspended_user_lock");
        assert_eq!(json["mpass_number"], "0042");
        assert_eq!(json["billing_account_id"], "ba-7");
        let back: MPass = serde_json::from_value(json).expect("deserialize");
        assert_eq!(back, p);
    }
}
