//! Codec round trips in every format, schema evolution, and decoding of arbitrary bytes.

use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;
use warmstart::codec::{Codec, Format, RegistryError, SchemaRegistry};
use warmstart::events::*;
use warmstart::reject::RejectCode;

const FORMATS: [Format; 3] = [Format::Json, Format::Avro, Format::Confluent];

fn registry() -> Arc<SchemaRegistry> {
    Arc::new(SchemaRegistry::builtin())
}

fn behavior() -> BehaviorEvent {
    BehaviorEvent {
        event_id: "e-1".into(),
        user_id: "u-1".into(),
        item_id: "i-1".into(),
        kind: BehaviorKind::Review,
        ts: 1_700_000_000_123,
        session_id: Some("s-9".into()),
        rating: Some(4),
        review_text: Some("Smells lovely, lasts all day. ✓".into()),
    }
}

fn scores() -> BTreeMap<String, f64> {
    BTreeMap::from([
        ("discriminator".to_string(), 0.71),
        ("rating_consistency".to_string(), 0.9),
    ])
}

fn round_trip<T>(ty: EventType, value: &T)
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    for format in FORMATS {
        let codec = Codec::new(format, registry());
        let bytes = codec
            .encode_to_vec(ty, value)
            .unwrap_or_else(|e| panic!("{format:?} {ty:?}: {e}"));
        let back: T = codec
            .decode(ty, &bytes)
            .unwrap_or_else(|e| panic!("{format:?} {ty:?}: {e}"));
        assert_eq!(&back, value, "{format:?} {ty:?}");
    }
}

#[test]
fn every_event_type_round_trips_in_every_format() {
    round_trip(EventType::Behavior, &behavior());
    let mut minimal = behavior();
    (minimal.session_id, minimal.rating, minimal.review_text) = (None, None, None);
    minimal.kind = BehaviorKind::Cart;
    round_trip(EventType::Behavior, &minimal);
    round_trip(
        EventType::Product,
        &ProductEvent {
            item_id: "B00TEST".into(),
            ts: 1_700_000_000_000,
            title: "Rose water toner".into(),
            category: vec!["Beauty".into(), "Skin Care".into()],
            brand: Some("Acme".into()),
            price: Some(12.5),
            description: None,
            attributes: BTreeMap::from([("size".to_string(), "200 ml".to_string())]),
        },
    );
    round_trip(
        EventType::SyntheticReview,
        &SyntheticReview {
            event_id: "sr-1".into(),
            item_id: "B00TEST".into(),
            ts: 1,
            rating: 5,
            text: "great".into(),
            synthetic: true,
            model_name: "review-gan".into(),
            model_version: "0.1.0".into(),
            seed: -42,
            scores: scores(),
        },
    );
    round_trip(
        EventType::SyntheticBehavior,
        &SyntheticBehavior {
            event_id: "sb-1".into(),
            user_id: "u".into(),
            item_id: "i".into(),
            kind: BehaviorKind::View,
            ts: 2,
            synthetic: true,
            model_name: "behavior-gan".into(),
            model_version: "0.1.0".into(),
            seed: 7,
            scores: scores(),
        },
    );
    round_trip(EventType::Enriched, &EnrichedEvent::real(behavior(), 3.0));
    round_trip(
        EventType::DeadLetter,
        &DeadLetter {
            reason_code: "avro_decode".into(),
            reason_message: "eof".into(),
            stage: "decode".into(),
            source_topic: "in".into(),
            source_partition: 3,
            source_offset: 123_456,
            key: Some(vec![0, 159, 146, 150]),
            payload: vec![0xff, 0x00, 0x10],
            payload_size: 3,
            ts: 5,
        },
    );
}

#[test]
fn dead_letter_payloads_are_base64_in_json() {
    let dl = DeadLetter {
        reason_code: "x".into(),
        reason_message: "y".into(),
        stage: "decode".into(),
        source_topic: "t".into(),
        source_partition: 0,
        source_offset: 0,
        key: None,
        payload: b"\xff\xfehello".to_vec(),
        payload_size: 7,
        ts: 0,
    };
    let json = Codec::new(Format::Json, registry())
        .encode_to_vec(EventType::DeadLetter, &dl)
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["payload"], "//5oZWxsbw==");
    assert_eq!(v["key"], serde_json::Value::Null);
}

#[test]
fn confluent_header_is_magic_byte_and_schema_id() {
    let bytes = Codec::new(Format::Confluent, registry())
        .encode_to_vec(
            EventType::Product,
            &ProductEvent {
                item_id: "i".into(),
                ts: 0,
                title: "t".into(),
                category: vec![],
                brand: None,
                price: None,
                description: None,
                attributes: BTreeMap::new(),
            },
        )
        .unwrap();
    assert_eq!(
        &bytes[..5],
        &[0, 0, 0, 0, EventType::Product.builtin_schema_id() as u8]
    );
}

const V0: &str = include_str!("../schemas/history/behavior_event.v0.avsc");

/// Writes a datum with an older writer schema, framed with `id`.
fn old_datum(id: u32) -> Vec<u8> {
    use apache_avro::types::{Record, Value};
    let schema = apache_avro::Schema::parse_str(V0).unwrap();
    let mut r = Record::new(&schema).unwrap();
    r.put("event_id", "old-1");
    r.put("user_id", "u");
    r.put("item_id", "i");
    r.put("kind", Value::Enum(2, "purchase".into()));
    r.put("ts", Value::TimestampMillis(1_600_000_000_000));
    r.put("rating", Value::Union(0, Box::new(Value::Null)));
    let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .unwrap()
        .write_value_to_vec(r)
        .unwrap();
    let mut framed = vec![0];
    framed.extend_from_slice(&id.to_be_bytes());
    framed.extend_from_slice(&datum);
    framed
}

#[test]
fn the_current_reader_schema_reads_old_data_with_defaults() {
    let mut reg = SchemaRegistry::builtin();
    reg.register(101, EventType::Behavior, V0).unwrap();
    let codec = Codec::new(Format::Confluent, Arc::new(reg));
    let e: BehaviorEvent = codec.decode(EventType::Behavior, &old_datum(101)).unwrap();
    assert_eq!(e.event_id, "old-1");
    assert_eq!(e.kind, BehaviorKind::Purchase);
    assert_eq!(e.ts, 1_600_000_000_000);
    assert_eq!(
        (e.session_id, e.review_text),
        (None, None),
        "added fields take their defaults"
    );
}

#[test]
fn enriched_records_written_before_review_text_stay_readable_under_their_id() {
    use apache_avro::types::{Record, Value};
    use warmstart::events::{EnrichedEvent, Origin};
    let v0 = include_str!("../schemas/history/enriched_event.v0.avsc");
    let schema = apache_avro::Schema::parse_str(v0).unwrap();
    let mut r = Record::new(&schema).unwrap();
    r.put("event_id", "e-1");
    r.put("user_id", "u");
    r.put("item_id", "i");
    r.put("kind", Value::Enum(3, "review".into()));
    r.put("ts", Value::TimestampMillis(1_600_000_000_000));
    r.put("weight", 3.0f64);
    r.put("origin", Value::Enum(0, "real".into()));
    r.put("synthetic", false);
    r.put("model_version", Value::Union(0, Box::new(Value::Null)));
    r.put("rating", Value::Union(1, Box::new(Value::Int(5))));
    let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&schema)
        .build()
        .unwrap()
        .write_value_to_vec(r)
        .unwrap();
    // Earlier builds wrote the enriched schema under id 5; this one writes its successor.
    let mut framed = vec![0, 0, 0, 0, 5];
    framed.extend_from_slice(&datum);
    assert_ne!(EventType::Enriched.builtin_schema_id(), 5);
    let codec = Codec::new(Format::Confluent, Arc::new(SchemaRegistry::builtin()));
    let e: EnrichedEvent = codec.decode(EventType::Enriched, &framed).unwrap();
    assert_eq!(
        (e.origin, e.rating, e.review_text),
        (Origin::Real, Some(5), None)
    );
    // And what this build writes carries the text.
    let with = EnrichedEvent {
        review_text: Some("works with my tuner".into()),
        ..e
    };
    let bytes = codec.encode_to_vec(EventType::Enriched, &with).unwrap();
    assert_eq!(bytes[4] as u32, EventType::Enriched.builtin_schema_id());
    let back: EnrichedEvent = codec.decode(EventType::Enriched, &bytes).unwrap();
    assert_eq!(back, with);
}

#[test]
fn an_incompatible_writer_schema_is_rejected_at_registration() {
    let mut reg = SchemaRegistry::builtin();
    // `item_id` as an int cannot be read as the reader's string.
    let retyped = V0.replace(
        r#"{"name": "item_id", "type": "string"}"#,
        r#"{"name": "item_id", "type": "int"}"#,
    );
    assert_ne!(retyped, V0);
    let e = reg
        .register(102, EventType::Behavior, &retyped)
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::Incompatible { id: 102, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("cannot be read as behavior"), "{e}");
    // A writer without the required `kind` (no default in the reader) is rejected too.
    let no_kind = V0.replace(
        r#"{"name": "kind", "type": {"type": "enum", "name": "BehaviorKind", "symbols": ["view", "cart", "purchase", "review"]}},"#,
        "",
    );
    assert_ne!(no_kind, V0);
    assert!(matches!(
        reg.register(103, EventType::Behavior, &no_kind),
        Err(RegistryError::Incompatible { .. })
    ));
    assert!(matches!(
        reg.register(101, EventType::Behavior, "{"),
        Err(RegistryError::Parse { .. })
    ));
    assert!(matches!(
        reg.register(1, EventType::Behavior, V0),
        Err(RegistryError::IdTaken(1))
    ));
}

#[test]
fn wire_format_errors_have_their_codes() {
    let codec = Codec::new(Format::Confluent, registry());
    let good = codec
        .encode_to_vec(EventType::Behavior, &behavior())
        .unwrap();
    let code = |b: &[u8]| {
        codec
            .decode::<BehaviorEvent>(EventType::Behavior, b)
            .unwrap_err()
            .code
    };
    let mut bad_magic = good.clone();
    bad_magic[0] = 7;
    assert_eq!(code(&bad_magic), RejectCode::BadMagicByte);
    let mut unknown = good.clone();
    unknown[4] = 200;
    assert_eq!(code(&unknown), RejectCode::UnknownSchemaId);
    let mut product_id = good.clone();
    product_id[4] = EventType::Product.builtin_schema_id() as u8;
    assert_eq!(code(&product_id), RejectCode::SchemaMismatch);
    assert_eq!(code(&good[..good.len() - 3]), RejectCode::AvroDecode);
    assert_eq!(code(&good[..3]), RejectCode::AvroDecode);
    let mut trailing = good.clone();
    trailing.push(0);
    assert_eq!(code(&trailing), RejectCode::AvroDecode);
}

#[test]
fn json_errors_have_their_codes() {
    let codec = Codec::new(Format::Json, registry());
    let code = |b: &[u8]| {
        codec
            .decode::<BehaviorEvent>(EventType::Behavior, b)
            .unwrap_err()
            .code
    };
    assert_eq!(code(b"{\"event_id\": "), RejectCode::MalformedJson);
    assert_eq!(code(b"not json"), RejectCode::MalformedJson);
    assert_eq!(
        code(br#"{"event_id":"e","user_id":"u","item_id":"i","kind":"view"}"#),
        RejectCode::MissingField
    );
    assert_eq!(
        code(br#"{"event_id":"e","user_id":"u","item_id":"i","kind":"zap","ts":1}"#),
        RejectCode::UnknownEnum
    );
    assert_eq!(
        code(br#"{"event_id":"e","user_id":"u","item_id":"i","kind":"view","ts":"x"}"#),
        RejectCode::WrongType
    );
    assert_eq!(code(b"{\"event_id\":\"\xff\"}"), RejectCode::InvalidUtf8);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// Arbitrary bytes never panic any decoder; they decode or get a rejection.
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for format in FORMATS {
            let codec = Codec::new(format, registry());
            let _ = codec.decode::<BehaviorEvent>(EventType::Behavior, &bytes);
            let _ = codec.decode::<ProductEvent>(EventType::Product, &bytes);
            let _ = codec.decode::<DeadLetter>(EventType::DeadLetter, &bytes);
        }
    }

    /// Valid records with random corruption (flipped, cut or extended) never panic either, and
    /// bytes that still decode re-encode to something that decodes to the same value.
    #[test]
    fn corrupted_records_never_panic(pos in 0usize..200, byte in any::<u8>(), cut in 0usize..200) {
        for format in FORMATS {
            let codec = Codec::new(format, registry());
            let mut bytes = codec.encode_to_vec(EventType::Behavior, &behavior()).unwrap();
            let n = bytes.len();
            bytes[pos % n] = byte;
            bytes.truncate(n - cut % n);
            if let Ok(e) = codec.decode::<BehaviorEvent>(EventType::Behavior, &bytes) {
                let again = codec.encode_to_vec(EventType::Behavior, &e).unwrap();
                prop_assert_eq!(codec.decode::<BehaviorEvent>(EventType::Behavior, &again).unwrap(), e);
            }
        }
    }
}

#[test]
fn a_table_for_a_registry_server_knows_no_id_until_fetched_and_keeps_at_most_its_capacity() {
    use warmstart::codec::Lookup;
    let table = SchemaRegistry::builtin().for_server(2);
    // The server's id 3 is whatever it registered third, not this build's built-in 3.
    assert_eq!(table.lookup(3), Lookup::Unknown);
    let current = EventType::Behavior.schema_text();
    table.insert_fetched(3, EventType::Behavior, V0).unwrap();
    table
        .insert_fetched(4, EventType::Behavior, current)
        .unwrap();
    let retyped = V0.replace(
        r#"{"name": "item_id", "type": "string"}"#,
        r#"{"name": "item_id", "type": "int"}"#,
    );
    let e = table
        .insert_fetched(5, EventType::Behavior, &retyped)
        .unwrap_err();
    assert!(
        matches!(e, RegistryError::Incompatible { id: 5, .. }),
        "{e}"
    );
    assert!(matches!(table.lookup(5), Lookup::Refused(r) if r.contains("cannot be read")));
    // Capacity 2: the oldest fetched id (3) went to make room.
    assert_eq!(table.lookup(3), Lookup::Unknown);
    assert_eq!(table.lookup(4), Lookup::Known);
    assert_eq!(table.fetched_len(), 2);
    let codec = Codec::new(Format::Confluent, Arc::new(table));
    let mut framed = old_datum(5);
    let r = codec
        .decode::<BehaviorEvent>(EventType::Behavior, &framed)
        .unwrap_err();
    assert_eq!(r.code.as_str(), "incompatible_schema");
    framed[4] = 3;
    let r = codec
        .decode::<BehaviorEvent>(EventType::Behavior, &framed)
        .unwrap_err();
    assert_eq!(r.code.as_str(), "unknown_schema_id");
}
