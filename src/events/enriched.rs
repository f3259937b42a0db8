use super::{BehaviorEvent, BehaviorKind};
use serde::{Deserialize, Serialize};

/// Where an interaction came from: real users or a generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Real,
    Synthetic,
}

/// What the recommender consumes (`schemas/enriched_event.avsc`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct EnrichedEvent {
    pub event_id: String,
    pub user_id: String,
    pub item_id: String,
    pub kind: BehaviorKind,
    pub ts: i64,
    /// How much this interaction counts in the recommender's implicit feedback.
    pub weight: f64,
    pub origin: Origin,
    pub synthetic: bool,
    #[serde(default)]
    pub model_version: Option<String>,
    #[serde(default)]
    pub rating: Option<i32>,
    /// A real review's text, for the recommender's content profile (`review_tokens`).
    #[serde(default)]
    pub review_text: Option<String>,
}

impl EnrichedEvent {
    /// A real interaction passed through with its weight and its review text.
    pub fn real(event: BehaviorEvent, weight: f64) -> Self {
        EnrichedEvent {
            event_id: event.event_id,
            user_id: event.user_id,
            item_id: event.item_id,
            kind: event.kind,
            ts: event.ts,
            weight,
            origin: Origin::Real,
            synthetic: false,
            model_version: None,
            rating: event.rating,
            review_text: event.review_text,
        }
    }
}
