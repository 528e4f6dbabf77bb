//! Moneta's domain model: the registry's entities, contracts and their
//! status lifecycles. Pure data and rules; no I/O.

mod entity;

pub use entity::{Entity, Kind};
