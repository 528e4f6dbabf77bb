//! The pipelines' business rules against a real (embedded) state store:
//! each rule refuses with its documented code, and a valid contract passes.

use std::sync::Arc;

use moneta_domain::{
    AccountType, BillingAccount, BillingAccountStatus, Contract, ContractStatus, ContractTerms,
    MPass, MPassStatus, SettlementAgreement,
};
use moneta_processors::contracts::{ContractTopics, PathContext};
use moneta_processors::rules::{self, RulesConfig};
use moneta_state::{ContractKeys, ContractWrite, EmbeddedStore, StateStore};
use serde_json::{Value, json};

struct World {
    ctx: PathContext,
    _dir: tempfile::TempDir,
}

/// When the charges below reach Moneta: an hour after they say they happened.
const AT_S: i64 = 1_793_491_200 + 3600;

/// The charges' `charged_at`, 2026-11-01T00:00:00Z.
const CHARGED_S: i64 = 1_793_491_200;

async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn StateStore> = Arc::new(EmbeddedStore::open(dir.path()).expect("store"));
    let ctx = PathContext::new(store, ContractTopics::default());
    let account = |id: &str, status| BillingAccount {
        id: id.into(),
        mo_id: "mo-1".into(),
        account_type: AccountType::Family,
        owner_entity_id: "mp-1".into(),
        status,
        payment_responsibility_info: json!({}),
        policy_settings: json!({}),
        created_at: 0,
        updated_at: 0,
    };
    for (id, status) in [
        ("ba-ok", BillingAccountStatus::Active),
        ("ba-suspended", BillingAccountStatus::Suspended),
    ] {
        ctx.registry
            .create(&account(id, status))
            .await
            .expect("account");
    }
    for (id, account, expires_at) in [
        ("mp-expired", Some("ba-ok"), CHARGED_S),
        ("mp-suspended-account", Some("ba-suspended"), 0),
        ("mp-missing-account", Some("ba-none"), 0),
        ("mp-ok", Some("ba-ok"), CHARGED_S + 1),
    ] {
        let mpass = MPass {
            id: id.into(),
            mpass_number: "0001".into(),
            mo_id: "mo-1".into(),
            billing_account_id: account.map(str::to_owned),
            user_id_internal: "u".into(),
            status: MPassStatus::Active,
            tier: "Gold".into(),
            active_public_key_id: None,
            created_at: 0,
            updated_at: 0,
            expires_at,
            metadata: json!({}),
        };
        ctx.registry.create(&mpass).await.expect("mpass");
    }
    let mpass = MPass {
        id: "mp-1".into(),
        mpass_number: "0001".into(),
        mo_id: "mo-1".into(),
        billing_account_id: None,
        user_id_internal: "u".into(),
        status: MPassStatus::Active,
        tier: "Gold".into(),
        active_public_key_id: None,
        created_at: 0,
        updated_at: 0,
        expires_at: 0,
        metadata: json!({}),
    };
    ctx.registry.create(&mpass).await.expect("mpass");
    let agreement = SettlementAgreement {
        id: "agr-1".into(),
        mo_id: "mo-1".into(),
        publisher_id: "pub-1".into(),
        currency: "EUR".into(),
        publisher_bps: 7000,
        mo_bps: 2500,
        moneta_fee_bps: 500,
        effective_from: 0,
        min_settlement_minor: 0,
        created_at: 0,
    };
    ctx.registry.create(&agreement).await.expect("agreement");
    World { ctx, _dir: dir }
}

fn terms(contract_type: &str, attributes: Value) -> ContractTerms {
    ContractTerms {
        contract_id: format!("c-{contract_type}"),
        contract_type: contract_type.into(),
        template_name: contract_type.into(),
        template_version: 1,
        mo_id: "mo-1".into(),
        publisher_id: "pub-1".into(),
        mpass_id: None,
        description: String::new(),
        terms: attributes,
    }
}

fn charge(amount: i64) -> ContractTerms {
    let mut t = terms(
        "subscription_charge",
        json!({"subscription_id": "s", "mpass_number": "0001", "amount_minor": amount,
               "currency": "EUR", "period_start": "2026-11-01", "period_end": "2026-11-30",
               "charged_at": "2026-11-01T00:00:00Z"}),
    );
    t.mpass_id = Some("mp-1".into());
    t
}

async fn code(world: &World, terms: &ContractTerms) -> Option<String> {
    match rules::check(&RulesConfig::default(), &world.ctx, terms, AT_S).await {
        Ok(Ok(())) => None,
        Ok(Err(refusal)) => Some(refusal.code),
        Err(e) => panic!("infrastructure failure: {e}"),
    }
}

fn with(mut t: ContractTerms, field: &str, value: Value) -> ContractTerms {
    if let Some(object) = t.terms.as_object_mut() {
        object.insert(field.into(), value);
    }
    t
}

#[tokio::test]
async fn subscription_charge_rules() {
    let w = world().await;
    assert_eq!(code(&w, &charge(999)).await, None);
    assert_eq!(
        code(&w, &charge(0)).await.as_deref(),
        Some("amount_out_of_range")
    );
    assert_eq!(
        code(&w, &charge(200_001)).await.as_deref(),
        Some("tier_limit_exceeded")
    );
    assert_eq!(
        code(&w, &charge(200_000)).await,
        None,
        "the cap itself is allowed"
    );
    let eurp = with(charge(5), "currency", json!("EUX"));
    assert_eq!(code(&w, &eurp).await.as_deref(), Some("unknown_currency"));
    let backwards = with(charge(5), "period_end", json!("2026-10-01"));
    assert_eq!(
        code(&w, &backwards).await.as_deref(),
        Some("invalid_period")
    );
    let other_number = with(charge(5), "mpass_number", json!("0002"));
    assert_eq!(
        code(&w, &other_number).await.as_deref(),
        Some("mpass_mismatch")
    );
    let mut other_mo = charge(5);
    other_mo.mo_id = "mo-2".into();
    assert_eq!(
        code(&w, &other_mo).await.as_deref(),
        Some("mpass_not_found")
    );
}

#[tokio::test]
async fn a_charge_is_no_later_than_it_reached_moneta_and_its_mpass_is_valid_then() {
    let w = world().await;
    // `charged_at` up to 300 s (the allowed skew) after the charge reached Moneta.
    let at = |s: &str| with(charge(5), "charged_at", json!(s));
    assert_eq!(code(&w, &at("2026-11-01T01:05:00Z")).await, None);
    assert_eq!(
        code(&w, &at("2026-11-01T01:05:01Z")).await.as_deref(),
        Some("charged_in_future")
    );
    assert_eq!(
        code(&w, &at("2027-01-01T00:00:00Z")).await.as_deref(),
        Some("charged_in_future")
    );
    assert_eq!(
        code(&w, &at("yesterday")).await.as_deref(),
        Some("invalid_charged_at")
    );
    let on = |mpass: &str| {
        let mut t = charge(5);
        t.mpass_id = Some(mpass.into());
        t
    };
    assert_eq!(
        code(&w, &on("mp-ok")).await,
        None,
        "valid the second before"
    );
    assert_eq!(
        code(&w, &on("mp-expired")).await.as_deref(),
        Some("mpass_expired")
    );
    for mpass in ["mp-suspended-account", "mp-missing-account"] {
        assert_eq!(
            code(&w, &on(mpass)).await.as_deref(),
            Some("billing_account_inactive"),
            "{mpass}"
        );
    }
}

async fn store_charge(w: &World, id: &str, status: ContractStatus) {
    let t = charge(999);
    let contract = Contract {
        id: id.into(),
        description: String::new(),
        template_name: "subscription-charge".into(),
        template_version: 1,
        mo_id: t.mo_id.clone(),
        publisher_id: t.publisher_id.clone(),
        mpass_id: t.mpass_id.clone(),
        contract_type: t.contract_type.clone(),
        version: 1,
        payload: t.terms.clone(),
        signatures: Default::default(),
        event_log: vec![],
        status,
        created_at: 0,
        finalized_at: None,
        disputes: Vec::new(),
    };
    let write = ContractWrite {
        contract_id: id.into(),
        event_id: format!("seed/{id}"),
        expected_version: 0,
        body: serde_json::to_vec(&contract).expect("json"),
        keys: ContractKeys {
            mo_id: contract.mo_id.clone(),
            publisher_id: contract.publisher_id.clone(),
            mpass_id: None,
            contract_type: contract.contract_type.clone(),
            created_at: 0,
        },
    };
    w.ctx
        .store
        .apply_contract(write)
        .await
        .expect("store charge");
}

fn dispute(charge_id: &str, amount: i64, opened_at: &str) -> ContractTerms {
    terms(
        "dispute",
        json!({"charge_contract_id": charge_id, "reason": "not_received", "amount_minor": amount,
               "currency": "EUR", "opened_at": opened_at, "resolution": "upheld",
               "details": "no access since the 3rd; support ticket 118"}),
    )
}

#[tokio::test]
async fn dispute_rules() {
    let w = world().await;
    store_charge(&w, "charge-final", ContractStatus::Finalized).await;
    store_charge(&w, "charge-pending", ContractStatus::Pending).await;
    let inside = "2026-12-01T00:00:00Z";
    assert_eq!(code(&w, &dispute("charge-final", 999, inside)).await, None);
    assert_eq!(
        code(&w, &dispute("charge-none", 999, inside))
            .await
            .as_deref(),
        Some("charge_not_found")
    );
    assert_eq!(
        code(&w, &dispute("charge-pending", 999, inside))
            .await
            .as_deref(),
        Some("charge_not_finalized")
    );
    assert_eq!(
        code(&w, &dispute("charge-final", 1000, inside))
            .await
            .as_deref(),
        Some("dispute_amount_exceeds_charge")
    );
    // 120 days after 2026-11-01 is 2027-03-01; one second later is too late.
    assert_eq!(
        code(&w, &dispute("charge-final", 1, "2027-03-01T00:00:00Z")).await,
        None
    );
    assert_eq!(
        code(&w, &dispute("charge-final", 1, "2027-03-01T00:00:01Z"))
            .await
            .as_deref(),
        Some("dispute_window_expired")
    );
    let no_evidence = with(dispute("charge-final", 1, inside), "details", json!("  "));
    assert_eq!(
        code(&w, &no_evidence).await.as_deref(),
        Some("evidence_required")
    );
    let dollars = with(dispute("charge-final", 1, inside), "currency", json!("USD"));
    assert_eq!(
        code(&w, &dollars).await.as_deref(),
        Some("currency_mismatch")
    );
}

fn settlement(total: i64, parts: [i64; 3], agreement: &str) -> ContractTerms {
    terms(
        "settlement",
        json!({"agreement_id": agreement, "period_start": "2026-11-01", "period_end": "2026-11-30",
               "currency": "EUR", "total_minor": total, "publisher_minor": parts[0],
               "mo_minor": parts[1], "moneta_fee_minor": parts[2]}),
    )
}

#[tokio::test]
async fn settlement_rules() {
    let w = world().await;
    assert_eq!(
        code(&w, &settlement(1000, [700, 250, 50], "agr-1")).await,
        None
    );
    assert_eq!(
        code(&w, &settlement(99, [69, 25, 5], "agr-1"))
            .await
            .as_deref(),
        Some("below_minimum_settlement")
    );
    assert_eq!(
        code(&w, &settlement(1000, [700, 250, 49], "agr-1"))
            .await
            .as_deref(),
        Some("split_mismatch")
    );
    assert_eq!(
        code(&w, &settlement(1000, [700, 250, 50], "agr-x"))
            .await
            .as_deref(),
        Some("unauthorized_party")
    );
}
