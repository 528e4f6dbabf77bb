//! The signing path's topics.

use serde::{Deserialize, Serialize};

/// `[contracts.topics]`: the topics of the signing path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ContractTopics {
    /// Written by the HTTP ingest edge; read by validate.
    pub ingest: String,
    /// Written by partners directly; read by validate.
    pub partner_ingress: String,
    /// Authentic events; read by template-check.
    pub validated: String,
    /// Refused events with a reason code.
    pub rejected: String,
    /// Contract state after each applied event; read by countersign.
    pub recorded: String,
    /// Every contract row as template-check last wrote it, keyed by
    /// contract id and compacted: what `moneta state rebuild` restores
    /// contract rows from.
    pub contract_changelog: String,
    /// Contracts countersigned by Moneta; read by template-check (which
    /// applies them to contract rows), webhook-dispatch, ledger and
    /// reconcile-match.
    pub countersigned: String,
    /// Ledger entries keyed by `mo|publisher|currency`; read by
    /// settle-aggregate and reconcile-match.
    pub ledger: String,
    /// Settlements and adjustments, countersigned; what finance reads (and
    /// reconcile-match, to compare partners' submitted settlements).
    pub settlements: String,
    /// Reconciliation reports.
    pub reconciliation_reports: String,
    /// Partners' submitted settlements compared with Moneta's.
    pub settlement_comparisons: String,
}

impl Default for ContractTopics {
    fn default() -> Self {
        Self {
            ingest: "moneta.contracts.ingest".into(),
            partner_ingress: "moneta.contracts.partner-ingress".into(),
            validated: "moneta.contracts.validated".into(),
            rejected: "moneta.contracts.rejected".into(),
            recorded: "moneta.contracts.recorded".into(),
            contract_changelog: "moneta.contracts.changelog".into(),
            countersigned: "moneta.contracts.countersigned".into(),
            ledger: "moneta.ledger.entries".into(),
            settlements: "moneta.settlements".into(),
            reconciliation_reports: "moneta.reconciliation.reports".into(),
            settlement_comparisons: "moneta.settlement.comparisons".into(),
        }
    }
}
