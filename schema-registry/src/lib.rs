//! An embedded schema registry served by Moneta itself.
//!
//! It implements the subset of the Confluent Schema Registry REST API that
//! standard clients use (register, look up, fetch by id, compatibility
//! checks and levels, soft and hard deletes), for Avro schemas only, and
//! persists everything in a compacted Kafka topic in the same record
//! format as Confluent's `_schemas`.
//!
//! Single writer: exactly one registry instance may serve (and write) a
//! given topic. State is read from the topic once at start-up; writes are
//! appended with an idempotent `acks=all` producer and applied to memory
//! only after the broker acknowledged them, so memory never runs ahead of
//! the topic.

mod api;
mod client;
mod compat;
mod error;
mod log;
mod records;
mod schema;
mod state;
mod store;

use std::net::SocketAddr;
use std::sync::Arc;

use moneta_kafka::KafkaConfig;
use tokio::net::TcpListener;

pub use api::MEDIA_TYPE;
pub use client::register_all;
pub use compat::{CompatibilityLevel, InvalidLevel};
pub use error::RegistryError;

/// A running registry: its state, rebuilt from its topic, and its routes.
#[derive(Clone)]
pub struct SchemaRegistry {
    store: Arc<store::Store>,
}

impl SchemaRegistry {
    /// Ensures `topic` exists (compacted, one partition), reads it from the
    /// beginning to its high watermark and returns the registry, ready to serve.
    pub async fn start(kafka: &KafkaConfig, topic: &str) -> Result<Self, RegistryError> {
        let store = store::Store::open(kafka, topic).await?;
        Ok(Self {
            store: Arc::new(store),
        })
    }

    /// The REST routes, to serve or to nest in another router.
    pub fn router(&self) -> axum::Router {
        api::router(Arc::clone(&self.store))
    }

    /// Binds `listen` and serves until `shutdown` resolves.
    pub async fn serve(
        self,
        listen: SocketAddr,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RegistryError> {
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| RegistryError::Serve {
                listen: listen.to_string(),
                source,
            })?;
        self.serve_on(listener, shutdown).await
    }

    /// Serves on an already bound `listener` until `shutdown` resolves.
    pub async fn serve_on(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), RegistryError> {
        let listen = listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default();
        tracing::info!(%listen, "schema registry listening");
        axum::serve(listener, self.router())
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(|source| RegistryError::Serve { listen, source })
    }
}
