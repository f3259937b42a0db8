//! The event model: one Rust type per Avro schema in `schemas/`.
//!
//! The types are plain serde structs so that the JSON and Avro codecs share them; the Avro schemas
//! are the contract on the wire and the round-trip tests keep the two in step.

mod behavior;
mod dead_letter;
mod enriched;
mod product;
mod serde_bytes;
mod synthetic;
pub mod time;

pub use behavior::{BehaviorEvent, BehaviorKind};
pub use dead_letter::DeadLetter;
pub use enriched::{EnrichedEvent, Origin};
pub use product::ProductEvent;
pub use synthetic::{SyntheticBehavior, SyntheticReview};

/// The kinds of record that travel on the pipeline's topics, each with its Avro schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Behavior,
    Product,
    SyntheticReview,
    SyntheticBehavior,
    Enriched,
    DeadLetter,
}

impl EventType {
    pub const ALL: [EventType; 6] = [
        EventType::Behavior,
        EventType::Product,
        EventType::SyntheticReview,
        EventType::SyntheticBehavior,
        EventType::Enriched,
        EventType::DeadLetter,
    ];

    /// The schema the binary was built with (the reader schema for decoding).
    pub fn schema_text(self) -> &'static str {
        match self {
            EventType::Behavior => include_str!("../../schemas/behavior_event.avsc"),
            EventType::Product => include_str!("../../schemas/product_event.avsc"),
            EventType::SyntheticReview => include_str!("../../schemas/synthetic_review.avsc"),
            EventType::SyntheticBehavior => include_str!("../../schemas/synthetic_behavior.avsc"),
            EventType::Enriched => include_str!("../../schemas/enriched_event.avsc"),
            EventType::DeadLetter => include_str!("../../schemas/dead_letter.avsc"),
        }
    }

    /// The schema id of the built-in schema in the Confluent wire format (see `codec::registry`).
    /// A changed schema takes a new id, and its predecessor stays readable under its old one
    /// (`HISTORY`): records already on the topics name the old id.
    pub fn builtin_schema_id(self) -> u32 {
        match self {
            EventType::Behavior => 1,
            EventType::Product => 2,
            EventType::SyntheticReview => 3,
            EventType::SyntheticBehavior => 4,
            EventType::Enriched => 7,
            EventType::DeadLetter => 6,
        }
    }

    /// Earlier built-in schemas, readable under the ids this project's earlier builds wrote
    /// with: (id, type, schema text).
    pub const HISTORY: [(u32, EventType, &'static str); 1] = [(
        5,
        EventType::Enriched,
        include_str!("../../schemas/history/enriched_event.v0.avsc"),
    )];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Behavior => "behavior",
            EventType::Product => "product",
            EventType::SyntheticReview => "synthetic_review",
            EventType::SyntheticBehavior => "synthetic_behavior",
            EventType::Enriched => "enriched",
            EventType::DeadLetter => "dead_letter",
        }
    }
}
