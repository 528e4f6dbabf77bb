//! Webhook deliveries and their attempts on any [`StateStore`]: the durable
//! retry queue (pending deliveries, by due time) and the delivery log.

use std::sync::Arc;

use moneta_domain::{Delivery, DeliveryAttempt, DeliveryState};

use crate::store::{Expect, StateStore, StoreError};

/// Errors of the delivery store.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record does not decode.
    #[error("stored delivery record {id} does not decode: {source}")]
    Decode {
        /// Record id.
        id: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// A delivery with the revision it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDelivery {
    /// Revision, for compare-and-set.
    pub revision: u64,
    /// The delivery.
    pub delivery: Delivery,
}

/// Typed access to deliveries and attempts.
#[derive(Clone)]
pub struct Deliveries {
    store: Arc<dyn StateStore>,
}

fn decode<T: serde::de::DeserializeOwned>(id: &str, body: &[u8]) -> Result<T, DeliveryError> {
    serde_json::from_slice(body).map_err(|source| DeliveryError::Decode {
        id: id.to_owned(),
        source,
    })
}

impl Deliveries {
    /// Deliveries on `store`.
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self { store }
    }

    /// Schedules `delivery` unless one with its id exists; `true` if new.
    pub async fn schedule(&self, delivery: &Delivery) -> Result<bool, DeliveryError> {
        match self.write(delivery, Expect::Absent).await {
            Ok(_) => Ok(true),
            Err(DeliveryError::Store(StoreError::Conflict { .. })) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Replaces a delivery read at `revision`; a conflict if it changed since.
    pub async fn update(&self, delivery: &Delivery, revision: u64) -> Result<u64, DeliveryError> {
        self.write(delivery, Expect::Revision(revision)).await
    }

    async fn write(&self, delivery: &Delivery, expect: Expect) -> Result<u64, DeliveryError> {
        let body = serde_json::to_vec(delivery).map_err(|source| DeliveryError::Decode {
            id: delivery.id.clone(),
            source,
        })?;
        Ok(self
            .store
            .put(
                Delivery::KIND,
                &delivery.id,
                &body,
                &delivery.indexes(),
                expect,
            )
            .await?)
    }

    /// One delivery.
    pub async fn get(&self, id: &str) -> Result<Option<StoredDelivery>, DeliveryError> {
        let Some(stored) = self.store.get(Delivery::KIND, id).await? else {
            return Ok(None);
        };
        Ok(Some(StoredDelivery {
            revision: stored.revision,
            delivery: decode(id, &stored.body)?,
        }))
    }

    /// Every delivery whose index `index` (`state`, `endpoint`, `contract`) is `value`.
    pub async fn find(
        &self,
        index: &str,
        value: &str,
    ) -> Result<Vec<StoredDelivery>, DeliveryError> {
        self.store
            .lookup(Delivery::KIND, index, value)
            .await?
            .into_iter()
            .map(|s| {
                Ok(StoredDelivery {
                    revision: s.revision,
                    delivery: decode(&s.id, &s.body)?,
                })
            })
            .collect()
    }

    /// The retry queue: every pending delivery that is not parked.
    pub async fn pending(&self) -> Result<Vec<StoredDelivery>, DeliveryError> {
        self.find(Delivery::INDEX_STATE, DeliveryState::Pending.as_str())
            .await
    }

    /// Pending deliveries parked until they are due again.
    pub async fn parked(&self) -> Result<Vec<StoredDelivery>, DeliveryError> {
        self.find(Delivery::INDEX_STATE, Delivery::PARKED).await
    }

    /// Records one attempt (idempotent by its id).
    pub async fn record_attempt(&self, attempt: &DeliveryAttempt) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(attempt).map_err(|source| DeliveryError::Decode {
            id: attempt.id.clone(),
            source,
        })?;
        match self
            .store
            .put(
                DeliveryAttempt::KIND,
                &attempt.id,
                &body,
                &attempt.indexes(),
                Expect::Absent,
            )
            .await
        {
            Ok(_) | Err(StoreError::Conflict { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Every attempt whose index `index` (`endpoint`, `contract`) is `value`, oldest first.
    pub async fn attempts(
        &self,
        index: &str,
        value: &str,
    ) -> Result<Vec<DeliveryAttempt>, DeliveryError> {
        let mut attempts: Vec<DeliveryAttempt> = self
            .store
            .lookup(DeliveryAttempt::KIND, index, value)
            .await?
            .into_iter()
            .map(|s| decode(&s.id, &s.body))
            .collect::<Result<_, _>>()?;
        attempts.sort_by(|a, b| (a.at_ms, &a.id).cmp(&(b.at_ms, &b.id)));
        Ok(attempts)
    }

    /// Puts a delivery back in the queue, due at `now_ms`, with a fresh
    /// retry schedule; `false` if it does not exist or is already pending.
    pub async fn redeliver(&self, id: &str, now_ms: i64) -> Result<bool, DeliveryError> {
        loop {
            let Some(StoredDelivery { revision, delivery }) = self.get(id).await? else {
                return Ok(false);
            };
            if delivery.state == DeliveryState::Pending {
                return Ok(false);
            }
            let again = Delivery {
                state: DeliveryState::Pending,
                parked: false,
                attempts: 0,
                next_attempt_at_ms: now_ms,
                finished_at_ms: None,
                ..delivery
            };
            match self.update(&again, revision).await {
                Ok(_) => return Ok(true),
                Err(DeliveryError::Store(StoreError::Conflict { .. })) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Redelivers every failed delivery created in `[from_ms, to_ms)`
    /// (optionally of one endpoint); returns the ids put back.
    pub async fn redeliver_failed(
        &self,
        from_ms: i64,
        to_ms: i64,
        endpoint_id: Option<&str>,
        now_ms: i64,
    ) -> Result<Vec<String>, DeliveryError> {
        let failed = self
            .find(Delivery::INDEX_STATE, DeliveryState::Failed.as_str())
            .await?;
        let mut ids = Vec::new();
        for StoredDelivery { delivery, .. } in failed {
            let in_range = (from_ms..to_ms).contains(&delivery.created_at_ms);
            let endpoint_matches = endpoint_id.is_none_or(|e| e == delivery.endpoint_id);
            if in_range && endpoint_matches && self.redeliver(&delivery.id, now_ms).await? {
                ids.push(delivery.id);
            }
        }
        Ok(ids)
    }
}
