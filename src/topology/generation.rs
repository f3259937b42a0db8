//! The generation stage's config: the `[generation]` section of a topology. It lives with the
//! rest of the topology so that the config layer needs nothing from the stage it configures.

use super::TopologyError;
use serde::Deserialize;
use std::path::PathBuf;

/// Where inference runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// CUDA when present, the CPU otherwise.
    #[default]
    Auto,
    Cpu,
    Cuda,
}

/// Where a new product's synthetic shoppers come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BehaviorSource {
    /// The real, recent shoppers of the product's nearest content neighbours (the transfer
    /// generator). The default: on the stream evaluation it beats the behaviour GAN (1.37x
    /// against 1.26x no synthesis on Beauty, `eval stream`), so the simpler one ships.
    #[default]
    Transfer,
    /// The behaviour GAN of `behavior_model`.
    Gan,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GenerationConfig {
    /// The consumer group of the stage; it reads `outputs.products` (accepted new products).
    #[serde(default = "default_group")]
    pub group_id: String,
    /// Review generator checkpoint folders, each declaring its domain (the categories it was
    /// trained on); a product gets reviews from the first whose domain covers it, and none when
    /// no model's does. Default: the shipped `models/reviews` (clothing) and
    /// `models/reviews-beauty`. Relative paths are relative to the topology file.
    #[serde(default)]
    pub reviews_models: Option<Vec<PathBuf>>,
    /// One review model folder instead of the list (`reviews_models`).
    #[serde(default)]
    pub reviews_model: Option<PathBuf>,
    /// Where synthetic shoppers come from: `transfer` (default) or `gan`.
    #[serde(default)]
    pub behavior_source: BehaviorSource,
    /// The transfer generator's settings (`behavior_source = "transfer"`).
    #[serde(default)]
    pub transfer: TransferConfig,
    /// Behaviour GAN checkpoint folder (default: the shipped `models/behavior`); read only with
    /// `behavior_source = "gan"`.
    #[serde(default)]
    pub behavior_model: Option<PathBuf>,
    #[serde(default = "default_reviews")]
    pub reviews_per_product: usize,
    /// Synthetic users per new product from the behaviour GAN, each with a view and possibly
    /// cart and purchase (the transfer generator draws `transfer.users`); 0 switches synthetic
    /// behaviour off, whichever the source.
    #[serde(default = "default_users")]
    pub users_per_product: usize,
    /// Users are drawn among this many best-scoring ones for the generated item vector.
    #[serde(default = "default_pool")]
    pub user_pool: usize,
    /// A user is drawn for at most this many new products per `user_window_ms` of event time
    /// (see `recommend::exposure`).
    #[serde(default = "default_user_max_new_items")]
    pub user_max_new_items: u32,
    #[serde(default = "default_user_window")]
    pub user_window_ms: u64,
    /// Softmax temperature of the draw over the pool's scores.
    #[serde(default = "default_user_temperature")]
    pub user_temperature: f32,
    /// Sampling temperature of the review generator.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Requests per forward pass at most.
    #[serde(default = "default_max_batch")]
    pub max_batch: usize,
    /// How long the first request of a batch waits for company.
    #[serde(default = "default_max_wait")]
    pub max_wait_ms: u64,
    /// Products queued or in inference at most; beyond it the product partitions are paused.
    #[serde(default = "default_capacity")]
    pub queue_capacity: usize,
    /// Products whose event timestamp is older than this (against the wall clock) are not
    /// generated for: a replayed historical catalogue is not new. 0: no limit.
    #[serde(default)]
    pub max_product_age_ms: u64,
    /// Rounds of regeneration for records a gate rejected.
    #[serde(default = "default_tries")]
    pub max_tries: u32,
    #[serde(default)]
    pub device: DeviceChoice,
    /// Inference threads of libtorch on the CPU (1 is often fastest for these small models).
    #[serde(default = "default_threads")]
    pub cpu_threads: i32,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub gates: GateConfig,
    /// Generate again for products still cold after their first round (off when absent).
    #[serde(default)]
    pub top_up: Option<TopUpConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateConfig {
    /// A review containing a run of this many words of a training review is dropped.
    #[serde(default = "default_copy_run")]
    pub copy_run: usize,
    /// Reviews with fewer words are dropped.
    #[serde(default = "default_min_words")]
    pub min_words: usize,
    /// Reviews the real-vs-synthetic discriminator calls synthetic with a probability above
    /// this are dropped.
    #[serde(default = "default_max_disc")]
    pub max_discriminator_score: f64,
    /// Generated reviews the discriminator is fitted against at model load.
    #[serde(default = "default_disc_samples")]
    pub discriminator_samples: usize,
    /// Reviews whose rating, as a classifier trained on real reviews reads it, is further than
    /// this many stars from the rating they were written for are dropped.
    #[serde(default = "default_rating_gap")]
    pub max_rating_gap: u8,
    /// Emitted review texts remembered for the duplicate check.
    #[serde(default = "default_dup_window")]
    pub duplicate_window: usize,
    /// A behaviour set whose mean behaviour-discriminator probability of being real is below
    /// this is drawn again from new noise.
    #[serde(default = "default_min_behavior")]
    pub min_behavior_score: f64,
}

impl Default for GateConfig {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

impl Default for GenerationConfig {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

fn default_group() -> String {
    "warmstart-generation".into()
}
fn default_reviews() -> usize {
    3
}
fn default_users() -> usize {
    10
}
fn default_pool() -> usize {
    1000
}
fn default_user_max_new_items() -> u32 {
    2
}
fn default_user_window() -> u64 {
    3_600_000
}
fn default_user_temperature() -> f32 {
    0.5
}
fn default_temperature() -> f64 {
    1.0
}
fn default_max_batch() -> usize {
    64
}
fn default_max_wait() -> u64 {
    5
}
fn default_capacity() -> usize {
    256
}
fn default_tries() -> u32 {
    3
}
fn default_threads() -> i32 {
    1
}
fn default_seed() -> u64 {
    42
}
fn default_copy_run() -> usize {
    8
}
fn default_min_words() -> usize {
    4
}
fn default_max_disc() -> f64 {
    0.98
}
fn default_disc_samples() -> usize {
    512
}
fn default_rating_gap() -> u8 {
    2
}
fn default_dup_window() -> usize {
    100_000
}
fn default_min_behavior() -> f64 {
    0.05
}

fn invalid(field: &str, reason: impl Into<String>) -> TopologyError {
    TopologyError::Invalid {
        field: format!("generation.{field}"),
        reason: reason.into(),
    }
}

impl GenerationConfig {
    /// The checks serde cannot express; each error names the field.
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.group_id.trim().is_empty() {
            return Err(invalid("group_id", "must not be empty"));
        }
        if self.reviews_per_product > 100 {
            return Err(invalid("reviews_per_product", "at most 100"));
        }
        if self.users_per_product > 1000 {
            return Err(invalid("users_per_product", "at most 1000"));
        }
        match (&self.reviews_model, &self.reviews_models) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "reviews_models",
                    "set either it or reviews_model, not both",
                ))
            }
            (None, Some(list)) if list.is_empty() && self.reviews_per_product > 0 => {
                return Err(invalid(
                    "reviews_models",
                    "is empty while reviews_per_product is above 0",
                ))
            }
            _ => {}
        }
        if let Some((field, reason)) = self.transfer.invalid_field() {
            return Err(invalid(&format!("transfer.{field}"), reason));
        }
        if self.reviews_per_product == 0 && self.users_per_product == 0 {
            return Err(invalid(
                "users_per_product",
                "and reviews_per_product are both 0: the stage would generate nothing",
            ));
        }
        if self.user_pool < self.users_per_product {
            return Err(invalid("user_pool", "must be at least users_per_product"));
        }
        if self.user_max_new_items == 0 {
            return Err(invalid("user_max_new_items", "must be at least 1"));
        }
        if self.user_window_ms == 0 {
            return Err(invalid("user_window_ms", "must be at least 1"));
        }
        if self.user_temperature.is_nan() || self.user_temperature <= 0.0 {
            return Err(invalid("user_temperature", "must be above 0"));
        }
        if !(self.temperature > 0.0 && self.temperature <= 10.0) {
            return Err(invalid("temperature", "must be in (0, 10]"));
        }
        if !(1..=4096).contains(&self.max_batch) {
            return Err(invalid("max_batch", "must be 1 to 4096"));
        }
        if self.queue_capacity < self.max_batch {
            return Err(invalid("queue_capacity", "must be at least max_batch"));
        }
        if self.max_tries == 0 {
            return Err(invalid("max_tries", "must be at least 1"));
        }
        if self.cpu_threads < 1 {
            return Err(invalid("cpu_threads", "must be at least 1"));
        }
        let g = &self.gates;
        if g.copy_run < 2 {
            return Err(invalid("gates.copy_run", "must be at least 2"));
        }
        if !(0.0..=1.0).contains(&g.max_discriminator_score) {
            return Err(invalid(
                "gates.max_discriminator_score",
                "must be in [0, 1]",
            ));
        }
        if !(0.0..=1.0).contains(&g.min_behavior_score) {
            return Err(invalid("gates.min_behavior_score", "must be in [0, 1]"));
        }
        if g.max_rating_gap > 4 {
            return Err(invalid("gates.max_rating_gap", "at most 4 (stars are 1-5)"));
        }
        if g.discriminator_samples < 16 {
            return Err(invalid("gates.discriminator_samples", "at least 16"));
        }
        if let Some((field, reason)) = self.top_up.as_ref().and_then(|t| t.invalid_field()) {
            return Err(invalid(&format!("top_up.{field}"), reason));
        }
        Ok(())
    }

    /// The review model folders, in order of preference.
    pub fn reviews_dirs(&self) -> Vec<PathBuf> {
        match (&self.reviews_model, &self.reviews_models) {
            (Some(one), _) => vec![one.clone()],
            (None, Some(list)) => list.clone(),
            (None, None) => vec![
                models_dir().join("reviews"),
                models_dir().join("reviews-beauty"),
            ],
        }
    }

    pub fn behavior_dir(&self) -> PathBuf {
        self.behavior_model
            .clone()
            .unwrap_or_else(|| models_dir().join("behavior"))
    }
}

/// The repo's `models/` folder (the committed default checkpoints), or `WARMSTART_MODELS`.
pub fn models_dir() -> PathBuf {
    crate::data::repo_dir("WARMSTART_MODELS", "models")
}

pub use crate::recommend::transfer::TransferConfig;

/// `[generation.top_up]`: regenerate for products with fewer than `min_real_interactions` real
/// interactions, every `interval_ms`, at most `max_rounds` times.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TopUpConfig {
    #[serde(default = "default_min_real")]
    pub min_real_interactions: u32,
    #[serde(default = "default_interval")]
    pub interval_ms: u64,
    #[serde(default = "default_rounds")]
    pub max_rounds: u32,
    #[serde(default = "default_max_products")]
    pub max_products: usize,
}

fn default_min_real() -> u32 {
    5
}
fn default_interval() -> u64 {
    600_000
}
fn default_rounds() -> u32 {
    3
}
fn default_max_products() -> usize {
    100_000
}

impl Default for TopUpConfig {
    fn default() -> Self {
        TopUpConfig {
            min_real_interactions: default_min_real(),
            interval_ms: default_interval(),
            max_rounds: default_rounds(),
            max_products: default_max_products(),
        }
    }
}

impl TopUpConfig {
    /// The first invalid field, by its name under `generation.top_up`, and why.
    pub fn invalid_field(&self) -> Option<(&'static str, &'static str)> {
        if self.min_real_interactions == 0 {
            return Some(("min_real_interactions", "must be at least 1"));
        }
        if self.interval_ms < 100 {
            return Some(("interval_ms", "must be at least 100"));
        }
        if !(1..=100).contains(&self.max_rounds) {
            return Some(("max_rounds", "must be 1 to 100"));
        }
        if self.max_products == 0 {
            return Some(("max_products", "must be at least 1"));
        }
        None
    }
}
