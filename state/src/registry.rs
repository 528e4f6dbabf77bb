//! Typed access to registry entities on any [`StateStore`].

use std::sync::Arc;

use moneta_domain::Entity;

use crate::store::{Expect, StateStore, StoreError};

/// An entity with the revision it was read at.
#[derive(Debug, Clone, PartialEq)]
pub struct Versioned<E> {
    /// Revision to pass back to [`Registry::update`].
    pub revision: u64,
    /// The entity.
    pub entity: E,
}

/// Errors of the typed registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored document does not decode as the entity.
    #[error("stored {kind} {id} does not decode: {source}")]
    Decode {
        /// Table.
        kind: &'static str,
        /// Record.
        id: String,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
}

/// The registry: entities as typed values, on any store backend.
#[derive(Clone)]
pub struct Registry {
    store: Arc<dyn StateStore>,
}

impl Registry {
    /// A registry on `store`.
    pub fn new(store: Arc<dyn StateStore>) -> Self {
        Self { store }
    }

    /// The store underneath.
    pub fn store(&self) -> Arc<dyn StateStore> {
        self.store.clone()
    }

    /// Creates `entity`; a conflict if its id exists. Returns revision 1.
    pub async fn create<E: Entity>(&self, entity: &E) -> Result<u64, RegistryError> {
        self.write(entity, Expect::Absent).await
    }

    /// Replaces `entity` if it is still at `revision`; returns the new revision.
    pub async fn update<E: Entity>(&self, entity: &E, revision: u64) -> Result<u64, RegistryError> {
        self.write(entity, Expect::Revision(revision)).await
    }

    async fn write<E: Entity>(&self, entity: &E, expect: Expect) -> Result<u64, RegistryError> {
        let body = serde_json::to_vec(entity).map_err(|source| RegistryError::Decode {
            kind: E::KIND.as_str(),
            id: entity.id().to_owned(),
            source,
        })?;
        Ok(self
            .store
            .put(E::KIND, entity.id(), &body, &entity.indexes(), expect)
            .await?)
    }

    /// Reads the entity with this id.
    pub async fn get<E: Entity>(&self, id: &str) -> Result<Option<Versioned<E>>, RegistryError> {
        match self.store.get(E::KIND, id).await? {
            Some(stored) => Ok(Some(decode(&stored)?)),
            None => Ok(None),
        }
    }

    /// Entities whose index `index` has `value`.
    pub async fn find<E: Entity>(
        &self,
        index: &str,
        value: &str,
    ) -> Result<Vec<Versioned<E>>, RegistryError> {
        let found = self.store.lookup(E::KIND, index, value).await?;
        found.iter().map(decode).collect()
    }

    /// A page of entities in id order, after `after`.
    pub async fn list<E: Entity>(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Versioned<E>>, RegistryError> {
        let found = self.store.list(E::KIND, after, limit).await?;
        found.iter().map(decode).collect()
    }
}

fn decode<E: Entity>(stored: &crate::Stored) -> Result<Versioned<E>, RegistryError> {
    let entity = serde_json::from_slice(&stored.body).map_err(|source| RegistryError::Decode {
        kind: E::KIND.as_str(),
        id: stored.id.clone(),
        source,
    })?;
    Ok(Versioned {
        revision: stored.revision,
        entity,
    })
}
