//! What the signing-path stages share: their topics, their context, the
//! conversions between records and the domain, and how a refused event is
//! written.

mod context;
mod convert;
mod topics;

pub use context::{PathContext, source_of, stored_refusal};
pub use convert::{domain_party, from_record, row_record, to_domain_terms, to_record};
pub use topics::ContractTopics;

/// The event id under which Moneta's countersignature is applied to a
/// contract (no partner's event key can be it: `moneta` is a reserved id).
pub const COUNTERSIGN_EVENT: &str = "moneta/countersign";

/// The stage that countersigns, as named in event steps.
pub const COUNTERSIGN_STAGE: &str = "countersign";
