//! Shared by the decoder targets: decode `data` as every event type in `format`. A decoder may
//! reject anything; it must never panic, hang or allocate without bound.
use std::sync::{Arc, OnceLock};
use warmstart::codec::{Codec, Format, SchemaRegistry};
use warmstart::events::*;

pub fn decode_all(format: Format, data: &[u8]) {
    static REGISTRY: OnceLock<Arc<SchemaRegistry>> = OnceLock::new();
    let registry = REGISTRY.get_or_init(|| Arc::new(SchemaRegistry::builtin()));
    let codec = Codec::new(format, registry.clone());
    let _ = codec.decode::<BehaviorEvent>(EventType::Behavior, data);
    let _ = codec.decode::<ProductEvent>(EventType::Product, data);
    let _ = codec.decode::<SyntheticReview>(EventType::SyntheticReview, data);
    let _ = codec.decode::<SyntheticBehavior>(EventType::SyntheticBehavior, data);
    let _ = codec.decode::<EnrichedEvent>(EventType::Enriched, data);
    let _ = codec.decode::<DeadLetter>(EventType::DeadLetter, data);
}
