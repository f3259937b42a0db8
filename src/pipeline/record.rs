//! What flows between stages.

use crate::codec::Codec;
use crate::events::{BehaviorEvent, EnrichedEvent, EventType, ProductEvent};

/// A record at some point of the chain: raw bytes before `decode`, typed events after.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Raw(Vec<u8>),
    Behavior(BehaviorEvent),
    Product(ProductEvent),
    Enriched(EnrichedEvent),
}

impl Record {
    pub fn kind(&self) -> &'static str {
        match self {
            Record::Raw(_) => "raw",
            Record::Behavior(_) => "behavior",
            Record::Product(_) => "product",
            Record::Enriched(_) => "enriched",
        }
    }
}

/// Where the record came from: the input's event type and codec, and the wall clock, read once
/// per record so that stages agree on "now".
pub struct InputCtx<'a> {
    pub event_type: EventType,
    pub codec: &'a Codec,
    pub now_ms: i64,
}
