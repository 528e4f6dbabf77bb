//! Reconciliation of one party's submitted records for a period against
//! Moneta's ledger and, when present, the counterparty's submission.
//!
//! # Inputs
//!
//! * `ledger` — the hub's view: one net amount per contract for the period.
//! * `ours` — the records submitted by the party being reconciled.
//! * `theirs` — optionally, the records submitted by the counterparty.
//!
//! Currencies are compared exactly (ISO 4217 codes are expected upper-case);
//! amounts are integer minor units.
//!
//! # Classification
//!
//! Records are grouped by `contract_id`. Within a group:
//!
//! 1. **Duplicate.** If the submission holds the contract id more than once,
//!    one record is the *primary* and is classified normally; every other one
//!    yields a [`LineOutcome::Duplicate`] line. So the result does not depend on
//!    input order, the primary is chosen canonically (not by position): a
//!    record equal in amount and currency to the primary ledger entry if there
//!    is one, otherwise the smallest by `(currency, amount_minor)`. The ledger
//!    should hold one entry per contract; if it does not, the extra ledger
//!    entries likewise become `Duplicate` lines (primary: the smallest by
//!    `(currency, amount_minor)`) rather than being summed or dropped.
//! 2. **Presence.** Primary submitted record without a ledger entry →
//!    [`LineOutcome::MissingOnOurSide`]; ledger entry without a submitted record →
//!    [`LineOutcome::MissingOnTheirSide`].
//! 3. **CurrencyMismatch** if the submitted currency differs from the ledger's.
//! 4. **AmountMismatch** if the currencies agree but the amounts differ.
//! 5. **CounterpartyMismatch** if the party's record agrees with the ledger,
//!    `theirs` is given, and it holds the contract with a different amount or
//!    currency than the party's record. A counterparty that lacks the
//!    contract does not make a mismatch: the line is still `Matched`.
//! 6. Otherwise **Matched**.
//!
//! Thus `CounterpartyMismatch` only ever appears on lines where the party
//! agrees with the ledger, i.e. it flags a disagreement that is the
//! counterparty's to resolve; where the party itself disagrees with the
//! ledger, the ledger-based outcome takes precedence and the counterparty's
//! figures are still reported in [`Line::counterparty`] for context.
//!
//! # Lines
//!
//! Every ledger entry and every submitted record is accounted for by exactly
//! one line, in [`Line::ledger`] / [`Line::submitted`] respectively. A
//! `Duplicate` line carries only the duplicated entry (the other fields are
//! `None`). Primary lines carry the counterparty's record for the contract in
//! [`Line::counterparty`] when `theirs` holds it (if `theirs` holds it more
//! than once, the one equal to the party's record, else the smallest by
//! `(currency, amount_minor)`; the counterparty's own duplicates are reported
//! by its own reconciliation). Contracts present only in `theirs` yield no
//! line. Lines are sorted by `contract_id`, then outcome (in declaration
//! order of [`LineOutcome`]), then the remaining fields, so the report is fully
//! deterministic and independent of input order.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The hub's net amount for one contract in the period.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Contract identifier.
    pub contract_id: String,
    /// Net amount in minor units (e.g. a charge minus an upheld dispute).
    pub amount_minor: i64,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// One record as submitted by a party.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Record {
    /// Contract identifier.
    pub contract_id: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 currency code.
    pub currency: String,
}

/// Classification of one reconciliation line (the record type of the
/// reports' lines); see the module docs for the precise rules.
pub use moneta_records::LineOutcome;

/// One line of a reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Line {
    /// Contract identifier.
    pub contract_id: String,
    /// How the line was classified.
    pub outcome: LineOutcome,
    /// The ledger's `(amount_minor, currency)` accounted for by this line.
    pub ledger: Option<(i64, String)>,
    /// The party's submitted `(amount_minor, currency)` accounted for by this line.
    pub submitted: Option<(i64, String)>,
    /// The counterparty's `(amount_minor, currency)` for the contract, for context.
    pub counterparty: Option<(i64, String)>,
}

/// Number of lines per outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Counts {
    /// Lines classified [`LineOutcome::Matched`].
    pub matched: usize,
    /// Lines classified [`LineOutcome::MissingOnOurSide`].
    pub missing_on_our_side: usize,
    /// Lines classified [`LineOutcome::MissingOnTheirSide`].
    pub missing_on_their_side: usize,
    /// Lines classified [`LineOutcome::AmountMismatch`].
    pub amount_mismatch: usize,
    /// Lines classified [`LineOutcome::CurrencyMismatch`].
    pub currency_mismatch: usize,
    /// Lines classified [`LineOutcome::Duplicate`].
    pub duplicate: usize,
    /// Lines classified [`LineOutcome::CounterpartyMismatch`].
    pub counterparty_mismatch: usize,
}

impl Counts {
    /// Sum over all outcomes (equals the number of lines).
    pub fn total(&self) -> usize {
        self.matched
            + self.missing_on_our_side
            + self.missing_on_their_side
            + self.amount_mismatch
            + self.currency_mismatch
            + self.duplicate
            + self.counterparty_mismatch
    }

    /// Whether every line is [`LineOutcome::Matched`].
    pub fn all_matched(&self) -> bool {
        self.total() == self.matched
    }

    /// The count for one outcome.
    pub fn get(&self, outcome: LineOutcome) -> usize {
        match outcome {
            LineOutcome::Matched => self.matched,
            LineOutcome::MissingOnOurSide => self.missing_on_our_side,
            LineOutcome::MissingOnTheirSide => self.missing_on_their_side,
            LineOutcome::AmountMismatch => self.amount_mismatch,
            LineOutcome::CurrencyMismatch => self.currency_mismatch,
            LineOutcome::Duplicate => self.duplicate,
            LineOutcome::CounterpartyMismatch => self.counterparty_mismatch,
        }
    }

    fn bump(&mut self, outcome: LineOutcome) {
        let slot = match outcome {
            LineOutcome::Matched => &mut self.matched,
            LineOutcome::MissingOnOurSide => &mut self.missing_on_our_side,
            LineOutcome::MissingOnTheirSide => &mut self.missing_on_their_side,
            LineOutcome::AmountMismatch => &mut self.amount_mismatch,
            LineOutcome::CurrencyMismatch => &mut self.currency_mismatch,
            LineOutcome::Duplicate => &mut self.duplicate,
            LineOutcome::CounterpartyMismatch => &mut self.counterparty_mismatch,
        };
        *slot += 1;
    }
}

/// A reconciliation report: sorted lines plus per-outcome counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Report {
    /// Lines sorted by contract id, outcome, then the remaining fields.
    pub lines: Vec<Line>,
    /// Number of lines per outcome.
    pub counts: Counts,
}

/// `(amount_minor, currency)` borrowed from an entry or record.
type Money<'a> = (i64, &'a str);

/// Everything known about one contract id.
#[derive(Default)]
struct Group<'a> {
    ledger: Vec<Money<'a>>,
    ours: Vec<Money<'a>>,
    theirs: Vec<Money<'a>>,
}

/// Removes and returns the canonical primary of `items`: one equal to `prefer`
/// if present, else the smallest by `(currency, amount)`. `items` must be sorted.
fn take_primary<'a>(items: &mut Vec<Money<'a>>, prefer: Option<Money<'a>>) -> Option<Money<'a>> {
    let idx = prefer
        .and_then(|p| items.iter().position(|m| *m == p))
        .unwrap_or(0);
    (idx < items.len()).then(|| items.remove(idx))
}

fn owned(m: Money<'_>) -> (i64, String) {
    (m.0, m.1.to_owned())
}

/// Reconciles one party's records (`ours`) against the `ledger` and, optionally, the counterparty's records.
pub fn reconcile(ledger: &[LedgerEntry], ours: &[Record], theirs: Option<&[Record]>) -> Report {
    let mut groups: BTreeMap<&str, Group<'_>> = BTreeMap::new();
    for e in ledger {
        let g = groups.entry(e.contract_id.as_str()).or_default();
        g.ledger.push((e.amount_minor, e.currency.as_str()));
    }
    for r in ours {
        let g = groups.entry(r.contract_id.as_str()).or_default();
        g.ours.push((r.amount_minor, r.currency.as_str()));
    }
    for r in theirs.unwrap_or_default() {
        // Counterparty-only contracts yield no line, so only attach to known groups.
        if let Some(g) = groups.get_mut(r.contract_id.as_str()) {
            g.theirs.push((r.amount_minor, r.currency.as_str()));
        }
    }

    let mut lines = Vec::with_capacity(ledger.len() + ours.len());
    for (id, mut g) in groups {
        // Canonical order: by (currency, amount).
        for v in [&mut g.ledger, &mut g.ours, &mut g.theirs] {
            v.sort_by(|a, b| (a.1, a.0).cmp(&(b.1, b.0)));
        }

        let led = take_primary(&mut g.ledger, None);
        let sub = take_primary(&mut g.ours, led);
        let cp = take_primary(&mut g.theirs, sub);

        let outcome = match (led, sub) {
            (None, Some(_)) => LineOutcome::MissingOnOurSide,
            (Some(_), None) => LineOutcome::MissingOnTheirSide,
            (Some((la, lc)), Some((sa, sc))) => {
                if lc != sc {
                    LineOutcome::CurrencyMismatch
                } else if la != sa {
                    LineOutcome::AmountMismatch
                } else if cp.is_some_and(|c| c != (sa, sc)) {
                    LineOutcome::CounterpartyMismatch
                } else {
                    LineOutcome::Matched
                }
            }
            // A group exists only because a ledger entry or submitted record has this id.
            (None, None) => continue,
        };
        lines.push(Line {
            contract_id: id.to_owned(),
            outcome,
            ledger: led.map(owned),
            submitted: sub.map(owned),
            counterparty: cp.map(owned),
        });
        let dup = |ledger: Option<Money<'_>>, submitted: Option<Money<'_>>| Line {
            contract_id: id.to_owned(),
            outcome: LineOutcome::Duplicate,
            ledger: ledger.map(owned),
            submitted: submitted.map(owned),
            counterparty: None,
        };
        lines.extend(g.ledger.iter().map(|&m| dup(Some(m), None)));
        lines.extend(g.ours.iter().map(|&m| dup(None, Some(m))));
    }

    lines.sort();
    let mut counts = Counts::default();
    for l in &lines {
        counts.bump(l.outcome);
    }
    Report { lines, counts }
}
