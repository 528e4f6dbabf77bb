//! The state a processor instance writes, which the runtime makes durable
//! before every commit, as Kafka Streams flushes its state stores.

use std::sync::Arc;

use moneta_state::{EffectLedger, StateStore};

/// The stores behind one processor instance.
#[derive(Clone)]
pub struct Stores {
    /// Where the batch's effects are applied before it commits; `None` for
    /// processors that emit none (a batch with effects then stops the
    /// instance: a processor emitting effects needs a ledger).
    pub ledger: Option<Arc<EffectLedger>>,
    /// The state store the processor writes, if any: flushed before each
    /// commit, so a processor may write through a deferred handle
    /// ([`StateStore::deferred`]) and share one fsync per batch.
    pub state: Option<Arc<dyn StateStore>>,
}

impl Stores {
    /// The effect ledger and the state store the processor writes.
    pub fn new(ledger: Arc<EffectLedger>, state: Arc<dyn StateStore>) -> Self {
        Self {
            ledger: Some(ledger),
            state: Some(state),
        }
    }

    /// Only the state store: for processors that emit no effects.
    pub fn state(state: Arc<dyn StateStore>) -> Self {
        Self {
            ledger: None,
            state: Some(state),
        }
    }
}

impl From<Arc<EffectLedger>> for Stores {
    /// Only an effect ledger: for processors that keep no other state.
    fn from(ledger: Arc<EffectLedger>) -> Self {
        Self {
            ledger: Some(ledger),
            state: None,
        }
    }
}
