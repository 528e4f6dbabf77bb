//! Moneta's stream processors: business logic behind the runtime's
//! [`moneta_runtime::Processor`] trait, one module each.

pub mod copy;
