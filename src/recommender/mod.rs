//! `warmstart recommender`: the online model fed from Kafka, served over HTTP.
//!
//! - [`consume`]: one task reads the pipeline's enriched and accepted-product topics (its own
//!   consumer group, `[recommender]` of the topology) and applies each event to the model, in
//!   batches under one write lock;
//! - [`http`]: the handlers, which take read locks;
//! - [`metrics`]: what it reports.
//!
//! The models themselves are in `recommend`; this module is the service around them.

pub mod consume;
pub mod http;
pub mod metrics;

pub use consume::consume;
pub use http::{router, state, AppState, MAX_K};
pub use metrics::ServiceMetrics;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Snapshot(#[from] crate::recommend::snapshot::SnapshotError),
    #[error(transparent)]
    Topology(#[from] crate::topology::TopologyError),
    #[error(transparent)]
    Delivery(#[from] crate::delivery::DeliveryError),
    #[error(transparent)]
    Schemas(#[from] crate::delivery::schemas::SchemasError),
}
