//! What the signing-path processors share: their topics, their context,
//! decoding and encoding, and how a refused event is written.

mod context;
mod convert;
mod stage;
mod topics;

pub use context::{PathContext, Refusal, outcome, span, transient};
pub use convert::{domain_party, fingerprint, party_name, to_avro, to_domain_terms};
pub use stage::{Avro, AvroStage, Traced};
pub use topics::ContractTopics;
