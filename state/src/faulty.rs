//! A state store that fails on demand: for tests of error classes (a store
//! outage is transient, retried; never dead-lettered). It wraps any store,
//! counts what it refused and how often contract rows were touched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use async_trait::async_trait;
use moneta_domain::Kind;

use crate::store::{
    ContractApplied, ContractQuery, ContractWrite, Expect, StateStore, StoreError, Stored,
};

/// Faults and counters shared by a [`FaultyStore`] and its handles.
#[derive(Default)]
pub struct Faults {
    /// Every call fails with [`StoreError::Backend`].
    pub all_down: AtomicBool,
    /// Registry and event-record writes (`put`) fail; reads and contract
    /// writes work.
    pub puts_down: AtomicBool,
    /// `get_contract` calls.
    pub contract_reads: AtomicUsize,
    /// `apply_contract` calls.
    pub contract_writes: AtomicUsize,
    /// Calls refused so far.
    pub failed: AtomicUsize,
}

/// A store that fails on demand and counts contract-row access.
pub struct FaultyStore {
    inner: Arc<dyn StateStore>,
    /// Its switches and counters.
    pub faults: Arc<Faults>,
}

impl FaultyStore {
    /// `inner`, working until told otherwise.
    pub fn new(inner: Arc<dyn StateStore>) -> Self {
        Self {
            inner,
            faults: Arc::default(),
        }
    }

    /// Every call fails while `down`.
    pub fn set_down(&self, down: bool) {
        self.faults.all_down.store(down, Ordering::SeqCst);
    }

    /// `put` fails while `down`.
    pub fn set_puts_down(&self, down: bool) {
        self.faults.puts_down.store(down, Ordering::SeqCst);
    }

    /// (`get_contract`, `apply_contract`) calls so far.
    pub fn contract_calls(&self) -> (usize, usize) {
        (
            self.faults.contract_reads.load(Ordering::SeqCst),
            self.faults.contract_writes.load(Ordering::SeqCst),
        )
    }

    /// Calls refused so far.
    pub fn failed(&self) -> usize {
        self.faults.failed.load(Ordering::SeqCst)
    }

    fn check(&self) -> Result<(), StoreError> {
        if self.faults.all_down.load(Ordering::SeqCst) {
            self.faults.failed.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Backend("injected outage".into()))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl StateStore for FaultyStore {
    async fn put(
        &self,
        kind: Kind,
        id: &str,
        body: &[u8],
        indexes: &[(&'static str, String)],
        expect: Expect,
    ) -> Result<u64, StoreError> {
        self.check()?;
        if self.faults.puts_down.load(Ordering::SeqCst) {
            self.faults.failed.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Backend("injected write outage".into()));
        }
        self.inner.put(kind, id, body, indexes, expect).await
    }

    async fn get(&self, kind: Kind, id: &str) -> Result<Option<Stored>, StoreError> {
        self.check()?;
        self.inner.get(kind, id).await
    }

    async fn delete(&self, kind: Kind, id: &str, revision: u64) -> Result<bool, StoreError> {
        self.check()?;
        if self.faults.puts_down.load(Ordering::SeqCst) {
            self.faults.failed.fetch_add(1, Ordering::SeqCst);
            return Err(StoreError::Backend("injected write outage".into()));
        }
        self.inner.delete(kind, id, revision).await
    }

    async fn lookup(
        &self,
        kind: Kind,
        index: &str,
        value: &str,
    ) -> Result<Vec<Stored>, StoreError> {
        self.check()?;
        self.inner.lookup(kind, index, value).await
    }

    async fn list(
        &self,
        kind: Kind,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Stored>, StoreError> {
        self.check()?;
        self.inner.list(kind, after, limit).await
    }

    async fn get_contract(&self, id: &str) -> Result<Option<Stored>, StoreError> {
        self.faults.contract_reads.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.get_contract(id).await
    }

    async fn apply_contract(&self, write: ContractWrite) -> Result<ContractApplied, StoreError> {
        self.faults.contract_writes.fetch_add(1, Ordering::SeqCst);
        self.check()?;
        self.inner.apply_contract(write).await
    }

    async fn search_contracts(&self, query: &ContractQuery) -> Result<Vec<Stored>, StoreError> {
        self.check()?;
        self.inner.search_contracts(query).await
    }

    async fn restore(
        &self,
        kind: Kind,
        id: &str,
        revision: u64,
        body: &[u8],
        indexes: &[(&'static str, String)],
    ) -> Result<(), StoreError> {
        self.check()?;
        self.inner.restore(kind, id, revision, body, indexes).await
    }

    async fn contract_events(&self, contract_id: &str) -> Result<Vec<(String, u64)>, StoreError> {
        self.check()?;
        self.inner.contract_events(contract_id).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.check()?;
        self.inner.flush().await
    }

    fn deferred(&self) -> Arc<dyn StateStore> {
        Arc::new(FaultyStore {
            inner: self.inner.deferred(),
            faults: self.faults.clone(),
        })
    }

    fn deferred_async(&self) -> Arc<dyn StateStore> {
        Arc::new(FaultyStore {
            inner: self.inner.deferred_async(),
            faults: self.faults.clone(),
        })
    }
}
