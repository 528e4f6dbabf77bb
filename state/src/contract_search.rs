//! Contract search with cursor pagination, as the partner API, the admin
//! API and the CLI offer it: the store's indexed search
//! ([`StateStore::search_contracts`]) plus a status filter, pages of
//! `limit` in a stable order (`created_at`, then id) and an opaque cursor
//! that resumes after the last contract of a page.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use moneta_domain::{Contract, ContractStatus};

use crate::store::{ContractQuery, StateStore, StoreError, Stored};

/// Results per page unless asked otherwise.
pub const DEFAULT_LIMIT: usize = 50;
/// Most results one page may hold.
pub const MAX_LIMIT: usize = 500;
/// Most contracts one page reads past its status filter: a page that has
/// read this many without filling up ends there, with a cursor to go on
/// (fewer than `limit` results do not mean the last page).
pub const MAX_SCANNED: usize = 2_000;

/// Why a search's parameters are refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {reason}")]
pub struct InvalidSearch {
    /// The query parameter.
    pub parameter: String,
    /// What is wrong with it.
    pub reason: String,
}

fn invalid(parameter: &str, reason: impl Into<String>) -> InvalidSearch {
    InvalidSearch {
        parameter: parameter.to_owned(),
        reason: reason.into(),
    }
}

/// One page's request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContractSearch {
    /// The indexed filters (parties, mPass, type, creation range).
    pub query: ContractQuery,
    /// Only contracts with this status.
    pub status: Option<ContractStatus>,
    /// Contracts per page.
    pub limit: usize,
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    /// The contracts, in (`created_at`, id) order.
    pub items: Vec<Contract>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl ContractSearch {
    /// The search the query parameters ask for: `mo`, `publisher`, `mpass`,
    /// `type`, `status`, `created_from`, `created_to` (Unix seconds, as a
    /// contract's `created_at`; `created_to` exclusive), `cursor`, `limit`.
    /// Any other parameter is refused.
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<Self, InvalidSearch> {
        let mut search = ContractSearch {
            limit: DEFAULT_LIMIT,
            ..ContractSearch::default()
        };
        let seconds = |name: &str, value: &str| {
            value
                .parse::<i64>()
                .map_err(|_| invalid(name, "must be Unix seconds (an integer)"))
        };
        for (name, value) in params {
            let q = &mut search.query;
            match name.as_str() {
                "mo" => q.mo_id = Some(value.clone()),
                "publisher" => q.publisher_id = Some(value.clone()),
                "mpass" => q.mpass_id = Some(value.clone()),
                "type" => q.contract_type = Some(value.clone()),
                "created_from" => q.created_from = Some(seconds(name, value)?),
                "created_to" => q.created_until = Some(seconds(name, value)?),
                "cursor" => q.after = Some(decode_cursor(value)?),
                "status" => {
                    search.status = Some(
                        ContractStatus::ALL
                            .iter()
                            .copied()
                            .find(|s| s.as_str() == value)
                            .ok_or_else(|| invalid(name, format!("no contract status {value}")))?,
                    );
                }
                "limit" => {
                    search.limit = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or_else(|| invalid(name, format!("must be 1 to {MAX_LIMIT}")))?;
                }
                _ => return Err(invalid(name, "not a search parameter")),
            }
        }
        Ok(search)
    }

    /// Runs the search on `store`: one page.
    pub async fn run(&self, store: &dyn StateStore) -> Result<Page, StoreError> {
        let mut items = Vec::new();
        let mut query = ContractQuery {
            limit: self.limit,
            ..self.query.clone()
        };
        let mut scanned = 0;
        loop {
            let batch = store.search_contracts(&query).await?;
            let exhausted = batch.len() < query.limit;
            for stored in batch {
                let contract = decode(&stored)?;
                scanned += 1;
                query.after = Some((contract.created_at, contract.id.clone()));
                if self.status.is_none_or(|s| s == contract.status) {
                    items.push(contract);
                    if items.len() == self.limit {
                        // Whether more follow is known only by looking.
                        let next = query.after.as_ref().map(|(at, id)| encode_cursor(*at, id));
                        return Ok(Page {
                            items,
                            next_cursor: next,
                        });
                    }
                }
            }
            if exhausted {
                return Ok(Page {
                    items,
                    next_cursor: None,
                });
            }
            if scanned >= MAX_SCANNED {
                // Read enough past the filter for one request: go on from here.
                let next = query.after.as_ref().map(|(at, id)| encode_cursor(*at, id));
                return Ok(Page {
                    items,
                    next_cursor: next,
                });
            }
        }
    }
}

fn decode(stored: &Stored) -> Result<Contract, StoreError> {
    serde_json::from_slice(&stored.body)
        .map_err(|e| StoreError::Backend(format!("stored contract {}: {e}", stored.id)))
}

/// The opaque cursor of a position (`created_at`, id).
pub fn encode_cursor(created_at: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{created_at}:{id}"))
}

/// The position a cursor names.
pub fn decode_cursor(cursor: &str) -> Result<(i64, String), InvalidSearch> {
    let bad = || invalid("cursor", "not a cursor this API returned");
    let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (at, id) = text.split_once(':').ok_or_else(bad)?;
    Ok((at.parse().map_err(|_| bad())?, id.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn parameters_become_a_search_or_a_clear_refusal() {
        let cursor = encode_cursor(1_700_000_000, "c:1");
        assert_eq!(
            decode_cursor(&cursor),
            Ok((1_700_000_000, "c:1".to_owned()))
        );
        let search = ContractSearch::from_params(&params(&[
            ("mo", "mo-1"),
            ("type", "subscription_charge"),
            ("status", "pending"),
            ("created_from", "10"),
            ("created_to", "20"),
            ("limit", "7"),
            ("cursor", &cursor),
        ]))
        .expect("valid");
        assert_eq!(search.query.mo_id.as_deref(), Some("mo-1"));
        assert_eq!(search.status, Some(ContractStatus::Pending));
        assert_eq!(
            (search.query.created_from, search.query.created_until),
            (Some(10), Some(20))
        );
        assert_eq!(search.limit, 7);
        assert_eq!(search.query.after, Some((1_700_000_000, "c:1".to_owned())));
        for (name, value) in [
            ("status", "sleeping"),
            ("limit", "0"),
            ("limit", "501"),
            ("created_from", "2026-11-01"),
            ("cursor", "!!"),
            ("colour", "red"),
        ] {
            let refused = ContractSearch::from_params(&params(&[(name, value)]));
            assert_eq!(
                refused.map_err(|e| e.parameter),
                Err(name.to_owned()),
                "{name}={value}"
            );
        }
    }

    /// Stores contract `c-{n}` of `mo-1` with `status`, created at `created_at`.
    async fn put(store: &crate::EmbeddedStore, n: i64, status: ContractStatus, created_at: i64) {
        use crate::store::{ContractKeys, ContractWrite};
        let contract: Contract = serde_json::from_value(serde_json::json!({
            "id": format!("c-{n}"), "description": "", "template_name": "t",
            "template_version": 1, "mo_id": "mo-1", "publisher_id": "pub-1",
            "mpass_id": null, "contract_type": "t", "version": 1, "payload": {},
            "signatures": {}, "event_log": [], "status": status, "created_at": created_at,
            "finalized_at": null}))
        .expect("contract");
        let keys = ContractKeys {
            mo_id: "mo-1".into(),
            publisher_id: "pub-1".into(),
            mpass_id: None,
            contract_type: "t".into(),
            created_at,
        };
        let write = ContractWrite {
            contract_id: contract.id.clone(),
            event_id: "e".into(),
            expected_version: 0,
            body: serde_json::to_vec(&contract).expect("json"),
            keys,
        };
        store.apply_contract(write).await.expect("apply");
    }

    #[tokio::test]
    async fn a_status_page_reads_a_bounded_number_of_contracts_then_gives_a_cursor() {
        let dir = tempfile::tempdir().expect("dir");
        let store = crate::EmbeddedStore::open(dir.path()).expect("store");
        let count = i64::try_from(MAX_SCANNED).expect("small") + 300;
        for n in 0..count {
            put(&store, n, ContractStatus::Finalized, n).await;
        }
        put(&store, count, ContractStatus::Pending, count).await;
        let search = |cursor: Option<String>| {
            let mut p = params(&[("status", "pending"), ("limit", "50")]);
            if let Some(c) = cursor {
                p.insert("cursor".into(), c);
            }
            ContractSearch::from_params(&p).expect("valid")
        };
        let first = search(None).run(&store).await.expect("page");
        assert!(
            first.items.is_empty(),
            "nothing pending among the first read"
        );
        let next = first.next_cursor.expect("not the last page, though empty");
        let second = search(Some(next)).run(&store).await.expect("page");
        let ids: Vec<&str> = second.items.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, [format!("c-{count}")]);
        assert!(second.next_cursor.is_none());
    }

    #[tokio::test]
    async fn pages_filter_by_status_across_store_batches() {
        let dir = tempfile::tempdir().expect("dir");
        let store = crate::EmbeddedStore::open(dir.path()).expect("store");
        let mut pending = Vec::new();
        for n in 0..9i64 {
            let status = if n % 3 == 0 {
                ContractStatus::Pending
            } else {
                ContractStatus::Finalized
            };
            put(&store, n, status, 100 + n / 2).await;
            if status == ContractStatus::Pending {
                pending.push(format!("c-{n}"));
            }
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut p = params(&[("mo", "mo-1"), ("status", "pending"), ("limit", "2")]);
            if let Some(c) = &cursor {
                p.insert("cursor".into(), c.clone());
            }
            let page = ContractSearch::from_params(&p)
                .expect("valid")
                .run(&store)
                .await
                .expect("page");
            assert!(page.items.len() <= 2);
            seen.extend(page.items.iter().map(|c| c.id.clone()));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, pending);
    }
}
