//! Any one record, as a stage reads or writes it.

use crate::schema::SchemaName;
use crate::types::{
    Contract, ContractEvent, LedgerEntry, ReconciliationReport, RejectedEvent, Settlement,
    SettlementComparison,
};

/// A record value of one of Moneta's schemas. Topics are declared with the
/// schema of their values; the runtime decodes a topic's records into the
/// matching variant and encodes each variant with its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A partner's signed submission.
    ContractEvent(ContractEvent),
    /// An event refused with a reason.
    RejectedEvent(RejectedEvent),
    /// A contract's state after an event.
    Contract(Contract),
    /// A money movement (or watermark) of the ledger.
    LedgerEntry(LedgerEntry),
    /// A settlement or adjustment, countersigned.
    Settlement(Settlement),
    /// A reconciliation's outcome.
    ReconciliationReport(ReconciliationReport),
    /// A submitted settlement compared with Moneta's.
    SettlementComparison(SettlementComparison),
}

/// What a record is about, for the span it is processed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trace<'a> {
    /// The contract (or ledger/settlement key) it concerns.
    pub contract_id: &'a str,
    /// The event that produced it, `-` if none.
    pub event_id: &'a str,
    /// The partner it concerns.
    pub partner: &'a str,
}

/// A message of another schema than the one a stage reads.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a {expected:?} record, got a {got:?} record")]
pub struct UnexpectedMessage {
    /// The schema the stage reads.
    pub expected: SchemaName,
    /// The schema of the message it got.
    pub got: SchemaName,
}

impl Message {
    /// The schema of its value.
    pub fn schema(&self) -> SchemaName {
        match self {
            Message::ContractEvent(_) => SchemaName::ContractEvent,
            Message::RejectedEvent(_) => SchemaName::RejectedEvent,
            Message::Contract(_) => SchemaName::Contract,
            Message::LedgerEntry(_) => SchemaName::LedgerEntry,
            Message::Settlement(_) => SchemaName::Settlement,
            Message::ReconciliationReport(_) => SchemaName::ReconciliationReport,
            Message::SettlementComparison(_) => SchemaName::SettlementComparison,
        }
    }

    /// What it is about: contract, event and partner.
    pub fn trace(&self) -> Trace<'_> {
        match self {
            Message::ContractEvent(e) => Trace {
                contract_id: &e.contract.contract_id,
                event_id: &e.event_id,
                partner: e.claimed_partner(),
            },
            Message::RejectedEvent(r) => Trace {
                contract_id: r.contract_id.as_deref().unwrap_or("-"),
                event_id: r.event_id.as_deref().unwrap_or("-"),
                partner: r.partner_id.as_deref().unwrap_or("-"),
            },
            Message::Contract(c) => Trace {
                contract_id: &c.contract_id,
                event_id: &c.event_id,
                partner: &c.partner_id,
            },
            Message::LedgerEntry(l) => Trace {
                contract_id: &l.entry_id,
                event_id: "-",
                partner: &l.mo_id,
            },
            Message::Settlement(s) => Trace {
                contract_id: &s.settlement_id,
                event_id: "-",
                partner: &s.mo_id,
            },
            Message::ReconciliationReport(r) => Trace {
                contract_id: &r.reconciliation_id,
                event_id: "-",
                partner: &r.mo_id,
            },
            Message::SettlementComparison(c) => Trace {
                contract_id: &c.submitted_contract_id,
                event_id: "-",
                partner: &c.mo_id,
            },
        }
    }
}

/// `From` each record type into [`Message`] and `TryFrom` back.
macro_rules! variants {
    ($($variant:ident),*) => {$(
        impl From<$variant> for Message {
            fn from(value: $variant) -> Self {
                Message::$variant(value)
            }
        }

        impl TryFrom<Message> for $variant {
            type Error = UnexpectedMessage;

            fn try_from(message: Message) -> Result<Self, UnexpectedMessage> {
                match message {
                    Message::$variant(value) => Ok(value),
                    other => Err(UnexpectedMessage {
                        expected: SchemaName::$variant,
                        got: other.schema(),
                    }),
                }
            }
        }
    )*};
}

variants!(
    ContractEvent,
    RejectedEvent,
    Contract,
    LedgerEntry,
    Settlement,
    ReconciliationReport,
    SettlementComparison
);
