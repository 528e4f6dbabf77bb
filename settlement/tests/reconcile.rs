//! Matrix and property tests for `moneta_settlement::reconcile`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use moneta_settlement::{Counts, LedgerEntry, Line, LineOutcome, Record, Report, reconcile};
use proptest::prelude::*;

fn led(id: &str, amount: i64, cur: &str) -> LedgerEntry {
    LedgerEntry {
        contract_id: id.into(),
        amount_minor: amount,
        currency: cur.into(),
    }
}

fn rec(id: &str, amount: i64, cur: &str) -> Record {
    Record {
        contract_id: id.into(),
        amount_minor: amount,
        currency: cur.into(),
    }
}

fn m(amount: i64, cur: &str) -> Option<(i64, String)> {
    Some((amount, cur.into()))
}

fn line(
    id: &str,
    outcome: LineOutcome,
    ledger: Option<(i64, String)>,
    submitted: Option<(i64, String)>,
    counterparty: Option<(i64, String)>,
) -> Line {
    Line {
        contract_id: id.into(),
        outcome,
        ledger,
        submitted,
        counterparty,
    }
}

struct Case {
    name: &'static str,
    ledger: Vec<LedgerEntry>,
    ours: Vec<Record>,
    theirs: Option<Vec<Record>>,
    expected: Vec<Line>,
}

#[test]
fn outcome_matrix() {
    use LineOutcome::*;
    let cases = vec![
        Case {
            name: "matched, no counterparty submission",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 100, "EUR")],
            theirs: None,
            expected: vec![line("c1", Matched, m(100, "EUR"), m(100, "EUR"), None)],
        },
        Case {
            name: "matched, counterparty agrees",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 100, "EUR")],
            theirs: Some(vec![rec("c1", 100, "EUR")]),
            expected: vec![line(
                "c1",
                Matched,
                m(100, "EUR"),
                m(100, "EUR"),
                m(100, "EUR"),
            )],
        },
        Case {
            name: "counterparty lacks the contract: still matched against the ledger",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 100, "EUR")],
            theirs: Some(vec![rec("c2", 5, "EUR")]),
            expected: vec![line("c1", Matched, m(100, "EUR"), m(100, "EUR"), None)],
        },
        Case {
            name: "missing on our side (not in ledger)",
            ledger: vec![],
            ours: vec![rec("c1", 100, "EUR")],
            theirs: None,
            expected: vec![line("c1", MissingOnOurSide, None, m(100, "EUR"), None)],
        },
        Case {
            name: "missing on our side, counterparty shown for context",
            ledger: vec![],
            ours: vec![rec("c1", 100, "EUR")],
            theirs: Some(vec![rec("c1", 90, "EUR")]),
            expected: vec![line(
                "c1",
                MissingOnOurSide,
                None,
                m(100, "EUR"),
                m(90, "EUR"),
            )],
        },
        Case {
            name: "missing on their side (not submitted)",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![],
            theirs: Some(vec![rec("c1", 100, "EUR")]),
            expected: vec![line(
                "c1",
                MissingOnTheirSide,
                m(100, "EUR"),
                None,
                m(100, "EUR"),
            )],
        },
        Case {
            name: "amount mismatch",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 90, "EUR")],
            theirs: None,
            expected: vec![line(
                "c1",
                AmountMismatch,
                m(100, "EUR"),
                m(90, "EUR"),
                None,
            )],
        },
        Case {
            name: "currency mismatch, same amount",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 100, "USD")],
            theirs: None,
            expected: vec![line(
                "c1",
                CurrencyMismatch,
                m(100, "EUR"),
                m(100, "USD"),
                None,
            )],
        },
        Case {
            name: "currency mismatch takes precedence over amount mismatch",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 90, "USD")],
            theirs: None,
            expected: vec![line(
                "c1",
                CurrencyMismatch,
                m(100, "EUR"),
                m(90, "USD"),
                None,
            )],
        },
        Case {
            name: "ledger mismatch takes precedence over counterparty mismatch",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 90, "EUR")],
            theirs: Some(vec![rec("c1", 80, "EUR")]),
            expected: vec![line(
                "c1",
                AmountMismatch,
                m(100, "EUR"),
                m(90, "EUR"),
                m(80, "EUR"),
            )],
        },
        Case {
            name: "counterparty mismatch on amount",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 100, "EUR")],
            theirs: Some(vec![rec("c1", 90, "EUR")]),
            expected: vec![line(
                "c1",
                CounterpartyMismatch,
                m(100, "EUR"),
                m(100, "EUR"),
                m(90, "EUR"),
            )],
        },
        Case {
            name: "counterparty mismatch on currency",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 100, "EUR")],
            theirs: Some(vec![rec("c1", 100, "USD")]),
            expected: vec![line(
                "c1",
                CounterpartyMismatch,
                m(100, "EUR"),
                m(100, "EUR"),
                m(100, "USD"),
            )],
        },
        Case {
            name: "counterparty duplicates: the one equal to ours is used",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 100, "EUR")],
            theirs: Some(vec![rec("c1", 90, "EUR"), rec("c1", 100, "EUR")]),
            expected: vec![line(
                "c1",
                Matched,
                m(100, "EUR"),
                m(100, "EUR"),
                m(100, "EUR"),
            )],
        },
        Case {
            name: "exact duplicate",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 100, "EUR"), rec("c1", 100, "EUR")],
            theirs: None,
            expected: vec![
                line("c1", Matched, m(100, "EUR"), m(100, "EUR"), None),
                line("c1", Duplicate, None, m(100, "EUR"), None),
            ],
        },
        Case {
            name: "duplicate + mismatch: the record equal to the ledger is primary",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 90, "EUR"), rec("c1", 100, "EUR")],
            theirs: None,
            expected: vec![
                line("c1", Matched, m(100, "EUR"), m(100, "EUR"), None),
                line("c1", Duplicate, None, m(90, "EUR"), None),
            ],
        },
        Case {
            name: "duplicate + mismatch: no record equals the ledger, smallest is primary",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 90, "EUR"), rec("c1", 80, "EUR")],
            theirs: Some(vec![rec("c1", 90, "EUR")]),
            expected: vec![
                line(
                    "c1",
                    AmountMismatch,
                    m(100, "EUR"),
                    m(80, "EUR"),
                    m(90, "EUR"),
                ),
                line("c1", Duplicate, None, m(90, "EUR"), None),
            ],
        },
        Case {
            name: "duplicate + currency mismatch (primary ordered by currency first)",
            ledger: vec![led("c1", 100, "EUR")],
            ours: vec![rec("c1", 100, "USD"), rec("c1", 5, "GBP")],
            theirs: None,
            expected: vec![
                line("c1", CurrencyMismatch, m(100, "EUR"), m(5, "GBP"), None),
                line("c1", Duplicate, None, m(100, "USD"), None),
            ],
        },
        Case {
            name: "duplicate of a record missing from the ledger",
            ledger: vec![],
            ours: vec![
                rec("c1", 7, "EUR"),
                rec("c1", 7, "EUR"),
                rec("c1", 3, "EUR"),
            ],
            theirs: None,
            expected: vec![
                line("c1", MissingOnOurSide, None, m(3, "EUR"), None),
                line("c1", Duplicate, None, m(7, "EUR"), None),
                line("c1", Duplicate, None, m(7, "EUR"), None),
            ],
        },
        Case {
            name: "duplicate ledger entry is surfaced, not summed",
            ledger: vec![led("c1", 100, "EUR"), led("c1", -30, "EUR")],
            ours: vec![rec("c1", -30, "EUR")],
            theirs: None,
            expected: vec![
                line("c1", Matched, m(-30, "EUR"), m(-30, "EUR"), None),
                line("c1", Duplicate, m(100, "EUR"), None, None),
            ],
        },
        Case {
            name: "counterparty-only contract yields no line",
            ledger: vec![],
            ours: vec![],
            theirs: Some(vec![rec("c9", 1, "EUR")]),
            expected: vec![],
        },
        Case {
            name: "empty",
            ledger: vec![],
            ours: vec![],
            theirs: None,
            expected: vec![],
        },
    ];

    for c in cases {
        let report = reconcile(&c.ledger, &c.ours, c.theirs.as_deref());
        assert_eq!(report.lines, c.expected, "case: {}", c.name);
        assert_eq!(
            report.counts.total(),
            report.lines.len(),
            "case: {}",
            c.name
        );
        for o in ALL_OUTCOMES {
            let n = report.lines.iter().filter(|l| l.outcome == o).count();
            assert_eq!(report.counts.get(o), n, "case: {} outcome {o:?}", c.name);
        }
    }
}

#[test]
fn multi_contract_report_is_sorted_with_counts() {
    let ledger = vec![
        led("c3", 300, "EUR"),
        led("c1", 100, "EUR"),
        led("c2", 200, "EUR"),
        led("c5", 500, "EUR"),
    ];
    let ours = vec![
        rec("c4", 400, "EUR"),
        rec("c2", 201, "EUR"),
        rec("c1", 100, "EUR"),
        rec("c1", 100, "EUR"),
        rec("c5", 500, "EUR"),
    ];
    let theirs = vec![rec("c5", 499, "EUR")];
    let r = reconcile(&ledger, &ours, Some(&theirs));
    let summary: Vec<(&str, LineOutcome)> = r
        .lines
        .iter()
        .map(|l| (l.contract_id.as_str(), l.outcome))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("c1", LineOutcome::Matched),
            ("c1", LineOutcome::Duplicate),
            ("c2", LineOutcome::AmountMismatch),
            ("c3", LineOutcome::MissingOnTheirSide),
            ("c4", LineOutcome::MissingOnOurSide),
            ("c5", LineOutcome::CounterpartyMismatch),
        ]
    );
    assert_eq!(
        r.counts,
        Counts {
            matched: 1,
            missing_on_our_side: 1,
            missing_on_their_side: 1,
            amount_mismatch: 1,
            currency_mismatch: 0,
            duplicate: 1,
            counterparty_mismatch: 1,
        }
    );
    assert!(!r.counts.all_matched());
}

#[test]
/// One outcome type, named on the wire as the report schema's enum symbols.
fn outcome_serde_names_are_the_report_schemas_symbols() {
    use serde::Deserialize;
    use serde::de::IntoDeserializer;
    use serde::de::value::{Error, StrDeserializer};
    let names = [
        ("MATCHED", LineOutcome::Matched),
        ("MISSING_ON_OUR_SIDE", LineOutcome::MissingOnOurSide),
        ("MISSING_ON_THEIR_SIDE", LineOutcome::MissingOnTheirSide),
        ("AMOUNT_MISMATCH", LineOutcome::AmountMismatch),
        ("CURRENCY_MISMATCH", LineOutcome::CurrencyMismatch),
        ("DUPLICATE", LineOutcome::Duplicate),
        ("COUNTERPARTY_MISMATCH", LineOutcome::CounterpartyMismatch),
    ];
    for (s, o) in names {
        let de: StrDeserializer<'_, Error> = s.into_deserializer();
        assert_eq!(LineOutcome::deserialize(de).unwrap(), o);
        assert!(
            include_str!("../../schemas/avro/reconciliation-report.avsc")
                .contains(&format!("\"{s}\"")),
            "{s} is not a symbol of the report schema"
        );
    }
}

const ALL_OUTCOMES: [LineOutcome; 7] = [
    LineOutcome::Matched,
    LineOutcome::MissingOnOurSide,
    LineOutcome::MissingOnTheirSide,
    LineOutcome::AmountMismatch,
    LineOutcome::CurrencyMismatch,
    LineOutcome::Duplicate,
    LineOutcome::CounterpartyMismatch,
];

// ---------- property tests ----------

/// Small domains so that collisions (duplicates, matches, mismatches) are frequent.
fn triple() -> impl Strategy<Value = (String, i64, String)> {
    (
        prop::sample::select(vec!["c0", "c1", "c2", "c3", "c4"]),
        -2i64..=2,
        prop::sample::select(vec!["EUR", "USD"]),
    )
        .prop_map(|(id, a, c)| (id.to_owned(), a, c.to_owned()))
}

fn ledger_vec() -> impl Strategy<Value = Vec<LedgerEntry>> {
    prop::collection::vec(triple(), 0..8).prop_map(|v| {
        v.into_iter()
            .map(|(contract_id, amount_minor, currency)| LedgerEntry {
                contract_id,
                amount_minor,
                currency,
            })
            .collect()
    })
}

fn record_vec() -> impl Strategy<Value = Vec<Record>> {
    prop::collection::vec(triple(), 0..10).prop_map(|v| {
        v.into_iter()
            .map(|(contract_id, amount_minor, currency)| Record {
                contract_id,
                amount_minor,
                currency,
            })
            .collect()
    })
}

type Inputs = (Vec<LedgerEntry>, Vec<Record>, Option<Vec<Record>>);

/// Inputs plus an independently shuffled copy of each list.
fn inputs_and_shuffled() -> impl Strategy<Value = (Inputs, Inputs)> {
    (ledger_vec(), record_vec(), prop::option::of(record_vec())).prop_flat_map(|(l, o, t)| {
        let shuffled = (
            Just(l.clone()).prop_shuffle(),
            Just(o.clone()).prop_shuffle(),
            match t.clone() {
                Some(t) => Just(t).prop_shuffle().prop_map(Some).boxed(),
                None => Just(None).boxed(),
            },
        );
        (Just((l, o, t)), shuffled)
    })
}

fn run(i: &Inputs) -> Report {
    reconcile(&i.0, &i.1, i.2.as_deref())
}

fn sorted<T: Ord>(mut v: Vec<T>) -> Vec<T> {
    v.sort();
    v
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn every_entry_and_record_in_exactly_one_line((i, _) in inputs_and_shuffled()) {
        let r = run(&i);
        let from_lines_ledger = sorted(
            r.lines.iter()
                .filter_map(|l| l.ledger.clone().map(|(a, c)| (l.contract_id.clone(), a, c)))
                .collect(),
        );
        let ledger = sorted(
            i.0.iter().map(|e| (e.contract_id.clone(), e.amount_minor, e.currency.clone())).collect(),
        );
        prop_assert_eq!(from_lines_ledger, ledger);
        let from_lines_sub = sorted(
            r.lines.iter()
                .filter_map(|l| l.submitted.clone().map(|(a, c)| (l.contract_id.clone(), a, c)))
                .collect(),
        );
        let ours = sorted(
            i.1.iter().map(|e| (e.contract_id.clone(), e.amount_minor, e.currency.clone())).collect(),
        );
        prop_assert_eq!(from_lines_sub, ours);
    }

    #[test]
    fn counts_sum_to_lines((i, _) in inputs_and_shuffled()) {
        let r = run(&i);
        prop_assert_eq!(r.counts.total(), r.lines.len());
        for o in ALL_OUTCOMES {
            prop_assert_eq!(r.counts.get(o), r.lines.iter().filter(|l| l.outcome == o).count());
        }
    }

    #[test]
    fn independent_of_input_order((i, s) in inputs_and_shuffled()) {
        prop_assert_eq!(run(&i), run(&s));
    }

    #[test]
    fn structural_invariants((i, _) in inputs_and_shuffled()) {
        let r = run(&i);
        // Sorted.
        prop_assert!(r.lines.windows(2).all(|w| w[0] <= w[1]));
        // One primary line per contract id in ledger ∪ ours; the rest are duplicates.
        let ids: BTreeSet<&str> = i.0.iter().map(|e| e.contract_id.as_str())
            .chain(i.1.iter().map(|e| e.contract_id.as_str()))
            .collect();
        prop_assert_eq!(r.lines.len() - r.counts.duplicate, ids.len());
        let ledger_ids: BTreeSet<&str> = i.0.iter().map(|e| e.contract_id.as_str()).collect();
        let our_ids: BTreeSet<&str> = i.1.iter().map(|e| e.contract_id.as_str()).collect();
        prop_assert_eq!(
            r.counts.duplicate,
            (i.0.len() - ledger_ids.len()) + (i.1.len() - our_ids.len())
        );
        for l in &r.lines {
            match l.outcome {
                LineOutcome::Matched => prop_assert!(l.ledger.is_some() && l.ledger == l.submitted),
                LineOutcome::MissingOnOurSide => prop_assert!(l.ledger.is_none() && l.submitted.is_some()),
                LineOutcome::MissingOnTheirSide => prop_assert!(l.ledger.is_some() && l.submitted.is_none()),
                LineOutcome::CurrencyMismatch | LineOutcome::AmountMismatch => {
                    prop_assert!(l.ledger.is_some() && l.submitted.is_some() && l.ledger != l.submitted);
                }
                LineOutcome::Duplicate => {
                    prop_assert!(l.ledger.is_some() != l.submitted.is_some());
                    prop_assert!(l.counterparty.is_none());
                }
                LineOutcome::CounterpartyMismatch => {
                    prop_assert!(i.2.is_some());
                    prop_assert!(l.ledger == l.submitted && l.counterparty.is_some());
                    prop_assert!(l.counterparty != l.submitted);
                }
            }
            if i.2.is_none() {
                prop_assert!(l.counterparty.is_none());
            }
        }
    }

    #[test]
    fn counterparty_absent_or_agreeing_never_changes_ledger_outcomes((i, _) in inputs_and_shuffled()) {
        // With theirs = ours, no counterparty mismatch is possible, and outcomes equal the no-theirs run.
        let with_self = reconcile(&i.0, &i.1, Some(&i.1));
        let without = reconcile(&i.0, &i.1, None);
        let a: Vec<_> = with_self.lines.iter().map(|l| (&l.contract_id, l.outcome)).collect();
        let b: Vec<_> = without.lines.iter().map(|l| (&l.contract_id, l.outcome)).collect();
        prop_assert_eq!(a, b);
        prop_assert_eq!(with_self.counts.counterparty_mismatch, 0);
    }
}
