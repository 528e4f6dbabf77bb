//! Moneta's stream processors: business logic behind the runtime's
//! [`moneta_runtime::Processor`] trait, one module each.
//!
//! The signing path is `validate` → `template_check` → `countersign`; the
//! pieces they share (topics, decoding, rejections) are in [`contracts`].

pub mod contracts;
pub mod copy;
pub mod countersign;
pub mod disputes;
pub mod expiry;
pub mod ledger;
pub mod reconcile_match;
pub mod rules;
pub mod settle_aggregate;
pub mod template_check;
pub mod templates;
pub mod validate;
pub mod webhook_dispatch;
