//! Event records on any [`StateStore`]: what happened to each submitted
//! event. Writes merge steps under compare-and-set, so any number of stages,
//! retries and replays converge on the same record.

use std::sync::Arc;

use moneta_domain::{EventRecord, EventStep, Kind};

use crate::cas::{self, Attempt, Contended};
use crate::store::{Expect, StateStore, StoreError};

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// The step was added (the record was created if absent).
    Added(EventRecord),
    /// The record already had a step with that state: nothing changed.
    AlreadyThere(EventRecord),
    /// A record with this event id exists for different content: a
    /// duplicate event id, not a retry. Nothing changed.
    OtherContent(EventRecord),
}

/// Errors of the event log.
#[derive(Debug, thiserror::Error)]
pub enum EventLogError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored record does not decode.
    #[error("stored event record {id} does not decode: {source}")]
    Decode {
        /// Record key.
        id: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// Too many concurrent writers on one record.
    #[error("event record {0}")]
    Contended(#[from] Contended),
}

/// Typed access to event records.
#[derive(Clone)]
pub struct EventLog {
    store: Arc<dyn StateStore>,
}

impl EventLog {
    /// An event log on `store`.
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self { store }
    }

    /// The record of `partner_id`'s event `event_id`, with its revision.
    pub async fn get(
        &self,
        partner_id: &str,
        event_id: &str,
    ) -> Result<Option<EventRecord>, EventLogError> {
        Ok(self
            .read(&EventRecord::key(partner_id, event_id))
            .await?
            .map(|(record, _)| record))
    }

    async fn read(&self, key: &str) -> Result<Option<(EventRecord, u64)>, EventLogError> {
        let Some(stored) = self.store.get(Kind::EventRecord, key).await? else {
            return Ok(None);
        };
        let record =
            serde_json::from_slice(&stored.body).map_err(|source| EventLogError::Decode {
                id: key.to_owned(),
                source,
            })?;
        Ok(Some((record, stored.revision)))
    }

    /// Merges `step` into the record of `template`'s event (created from
    /// `template` with no steps if absent).
    pub async fn merge(
        &self,
        template: &EventRecord,
        step: EventStep,
    ) -> Result<Merged, EventLogError> {
        let key = EventRecord::key(&template.partner_id, &template.event_id);
        cas::retry(&key, || async {
            let (mut record, expect) = match self.read(&key).await? {
                Some((record, revision)) => (record, Expect::Revision(revision)),
                None => (
                    EventRecord {
                        steps: Vec::new(),
                        ..template.clone()
                    },
                    Expect::Absent,
                ),
            };
            if record.fingerprint != template.fingerprint {
                return Ok(Attempt::Done(Merged::OtherContent(record)));
            }
            if !record.merge(step.clone()) {
                return Ok(Attempt::Done(Merged::AlreadyThere(record)));
            }
            let written = self.write(&key, &record, expect).await?;
            Ok(match written {
                Attempt::Done(_) => Attempt::Done(Merged::Added(record)),
                Attempt::Lost => Attempt::Lost,
            })
        })
        .await
    }

    /// Adds `step` to an existing record, whatever its content; returns
    /// whether anything changed (`false` if absent or already there).
    pub async fn advance(
        &self,
        partner_id: &str,
        event_id: &str,
        step: EventStep,
    ) -> Result<bool, EventLogError> {
        let key = EventRecord::key(partner_id, event_id);
        cas::retry(&key, || async {
            let Some((mut record, revision)) = self.read(&key).await? else {
                return Ok(Attempt::Done(false));
            };
            if !record.merge(step.clone()) {
                return Ok(Attempt::Done(false));
            }
            let written = self
                .write(&key, &record, Expect::Revision(revision))
                .await?;
            Ok(match written {
                Attempt::Done(_) => Attempt::Done(true),
                Attempt::Lost => Attempt::Lost,
            })
        })
        .await
    }

    /// Writes `record` under `key` if the row is as `expect`ed.
    async fn write(
        &self,
        key: &str,
        record: &EventRecord,
        expect: Expect,
    ) -> Result<Attempt<u64>, EventLogError> {
        let body = serde_json::to_vec(record).map_err(|source| EventLogError::Decode {
            id: key.to_owned(),
            source,
        })?;
        Ok(cas::attempt(
            self.store
                .put(Kind::EventRecord, key, &body, &[], expect)
                .await,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EmbeddedStore;
    use moneta_domain::EventState;

    fn record(fingerprint: &str) -> EventRecord {
        EventRecord {
            event_id: "ev-1".into(),
            partner_id: "pub-1".into(),
            contract_id: "c-1".into(),
            fingerprint: fingerprint.into(),
            steps: vec![],
        }
    }

    fn step(state: EventState) -> EventStep {
        EventStep {
            state,
            stage: "test".into(),
            at_ms: 1,
            code: None,
            message: None,
            source: None,
        }
    }

    #[tokio::test]
    async fn merges_once_and_refuses_other_content() {
        let dir = tempfile::tempdir().expect("dir");
        let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path()).expect("open"));
        let log = EventLog::new(store);
        let first = log
            .merge(&record("a"), step(EventState::Accepted))
            .await
            .expect("merge");
        assert!(matches!(first, Merged::Added(_)));
        let again = log
            .merge(&record("a"), step(EventState::Accepted))
            .await
            .expect("merge");
        assert!(matches!(again, Merged::AlreadyThere(_)));
        let next = log
            .merge(&record("a"), step(EventState::Validated))
            .await
            .expect("merge");
        assert!(matches!(next, Merged::Added(ref r) if r.steps.len() == 2));
        let other = log
            .merge(&record("b"), step(EventState::Validated))
            .await
            .expect("merge");
        assert!(matches!(other, Merged::OtherContent(_)));
        let stored = log.get("pub-1", "ev-1").await.expect("get").expect("some");
        assert_eq!(stored.state(), Some(EventState::Validated));
        assert!(
            log.advance("pub-1", "ev-1", step(EventState::Recorded))
                .await
                .expect("advance")
        );
        assert!(
            !log.advance("pub-1", "ev-1", step(EventState::Recorded))
                .await
                .expect("advance")
        );
        assert!(
            !log.advance("pub-1", "ev-9", step(EventState::Recorded))
                .await
                .expect("advance")
        );
    }
}
