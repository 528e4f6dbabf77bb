//! The conformance suite on the embedded (redb) backend.

use std::sync::Arc;

use moneta_state::{EmbeddedStore, StateStore};

async fn store() -> Option<Arc<dyn StateStore>> {
    // Under target/, so repeated runs do not litter the system temp dir.
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir")
        .keep();
    Some(Arc::new(EmbeddedStore::open(&dir).expect("open")))
}

moneta_state::conformance_tests!(store());
