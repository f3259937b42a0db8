//! What flows between stages.

use crate::codec::Codec;
use crate::events::{BehaviorEvent, EnrichedEvent, EventType, ProductEvent};

/// A record at some point of the chain: the input's bytes before `decode`, typed events after.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// Not decoded yet; the bytes are [`InputCtx::payload`], borrowed from the consumed message
    /// so that the hot path does not copy them.
    Undecoded,
    Behavior(BehaviorEvent),
    Product(ProductEvent),
    Enriched(EnrichedEvent),
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Undecoded => "undecoded",
            Record::Behavior(_) => "behavior",
            Record::Product(_) => "product",
            Record::Enriched(_) => "enriched",
        }
    }
}

/// Where the record came from: the input's bytes, event type and codec, and the wall clock,
/// read once so that stages agree on "now".
pub struct InputCtx<'a> {
    pub payload: &'a [u8],
    pub event_type: EventType,
    pub codec: &'a Codec,
    pub now_ms: i64,
}
