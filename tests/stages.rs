//! The stage chain in memory: every kind of bad input gets its code from the stage that should
//! catch it, duplicates are dropped, and good input comes out enriched with its weight.

use std::sync::Arc;
use warmstart::codec::{Codec, Format, SchemaRegistry};
use warmstart::data::malformed;
use warmstart::events::{BehaviorEvent, BehaviorKind, EventType, Origin};
use warmstart::pipeline::{stages, Chain, InputCtx, Record};
use warmstart::topology::Topology;

const NOW: i64 = 1_800_000_000_000;

fn chain() -> Chain {
    let t = Topology::parse(include_str!("../topologies/default.toml")).unwrap();
    Chain::new(stages::build(&t.stages))
}

fn run(chain: &mut Chain, codec: &Codec, payload: &[u8]) -> Result<Vec<Record>, (String, String)> {
    let ctx = InputCtx {
        payload,
        event_type: EventType::Behavior,
        codec,
        now_ms: NOW,
    };
    let mut out = Vec::new();
    chain
        .run(Record::Undecoded, &ctx, &mut out)
        .map(|()| out)
        .map_err(|r| (r.stage.to_string(), r.rejection.code.as_str().to_string()))
}

#[test]
fn every_bad_record_gets_its_code() {
    let registry = Arc::new(SchemaRegistry::builtin());
    let codecs = [
        (Format::Json, Codec::new(Format::Json, registry.clone())),
        (Format::Confluent, Codec::new(Format::Confluent, registry)),
    ];
    let mut chain = chain();
    for bad in malformed::generate(malformed::KINDS.len() * 3, NOW, 65536) {
        let codec = &codecs.iter().find(|(f, _)| *f == bad.format).unwrap().1;
        let (stage, code) =
            run(&mut chain, codec, &bad.payload).expect_err("bad input is rejected");
        assert_eq!(code, bad.expected.as_str());
        assert_eq!(stage, "decode");
    }
}

#[test]
fn good_input_is_normalised_enriched_and_deduplicated() {
    let codec = Codec::new(Format::Json, Arc::new(SchemaRegistry::builtin()));
    let mut chain = chain();
    let e = BehaviorEvent {
        event_id: " e-1 ".into(),
        user_id: "u-1".into(),
        item_id: "i-1".into(),
        kind: BehaviorKind::Purchase,
        ts: NOW - 5,
        session_id: Some("  ".into()),
        rating: None,
        review_text: None,
    };
    let payload = serde_json::to_vec(&e).unwrap();
    let out = run(&mut chain, &codec, &payload).unwrap();
    let [Record::Enriched(x)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(x.event_id, "e-1", "ids are trimmed");
    assert_eq!(
        (x.weight, x.origin, x.synthetic),
        (4.0, Origin::Real, false)
    );
    assert!(
        run(&mut chain, &codec, &payload).unwrap().is_empty(),
        "the same event_id again is dropped"
    );
    assert_eq!(chain.last_stage(), "dedup");
}
