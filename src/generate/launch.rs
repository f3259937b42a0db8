//! Starting the stage from a topology: the real models' loader, and the stage as a task next to
//! the pipeline (one process, one `/metrics`, separate consumers and threads).

use super::engine::{Engine, Model};
use super::metrics::GenerationMetrics;
use super::service::{self, Reloader, Summary};
use super::shoppers::Shared;
use super::worker::Loader;
use super::{GenerateError, GenerationConfig};
use crate::observe::Metrics;
use crate::recommend::transfer::Transfer;
use crate::topology::Topology;
use std::future::Future;

/// Loads the configured checkpoints; the worker calls it at start and at every reload, so a
/// reload picks up whatever the folders hold then. `shoppers` survives reloads.
pub fn engine_loader(config: GenerationConfig, shoppers: Option<Shared>) -> Loader {
    Box::new(move || Ok(Box::new(Engine::load(&config, shoppers.clone())?) as Box<dyn Model>))
}

/// The transfer generator's shopper index, when the config draws synthetic shoppers from it.
pub fn shopper_index(config: &GenerationConfig) -> Option<Shared> {
    let drawn = config.users_per_product > 0
        && config.behavior_source == crate::topology::generation::BehaviorSource::Transfer;
    drawn.then(|| {
        std::sync::Arc::new(std::sync::Mutex::new(Transfer::new(
            config.transfer.clone(),
        )))
    })
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
    // One index: the stage feeds it, every engine the loader builds draws from it.
    let shoppers = shopper_index(&config);
    let task = tokio::spawn(async move {
        service::run(
            &topology,
            metrics,
            gm,
            engine_loader(config, shoppers.clone()),
            shoppers,
            reloads,
            shutdown,
        )
        .await
    });
    Ok((reloader, task))
}
