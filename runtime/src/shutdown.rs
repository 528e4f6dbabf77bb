//! A stop request shared by a process's signal handler and its processors.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once to ask every processor to finish its batch and stop.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// A fresh, unset stop request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every holder to stop.
    pub fn request(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether a stop was asked for.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}
