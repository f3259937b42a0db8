//! What flows between stages.

use crate::codec::{Codec, EncodeError};
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

impl Record {
    /// The event type of a decoded record; `None` before `decode`.
    pub fn event_type(&self) -> Option<EventType> {
        match self {
            Record::Undecoded => None,
            Record::Behavior(_) => Some(EventType::Behavior),
            Record::Product(_) => Some(EventType::Product),
            Record::Enriched(_) => Some(EventType::Enriched),
        }
    }

    /// The Kafka key of the record on its output topic: interactions by user, products by item,
    /// so that each user's (each item's) events stay in order on one partition.
    pub fn key(&self) -> &[u8] {
        match self {
            Record::Undecoded => &[],
            Record::Behavior(e) => e.user_id.as_bytes(),
            Record::Product(p) => p.item_id.as_bytes(),
            Record::Enriched(e) => e.user_id.as_bytes(),
        }
    }

    /// Appends the record's encoding to `out`.
    pub fn encode(&self, codec: &Codec, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        match self {
            Record::Undecoded => Ok(()),
            Record::Behavior(e) => codec.encode(EventType::Behavior, e, out),
            Record::Product(p) => codec.encode(EventType::Product, p, out),
            Record::Enriched(e) => codec.encode(EventType::Enriched, e, out),
        }
    }
}
