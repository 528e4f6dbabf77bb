//! Moneta's state.
//!
//! For now this crate holds the [`EffectLedger`]: the embedded, crash-safe
//! record of every effect applied, keyed by a deterministic effect id, so a
//! retry, a crash or a replay never applies an effect twice.

mod ledger;

pub use ledger::{Applied, Effect, EffectLedger, StateError};
