//! The records on Moneta's topics: one Rust type per Avro schema in
//! `schemas/avro/` ([`types`]), the schemas' names ([`SchemaName`]) and
//! [`Message`], any one of them as a stage reads or writes it.
//!
//! Processors see these values; encoding them (Avro, the Confluent wire
//! format, the schema registry) is the runtime's job.

mod fingerprint;
mod message;
mod schema;
pub mod types;

pub use message::{Message, Trace, UnexpectedMessage};
pub use schema::SchemaName;
pub use types::{
    ChargeDispute, ComparisonLine, ComparisonOutcome, Contract, ContractEvent, ContractLogEntry,
    ContractStatus, ContractTerms, DisputeState, LedgerEntry, LedgerKind, LineOutcome,
    MonetaSignature, Party, PartySignature, ReconciliationReport, RejectedEvent, ReportLine,
    Settlement, SettlementComparison, SettlementKind, Source,
};
