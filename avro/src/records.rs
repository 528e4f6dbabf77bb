//! The records' round trips through their schemas (the types are in
//! `moneta_records`).

#[cfg(test)]
mod tests {
    use crate::catalog::{ParseSchema, SchemaName};
    use apache_avro::reader::datum::GenericDatumReader;
    use apache_avro::writer::datum::GenericDatumWriter;
    use apache_avro::{from_value, to_value};
    use moneta_records::*;
    use serde::Serialize;

    fn round_trip<T: Serialize + serde::de::DeserializeOwned>(name: SchemaName, value: &T) -> T {
        let schema = name.parse().expect("schema");
        let datum = to_value(value)
            .expect("to value")
            .resolve(&schema)
            .expect("resolve");
        let bytes = GenericDatumWriter::builder(&schema)
            .build()
            .expect("writer")
            .write_value_to_vec(datum)
            .expect("encode");
        let back = GenericDatumReader::builder(&schema)
            .build()
            .expect("reader")
            .read_value(&mut bytes.as_slice())
            .expect("decode");
        from_value(&back).expect("from value")
    }

    fn terms() -> ContractTerms {
        ContractTerms {
            contract_id: "c-1".into(),
            contract_type: "subscription_charge".into(),
            template_name: "subscription-charge".into(),
            template_version: 1,
            mo_id: "mo-acme".into(),
            publisher_id: "pub-globe".into(),
            mpass_id: None,
            description: "May".into(),
            terms_json: r#"{"amount_minor":999}"#.into(),
        }
    }

    fn signature(party: Party) -> PartySignature {
        PartySignature {
            party,
            key_id: "k".into(),
            signature: "c2ln".into(),
            signed_at: 7,
        }
    }

    #[test]
    fn every_record_round_trips_through_its_schema() {
        let event = ContractEvent {
            event_id: "ev-1".into(),
            contract: terms(),
            signature: signature(Party::Publisher),
            source: Source::Http,
            submitted_by: Some("pub-globe".into()),
            received_at_ms: Some(1),
        };
        assert_eq!(round_trip(SchemaName::ContractEvent, &event), event);
        let rejected = RejectedEvent {
            event_id: Some("ev-1".into()),
            contract_id: None,
            partner_id: None,
            stage: "validate".into(),
            code: "bad_signature".into(),
            message: "no".into(),
            source_topic: "t".into(),
            source_partition: 2,
            source_offset: 9,
            original: Some(vec![0, 1, 2]),
        };
        assert_eq!(round_trip(SchemaName::RejectedEvent, &rejected), rejected);
        let contract = Contract {
            contract_id: "c-1".into(),
            version: 3,
            status: ContractStatus::Finalized,
            terms: terms(),
            signatures: vec![signature(Party::Mo), signature(Party::Moneta)],
            event_id: "ev-1".into(),
            partner_id: "mo-acme".into(),
            events: vec![ContractLogEntry {
                event_id: "ev-1".into(),
                version: 1,
                kind: "created".into(),
                at: 5,
            }],
            created_at: 5,
            finalized_at: Some(6),
            disputes: Vec::new(),
        };
        assert_eq!(round_trip(SchemaName::Contract, &contract), contract);
        assert_eq!(
            round_trip(SchemaName::ContractKey, &"c-1".to_string()),
            "c-1"
        );
    }
}
