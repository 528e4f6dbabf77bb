//! Settlements checked against the ledger they came from: what
//! `moneta settlements verify` reports.
//!
//! The ledger is recomputed from its own entries (each entry id counted
//! once per MO, publisher and currency, as settle-aggregate counts them)
//! and every settlement and adjustment is compared with it: each ledger
//! entry of a settled period is counted exactly once, in the period of its
//! event time, with its amount; each record's total is the sum of its
//! contracts and its parts add up to its total. Entries of periods not
//! settled yet are reported as open, not as differences.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use moneta_records::{LedgerEntry, LedgerKind, Settlement, SettlementKind};
use serde::Serialize;

use crate::period::{PeriodLength, period_of};

/// `(mo, publisher, currency)`.
type Key = (String, String, String);

/// What to compare: periods starting in `from..=to` (`YYYY-MM-DD`), and
/// optionally one party's only.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// First period start included.
    pub from: String,
    /// Last period start included.
    pub to: String,
    /// Only this MO's settlements.
    pub mo_id: Option<String>,
    /// Only this publisher's settlements.
    pub publisher_id: Option<String>,
}

impl Scope {
    /// Whether a settlement of `mo` and `publisher` for the period starting `period_start` is in scope.
    pub fn covers(&self, mo: &str, publisher: &str, period_start: &str) -> bool {
        period_start >= self.from.as_str()
            && period_start <= self.to.as_str()
            && self.mo_id.as_deref().is_none_or(|m| m == mo)
            && self.publisher_id.as_deref().is_none_or(|p| p == publisher)
    }
}

/// One way the settlements and the ledger disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// A ledger entry counted in more than one settlement or adjustment.
    CountedTwice {
        /// The contract.
        contract_id: String,
        /// Where it is counted.
        settlement_ids: Vec<String>,
    },
    /// A ledger entry of a settled period counted nowhere.
    LeftOut {
        /// The contract.
        contract_id: String,
        /// The settlement of its period.
        settlement_id: String,
    },
    /// A contract a settlement counts that the ledger does not hold.
    NotInLedger {
        /// The settlement or adjustment.
        settlement_id: String,
        /// The contract.
        contract_id: String,
    },
    /// A contract counted in a period its event time is not in.
    WrongPeriod {
        /// The settlement or adjustment.
        settlement_id: String,
        /// The contract.
        contract_id: String,
        /// The start of the period of its event time.
        ledger_period: String,
    },
    /// A record's total is not the sum of its contracts in the ledger.
    TotalDiffers {
        /// The settlement or adjustment.
        settlement_id: String,
        /// Its total.
        settled_minor: i64,
        /// The ledger's sum of its contracts.
        ledger_minor: i64,
    },
    /// A record's parts do not add up to its total.
    PartsDiffer {
        /// The settlement or adjustment.
        settlement_id: String,
        /// Its total.
        total_minor: i64,
        /// publisher + MO + fee + unallocated + carried forward.
        parts_minor: i64,
    },
    /// A settlement takes in a balance no earlier settlement carried (or
    /// another amount, or one taken in twice).
    CarryDiffers {
        /// The settlement taking it in.
        settlement_id: String,
        /// What it takes in.
        carried_in_minor: i64,
        /// What the settlement it names carried forward (0: none, or taken already).
        carried_minor: i64,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Difference::CountedTwice {
                contract_id,
                settlement_ids,
            } => write!(
                f,
                "{contract_id} counted more than once: {}",
                settlement_ids.join(", ")
            ),
            Difference::LeftOut {
                contract_id,
                settlement_id,
            } => write!(
                f,
                "{contract_id} is in no settlement ({settlement_id} closed its period)"
            ),
            Difference::NotInLedger {
                settlement_id,
                contract_id,
            } => write!(
                f,
                "{settlement_id} counts {contract_id}, which the ledger does not hold"
            ),
            Difference::WrongPeriod {
                settlement_id,
                contract_id,
                ledger_period,
            } => write!(
                f,
                "{settlement_id} counts {contract_id}, whose event time is in the period starting {ledger_period}"
            ),
            Difference::TotalDiffers {
                settlement_id,
                settled_minor,
                ledger_minor,
            } => write!(
                f,
                "{settlement_id} totals {settled_minor}; its contracts sum to {ledger_minor} in the ledger"
            ),
            Difference::PartsDiffer {
                settlement_id,
                total_minor,
                parts_minor,
            } => write!(
                f,
                "{settlement_id}'s parts add up to {parts_minor}, its total is {total_minor}"
            ),
            Difference::CarryDiffers {
                settlement_id,
                carried_in_minor,
                carried_minor,
            } => write!(
                f,
                "{settlement_id} takes in {carried_in_minor} carried; the settlement it names carried {carried_minor}"
            ),
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Verification {
    /// Ledger entries in scope (each entry id once).
    pub ledger_entries: usize,
    /// Their sum, minor units (all currencies together: a count, not money).
    pub ledger_minor: i64,
    /// Settlements in scope.
    pub settlements: usize,
    /// Adjustments in scope.
    pub adjustments: usize,
    /// Sum of their totals, minor units.
    pub settled_minor: i64,
    /// Balances below the minimum, carried and not taken in yet, minor units.
    pub carried_minor: i64,
    /// Entries of periods not settled yet.
    pub open_entries: usize,
    /// Their sum, minor units.
    pub open_minor: i64,
    /// Every disagreement found.
    pub differences: Vec<Difference>,
}

/// Compares `settlements` (each id once) with the `ledger` they were
/// computed from, within `scope`; periods cut as `period`.
pub fn verify(
    ledger: &[LedgerEntry],
    settlements: &[Settlement],
    period: PeriodLength,
    scope: &Scope,
) -> Verification {
    // The ledger as settle-aggregate counts it: each entry id once per key.
    let mut entries: BTreeMap<(Key, String), (i64, String)> = BTreeMap::new();
    for e in ledger.iter().filter(|e| e.kind != LedgerKind::Watermark) {
        let key = (e.mo_id.clone(), e.publisher_id.clone(), e.currency.clone());
        let start = period_of(e.event_time_ms, period).start;
        entries
            .entry((key, e.entry_id.clone()))
            .or_insert((e.amount_minor, start));
    }
    let mut out = Verification::default();
    let by_id: BTreeMap<&str, &Settlement> = settlements
        .iter()
        .map(|s| (s.settlement_id.as_str(), s))
        .collect();
    let mut taken: BTreeSet<&str> = BTreeSet::new();
    let mut counted: BTreeMap<(Key, String), Vec<String>> = BTreeMap::new();
    let mut settled_periods: BTreeMap<(Key, String), String> = BTreeMap::new();
    for s in settlements {
        if !scope.covers(&s.mo_id, &s.publisher_id, &s.period_start) {
            continue;
        }
        let key: Key = (s.mo_id.clone(), s.publisher_id.clone(), s.currency.clone());
        match s.kind {
            SettlementKind::Settlement => {
                out.settlements += 1;
                settled_periods.insert(
                    (key.clone(), s.period_start.clone()),
                    s.settlement_id.clone(),
                );
            }
            SettlementKind::Adjustment => out.adjustments += 1,
        }
        out.settled_minor += s.total_minor;
        let parts = s.publisher_minor
            + s.mo_minor
            + s.moneta_fee_minor
            + s.unallocated_minor
            + s.carried_forward_minor;
        if parts != s.total_minor {
            out.differences.push(Difference::PartsDiffer {
                settlement_id: s.settlement_id.clone(),
                total_minor: s.total_minor,
                parts_minor: parts,
            });
        }
        if s.carried_forward_minor != 0 {
            out.carried_minor += s.carried_forward_minor;
        }
        if s.carried_in_minor != 0 || s.carried_from.is_some() {
            let from = s.carried_from.as_deref().unwrap_or_default();
            let carried = by_id
                .get(from)
                .filter(|_| taken.insert(from))
                .map_or(0, |c| c.carried_forward_minor);
            if carried != s.carried_in_minor {
                out.differences.push(Difference::CarryDiffers {
                    settlement_id: s.settlement_id.clone(),
                    carried_in_minor: s.carried_in_minor,
                    carried_minor: carried,
                });
            }
            if by_id
                .get(from)
                .is_some_and(|c| scope.covers(&c.mo_id, &c.publisher_id, &c.period_start))
            {
                out.carried_minor -= carried;
            }
        }
        let mut sum = s.carried_in_minor;
        for contract in &s.contracts {
            let at = (key.clone(), contract.clone());
            match entries.get(&at) {
                None => out.differences.push(Difference::NotInLedger {
                    settlement_id: s.settlement_id.clone(),
                    contract_id: contract.clone(),
                }),
                Some((amount, start)) => {
                    sum += amount;
                    if *start != s.period_start {
                        out.differences.push(Difference::WrongPeriod {
                            settlement_id: s.settlement_id.clone(),
                            contract_id: contract.clone(),
                            ledger_period: start.clone(),
                        });
                    }
                }
            }
            counted.entry(at).or_default().push(s.settlement_id.clone());
        }
        if sum != s.total_minor {
            out.differences.push(Difference::TotalDiffers {
                settlement_id: s.settlement_id.clone(),
                settled_minor: s.total_minor,
                ledger_minor: sum,
            });
        }
    }
    for ((key, contract), (amount, start)) in &entries {
        if !scope.covers(&key.0, &key.1, start) {
            continue;
        }
        out.ledger_entries += 1;
        out.ledger_minor += amount;
        let at = (key.clone(), contract.clone());
        match counted.get(&at).map(Vec::as_slice) {
            Some([_]) => {}
            Some(many) => out.differences.push(Difference::CountedTwice {
                contract_id: contract.clone(),
                settlement_ids: many
                    .iter()
                    .cloned()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
            }),
            None => match settled_periods.get(&(key.clone(), start.clone())) {
                Some(settlement_id) => out.differences.push(Difference::LeftOut {
                    contract_id: contract.clone(),
                    settlement_id: settlement_id.clone(),
                }),
                None => {
                    out.open_entries += 1;
                    out.open_minor += amount;
                }
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use moneta_records::MonetaSignature;

    const DAY: i64 = 86_400_000;
    /// 2026-11-01T00:00:00Z.
    const NOV_1: i64 = 1_793_491_200_000;

    fn charge(id: &str, amount: i64, at: i64) -> LedgerEntry {
        LedgerEntry {
            kind: LedgerKind::Charge,
            entry_id: id.into(),
            mo_id: "mo".into(),
            publisher_id: "pub".into(),
            currency: "EUR".into(),
            amount_minor: amount,
            event_time_ms: at,
            charge_contract_id: None,
        }
    }

    fn settlement(
        id: &str,
        kind: SettlementKind,
        day: &str,
        total: i64,
        contracts: &[&str],
    ) -> Settlement {
        Settlement {
            settlement_id: id.into(),
            kind,
            adjusts: None,
            mo_id: "mo".into(),
            publisher_id: "pub".into(),
            currency: "EUR".into(),
            period_start: day.into(),
            period_end: day.into(),
            agreement_id: None,
            total_minor: total,
            publisher_minor: 0,
            mo_minor: 0,
            moneta_fee_minor: 0,
            unallocated_minor: total,
            contracts: contracts.iter().map(|c| (*c).to_owned()).collect(),
            closed_at_ms: 0,
            signature: MonetaSignature {
                key_id: String::new(),
                signature: String::new(),
            },
            carried_in_minor: 0,
            carried_from: None,
            carried_forward_minor: 0,
        }
    }

    fn november() -> Scope {
        Scope {
            from: "2026-11-01".into(),
            to: "2026-11-30".into(),
            ..Scope::default()
        }
    }

    #[test]
    fn settlements_that_match_the_ledger_have_no_difference() {
        let ledger = [
            charge("c1", 100, NOV_1),
            charge("c2", 50, NOV_1 + 1),
            charge("c1", 100, NOV_1), // replayed
            charge("late", 7, NOV_1 + 2),
            charge("open", 9, NOV_1 + 3 * DAY),
        ];
        let settled = [
            settlement(
                "s1",
                SettlementKind::Settlement,
                "2026-11-01",
                150,
                &["c1", "c2"],
            ),
            settlement(
                "s1:adj:late",
                SettlementKind::Adjustment,
                "2026-11-01",
                7,
                &["late"],
            ),
        ];
        let v = verify(&ledger, &settled, PeriodLength::Daily, &november());
        assert_eq!(v.differences, []);
        assert_eq!((v.ledger_entries, v.settlements, v.adjustments), (4, 1, 1));
        assert_eq!((v.settled_minor, v.open_entries, v.open_minor), (157, 1, 9));
    }

    #[test]
    fn every_kind_of_disagreement_is_named() {
        let ledger = [
            charge("c1", 100, NOV_1),
            charge("c2", 50, NOV_1 + 1),
            charge("c3", 5, NOV_1 + 2),
            charge("c4", 1, NOV_1 + DAY),
        ];
        let mut parts = settlement(
            "s2",
            SettlementKind::Settlement,
            "2026-11-02",
            2,
            &["c4", "c1"],
        );
        parts.unallocated_minor = 1;
        let settled = [
            settlement(
                "s1",
                SettlementKind::Settlement,
                "2026-11-01",
                151,
                &["c1", "c2", "ghost"],
            ),
            parts,
        ];
        let v = verify(&ledger, &settled, PeriodLength::Daily, &november());
        let text: Vec<String> = v.differences.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "s1 counts ghost, which the ledger does not hold",
                "s1 totals 151; its contracts sum to 150 in the ledger",
                "s2's parts add up to 1, its total is 2",
                "s2 counts c1, whose event time is in the period starting 2026-11-01",
                "s2 totals 2; its contracts sum to 101 in the ledger",
                "c1 counted more than once: s1, s2",
                "c3 is in no settlement (s1 closed its period)",
            ]
        );
    }

    #[test]
    fn carried_balances_are_followed_from_settlement_to_settlement() {
        let ledger = [
            charge("c1", 30, NOV_1),
            charge("c2", 40, NOV_1 + DAY),
            charge("c3", 500, NOV_1 + 2 * DAY),
        ];
        let carried = |id: &str, day: &str, total: i64, contracts: &[&str]| {
            let mut s = settlement(id, SettlementKind::Settlement, day, total, contracts);
            (s.unallocated_minor, s.carried_forward_minor) = (0, total);
            s
        };
        let mut d2 = carried("d2", "2026-11-02", 70, &["c2"]);
        (d2.carried_in_minor, d2.carried_from) = (30, Some("d1".into()));
        let mut d3 = settlement("d3", SettlementKind::Settlement, "2026-11-03", 570, &["c3"]);
        (d3.carried_in_minor, d3.carried_from) = (70, Some("d2".into()));
        let settled = [carried("d1", "2026-11-01", 30, &["c1"]), d2, d3.clone()];
        let v = verify(&ledger, &settled, PeriodLength::Daily, &november());
        assert_eq!(v.differences, []);
        assert_eq!((v.settled_minor, v.carried_minor), (670, 0));
        // Taking in what was never carried, or another amount.
        let mut wrong = d3;
        wrong.carried_in_minor = 60;
        wrong.total_minor = 560;
        wrong.unallocated_minor = 560;
        let v = verify(
            &ledger,
            &[settled[0].clone(), settled[1].clone(), wrong],
            PeriodLength::Daily,
            &november(),
        );
        let text: Vec<String> = v.differences.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            ["d3 takes in 60 carried; the settlement it names carried 70"]
        );
        // The last carry not taken in yet: pending, not a difference.
        let v = verify(
            &ledger[..2],
            &settled[..2],
            PeriodLength::Daily,
            &november(),
        );
        assert_eq!((v.differences.len(), v.carried_minor), (0, 70));
    }

    #[test]
    fn the_scope_limits_both_sides() {
        let ledger = [charge("c1", 100, NOV_1), charge("oct", 1, NOV_1 - DAY)];
        let settled = [settlement(
            "s1",
            SettlementKind::Settlement,
            "2026-11-01",
            100,
            &["c1"],
        )];
        let other_party = Scope {
            mo_id: Some("someone-else".into()),
            ..november()
        };
        let v = verify(&ledger, &settled, PeriodLength::Daily, &other_party);
        assert_eq!((v.ledger_entries, v.settlements), (0, 0));
        let v = verify(&ledger, &settled, PeriodLength::Daily, &november());
        assert_eq!((v.ledger_entries, v.settlements, v.open_entries), (1, 1, 0));
    }
}
