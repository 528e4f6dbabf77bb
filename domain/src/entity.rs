//! How an entity describes itself to the state store: its kind (table), its
//! id, and the secondary-index values it must be found by.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Every kind of registry record the store keeps (one table each).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A legal organization behind an MO or a publisher.
    Organization,
    /// A Membership Organization (found by MIC).
    MembershipOrganization,
    /// A publisher (found by MPC).
    Publisher,
    /// A developer of an MO (found by MO).
    MoDeveloper,
    /// A developer of a publisher (found by publisher).
    PublisherDeveloper,
    /// A digital mPass (found by number, MO + number, billing account).
    MPass,
    /// A billing account (found by MO + account type).
    BillingAccount,
    /// One version of a contract template (found by name).
    ContractTemplate,
    /// A partner's public signing key (found by organization).
    PartnerKey,
    /// A partner's webhook endpoint (found by organization).
    WebhookEndpoint,
    /// A settlement agreement between an MO and a publisher (found by either).
    SettlementAgreement,
    /// What happened to one submitted event (not an entity: written by the
    /// ingest edge and the processors).
    EventRecord,
    /// A stored first response for an `Idempotency-Key` (ingest edge).
    IdempotencyKey,
    /// A webhook delivery (one message to one endpoint).
    WebhookDelivery,
    /// One attempt of a webhook delivery.
    DeliveryAttempt,
    /// settle-aggregate's state of one `mo|publisher|currency` key.
    SettlementState,
    /// reconcile-match's view of one MO–publisher pair (ledger entries and
    /// matched reconciliations).
    ReconcileView,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 17] = [
        Kind::Organization,
        Kind::MembershipOrganization,
        Kind::Publisher,
        Kind::MoDeveloper,
        Kind::PublisherDeveloper,
        Kind::MPass,
        Kind::BillingAccount,
        Kind::ContractTemplate,
        Kind::PartnerKey,
        Kind::WebhookEndpoint,
        Kind::SettlementAgreement,
        Kind::EventRecord,
        Kind::IdempotencyKey,
        Kind::WebhookDelivery,
        Kind::DeliveryAttempt,
        Kind::SettlementState,
        Kind::ReconcileView,
    ];

    /// The kind's stable storage name (`snake_case`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Organization => "organization",
            Kind::MembershipOrganization => "membership_organization",
            Kind::Publisher => "publisher",
            Kind::MoDeveloper => "mo_developer",
            Kind::PublisherDeveloper => "publisher_developer",
            Kind::MPass => "mpass",
            Kind::BillingAccount => "billing_account",
            Kind::ContractTemplate => "contract_template",
            Kind::PartnerKey => "partner_key",
            Kind::WebhookEndpoint => "webhook_endpoint",
            Kind::SettlementAgreement => "settlement_agreement",
            Kind::EventRecord => "event_record",
            Kind::IdempotencyKey => "idempotency_key",
            Kind::WebhookDelivery => "webhook_delivery",
            Kind::DeliveryAttempt => "delivery_attempt",
            Kind::SettlementState => "settlement_state",
            Kind::ReconcileView => "reconcile_view",
        }
    }
}

/// A registry record the state store can keep and find.
///
/// An index value is one string; composite lookups (MO + mPass number) join
/// their parts with [`Entity::join`] so every backend orders them alike.
pub trait Entity: Serialize + DeserializeOwned + Send + Sync {
    /// The table it lives in.
    const KIND: Kind;

    /// Its primary key.
    fn id(&self) -> &str;

    /// `(index name, value)` for every lookup it must be found by.
    fn indexes(&self) -> Vec<(&'static str, String)>;

    /// Joins the parts of a composite index value.
    fn join(parts: &[&str]) -> String {
        parts.join("\u{1f}")
    }
}
