//! Building what the signing path shares: the state store, Moneta's keys,
//! the schema registry (embedded or external) and the Avro codec.

use std::path::Path;
use std::sync::Arc;

use moneta_avro::AvroCodec;
use moneta_schema_registry::SchemaRegistry;
use moneta_signing::KeyRing;
use moneta_state::{EmbeddedStore, StateStore};

use crate::config::{Config, StateBackend};
use crate::topology::Services;

/// Errors building the services.
#[derive(Debug, thiserror::Error)]
pub enum ServicesError {
    /// The state store could not be opened.
    #[error("state store: {0}")]
    Store(String),
    /// Moneta's signing keys could not be loaded.
    #[error("signing keys ({where_}): {source}")]
    Keys {
        /// File or variable.
        where_: String,
        /// Why.
        #[source]
        source: moneta_signing::KeyError,
    },
    /// The schema registry failed.
    #[error("schema registry: {0}")]
    Registry(#[from] moneta_schema_registry::RegistryError),
    /// A shipped schema is broken.
    #[error(transparent)]
    Codec(#[from] moneta_avro::CodecError),
}

/// Opens the configured state store.
pub async fn open_store(config: &Config) -> Result<Arc<dyn StateStore>, ServicesError> {
    match config.state.backend {
        StateBackend::Embedded => {
            let dir = config.state.dir.join("registry");
            let store = EmbeddedStore::open_with_cache(&dir, config.state.cache_mib << 20)
                .map_err(|e| ServicesError::Store(format!("opening {}: {e}", dir.display())))?;
            Ok(Arc::new(store))
        }
        StateBackend::Scylla => {
            let (nodes, keyspace) = (&config.state.scylla_nodes, &config.state.scylla_keyspace);
            let store = moneta_state_scylla::ScyllaStore::connect(nodes, keyspace)
                .await
                .map_err(|e| ServicesError::Store(format!("ScyllaDB at {nodes}: {e}")))?;
            Ok(Arc::new(store))
        }
    }
}

/// Loads Moneta's keys from `signing.key_env` if set, else `signing.key_file`;
/// with `create`, a missing file is created with a new key.
pub fn load_keys(
    config: &Config,
    create: bool,
) -> Result<(KeyRing, Option<String>), ServicesError> {
    let var = &config.signing.key_env;
    if !var.is_empty() && std::env::var_os(var).is_some() {
        return KeyRing::from_env(var)
            .map(|ring| (ring, None))
            .map_err(|source| ServicesError::Keys {
                where_: format!("${var}"),
                source,
            });
    }
    let path = &config.signing.key_file;
    let shown = path.display().to_string();
    if create && !path.exists() {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| ServicesError::Keys {
                where_: shown.clone(),
                source: moneta_signing::KeyError::Io {
                    path: dir.to_owned(),
                    source: e,
                },
            })?;
        }
        let ring =
            KeyRing::generate_file(path, "moneta-1").map_err(|source| ServicesError::Keys {
                where_: shown.clone(),
                source,
            })?;
        return Ok((ring, Some(format!("created a new signing key in {shown}"))));
    }
    KeyRing::from_file(Path::new(path))
        .map(|ring| (ring, None))
        .map_err(|source| ServicesError::Keys {
            where_: shown,
            source,
        })
}

/// Starts the embedded schema registry when no external one is configured;
/// returns it so the caller can serve it.
pub async fn embedded_registry(config: &Config) -> Result<Option<SchemaRegistry>, ServicesError> {
    if !config.schema_registry.url.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        SchemaRegistry::start(&config.kafka, &config.schema_registry.topic).await?,
    ))
}

/// Registers every schema of the signing path (BACKWARD compatibility is
/// the registry's default); refuses to start on an incompatible change.
pub async fn register_schemas(config: &Config) -> Result<Vec<u32>, ServicesError> {
    let subjects: Vec<(String, String)> = crate::Topology::new(config)
        .subjects()
        .into_iter()
        .map(|s| (s.name, s.schema.text().to_owned()))
        .collect();
    Ok(
        moneta_schema_registry::register_all(&config.schema_registry.effective_url(), &subjects)
            .await?,
    )
}

/// The services of the signing path, on an already opened store.
pub fn services(
    config: &Config,
    store: Arc<dyn StateStore>,
    keys: KeyRing,
) -> Result<Services, ServicesError> {
    Ok(Services {
        store,
        codec: Arc::new(AvroCodec::new(&config.schema_registry.effective_url())?),
        keys: Arc::new(keys),
        rules: config.rules.clone(),
        topics: config.contracts.topics.clone(),
        settlement: config.settlement,
    })
}
