//! Contract templates by (name, version), parsed and compiled once.
//!
//! A template version is immutable once uploaded (the admin API refuses to
//! change it), so a cached version is never stale: the cache holds only
//! versions that exist, and a version uploaded later is found on its first
//! use because misses are never cached.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use moneta_domain::{ContractTemplate, TemplateDocument};
use moneta_state::{Registry, RegistryError};

/// A parsed template with its attribute schema compiled.
pub struct CachedTemplate {
    /// The template.
    pub document: TemplateDocument,
    validator: Option<jsonschema::Validator>,
}

impl CachedTemplate {
    /// Every way `payload` breaks the attribute schema, each naming where.
    pub fn payload_errors(&self, payload: &serde_json::Value) -> Vec<String> {
        match &self.validator {
            Some(validator) => validator
                .iter_errors(payload)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    format!("{}: {e}", if path.is_empty() { "/" } else { &path })
                })
                .collect(),
            None => self.document.payload_errors(payload),
        }
    }
}

/// Errors loading a template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateCacheError {
    /// The store failed.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A stored template no longer parses (it was validated on upload).
    #[error("stored template {name} v{version} does not parse: {message}")]
    Corrupt {
        /// Template name.
        name: String,
        /// Template version.
        version: u32,
        /// The parser's message.
        message: String,
    },
}

impl From<TemplateCacheError> for moneta_runtime::ProcessError {
    /// A store failure is transient; a template that no longer parses is
    /// corrupt data (`corrupt_template`): the record is dead-lettered.
    fn from(e: TemplateCacheError) -> Self {
        match e {
            TemplateCacheError::Registry(e) => e.into(),
            corrupt @ TemplateCacheError::Corrupt { .. } => {
                moneta_runtime::Rejection::new("corrupt_template", corrupt.to_string()).into()
            }
        }
    }
}

/// The template cache.
pub struct TemplateCache {
    registry: Registry,
    entries: Mutex<HashMap<(String, u32), Arc<CachedTemplate>>>,
}

impl TemplateCache {
    /// An empty cache reading from `registry`.
    pub fn new(registry: Registry) -> Self {
        Self {
            registry,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self, key: &(String, u32)) -> Option<Arc<CachedTemplate>> {
        self.entries
            .lock()
            .ok()
            .and_then(|entries| entries.get(key).cloned())
    }

    /// Template `name` version `version`, if it exists.
    pub async fn get(
        &self,
        name: &str,
        version: u32,
    ) -> Result<Option<Arc<CachedTemplate>>, TemplateCacheError> {
        let key = (name.to_owned(), version);
        if let Some(hit) = self.cached(&key) {
            return Ok(Some(hit));
        }
        let Some(stored) = self
            .registry
            .get::<ContractTemplate>(&ContractTemplate::key(name, version))
            .await?
        else {
            return Ok(None);
        };
        let document = TemplateDocument::parse(&stored.entity.template_payload).map_err(|e| {
            TemplateCacheError::Corrupt {
                name: name.to_owned(),
                version,
                message: e.to_string(),
            }
        })?;
        let validator = jsonschema::validator_for(&document.attributes).ok();
        let entry = Arc::new(CachedTemplate {
            document,
            validator,
        });
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(key, entry.clone());
        }
        Ok(Some(entry))
    }
}
