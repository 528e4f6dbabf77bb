//! Moneta's Avro records and their Confluent wire format.
//!
//! Every contract topic carries Avro in the Confluent framing (magic byte,
//! 4-byte schema id, Avro binary). The schemas live in `schemas/avro/`; this
//! crate holds the topic-to-schema catalog
//! ([`catalog`]) and an encoder/decoder that talks to any Confluent-compatible
//! schema registry ([`codec`]).

pub mod catalog;
pub mod codec;
#[cfg(test)]
mod records;

pub use catalog::ParseSchema;
pub use catalog::{SchemaName, Subject};
pub use codec::{AvroCodec, CodecError, decode_framed};
pub use moneta_records::{
    ChargeDispute, ComparisonLine, ComparisonOutcome, Contract, ContractEvent, ContractLogEntry,
    ContractStatus, ContractTerms, DisputeState, LedgerEntry, LedgerKind, LineOutcome, Message,
    MonetaSignature, Party, PartySignature, ReconciliationReport, RejectedEvent, ReportLine,
    Settlement, SettlementComparison, SettlementKind, Source,
};
