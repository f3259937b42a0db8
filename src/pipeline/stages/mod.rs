//! The stages of the foundation pipeline, built from their configs.

mod decode;
mod dedup;
mod enrich;
mod normalize;

pub use decode::Decode;
pub use dedup::Dedup;
pub use enrich::Enrich;
pub use normalize::Normalize;

use super::Stage;
use crate::topology::StageConfig;

pub fn build(configs: &[StageConfig]) -> Vec<Box<dyn Stage>> {
    configs
        .iter()
        .map(|c| -> Box<dyn Stage> {
            match c {
                StageConfig::Decode(c) => Box::new(Decode::new(c.clone())),
                StageConfig::Normalize => Box::new(Normalize),
                StageConfig::Dedup(c) => Box::new(Dedup::new(c.window)),
                StageConfig::Enrich(c) => Box::new(Enrich::new(c.weights.clone())),
            }
        })
        .collect()
}
