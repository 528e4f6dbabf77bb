//! Status enums for every registry record and for contracts, with the
//! transitions each lifecycle allows.
//!
//! Statuses serialize as `snake_case` strings of the design document's
//! spellings (`Suspended_UserLock` becomes `"suspended_user_lock"`).
//!
//! Rules common to every lifecycle:
//! - a transition to the *same* status is refused: a no-op change is an
//!   error, so callers notice duplicate or stale commands;
//! - a terminal status (e.g. `Destroyed`) allows no transition at all.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A status change a lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entity}: status transition from `{from}` to `{to}` is not allowed")]
pub struct TransitionError {
    /// The entity kind (e.g. `mpass`, see [`crate::Kind::as_str`]) or, when
    /// raised by a bare status, the lifecycle's name (e.g. `lifecycle`).
    pub entity: &'static str,
    /// The status the record was in.
    pub from: &'static str,
    /// The status that was asked for.
    pub to: &'static str,
}

impl TransitionError {
    /// The same error, attributed to `entity` (an entity kind's name).
    pub fn for_entity(self, entity: &'static str) -> Self {
        Self { entity, ..self }
    }
}

/// Declares a status enum and its common methods; the lifecycle itself is
/// the enum's hand-written `can_transition`.
macro_rules! status_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident in $subject:literal {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every status, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name of this lifecycle used in [`TransitionError::entity`].
            pub const SUBJECT: &'static str = $subject;

            /// The serialized (`snake_case`) name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }

            /// True when no transition out of this status exists.
            pub fn is_terminal(self) -> bool {
                Self::ALL.iter().all(|to| !self.can_transition(*to))
            }

            /// Moves to `to` if the lifecycle allows it; same-status moves
            /// are refused.
            pub fn transition(self, to: Self) -> Result<Self, TransitionError> {
                if self.can_transition(to) {
                    Ok(to)
                } else {
                    Err(TransitionError {
                        entity: Self::SUBJECT,
                        from: self.as_str(),
                        to: to.as_str(),
                    })
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

status_enum! {
    /// Lifecycle of organizations, Membership Organizations and publishers.
    ///
    /// `Pending → Active | Destroyed`, `Active → Suspended | Destroyed`,
    /// `Suspended → Active | Destroyed`; `Destroyed` is terminal.
    pub enum LifecycleStatus in "lifecycle" {
        /// Registered, not yet approved.
        Pending => "pending",
        /// Operating.
        Active => "active",
        /// Temporarily barred from operating.
        Suspended => "suspended",
        /// Offboarded for good (terminal).
        Destroyed => "destroyed",
    }
}

impl LifecycleStatus {
    /// Whether the lifecycle allows moving from `self` to `to`.
    pub fn can_transition(self, to: Self) -> bool {
        use LifecycleStatus::*;
        matches!(
            (self, to),
            (Pending, Active | Destroyed)
                | (Active, Suspended | Destroyed)
                | (Suspended, Active | Destroyed)
        )
    }
}

status_enum! {
    /// Lifecycle of MO and publisher developers: `Active ↔ Inactive`.
    pub enum DeveloperStatus in "developer" {
        /// May act for their organization.
        Active => "active",
        /// Disabled.
        Inactive => "inactive",
    }
}

impl DeveloperStatus {
    /// Whether the lifecycle allows moving from `self` to `to`.
    pub fn can_transition(self, to: Self) -> bool {
        use DeveloperStatus::*;
        matches!((self, to), (Active, Inactive) | (Inactive, Active))
    }
}

status_enum! {
    /// Lifecycle of a digital mPass.
    ///
    /// - `Pending → Active | Destroyed`
    /// - `Active → SuspendedUserLock | SuspendedAdminLock | Expired | Destroyed`
    /// - `SuspendedUserLock → Active | SuspendedAdminLock | Expired | Destroyed`
    /// - `SuspendedAdminLock → Active | Expired | Destroyed`
    /// - `Expired → Active` (renewal) `| Destroyed`
    /// - `Destroyed` is terminal.
    ///
    /// An admin lock outranks a user lock: an admin may lock a user-locked
    /// pass, but an admin-locked pass never goes to `SuspendedUserLock` — a
    /// user cannot lift (or downgrade) an admin lock. Who may request
    /// `SuspendedAdminLock → Active` is enforced by the caller; this type
    /// only guarantees there is no path through a user lock.
    pub enum MPassStatus in "mpass" {
        /// Issued, not yet activated.
        Pending => "pending",
        /// Usable.
        Active => "active",
        /// Locked by its holder.
        SuspendedUserLock => "suspended_user_lock",
        /// Locked by an administrator; the holder cannot unlock it.
        SuspendedAdminLock => "suspended_admin_lock",
        /// Past its expiry; can be renewed back to `Active`.
        Expired => "expired",
        /// Destroyed for good (terminal).
        Destroyed => "destroyed",
    }
}

impl MPassStatus {
    /// Whether the lifecycle allows moving from `self` to `to`.
    pub fn can_transition(self, to: Self) -> bool {
        use MPassStatus::*;
        matches!(
            (self, to),
            (Pending, Active | Destroyed)
                | (
                    Active,
                    SuspendedUserLock | SuspendedAdminLock | Expired | Destroyed
                )
                | (
                    SuspendedUserLock,
                    Active | SuspendedAdminLock | Expired | Destroyed
                )
                | (SuspendedAdminLock, Active | Expired | Destroyed)
                | (Expired, Active | Destroyed)
        )
    }
}

status_enum! {
    /// Lifecycle of a billing account: `Active ↔ Suspended`,
    /// `Active | Suspended → Closed`; `Closed` is terminal.
    pub enum BillingAccountStatus in "billing_account" {
        /// Can be charged.
        Active => "active",
        /// Temporarily not chargeable.
        Suspended => "suspended",
        /// Closed for good (terminal).
        Closed => "closed",
    }
}

impl BillingAccountStatus {
    /// Whether the lifecycle allows moving from `self` to `to`.
    pub fn can_transition(self, to: Self) -> bool {
        use BillingAccountStatus::*;
        matches!(
            (self, to),
            (Active, Suspended | Closed) | (Suspended, Active | Closed)
        )
    }
}

status_enum! {
    /// Lifecycle of a partner's signing key: `Active → Revoked` (terminal).
    pub enum KeyState in "partner_key" {
        /// Signatures made with it are accepted.
        Active => "active",
        /// No longer accepted (terminal).
        Revoked => "revoked",
    }
}

impl KeyState {
    /// Whether the lifecycle allows moving from `self` to `to`.
    pub fn can_transition(self, to: Self) -> bool {
        matches!((self, to), (KeyState::Active, KeyState::Revoked))
    }
}

status_enum! {
    /// Lifecycle of a contract.
    ///
    /// The design document only says contracts have a `status` string; this
    /// lifecycle is ours:
    /// - `Pending` (awaiting partner signatures) `→ Active` (every required
    ///   partner signature) `| Rejected | Expired` (the template's signing
    ///   deadline passed first)
    /// - `Active → Finalized` (Moneta countersigned)
    /// - `Finalized → Disputed` (a charge with a dispute open) `→ Finalized`
    ///   (no dispute open any more)
    /// - `Rejected` and `Expired` are terminal.
    pub enum ContractStatus in "contract" {
        /// Awaiting the required partner signatures.
        Pending => "pending",
        /// Every partner signed; awaiting Moneta's countersignature.
        Active => "active",
        /// A charge with a dispute open.
        Disputed => "disputed",
        /// Countersigned by Moneta.
        Finalized => "finalized",
        /// Refused before becoming active (terminal).
        Rejected => "rejected",
        /// Not every required party signed before the template's signing
        /// deadline (terminal).
        Expired => "expired",
    }
}

impl ContractStatus {
    /// Whether the lifecycle allows moving from `self` to `to`.
    pub fn can_transition(self, to: Self) -> bool {
        use ContractStatus::*;
        matches!(
            (self, to),
            (Pending, Active | Rejected | Expired)
                | (Active, Finalized)
                | (Finalized, Disputed)
                | (Disputed, Finalized)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks every `(from, to)` pair: allowed iff listed in `allowed`.
    macro_rules! check_lifecycle {
        ($ty:ty, $allowed:expr, $terminal:expr) => {{
            let allowed: &[($ty, $ty)] = $allowed;
            let terminal: &[$ty] = $terminal;
            for &from in <$ty>::ALL {
                for &to in <$ty>::ALL {
                    let expected = allowed.contains(&(from, to));
                    let got = from.transition(to);
                    if expected {
                        assert_eq!(got, Ok(to), "{from} -> {to} should be allowed");
                    } else {
                        assert_eq!(
                            got,
                            Err(TransitionError {
                                entity: <$ty>::SUBJECT,
                                from: from.as_str(),
                                to: to.as_str(),
                            }),
                            "{from} -> {to} should be refused"
                        );
                    }
                }
                assert_eq!(
                    from.is_terminal(),
                    terminal.contains(&from),
                    "{from} terminal"
                );
            }
            // serde spelling agrees with as_str
            for &s in <$ty>::ALL {
                let json = serde_json::to_string(&s).expect("serialize");
                assert_eq!(json, format!("\"{}\"", s.as_str()));
                let back: $ty = serde_json::from_str(&json).expect("deserialize");
                assert_eq!(back, s);
            }
        }};
    }

    #[test]
    fn lifecycle_status() {
        use LifecycleStatus::*;
        check_lifecycle!(
            LifecycleStatus,
            &[
                (Pending, Active),
                (Pending, Destroyed),
                (Active, Suspended),
                (Active, Destroyed),
                (Suspended, Active),
                (Suspended, Destroyed),
            ],
            &[Destroyed]
        );
    }

    #[test]
    fn developer_status() {
        use DeveloperStatus::*;
        check_lifecycle!(
            DeveloperStatus,
            &[(Active, Inactive), (Inactive, Active)],
            &[]
        );
    }

    #[test]
    fn mpass_status() {
        use MPassStatus::*;
        check_lifecycle!(
            MPassStatus,
            &[
                (Pending, Active),
                (Pending, Destroyed),
                (Active, SuspendedUserLock),
                (Active, SuspendedAdminLock),
                (Active, Expired),
                (Active, Destroyed),
                (SuspendedUserLock, Active),
                (SuspendedUserLock, SuspendedAdminLock),
                (SuspendedUserLock, Expired),
                (SuspendedUserLock, Destroyed),
                (SuspendedAdminLock, Active),
                (SuspendedAdminLock, Expired),
                (SuspendedAdminLock, Destroyed),
                (Expired, Active),
                (Expired, Destroyed),
            ],
            &[Destroyed]
        );
        assert_eq!(
            serde_json::to_string(&SuspendedUserLock).expect("serialize"),
            "\"suspended_user_lock\""
        );
    }

    #[test]
    fn billing_account_status() {
        use BillingAccountStatus::*;
        check_lifecycle!(
            BillingAccountStatus,
            &[
                (Active, Suspended),
                (Suspended, Active),
                (Active, Closed),
                (Suspended, Closed)
            ],
            &[Closed]
        );
    }

    #[test]
    fn key_state() {
        use KeyState::*;
        check_lifecycle!(KeyState, &[(Active, Revoked)], &[Revoked]);
    }

    #[test]
    fn contract_status() {
        use ContractStatus::*;
        check_lifecycle!(
            ContractStatus,
            &[
                (Pending, Active),
                (Pending, Rejected),
                (Pending, Expired),
                (Active, Finalized),
                (Finalized, Disputed),
                (Disputed, Finalized),
            ],
            &[Rejected, Expired]
        );
    }

    #[test]
    fn error_names_entity_and_statuses() {
        let err = MPassStatus::SuspendedAdminLock
            .transition(MPassStatus::SuspendedUserLock)
            .expect_err("refused")
            .for_entity("mpass");
        assert_eq!(
            err.to_string(),
            "mpass: status transition from `suspended_admin_lock` to `suspended_user_lock` is not allowed"
        );
    }
}
