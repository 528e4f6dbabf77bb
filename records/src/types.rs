//! The records on Moneta's topics: Rust twins of `schemas/avro/`, field for field.

use serde::{Deserialize, Serialize};

/// A contracting party, or Moneta as countersigner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Party {
    /// The Membership Organization.
    Mo,
    /// The publisher.
    Publisher,
    /// Moneta, countersigning.
    Moneta,
}

/// Where an event entered Moneta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Source {
    /// Produced straight to the partner ingress topic.
    Kafka,
    /// Submitted to the HTTP ingest edge.
    Http,
}

/// What every party signs (see `docs/contracts.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractTerms {
    /// Ties every event of one contract together.
    pub contract_id: String,
    /// The template's contract type.
    pub contract_type: String,
    /// Template name.
    pub template_name: String,
    /// Template version.
    pub template_version: i32,
    /// The MO party.
    pub mo_id: String,
    /// The publisher party.
    pub publisher_id: String,
    /// The mPass concerned, if any.
    pub mpass_id: Option<String>,
    /// A human-readable summary.
    pub description: String,
    /// The template's attributes, one JSON object as text.
    pub terms_json: String,
}

/// An ed25519 signature over the canonical terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartySignature {
    /// Who signed.
    pub party: Party,
    /// The key that signed.
    pub key_id: String,
    /// Standard base64 of the signature.
    pub signature: String,
    /// When the signer says it signed, Unix seconds.
    pub signed_at: i64,
}

/// One party's signed submission of a contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractEvent {
    /// The partner's own event id.
    pub event_id: String,
    /// The terms signed.
    pub contract: ContractTerms,
    /// The submitting party's signature.
    pub signature: PartySignature,
    /// Where it entered.
    pub source: Source,
    /// The organization the edge authenticated (HTTP only).
    pub submitted_by: Option<String>,
    /// When the edge accepted it, ms since the epoch.
    pub received_at_ms: Option<i64>,
}

/// An event refused with a stable reason code.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedEvent {
    /// The event id, when it could be read.
    pub event_id: Option<String>,
    /// The contract id, when it could be read.
    pub contract_id: Option<String>,
    /// The submitting organization, when known.
    pub partner_id: Option<String>,
    /// The processor that refused it.
    pub stage: String,
    /// Stable reason code.
    pub code: String,
    /// What was wrong.
    pub message: String,
    /// Topic of the refused record.
    pub source_topic: String,
    /// Partition of the refused record.
    pub source_partition: i32,
    /// Offset of the refused record.
    pub source_offset: i64,
    /// The refused record's value.
    #[serde(with = "serde_bytes")]
    pub original: Option<Vec<u8>>,
}

/// A contract's lifecycle status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContractStatus {
    /// Awaiting signatures.
    Pending,
    /// Every party signed; awaiting countersignature.
    Active,
    /// Under dispute.
    Disputed,
    /// Countersigned by Moneta.
    Finalized,
    /// Refused.
    Rejected,
    /// Not every required party signed before the signing deadline.
    Expired,
}

/// One applied event in a contract's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractLogEntry {
    /// The event id.
    pub event_id: String,
    /// The version it produced.
    pub version: i64,
    /// What happened (`created`, `signed`, `countersigned`).
    pub kind: String,
    /// When, Unix seconds (the event record's timestamp).
    pub at: i64,
}

/// A contract's state after an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contract {
    /// The contract id.
    pub contract_id: String,
    /// Its version.
    pub version: i64,
    /// Its status.
    pub status: ContractStatus,
    /// The signed terms.
    pub terms: ContractTerms,
    /// Signatures: MO, publisher, then Moneta.
    pub signatures: Vec<PartySignature>,
    /// The event that produced this version.
    pub event_id: String,
    /// The organization that submitted that event.
    pub partner_id: String,
    /// Every applied event, oldest first.
    pub events: Vec<ContractLogEntry>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Countersigning time, Unix seconds.
    pub finalized_at: Option<i64>,
    /// A charge's disputes (empty for other types).
    #[serde(default)]
    pub disputes: Vec<ChargeDispute>,
}

/// Where a dispute of a charge is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DisputeState {
    /// Opened, not resolved.
    Open,
    /// The whole disputed amount reversed.
    Upheld,
    /// Part of it reversed.
    PartiallyUpheld,
    /// Nothing reversed.
    Rejected,
}

/// One dispute of a charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeDispute {
    /// The dispute contract.
    pub dispute_id: String,
    /// The amount disputed, minor units.
    pub claimed_minor: i64,
    /// Where it stands.
    pub state: DisputeState,
    /// The amount its resolution reversed, minor units.
    pub upheld_minor: i64,
    /// The resolution contract, once resolved.
    #[serde(default)]
    pub resolution_id: Option<String>,
}

/// What a ledger entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LedgerKind {
    /// A finalized subscription charge (positive).
    Charge,
    /// An upheld dispute reversing (part of) a charge (negative).
    Reversal,
    /// Event time has reached `event_time_ms` for every key of this partition.
    Watermark,
}

/// One money movement of the ledger, or a watermark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntry {
    /// Charge, reversal or watermark.
    pub kind: LedgerKind,
    /// The contract id (empty for watermarks).
    pub entry_id: String,
    /// The MO.
    pub mo_id: String,
    /// The publisher.
    pub publisher_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Signed minor units.
    pub amount_minor: i64,
    /// Business time, ms since the epoch.
    pub event_time_ms: i64,
    /// For a reversal, the charge reversed.
    pub charge_contract_id: Option<String>,
}

impl LedgerEntry {
    /// A `WATERMARK` entry: event time has reached `event_time_ms`.
    pub fn watermark(event_time_ms: i64) -> Self {
        Self {
            kind: LedgerKind::Watermark,
            entry_id: String::new(),
            mo_id: String::new(),
            publisher_id: String::new(),
            currency: String::new(),
            amount_minor: 0,
            event_time_ms,
            charge_contract_id: None,
        }
    }
}

/// A settlement or an adjustment to a closed period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SettlementKind {
    /// A period's settlement.
    Settlement,
    /// A late event's adjustment to a settled period.
    Adjustment,
}

/// Moneta's signature on a settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonetaSignature {
    /// The signing key's id (published at `GET /v1/keys`).
    pub key_id: String,
    /// Standard base64 ed25519 signature.
    pub signature: String,
}

/// A settlement period's split, countersigned by Moneta.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// Deterministic id.
    pub settlement_id: String,
    /// Settlement or adjustment.
    pub kind: SettlementKind,
    /// The settlement an adjustment adjusts.
    pub adjusts: Option<String>,
    /// The MO.
    pub mo_id: String,
    /// The publisher.
    pub publisher_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// First day, `YYYY-MM-DD`.
    pub period_start: String,
    /// Last day, `YYYY-MM-DD`.
    pub period_end: String,
    /// The agreement used for the split.
    pub agreement_id: Option<String>,
    /// Charges minus upheld disputes.
    pub total_minor: i64,
    /// The publisher's part.
    pub publisher_minor: i64,
    /// The MO's part.
    pub mo_minor: i64,
    /// Moneta's fee.
    pub moneta_fee_minor: i64,
    /// The total, when no agreement covers the period.
    pub unallocated_minor: i64,
    /// The contracts counted, sorted.
    pub contracts: Vec<String>,
    /// The watermark (or late event time) that produced it.
    pub closed_at_ms: i64,
    /// Moneta's countersignature.
    pub signature: MonetaSignature,
    /// The balance of earlier below-minimum periods taken in; part of `total_minor`.
    #[serde(default)]
    pub carried_in_minor: i64,
    /// The settlement whose carried balance this one takes in.
    #[serde(default)]
    pub carried_from: Option<String>,
    /// The whole total, when below the agreement's minimum: carried to the next settlement.
    #[serde(default)]
    pub carried_forward_minor: i64,
}

/// How one reconciled contract came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LineOutcome {
    /// Submitted and in the ledger, equal.
    Matched,
    /// Submitted, not in Moneta's ledger.
    MissingOnOurSide,
    /// In the ledger, not submitted.
    MissingOnTheirSide,
    /// Different amounts.
    AmountMismatch,
    /// Different currencies.
    CurrencyMismatch,
    /// Submitted more than once.
    Duplicate,
    /// Matches the ledger, differs from the other party's submission.
    CounterpartyMismatch,
}

/// One line of a reconciliation report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportLine {
    /// The contract.
    pub contract_id: String,
    /// Its outcome.
    pub outcome: LineOutcome,
    /// Moneta's ledger amount.
    pub ledger_amount_minor: Option<i64>,
    /// Moneta's ledger currency.
    pub ledger_currency: Option<String>,
    /// The submitted amount.
    pub submitted_amount_minor: Option<i64>,
    /// The submitted currency.
    pub submitted_currency: Option<String>,
    /// The other party's amount.
    pub counterparty_amount_minor: Option<i64>,
    /// The other party's currency.
    pub counterparty_currency: Option<String>,
}

/// A reconciliation's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationReport {
    /// `rcn:<reconciliation contract id>`.
    pub report_id: String,
    /// The reconciliation contract.
    pub reconciliation_id: String,
    /// The MO.
    pub mo_id: String,
    /// The publisher.
    pub publisher_id: String,
    /// `mo` or `publisher`.
    pub submitted_by: String,
    /// First day.
    pub period_start: String,
    /// Last day.
    pub period_end: String,
    /// The other party's reconciliation compared against, if any.
    pub counterparty_reconciliation_id: Option<String>,
    /// One line per contract (and per duplicate).
    pub lines: Vec<ReportLine>,
    /// Lines matched.
    pub matched: i64,
    /// Lines not matched.
    pub mismatched: i64,
}

/// How a submitted settlement compares with Moneta's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ComparisonOutcome {
    /// Same contracts, same amounts, same total.
    Agreed,
    /// Anything else: the lines name the contracts.
    Discrepancy,
}

/// One contract of a settlement comparison that differs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComparisonLine {
    /// The contract.
    pub contract_id: String,
    /// How it differs.
    pub outcome: LineOutcome,
    /// Moneta's amount, from the ledger.
    pub computed_amount_minor: Option<i64>,
    /// The submitted amount.
    pub submitted_amount_minor: Option<i64>,
}

/// A party's submitted settlement compared with Moneta's computed one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettlementComparison {
    /// `cmp:<submitted settlement contract id>`.
    pub comparison_id: String,
    /// The submitted settlement contract.
    pub submitted_contract_id: String,
    /// Moneta's settlement of the period.
    pub settlement_id: String,
    /// The MO.
    pub mo_id: String,
    /// The publisher.
    pub publisher_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// First day.
    pub period_start: String,
    /// Last day, as submitted.
    pub period_end: String,
    /// Agreed or not.
    pub outcome: ComparisonOutcome,
    /// Moneta's total: own contracts plus adjustments known then.
    pub computed_total_minor: i64,
    /// The submitted total.
    pub submitted_total_minor: i64,
    /// Moneta's adjustments counted.
    pub adjustments: Vec<String>,
    /// Every contract that differs.
    pub lines: Vec<ComparisonLine>,
    /// Contracts that match.
    pub matched: i64,
    /// Contracts that differ.
    pub mismatched: i64,
}
