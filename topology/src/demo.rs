//! The demo network's partners and a demo contract, shared by
//! `moneta seed-demo`, `moneta submit-demo` and the tests.
//!
//! The demo partners' private keys are published here on purpose: they
//! exist only to try Moneta locally. Never register them in production.

use base64::Engine;
use moneta_domain::ContractTerms;
use moneta_ingest::PartnerClient;
use moneta_signing::SigningKey;
use serde_json::json;

/// A demo partner organization and its signing key.
#[derive(Debug, Clone, Copy)]
pub struct DemoPartner {
    /// The MO or publisher id.
    pub organization_id: &'static str,
    /// Its registered key id.
    pub key_id: &'static str,
    /// Which party it is: `mo` or `publisher`.
    pub party: &'static str,
    seed: [u8; 32],
}

/// The demo MO, Acme Members.
pub const ACME: DemoPartner = DemoPartner {
    organization_id: "mo-acme",
    key_id: "key-acme-1",
    party: "mo",
    seed: [0x11; 32],
};

/// The demo publisher, Globe News.
pub const GLOBE: DemoPartner = DemoPartner {
    organization_id: "pub-globe",
    key_id: "key-globe-1",
    party: "publisher",
    seed: [0x22; 32],
};

impl DemoPartner {
    /// The partner's private key.
    pub fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.seed)
    }

    /// The public key to register, standard base64.
    pub fn public_key_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(self.signing_key().verifying_key().to_bytes())
    }

    /// A client signing as this partner against the edge at `base_url`.
    pub fn client(&self, base_url: &str) -> PartnerClient {
        PartnerClient::new(base_url, self.key_id, self.signing_key())
    }
}

/// A demo subscription charge: Globe charges Acme's mPass 0001 (Gold) 9.99 EUR.
pub fn subscription_charge(contract_id: &str) -> ContractTerms {
    ContractTerms {
        contract_id: contract_id.to_owned(),
        contract_type: "subscription_charge".into(),
        template_name: "subscription-charge".into(),
        template_version: 1,
        mo_id: ACME.organization_id.into(),
        publisher_id: GLOBE.organization_id.into(),
        mpass_id: Some("mp-0001".into()),
        description: "Globe News Gold, November 2026".into(),
        terms: json!({
            "subscription_id": "sub-42",
            "mpass_number": "0001",
            "amount_minor": 999,
            "currency": "EUR",
            "period_start": "2026-11-01",
            "period_end": "2026-11-30",
            "charged_at": "2026-11-01T00:00:00Z",
        }),
    }
}
