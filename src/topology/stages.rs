//! Stage configs: one serde struct per stage type, tagged by `type` in the topology.

use super::{invalid, TopologyError};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StageConfig {
    /// Bytes -> typed event, with validation. Must come first.
    Decode(DecodeConfig),
    /// Trims and canonicalises fields.
    Normalize,
    /// Drops exact duplicates by event_id within a bounded window.
    Dedup(DedupConfig),
    /// Real behaviour -> EnrichedEvent with its weight.
    Enrich(EnrichConfig),
}

impl StageConfig {
    pub fn type_name(&self) -> &'static str {
        match self {
            StageConfig::Decode(_) => "decode",
            StageConfig::Normalize => "normalize",
            StageConfig::Dedup(_) => "dedup",
            StageConfig::Enrich(_) => "enrich",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecodeConfig {
    /// Larger payloads go to the DLQ with `payload_too_large`.
    #[serde(default = "default_max_payload")]
    pub max_payload_bytes: usize,
    /// Timestamps further ahead of the wall clock go to the DLQ with `future_timestamp`.
    #[serde(default = "default_skew")]
    pub max_future_skew_ms: i64,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_payload_bytes: default_max_payload(),
            max_future_skew_ms: default_skew(),
        }
    }
}

fn default_max_payload() -> usize {
    64 * 1024
}
fn default_skew() -> i64 {
    3_600_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DedupConfig {
    /// How many recent event ids are remembered.
    #[serde(default = "default_window")]
    pub window: usize,
}

fn default_window() -> usize {
    1_000_000
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    #[serde(default)]
    pub weights: Weights,
}

/// Implicit-feedback weight of each kind of interaction.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Weights {
    pub view: f64,
    pub cart: f64,
    pub purchase: f64,
    pub review: f64,
}

impl Default for Weights {
    fn default() -> Self {
        Weights {
            view: 1.0,
            cart: 2.0,
            purchase: 4.0,
            review: 3.0,
        }
    }
}

impl Weights {
    /// The weight of an interaction of `kind`.
    pub fn of(&self, kind: crate::events::BehaviorKind) -> f64 {
        use crate::events::BehaviorKind::*;
        match kind {
            View => self.view,
            Cart => self.cart,
            Purchase => self.purchase,
            Review => self.review,
        }
    }
}

pub(super) fn validate(stages: &[StageConfig]) -> Result<(), TopologyError> {
    match stages.first() {
        Some(StageConfig::Decode(_)) => {}
        Some(other) => {
            return Err(invalid(
                "stages[0].type",
                format!(
                    "the first stage must be `decode`, found `{}`",
                    other.type_name()
                ),
            ))
        }
        None => return Err(invalid("stages", "at least the `decode` stage is needed")),
    }
    let mut has_enrich = false;
    for (i, stage) in stages.iter().enumerate() {
        match stage {
            StageConfig::Decode(c) => {
                if i > 0 {
                    return Err(invalid(
                        format!("stages[{i}].type"),
                        "`decode` may only come first",
                    ));
                }
                if c.max_payload_bytes == 0 {
                    return Err(invalid(
                        format!("stages[{i}].max_payload_bytes"),
                        "must be at least 1",
                    ));
                }
                if c.max_future_skew_ms < 0 {
                    return Err(invalid(
                        format!("stages[{i}].max_future_skew_ms"),
                        "must not be negative",
                    ));
                }
            }
            StageConfig::Dedup(c) if c.window == 0 => {
                return Err(invalid(format!("stages[{i}].window"), "must be at least 1"));
            }
            StageConfig::Enrich(c) => {
                has_enrich = true;
                let w = &c.weights;
                for (name, v) in [
                    ("view", w.view),
                    ("cart", w.cart),
                    ("purchase", w.purchase),
                    ("review", w.review),
                ] {
                    if !v.is_finite() || v < 0.0 {
                        return Err(invalid(
                            format!("stages[{i}].weights.{name}"),
                            format!("must be a finite number >= 0, found {v}"),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    if !has_enrich {
        return Err(invalid(
            "stages",
            "an `enrich` stage is needed to feed outputs.enriched",
        ));
    }
    Ok(())
}
