//! The export's table: one row per settlement or adjustment with the
//! parties' answers to its statement, as CSV or Parquet (the same columns).

use std::collections::BTreeMap;
use std::sync::Arc;

use moneta_avro::{Party, Settlement, SettlementKind};
use parquet::basic::{ConvertedType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

/// A party's answer to a settlement statement (a finalized
/// `settlement-statement` contract it signed).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Answer {
    /// `accepted` or `disputed`.
    pub decision: String,
    /// Why, for a dispute.
    pub reason: Option<String>,
    /// The answering contract.
    pub contract_id: String,
}

/// Each party's latest answer, by settlement id and party.
pub type Answers = BTreeMap<(String, Party), Answer>;

/// One exported settlement with the parties' answers to its statement.
#[derive(serde::Serialize)]
pub struct Row<'a> {
    #[serde(flatten)]
    pub settlement: &'a Settlement,
    /// `final` (both accepted), `disputed` (either disputed) or `open`.
    pub status: &'static str,
    pub mo_answer: Option<&'a Answer>,
    pub publisher_answer: Option<&'a Answer>,
}

impl<'a> Row<'a> {
    /// `settlement` with its answers among `answers`.
    pub fn new(settlement: &'a Settlement, answers: &'a Answers) -> Self {
        let answer = |party| answers.get(&(settlement.settlement_id.clone(), party));
        let (mo, publisher) = (answer(Party::Mo), answer(Party::Publisher));
        let decided = |a: Option<&Answer>, d: &str| a.is_some_and(|a| a.decision == d);
        let status = if decided(mo, "disputed") || decided(publisher, "disputed") {
            "disputed"
        } else if decided(mo, "accepted") && decided(publisher, "accepted") {
            "final"
        } else {
            "open"
        };
        Self {
            settlement,
            status,
            mo_answer: mo,
            publisher_answer: publisher,
        }
    }
}

/// One cell of the table.
enum Cell {
    /// Text (empty for none).
    Text(String),
    /// Minor units.
    Int(i64),
}

/// The columns, in order, and whether each holds minor units.
const COLUMNS: [(&str, bool); 23] = [
    ("settlement_id", false),
    ("kind", false),
    ("adjusts", false),
    ("period_start", false),
    ("period_end", false),
    ("mo_id", false),
    ("publisher_id", false),
    ("currency", false),
    ("agreement_id", false),
    ("total_minor", true),
    ("publisher_minor", true),
    ("mo_minor", true),
    ("moneta_fee_minor", true),
    ("unallocated_minor", true),
    ("carried_in_minor", true),
    ("carried_from", false),
    ("carried_forward_minor", true),
    ("contracts", false),
    ("signed_by", false),
    ("status", false),
    ("mo_answer", false),
    ("publisher_answer", false),
    ("disputes", false),
];

/// A row's cells, in [`COLUMNS`] order.
fn cells(row: &Row<'_>) -> [Cell; 23] {
    let s = row.settlement;
    let text = |v: &str| Cell::Text(v.to_owned());
    let kind = match s.kind {
        SettlementKind::Settlement => "settlement",
        SettlementKind::Adjustment => "adjustment",
    };
    let disputes = [("mo", row.mo_answer), ("publisher", row.publisher_answer)]
        .iter()
        .filter_map(|(who, a)| {
            let a = (*a)?;
            let reason = a.reason.as_deref()?;
            (a.decision == "disputed").then(|| format!("{who}: {reason}"))
        })
        .collect::<Vec<_>>()
        .join("; ");
    [
        text(&s.settlement_id),
        text(kind),
        text(s.adjusts.as_deref().unwrap_or_default()),
        text(&s.period_start),
        text(&s.period_end),
        text(&s.mo_id),
        text(&s.publisher_id),
        text(&s.currency),
        text(s.agreement_id.as_deref().unwrap_or_default()),
        Cell::Int(s.total_minor),
        Cell::Int(s.publisher_minor),
        Cell::Int(s.mo_minor),
        Cell::Int(s.moneta_fee_minor),
        Cell::Int(s.unallocated_minor),
        Cell::Int(s.carried_in_minor),
        text(s.carried_from.as_deref().unwrap_or_default()),
        Cell::Int(s.carried_forward_minor),
        Cell::Text(s.contracts.join(" ")),
        text(&s.signature.key_id),
        text(row.status),
        text(&decision(row.mo_answer)),
        text(&decision(row.publisher_answer)),
        Cell::Text(disputes),
    ]
}

/// The CSV: one row per settlement or adjustment; in every row
/// `publisher_minor + mo_minor + moneta_fee_minor + unallocated_minor +
/// carried_forward_minor = total_minor`.
pub fn csv(rows: &[Row<'_>]) -> String {
    let header: Vec<&str> = COLUMNS.iter().map(|(name, _)| *name).collect();
    let mut out = header.join(",") + "\n";
    for row in rows {
        let line: Vec<String> = cells(row)
            .iter()
            .map(|cell| match cell {
                Cell::Text(t) => quote(t),
                Cell::Int(n) => n.to_string(),
            })
            .collect();
        out.push_str(&line.join(","));
        out.push('\n');
    }
    out
}

/// The same table as Parquet: UTF-8 strings (empty for none) and INT64
/// minor units, one row group, uncompressed.
pub fn parquet(rows: &[Row<'_>]) -> Result<Vec<u8>, parquet::errors::ParquetError> {
    let fields = COLUMNS
        .iter()
        .map(|(name, int)| {
            let field = if *int {
                Type::primitive_type_builder(name, Physical::INT64)
            } else {
                Type::primitive_type_builder(name, Physical::BYTE_ARRAY)
                    .with_converted_type(ConvertedType::UTF8)
            };
            Ok(Arc::new(
                field.with_repetition(Repetition::REQUIRED).build()?,
            ))
        })
        .collect::<Result<Vec<_>, parquet::errors::ParquetError>>()?;
    let schema = Arc::new(
        Type::group_type_builder("settlement")
            .with_fields(fields)
            .build()?,
    );
    let table: Vec<[Cell; 23]> = rows.iter().map(cells).collect();
    let mut out = Vec::new();
    let properties = Arc::new(WriterProperties::builder().build());
    let mut writer = SerializedFileWriter::new(&mut out, schema, properties)?;
    let mut group = writer.next_row_group()?;
    let mut at = 0;
    while let Some(mut column) = group.next_column()? {
        let int = COLUMNS.get(at).is_some_and(|(_, int)| *int);
        if int {
            let values: Vec<i64> = table
                .iter()
                .map(|r| match &r[at] {
                    Cell::Int(n) => *n,
                    Cell::Text(_) => 0,
                })
                .collect();
            column
                .typed::<Int64Type>()
                .write_batch(&values, None, None)?;
        } else {
            let values: Vec<ByteArray> = table
                .iter()
                .map(|r| match &r[at] {
                    Cell::Text(t) => ByteArray::from(t.as_str()),
                    Cell::Int(n) => ByteArray::from(n.to_string().as_str()),
                })
                .collect();
            column
                .typed::<ByteArrayType>()
                .write_batch(&values, None, None)?;
        }
        column.close()?;
        at += 1;
    }
    group.close()?;
    writer.close()?;
    Ok(out)
}

/// A party's decision, or empty.
fn decision(answer: Option<&Answer>) -> String {
    answer.map(|a| a.decision.clone()).unwrap_or_default()
}

/// RFC 4180 quoting where needed.
fn quote(field: &str) -> String {
    if field.contains([',', '"', '\n']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settlement(id: &str) -> Settlement {
        Settlement {
            settlement_id: id.into(),
            kind: SettlementKind::Settlement,
            adjusts: None,
            mo_id: "mo".into(),
            publisher_id: "pub".into(),
            currency: "EUR".into(),
            period_start: "2026-11-01".into(),
            period_end: "2026-11-01".into(),
            agreement_id: None,
            total_minor: 10,
            publisher_minor: 0,
            mo_minor: 0,
            moneta_fee_minor: 0,
            unallocated_minor: 10,
            contracts: vec!["c1".into()],
            closed_at_ms: 0,
            signature: moneta_avro::MonetaSignature {
                key_id: "k".into(),
                signature: String::new(),
            },
            carried_in_minor: 0,
            carried_from: None,
            carried_forward_minor: 0,
        }
    }

    fn answer(decision: &str, reason: Option<&str>) -> Answer {
        Answer {
            decision: decision.into(),
            reason: reason.map(str::to_owned),
            contract_id: "a".into(),
        }
    }

    #[test]
    fn a_statement_is_final_when_both_accept_and_disputed_when_either_disputes() {
        let s = settlement("stl:1");
        let mut answers = Answers::new();
        assert_eq!(Row::new(&s, &answers).status, "open");
        answers.insert(("stl:1".into(), Party::Mo), answer("accepted", None));
        assert_eq!(Row::new(&s, &answers).status, "open");
        answers.insert(("stl:1".into(), Party::Publisher), answer("accepted", None));
        assert_eq!(Row::new(&s, &answers).status, "final");
        answers.insert(
            ("stl:1".into(), Party::Publisher),
            answer("disputed", Some("c1, refunded")),
        );
        let row = Row::new(&s, &answers);
        assert_eq!(row.status, "disputed");
        let text = csv(&[row]);
        assert!(
            text.ends_with(",disputed,accepted,disputed,\"publisher: c1, refunded\"\n"),
            "{text}"
        );
    }

    #[test]
    fn the_parquet_file_holds_the_csv_columns_and_values() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::record::RowAccessor;
        let (a, b) = (settlement("stl:a"), settlement("stl:b"));
        let mut answers = Answers::new();
        answers.insert(
            ("stl:b".into(), Party::Mo),
            answer("disputed", Some("late")),
        );
        let rows = [Row::new(&a, &answers), Row::new(&b, &answers)];
        let bytes = parquet(&rows).expect("parquet");
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("export.parquet");
        std::fs::write(&path, &bytes).expect("write");
        let reader = SerializedFileReader::new(std::fs::File::open(&path).expect("open"))
            .expect("a parquet file");
        let schema = reader.metadata().file_metadata().schema_descr();
        let names: Vec<&str> = schema.columns().iter().map(|c| c.name()).collect();
        let header = csv(&[]);
        assert_eq!(
            names.join(",") + "\n",
            header,
            "the CSV's columns, in order"
        );
        let read: Vec<(String, i64, String, String)> = reader
            .get_row_iter(None)
            .expect("rows")
            .map(|row| {
                let row = row.expect("a row");
                (
                    row.get_string(0).expect("id").clone(),
                    row.get_long(9).expect("total"),
                    row.get_string(19).expect("status").clone(),
                    row.get_string(22).expect("disputes").clone(),
                )
            })
            .collect();
        assert_eq!(
            read,
            [
                ("stl:a".into(), 10, "open".into(), String::new()),
                ("stl:b".into(), 10, "disputed".into(), "mo: late".into()),
            ]
        );
    }
}
