//! Settlement agreements: how revenue between an MO and a publisher is split
//! (design §2.4 "Settlement Management"; not a §2.3 table).
//!
//! Shares are in basis points and must add up to exactly 10 000 (100 %).

use serde::{Deserialize, Serialize};

use crate::entity::{Entity, Kind};

/// Why a settlement agreement was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettlementError {
    /// The currency is not three uppercase ASCII letters (ISO 4217 shape).
    #[error("currency `{0}` is not an ISO 4217 code (three uppercase letters)")]
    InvalidCurrency(String),
    /// The shares do not add up to 10 000 basis points.
    #[error(
        "shares must total 10000 bps, got {total} (publisher {publisher_bps} + mo {mo_bps} + moneta {moneta_fee_bps})"
    )]
    SharesDoNotTotal {
        /// Publisher share.
        publisher_bps: u32,
        /// MO share.
        mo_bps: u32,
        /// Moneta's fee.
        moneta_fee_bps: u32,
        /// Their sum.
        total: u64,
    },
    /// The minimum settlement is negative.
    #[error("min_settlement_minor must be 0 or more, got {0}")]
    NegativeMinimum(i64),
}

/// The revenue split agreed between one MO and one publisher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettlementAgreement {
    /// Primary key.
    pub id: String,
    /// The MO party.
    pub mo_id: String,
    /// The publisher party.
    pub publisher_id: String,
    /// ISO 4217 currency code, e.g. `EUR`.
    pub currency: String,
    /// Publisher share, basis points.
    pub publisher_bps: u32,
    /// MO share, basis points.
    pub mo_bps: u32,
    /// Moneta's fee, basis points.
    pub moneta_fee_bps: u32,
    /// When the split takes effect, Unix seconds.
    pub effective_from: i64,
    /// Smallest amount settled for a period, minor units: a period whose
    /// balance is smaller (in absolute value, and not 0) is carried forward
    /// to the next one (docs/settlement.md). 0: no minimum.
    #[serde(default)]
    pub min_settlement_minor: i64,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

impl SettlementAgreement {
    /// What the three shares must add up to.
    pub const TOTAL_BPS: u64 = 10_000;
    /// Index on the MO.
    pub const INDEX_MO_ID: &'static str = "mo_id";
    /// Index on the publisher.
    pub const INDEX_PUBLISHER_ID: &'static str = "publisher_id";

    /// Checks the currency code and that the shares total 10 000 bps.
    pub fn validate(&self) -> Result<(), SettlementError> {
        let currency_ok =
            self.currency.len() == 3 && self.currency.bytes().all(|b| b.is_ascii_uppercase());
        if !currency_ok {
            return Err(SettlementError::InvalidCurrency(self.currency.clone()));
        }
        let total =
            u64::from(self.publisher_bps) + u64::from(self.mo_bps) + u64::from(self.moneta_fee_bps);
        if self.min_settlement_minor < 0 {
            return Err(SettlementError::NegativeMinimum(self.min_settlement_minor));
        }
        if total != Self::TOTAL_BPS {
            return Err(SettlementError::SharesDoNotTotal {
                publisher_bps: self.publisher_bps,
                mo_bps: self.mo_bps,
                moneta_fee_bps: self.moneta_fee_bps,
                total,
            });
        }
        Ok(())
    }

    /// The agreement itself if it [validates](Self::validate).
    pub fn validated(self) -> Result<Self, SettlementError> {
        self.validate()?;
        Ok(self)
    }
}

impl Entity for SettlementAgreement {
    const KIND: Kind = Kind::SettlementAgreement;

    fn id(&self) -> &str {
        &self.id
    }

    fn indexes(&self) -> Vec<(&'static str, String)> {
        vec![
            (Self::INDEX_MO_ID, self.mo_id.clone()),
            (Self::INDEX_PUBLISHER_ID, self.publisher_id.clone()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreement(
        currency: &str,
        publisher_bps: u32,
        mo_bps: u32,
        moneta_fee_bps: u32,
    ) -> SettlementAgreement {
        SettlementAgreement {
            id: "sa-1".into(),
            mo_id: "mo-1".into(),
            publisher_id: "pub-1".into(),
            currency: currency.into(),
            publisher_bps,
            mo_bps,
            moneta_fee_bps,
            effective_from: 100,
            min_settlement_minor: 0,
            created_at: 50,
        }
    }

    #[test]
    fn bps_must_total_10000() {
        let cases: &[(u32, u32, u32, bool)] = &[
            (7_000, 2_500, 500, true),
            (10_000, 0, 0, true),
            (0, 0, 10_000, true),
            (7_000, 2_500, 499, false),
            (7_000, 2_500, 501, false),
            (0, 0, 0, false),
            (u32::MAX, u32::MAX, 2, false),
        ];
        for &(p, m, f, ok) in cases {
            let result = agreement("EUR", p, m, f).validate();
            if ok {
                assert_eq!(result, Ok(()), "{p}+{m}+{f}");
            } else {
                assert_eq!(
                    result,
                    Err(SettlementError::SharesDoNotTotal {
                        publisher_bps: p,
                        mo_bps: m,
                        moneta_fee_bps: f,
                        total: u64::from(p) + u64::from(m) + u64::from(f),
                    }),
                    "{p}+{m}+{f}"
                );
            }
        }
    }

    #[test]
    fn currency_must_be_three_uppercase_letters() {
        for good in ["EUR", "USD", "JPY"] {
            assert_eq!(agreement(good, 10_000, 0, 0).validate(), Ok(()));
        }
        for bad in ["eur", "EU", "EURO", "", "E1R", "ÉUR"] {
            assert_eq!(
                agreement(bad, 10_000, 0, 0).validate(),
                Err(SettlementError::InvalidCurrency(bad.to_string())),
                "{bad}"
            );
        }
    }

    #[test]
    fn validated_and_indexes() {
        let a = agreement("EUR", 6_000, 3_000, 1_000)
            .validated()
            .expect("valid");
        assert_eq!(
            a.indexes(),
            vec![
                ("mo_id", "mo-1".to_string()),
                ("publisher_id", "pub-1".to_string())
            ]
        );
        assert!(agreement("EUR", 1, 1, 1).validated().is_err());
    }
}
