//! Moneta's domain model: the registry's entities, contracts and their
//! status lifecycles. Pure data and rules; no I/O.

mod billing_account;
mod charge_dispute;
mod contract;
mod delivery;
mod developer;
mod entity;
mod event_record;
pub mod id;
mod membership_organization;
mod mpass;
mod organization;
mod partner_key;
mod publisher;
mod rate_limit;
mod settlement;
mod status;
mod template;
mod template_document;
mod terms;
mod webhook;

pub use billing_account::{AccountType, BillingAccount};
pub use charge_dispute::{ChargeDispute, DisputeState};
pub use contract::{Contract, EventLogEntry, Signature};
pub use delivery::{Delivery, DeliveryAttempt, DeliveryState};
pub use developer::{MoDeveloper, PublisherDeveloper};
pub use entity::{Entity, Kind};
pub use event_record::{EventRecord, EventState, EventStep};
pub use membership_organization::MembershipOrganization;
pub use mpass::MPass;
pub use organization::Organization;
pub use partner_key::{KeyAlgorithm, PartnerKey, PartnerKeyError};
pub use publisher::Publisher;
pub use rate_limit::{RateLimit, RateLimitError};
pub use settlement::{SettlementAgreement, SettlementError};
pub use status::{
    BillingAccountStatus, ContractStatus, DeveloperStatus, KeyState, LifecycleStatus, MPassStatus,
    TransitionError,
};
pub use template::ContractTemplate;
pub use template_document::{Party, SignatureRules, TemplateDocument, TemplateError};
pub use terms::ContractTerms;
pub use webhook::WebhookEndpoint;
