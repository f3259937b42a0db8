//! Observability: structured logs, the Prometheus registry, and the HTTP endpoints that serve it.

pub mod http;
pub mod logging;
pub mod metrics;
pub mod progress;

pub use metrics::Metrics;
