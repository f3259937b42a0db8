//! The commands that run services on Kafka: the pipeline, the generation stage, the recommender,
//! replay, and the demo on the embedded cluster. Each runs until [`crate::shutdown`] fires.

use crate::events::EventType;
use crate::observe::{self, Metrics};
use crate::pipeline::runner::Pipeline;
use crate::shutdown::Shutdown;
use crate::topology::Topology;
use anyhow::Context;
use std::sync::Arc;

fn device_label() -> String {
    crate::torch::device_name(crate::torch::device())
}

pub fn validate(path: &std::path::Path, t: &Topology) -> anyhow::Result<()> {
    t.schema_registry().context("schemas")?;
    println!(
        "{}: ok ({} inputs, {} stages)",
        path.display(),
        t.inputs.len(),
        t.stages.len()
    );
    Ok(())
}

/// Runs the pipeline (when `pipeline`) and the generation stage (when configured) until
/// shutdown; SIGHUP reloads the generation models.
pub async fn run_topology(t: Topology, pipeline: bool, shutdown: Shutdown) -> anyhow::Result<()> {
    use crate::generate::launch;
    let metrics = Metrics::new(&device_label());
    let generation = match t.generation {
        Some(_) => Some(launch::spawn(t.clone(), metrics.clone(), shutdown.wait())?),
        None => None,
    };
    let reloader = generation.as_ref().map(|g| g.0.clone());
    if let Some(r) = reloader.clone() {
        crate::shutdown::on_hangup(&shutdown, move || {
            let r = r.clone();
            async move {
                match r.reload().await {
                    Ok(v) => {
                        tracing::info!(reviews = %v.reviews, behavior = %v.behavior, "SIGHUP: models reloaded")
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "SIGHUP: reload failed; the previous models keep serving")
                    }
                }
            }
        });
    }
    if !t.http.listen.is_empty() {
        let hook = reloader.map(|r| Arc::new(r) as observe::http::Reloader);
        let (addr, _) = observe::http::serve(&t.http.listen, metrics.clone(), hook)
            .await
            .with_context(|| format!("cannot listen on {}", t.http.listen))?;
        tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    }
    if pipeline {
        let summary = Pipeline::new(t, metrics)?.run(shutdown.wait()).await?;
        println!(
            "consumed {} records: {} outputs, {} dead letters, {} duplicates dropped",
            summary.records_in, summary.outputs, summary.dead_letters, summary.filtered
        );
    }
    if let Some((_, task)) = generation {
        let s = task.await.context("generation task")??;
        println!(
            "generation: {} products, {} synthetic reviews, {} synthetic behaviour events, {} dead letters",
            s.products, s.reviews, s.behavior, s.dead_letters
        );
    }
    Ok(())
}

/// The online recommender: serves HTTP and consumes until shutdown.
pub async fn recommender(t: Topology, shutdown: Shutdown) -> anyhow::Result<()> {
    use crate::recommender;
    let listen = t.recommender.listen.clone();
    let state = recommender::state(t.recommender.model.clone());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    tracing::info!(addr = %listener.local_addr()?, "recommender serving /v1/recommendations, /v1/items/{{id}}/similar, /metrics");
    let app = recommender::router(state.clone());
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server stopped");
        }
    });
    recommender::consume(&t, state, shutdown.wait()).await?;
    Ok(())
}

pub struct ReplayArgs {
    pub dataset: Option<super::args::Dataset>,
    pub catalog: super::args::CatalogArgs,
    pub speed: Option<f64>,
    pub limit: Option<usize>,
    pub new_item_fraction: f64,
    pub seed: u64,
}

pub async fn replay(t: Topology, a: ReplayArgs) -> anyhow::Result<()> {
    use crate::replay::{replay, ReplayOptions};
    let input = |ty: EventType| {
        t.inputs
            .values()
            .find(|i| i.event_type == ty && i.format == crate::codec::Format::Json)
            .map(|i| i.topic.clone())
            .with_context(|| format!("the topology has no JSON input of type {}", ty.as_str()))
    };
    let behavior_topic = input(EventType::Behavior)?;
    let product_topic = input(EventType::Product)?;
    let stream = super::catalog::open_for_replay(a.dataset, &a.catalog)?.stream_prefix(a.limit);
    let opts = ReplayOptions {
        speed: a.speed,
        limit: None,
        new_item_fraction: a.new_item_fraction,
        seed: a.seed,
    };
    let config = crate::kafka::common_config(&t.kafka);
    let summary = replay(&stream, &behavior_topic, &product_topic, &config, &opts).await?;
    println!(
        "replayed {} behaviour events to {behavior_topic} and {} product events to {product_topic} in {:.1?}; {} items counted as new ({} of the behaviour events)",
        summary.behavior_events,
        summary.product_events,
        summary.elapsed,
        summary.new_items,
        summary.behavior_events_on_new_items
    );
    Ok(())
}

pub async fn demo(t: Topology, events: usize, new_products: usize) -> anyhow::Result<()> {
    let metrics = Metrics::new(&device_label());
    println!("warmstart demo: running on the EMBEDDED MOCK Kafka cluster (librdkafka's in-process mock),");
    println!("not a real broker; see README for the real one (scripts/kafka start).");
    let r = crate::demo::run(t, events, new_products, metrics).await?;
    print!("{}", crate::demo::render(&r));
    Ok(())
}
