//! Deferred writes flushed on a timer: for writers whose writes may be lost
//! in a crash at the cost of repeating work (the edge's claims, the webhook
//! worker's delivery states), not of losing it.

use std::sync::Arc;
use std::time::Duration;

use crate::StateStore;

/// A handle on `store` whose writes are durable within `every` (a deferred
/// handle, see [`StateStore::deferred_async`], flushed by a task on the
/// current Tokio runtime until the handle is dropped), or `store` itself
/// when `every` is zero. `what` names the writer in the log.
pub fn flushed_every(
    store: &Arc<dyn StateStore>,
    every: Duration,
    what: &'static str,
) -> Arc<dyn StateStore> {
    if every.is_zero() {
        return store.clone();
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!(what, "no runtime: writes are made durable one by one");
        return store.clone();
    };
    let writes = store.deferred_async();
    let weak = Arc::downgrade(&writes);
    runtime.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let Some(store) = weak.upgrade() else {
                return;
            };
            if let Err(error) = store.flush().await {
                // Like a crash: the writes since the last flush are gone.
                tracing::warn!(what, %error, "deferred state writes were lost");
            }
        }
    });
    writes
}
