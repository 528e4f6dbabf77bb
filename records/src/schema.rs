//! The names of Moneta's Avro schemas and their texts.

/// One of Moneta's Avro schemas (a file in `schemas/avro/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchemaName {
    /// `contract-key.avsc`: the contract id, key of every contract topic.
    ContractKey,
    /// `contract-event.avsc`: a partner's signed submission.
    ContractEvent,
    /// `rejected-event.avsc`: an event refused with a reason.
    RejectedEvent,
    /// `contract.avsc`: a contract's state after an event.
    Contract,
    /// `ledger-entry.avsc`: a money movement (or watermark) of the ledger.
    LedgerEntry,
    /// `settlement.avsc`: a settlement or adjustment, countersigned.
    Settlement,
    /// `reconciliation-report.avsc`: a reconciliation's outcome.
    ReconciliationReport,
    /// `settlement-comparison.avsc`: a submitted settlement compared with Moneta's.
    SettlementComparison,
}

impl SchemaName {
    /// Every schema.
    pub const ALL: [SchemaName; 8] = [
        SchemaName::ContractKey,
        SchemaName::ContractEvent,
        SchemaName::RejectedEvent,
        SchemaName::Contract,
        SchemaName::LedgerEntry,
        SchemaName::Settlement,
        SchemaName::ReconciliationReport,
        SchemaName::SettlementComparison,
    ];

    /// The schema's JSON text, as shipped in `schemas/avro/`.
    pub fn text(self) -> &'static str {
        match self {
            SchemaName::ContractKey => include_str!("../../schemas/avro/contract-key.avsc"),
            SchemaName::ContractEvent => include_str!("../../schemas/avro/contract-event.avsc"),
            SchemaName::RejectedEvent => include_str!("../../schemas/avro/rejected-event.avsc"),
            SchemaName::Contract => include_str!("../../schemas/avro/contract.avsc"),
            SchemaName::LedgerEntry => include_str!("../../schemas/avro/ledger-entry.avsc"),
            SchemaName::Settlement => include_str!("../../schemas/avro/settlement.avsc"),
            SchemaName::ReconciliationReport => {
                include_str!("../../schemas/avro/reconciliation-report.avsc")
            }
            SchemaName::SettlementComparison => {
                include_str!("../../schemas/avro/settlement-comparison.avsc")
            }
        }
    }

    /// The file name in `schemas/avro/`.
    pub fn file(self) -> &'static str {
        match self {
            SchemaName::ContractKey => "contract-key.avsc",
            SchemaName::ContractEvent => "contract-event.avsc",
            SchemaName::RejectedEvent => "rejected-event.avsc",
            SchemaName::Contract => "contract.avsc",
            SchemaName::LedgerEntry => "ledger-entry.avsc",
            SchemaName::Settlement => "settlement.avsc",
            SchemaName::ReconciliationReport => "reconciliation-report.avsc",
            SchemaName::SettlementComparison => "settlement-comparison.avsc",
        }
    }
}
