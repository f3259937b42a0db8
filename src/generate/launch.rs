//! Starting the stage from a topology: the real models' loader, and the stage as a task next to
//! the pipeline (one process, one `/metrics`, separate consumers and threads).

use super::engine::{Engine, Model};
use super::metrics::GenerationMetrics;
use super::service::{self, Reloader, Summary};
use super::worker::Loader;
use super::{GenerateError, GenerationConfig};
use crate::observe::Metrics;
use crate::topology::Topology;
use std::future::Future;

/// Loads the configured checkpoints; the worker calls it at start and at every reload, so a
/// reload picks up whatever the folders hold then.
pub fn engine_loader(config: GenerationConfig) -> Loader {
    Box::new(move || Ok(Box::new(Engine::load(&config)?) as Box<dyn Model>))
}

/// Spawns the stage of `topology` (which must have a `[generation]` section) on the runtime.
pub fn spawn(
    topology: Topology,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<
    (
        Reloader,
        tokio::task::JoinHandle<Result<Summary, GenerateError>>,
    ),
    GenerateError,
> {
    let config = topology
        .generation
        .clone()
        .ok_or(GenerateError::NotConfigured)?;
    let gm = GenerationMetrics::new(&metrics.registry);
    let (reloader, reloads) = Reloader::new();
    let task = tokio::spawn(async move {
        service::run(
            &topology,
            metrics,
            gm,
            engine_loader(config),
            reloads,
            shutdown,
        )
        .await
    });
    Ok((reloader, task))
}
