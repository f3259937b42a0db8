//! Bad input of every kind the pipeline must survive, each with the reason code it must get.
//! Used by the demo, to show the dead-letter path, and by the integration tests.

use crate::codec::{Codec, Format, SchemaRegistry};
use crate::events::{BehaviorEvent, BehaviorKind, EventType};
use crate::reject::RejectCode;
use std::sync::Arc;

/// One bad record: the payload, the input format it is sent as, and the code it must get.
#[derive(Debug, Clone)]
pub struct BadRecord {
    pub expected: RejectCode,
    pub format: Format,
    pub payload: Vec<u8>,
}

/// The kinds generated, in rotation.
pub const KINDS: [RejectCode; 11] = [
    RejectCode::MalformedJson,
    RejectCode::WrongType,
    RejectCode::MissingField,
    RejectCode::UnknownEnum,
    RejectCode::InvalidUtf8,
    RejectCode::PayloadTooLarge,
    RejectCode::FutureTimestamp,
    RejectCode::InvalidValue,
    RejectCode::AvroDecode,
    RejectCode::BadMagicByte,
    RejectCode::UnknownSchemaId,
];

fn event(i: usize, now_ms: i64) -> BehaviorEvent {
    BehaviorEvent {
        event_id: format!("bad-{i}"),
        user_id: format!("bad-user-{i}"),
        item_id: "B0000BAD00".into(),
        kind: BehaviorKind::View,
        ts: now_ms - 1000,
        session_id: None,
        rating: None,
        review_text: None,
    }
}

/// `n` bad records cycling through [`KINDS`]; every payload is distinct (it embeds its index), so
/// a test can match each dead letter to the record it came from. `max_payload` is the topology's
/// limit, which the oversized records exceed.
pub fn generate(n: usize, now_ms: i64, max_payload: usize) -> Vec<BadRecord> {
    let wire = Codec::new(Format::Confluent, Arc::new(SchemaRegistry::builtin()));
    (0..n)
        .map(|i| {
            let expected = KINDS[i % KINDS.len()];
            let e = event(i, now_ms);
            let json = |v: serde_json::Value| v.to_string().into_bytes();
            let (format, payload) = match expected {
                RejectCode::MalformedJson => (Format::Json, format!(r#"{{"event_id":"bad-{i}","user_id":"#).into_bytes()),
                RejectCode::WrongType => (
                    Format::Json,
                    json(serde_json::json!({"event_id": e.event_id, "user_id": e.user_id, "item_id": e.item_id, "kind": "view", "ts": "yesterday"})),
                ),
                RejectCode::MissingField => (
                    Format::Json,
                    json(serde_json::json!({"event_id": e.event_id, "user_id": e.user_id, "kind": "view", "ts": e.ts})),
                ),
                RejectCode::UnknownEnum => (
                    Format::Json,
                    json(serde_json::json!({"event_id": e.event_id, "user_id": e.user_id, "item_id": e.item_id, "kind": "wishlist", "ts": e.ts})),
                ),
                RejectCode::InvalidUtf8 => {
                    let mut p = format!(r#"{{"event_id":"bad-{i}","user_id":"u","item_id":"i","kind":"review","ts":{},"review_text":""#, e.ts).into_bytes();
                    p.extend_from_slice(&[0xff, 0xfe, 0x80]);
                    p.extend_from_slice(br#""}"#);
                    (Format::Json, p)
                }
                RejectCode::PayloadTooLarge => {
                    let mut big = e.clone();
                    big.kind = BehaviorKind::Review;
                    big.review_text = Some("x".repeat(max_payload + 1));
                    (Format::Json, serde_json::to_vec(&big).unwrap_or_default())
                }
                RejectCode::FutureTimestamp => {
                    let mut f = e.clone();
                    f.ts = now_ms + 10 * 24 * 3_600_000;
                    (Format::Json, serde_json::to_vec(&f).unwrap_or_default())
                }
                RejectCode::InvalidValue => {
                    let mut f = e.clone();
                    f.kind = BehaviorKind::Review;
                    f.rating = Some(9);
                    (Format::Json, serde_json::to_vec(&f).unwrap_or_default())
                }
                RejectCode::AvroDecode => {
                    let mut p = wire.encode_to_vec(EventType::Behavior, &e).unwrap_or_default();
                    p.truncate(p.len() - 4);
                    (Format::Confluent, p)
                }
                RejectCode::BadMagicByte => {
                    let mut p = wire.encode_to_vec(EventType::Behavior, &e).unwrap_or_default();
                    p[0] = 0x01;
                    (Format::Confluent, p)
                }
                RejectCode::UnknownSchemaId => {
                    let mut p = wire.encode_to_vec(EventType::Behavior, &e).unwrap_or_default();
                    p[1..5].copy_from_slice(&999u32.to_be_bytes());
                    (Format::Confluent, p)
                }
                _ => unreachable!("not in KINDS"),
            };
            BadRecord {
                expected,
                format,
                payload,
            }
        })
        .collect()
}
