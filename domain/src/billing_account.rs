//! Billing accounts that mPasses are charged to (design §2.3,
//! BillingAccounts table).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};
use crate::status::{BillingAccountStatus, TransitionError};

/// Who a billing account is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// One person.
    Individual,
    /// A family; usually carries spending policies.
    Family,
    /// A company paying for its members.
    Company,
}

impl AccountType {
    /// Every account type.
    pub const ALL: [AccountType; 3] = [
        AccountType::Individual,
        AccountType::Family,
        AccountType::Company,
    ];

    /// The serialized (`snake_case`) name, also used in index values.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountType::Individual => "individual",
            AccountType::Family => "family",
            AccountType::Company => "company",
        }
    }
}

impl fmt::Display for AccountType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A billing account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BillingAccount {
    /// Primary key (`billingAccountID`, UUID v4).
    pub id: String,
    /// The MO it belongs to.
    pub mo_id: String,
    /// Individual, family or company.
    pub account_type: AccountType,
    /// The primary owner (e.g. an mPass id or a publisher id).
    pub owner_entity_id: String,
    /// Lifecycle status.
    pub status: BillingAccountStatus,
    /// Who pays for what, especially for company and family accounts.
    pub payment_responsibility_info: serde_json::Value,
    /// Spending limits, category restrictions and similar policies.
    pub policy_settings: serde_json::Value,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last update, Unix seconds.
    pub updated_at: i64,
}

impl BillingAccount {
    /// Index on MO + account type (see [`BillingAccount::mo_account_type_key`]).
    pub const INDEX_MO_ACCOUNT_TYPE: &'static str = "mo_account_type";
    /// Index on the MO: every billing account of one MO.
    pub const INDEX_MO: &'static str = "mo";

    /// The `mo_account_type` index value for an MO and an account type.
    pub fn mo_account_type_key(mo_id: &str, account_type: AccountType) -> String {
        Self::join(&[mo_id, account_type.as_str()])
    }

    /// Applies a status transition and bumps `updated_at` to `now`.
    pub fn set_status(
        &mut self,
        to: BillingAccountStatus,
        now: i64,
    ) -> Result<(), TransitionError> {
        self.status = self
            .status
            .transition(to)
            .map_err(|e| e.for_entity(Self::KIND.as_str()))?;
        self.updated_at = now;
        Ok(())
    }
}

impl Entity for BillingAccount {
    const KIND: Kind = Kind::BillingAccount;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                Self::INDEX_MO_ACCOUNT_TYPE,
                Self::mo_account_type_key(&self.mo_id, self.account_type),
            ),
            (Self::INDEX_MO, self.mo_id.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(account_type: AccountType) -> BillingAccount {
        BillingAccount {
            id: "ba-1".into(),
            mo_id: "mo-1".into(),
            account_type,
            owner_entity_id: "p-1".into(),
            status: BillingAccountStatus::Active,
            payment_responsibility_info: serde_json::json!({}),
            policy_settings: serde_json::json!({"limit": 100}),
            created_at: 1,
            updated_at: 1,
        }
    }

    #[test]
    fn index_joins_mo_and_account_type() {
        assert_eq!(
            account(AccountType::Family).indexes(),
            vec![
                ("mo_account_type", "mo-1\u{1f}family".to_string()),
                ("mo", "mo-1".to_string())
            ]
        );
        for t in AccountType::ALL {
            let json = serde_json::to_string(&t).expect("serialize");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
    }

    #[test]
    fn set_status() {
        let mut a = account(AccountType::Company);
        a.set_status(BillingAccountStatus::Closed, 5)
            .expect("close");
        assert_eq!(a.updated_at, 5);
        let err = a
            .set_status(BillingAccountStatus::Active, 6)
            .expect_err("terminal");
        assert_eq!(err.entity, "billing_account");
        assert_eq!(a.updated_at, 5);
    }
}
