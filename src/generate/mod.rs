//! The generation stage: new products in, synthetic reviews and cold-start behaviour out.
//!
//! - [`service`]: the Kafka side (its own consumer of accepted products, backpressure by pausing,
//!   commits after the outputs are acknowledged, dead letters for what does not decode);
//! - [`worker`] and [`batcher`]: the inference thread that owns the models and runs them on
//!   dynamic micro-batches;
//! - [`engine`]: what a batch becomes: [`reviews`] and [`behavior`] sample in one pass per model,
//!   [`gates`] drop what leaks, repeats or fails the judges, rejected records are sampled again;
//! - the default behaviour source is the transfer generator (`recommend::transfer`): real recent
//!   shoppers of a new product's content neighbours, drawn from the index [`shoppers`] keeps
//!   current from the stage's topics;
//! - [`cold`]: products still cold after their first round, generated for again;
//! - [`config`]: the `[generation]` section of a topology (defined in `topology`); [`metrics`]:
//!   what it reports.

pub mod batcher;
pub mod behavior;
pub mod bench;
pub mod cold;
mod emitter;

pub mod engine;
pub mod gates;
pub mod in_order;
pub mod launch;
pub mod metrics;
pub mod reload;
pub mod reviews;
pub mod service;
pub mod shoppers;
pub mod worker;

pub use crate::topology::generation as config;
pub use crate::topology::generation::GenerationConfig;
pub use engine::{Engine, Generated, Model, Versions};

use crate::delivery::DeliveryError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    #[error("cannot load model: {0}")]
    Model(#[from] crate::artifact::error::TrainError),
    #[error(transparent)]
    Checkpoint(#[from] crate::artifact::checkpoint::CheckpointError),
    #[error(transparent)]
    Card(#[from] crate::artifact::card::CardError),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    #[error("{}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("generation.device is `cuda` but no CUDA device is available (a binary built without the `cuda` feature never sees one)")]
    NoCuda,
    #[error("the topology has no [generation] section, or no outputs.synthetic_reviews / outputs.synthetic_behavior")]
    NotConfigured,
    #[error("generation.behavior_source is `transfer` but the engine was loaded without the stage's shopper index")]
    NoShopperIndex,
    #[error("inference thread: {0}")]
    Thread(String),
    #[error("Kafka client: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Admin(#[from] crate::kafka::admin::AdminError),
    #[error(transparent)]
    Topology(#[from] crate::topology::TopologyError),
    #[error(transparent)]
    Encode(#[from] crate::codec::EncodeError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error(transparent)]
    Schemas(#[from] crate::delivery::schemas::SchemasError),
}
