//! Signing deadlines: a contract still awaiting partner signatures when
//! its template's deadline passes becomes `expired`.
//!
//! Two rules, both decided from the log, never from a wall clock:
//! - a signature whose event reached Moneta (its record's time) after the
//!   contract's deadline is refused `contract_expired`, as is any signature
//!   on an expired contract;
//! - template-check sweeps by **stream time** (the newest event time on its
//!   input partition, which the runtime keeps with the committed offsets):
//!   each time stream time crosses a multiple of `[rules] expiry_sweep_s`,
//!   the contracts whose deadline plus `[rules] expiry_grace_s` fell in the
//!   interval since the last crossing and that still await signatures are
//!   expired at that boundary (compare-and-set, event `moneta/expired`) and
//!   emitted like every recorded contract, so webhook-dispatch announces
//!   `contract.expired` to both parties.
//!
//! A sweep that finds a contract it expired at the same boundary (its batch
//! was redone, or another partition crossed the boundary too) emits it
//! again; deliveries are keyed by contract version, so nobody hears twice.

use std::collections::BTreeSet;

use moneta_domain::{Contract, ContractStatus, ContractTemplate, EventLogEntry, TemplateDocument};
use moneta_runtime::{Emit, ProcessError, Rejection, StreamTime};
use moneta_state::ContractQuery;
use moneta_state::cas::{self, Attempt};
use moneta_state::contract_search::{ContractSearch, MAX_LIMIT};

use crate::contracts::PathContext;
use crate::rules::RulesConfig;
use crate::templates::TemplateCache;

/// The event id of Moneta's expiry in a contract's log.
pub const EXPIRY_EVENT: &str = "moneta/expired";

/// Seconds within which every required party must sign a contract of
/// `template`.
pub fn expiry_s(template: &TemplateDocument, rules: &RulesConfig) -> i64 {
    template
        .signatures
        .expires_after_s
        .unwrap_or(rules.signature_expiry_s)
}

/// The refusal of a signature on `contract`, made at `at_s`, if its
/// deadline (`expiry_s` after its creation) has passed or it expired.
pub fn refusal(contract: &Contract, expiry_s: i64, at_s: i64) -> Option<Rejection> {
    let deadline = contract.created_at.saturating_add(expiry_s);
    if contract.status == ContractStatus::Expired {
        return Some(Rejection::new(
            "contract_expired",
            format!(
                "contract {} expired unsigned (its deadline was {deadline})",
                contract.id
            ),
        ));
    }
    (contract.status == ContractStatus::Pending && at_s > deadline).then(|| {
        Rejection::new(
            "contract_expired",
            format!(
                "contract {} had to be signed by {deadline} (Unix seconds); this signature reached Moneta at {at_s}",
                contract.id
            ),
        )
    })
}

/// The boundaries a record's stream time crossed, seconds: `(since, at)`,
/// the previous crossing (`None` before the partition's first) and this one.
pub fn crossing(stream_time: &StreamTime, rules: &RulesConfig) -> Option<(Option<i64>, i64)> {
    let every_ms = rules.expiry_sweep_s.max(1).saturating_mul(1000);
    let now = stream_time.crossed(every_ms)?;
    let boundary = |ms: i64| ms.div_euclid(every_ms) * every_ms / 1000;
    Some((stream_time.prior_ms.map(boundary), boundary(now)))
}

/// One sweep: what template-check emits for the contracts it expires at
/// boundary `at` (previous boundary `since`).
pub struct Sweep<'a> {
    /// Store, registry and topics.
    pub ctx: &'a PathContext,
    /// Templates, for each contract's deadline.
    pub templates: &'a TemplateCache,
    /// The deadline defaults and the grace.
    pub rules: &'a RulesConfig,
}

impl Sweep<'_> {
    /// Expires what became overdue between `since` and `at`; returns the
    /// records to emit (each expired contract to the recorded topic and to
    /// the contract changelog).
    pub async fn run(&self, since: Option<i64>, at: i64) -> Result<Vec<Emit>, ProcessError> {
        let mut emits = Vec::new();
        for expiry in self.expiries().await? {
            let lag = expiry.saturating_add(self.rules.expiry_grace_s);
            // Overdue at `at` and not at `since`: deadline + grace in [since, at).
            let query = ContractQuery {
                created_from: since.map(|s| s.saturating_sub(lag)),
                created_until: Some(at.saturating_sub(lag)),
                ..ContractQuery::default()
            };
            let mut search = ContractSearch {
                query,
                status: None,
                limit: MAX_LIMIT,
            };
            loop {
                let page = search.run(self.ctx.store.as_ref()).await?;
                search.query.after = page.items.last().map(|c| (c.created_at, c.id.clone()));
                for contract in page.items {
                    if self.expiry_of(&contract).await? == Some(expiry)
                        && let Some(expired) = self.expire(contract, at).await?
                    {
                        emits.push(self.ctx.contract(
                            &self.ctx.topics.recorded,
                            &expired,
                            EXPIRY_EVENT,
                            "moneta",
                        ));
                        emits.push(self.ctx.row(&expired));
                    }
                }
                if page.next_cursor.is_none() {
                    break;
                }
            }
        }
        Ok(emits)
    }

    /// Every signing period a contract may have: the default and each
    /// template version's own.
    async fn expiries(&self) -> Result<BTreeSet<i64>, ProcessError> {
        let mut expiries = BTreeSet::from([self.rules.signature_expiry_s]);
        let mut after: Option<String> = None;
        loop {
            let page = self
                .ctx
                .registry
                .list::<ContractTemplate>(after.as_deref(), 500)
                .await?;
            for stored in &page {
                if let Some(template) = self
                    .templates
                    .get(&stored.entity.name, stored.entity.version)
                    .await?
                {
                    expiries.insert(expiry_s(&template.document, self.rules));
                }
            }
            match page.last() {
                Some(last) if page.len() == 500 => after = Some(last.entity.id.clone()),
                _ => return Ok(expiries),
            }
        }
    }

    async fn expiry_of(&self, contract: &Contract) -> Result<Option<i64>, ProcessError> {
        Ok(self
            .templates
            .get(&contract.template_name, contract.template_version)
            .await?
            .map(|t| expiry_s(&t.document, self.rules)))
    }

    /// Expires `contract` at `at` if it still awaits signatures; the
    /// contract as expired at `at` (also when that happened before: a
    /// redone batch, another partition's sweep), or `None`.
    async fn expire(&self, contract: Contract, at: i64) -> Result<Option<Contract>, ProcessError> {
        let id = contract.id.clone();
        let mut seen = Some(contract);
        let id = id.as_str();
        cas::retry(&format!("contract {id}"), || {
            let seen = seen.take();
            async move {
                let current = match seen {
                    Some(contract) => contract,
                    None => match self.ctx.load_contract(id).await? {
                        Some(contract) => contract,
                        None => return Ok::<_, ProcessError>(Attempt::Done(None)),
                    },
                };
                match current.status {
                    ContractStatus::Pending => {}
                    ContractStatus::Expired
                        if current
                            .event_log
                            .iter()
                            .any(|e| e.event_id == EXPIRY_EVENT && e.at == at) =>
                    {
                        return Ok(Attempt::Done(Some(current)));
                    }
                    _ => return Ok(Attempt::Done(None)),
                }
                let expected = current.version;
                let mut next = current;
                next.version += 1;
                next.status = ContractStatus::Expired;
                next.event_log.push(EventLogEntry {
                    event_id: EXPIRY_EVENT.to_owned(),
                    version: next.version,
                    kind: "expired".into(),
                    at,
                });
                Ok(
                    match self
                        .ctx
                        .write_contract(&next, EXPIRY_EVENT, expected)
                        .await?
                    {
                        Attempt::Done(()) => Attempt::Done(Some(next)),
                        Attempt::Lost => Attempt::Lost,
                    },
                )
            }
        })
        .await
    }
}
