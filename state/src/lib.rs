//! Moneta's state.
//!
//! - [`StateStore`]: the one async trait every backend implements
//!   ([`EmbeddedStore`] on redb by default; ScyllaDB in production), checked
//!   by one [`conformance`] suite;
//! - [`Registry`]: typed access to the registry's entities on any store;
//! - [`EffectLedger`]: the crash-safe record of every effect applied, keyed by
//!   a deterministic effect id, so a retry, a crash or a replay never applies
//!   an effect twice;
//! - [`rebuild`]: the registry changelog's record, where each table comes
//!   from in `moneta state rebuild`, and the state digest.

pub mod cas;
pub mod conformance;
pub mod contract_search;
mod deliveries;
mod embedded;
mod events;
pub mod faulty;
mod flusher;
mod group_commit;
mod ledger;
pub mod rebuild;
mod redb_file;
mod registry;
mod store;

pub use deliveries::{Deliveries, DeliveryError, StoredDelivery};
pub use embedded::EmbeddedStore;
pub use events::{EventLog, EventLogError, Merged};
pub use flusher::flushed_every;
pub use ledger::{Applied, Effect, EffectLedger, StateError};
pub use registry::{Registry, RegistryError, Versioned};
pub use store::{
    ContractApplied, ContractKeys, ContractQuery, ContractWrite, Expect, StateStore, StoreError,
    Stored,
};
