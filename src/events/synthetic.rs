//! Generated records. Both carry `synthetic: true`, the generating model's name and version, the
//! seed and the quality-gate scores, so that every consumer can tell them from real data and trace
//! them back to the model that wrote them.

use super::BehaviorKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A generated review (`schemas/synthetic_review.avsc`): training signal, never shown to shoppers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SyntheticReview {
    pub event_id: String,
    pub item_id: String,
    pub ts: i64,
    pub rating: i32,
    pub text: String,
    pub synthetic: bool,
    pub model_name: String,
    pub model_version: String,
    pub seed: i64,
    pub scores: BTreeMap<String, f64>,
}

/// A generated cold-start interaction (`schemas/synthetic_behavior.avsc`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct SyntheticBehavior {
    pub event_id: String,
    pub user_id: String,
    pub item_id: String,
    pub kind: BehaviorKind,
    pub ts: i64,
    pub synthetic: bool,
    pub model_name: String,
    pub model_version: String,
    pub seed: i64,
    pub scores: BTreeMap<String, f64>,
}
