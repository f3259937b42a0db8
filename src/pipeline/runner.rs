//! The pipeline's consume-transform-produce loop, on the delivery [`Runtime`].
//!
//! The loop reads the input topics and runs each record through the stage chain ([`Worker`]):
//! on the consuming task itself with `runtime.workers = 1`, or on worker threads otherwise
//! ([`super::parallel`]). Outputs go to the idempotent producer tied to their input record, and
//! the runtime commits an input offset only once everything produced from it, and from every
//! record before it on its partition, is acknowledged (or, exactly once, is in the same
//! transaction). A crash repeats at most the records after the last commit; it never skips one.

use super::parallel::Workers;
use super::worker::Worker;
use crate::codec::EncodeError;
use crate::delivery::schemas::{self, Resolver, Schemas, SchemasError};
use crate::delivery::transaction::Offsets;
use crate::delivery::{now_ms, DeliveryError, Runtime, Spec};
use crate::observe::Metrics;
use crate::topology::Topology;
use futures::FutureExt;
use std::future::Future;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Topology(#[from] crate::topology::TopologyError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error("no output topic for `{0}` records leaving the last stage; add one to the topology")]
    NoRoute(&'static str),
    #[error("worker thread: {0}")]
    Worker(String),
    #[error(transparent)]
    Registry(#[from] crate::codec::remote::RemoteError),
}

impl From<rdkafka::error::KafkaError> for PipelineError {
    fn from(e: rdkafka::error::KafkaError) -> Self {
        PipelineError::Delivery(e.into())
    }
}

/// What one run did, for logs and the demo's report.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub records_in: u64,
    pub outputs: u64,
    pub dead_letters: u64,
    pub filtered: u64,
    pub dead_letters_by_reason: std::collections::BTreeMap<String, u64>,
}

impl Summary {
    /// Adds another worker's summary.
    pub fn merge(&mut self, other: &Summary) {
        self.records_in += other.records_in;
        self.outputs += other.outputs;
        self.dead_letters += other.dead_letters;
        self.filtered += other.filtered;
        for (k, v) in &other.dead_letters_by_reason {
            *self.dead_letters_by_reason.entry(k.clone()).or_default() += v;
        }
    }
}

/// Records already fetched that the loop takes without another trip through `select!`, whose
/// per-record cost showed in the passthrough bench.
const DRAIN_BATCH: usize = 64;

pub struct Pipeline {
    topology: Topology,
    metrics: Metrics,
}

impl Pipeline {
    pub fn new(topology: Topology, metrics: Metrics) -> Result<Self, PipelineError> {
        // The writer schemas of `[[schemas]]` are read and checked now, before any client.
        topology.schema_registry()?;
        metrics.dead_letter_reasons(crate::reject::RejectCode::ALL.map(|c| c.as_str()));
        Ok(Pipeline { topology, metrics })
    }

    /// The schema table, the inputs' resolver and the outputs' ids: with a registry server the
    /// output schemas are registered here, so a refusal stops the pipeline before it consumes.
    async fn schemas(&self) -> Result<Schemas, PipelineError> {
        let t = &self.topology;
        let o = &t.outputs;
        let writes = [&o.enriched, &o.products, &o.dead_letter];
        let outputs = t
            .output_topics()
            .into_iter()
            .filter(|(topic, _, _)| writes.iter().any(|w| &w.topic == topic))
            .collect();
        Schemas::start(t, t.input_topics(), outputs, &self.metrics)
            .await
            .map_err(|e| match e {
                SchemasError::Topology(e) => PipelineError::Topology(e),
                SchemasError::Registry(e) => PipelineError::Registry(e),
            })
    }

    fn spec(&self) -> Spec {
        let t = &self.topology;
        let o = &t.outputs;
        Spec {
            service: "pipeline",
            kafka: t.kafka.clone(),
            runtime: t.runtime.clone(),
            transactional_id: t.runtime.transactional_id(&t.kafka.group_id),
            inputs: t.inputs.values().map(|i| i.topic.clone()).collect(),
            outputs: vec![
                o.enriched.topic.clone(),
                o.products.topic.clone(),
                o.dead_letter.topic.clone(),
            ],
            // Every record taken from the consumer has its outputs sent before a commit (the
            // worker threads are waited for), so the positions are exact.
            offsets: Offsets::Positions,
            subscribe: true,
        }
    }

    fn worker(&self, rt: &Runtime, schemas: &Schemas) -> Worker {
        Worker::new(
            &self.topology,
            schemas,
            &self.metrics,
            rt.sender().clone(),
            rt.dead_letters(),
        )
    }

    /// Runs until `shutdown` resolves, then drains: stops fetching, waits for the producer to
    /// deliver everything, commits, and leaves the group.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<Summary, PipelineError> {
        let schemas = self.schemas().await?;
        let mut rt = Runtime::start(self.spec(), self.metrics.clone()).await?;
        let workers = self.topology.runtime.worker_threads();
        tracing::info!(
            topology = %self.topology.name,
            group = %self.topology.kafka.group_id,
            workers,
            exactly_once = rt.is_exactly_once(),
            "pipeline started"
        );
        tokio::pin!(shutdown);
        let (result, summary) = if workers <= 1 {
            let mut worker = self.worker(&rt, &schemas);
            let resolver = schemas.resolver.as_ref();
            let result = inline(&mut rt, &mut worker, resolver, &mut shutdown).await;
            (result, worker.summary)
        } else {
            let threads =
                Workers::spawn(workers, || self.worker(&rt, &schemas), rt.handoff().clone())?;
            let result = threads
                .feed(&mut rt, schemas.resolver.as_ref(), &mut shutdown)
                .await;
            let (summary, worker_result) = threads.join().await;
            (result.and(worker_result), summary)
        };
        let delivered = rt.close(result);
        tracing::info!(?summary, "pipeline stopped");
        delivered.map(|()| summary)
    }
}

/// The loop with the work on the consuming task: each record is handled before the next is
/// taken.
async fn inline(
    rt: &mut Runtime,
    worker: &mut Worker,
    resolver: Option<&Resolver>,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> Result<(), PipelineError> {
    let mut commit_tick = rt.commit_interval();
    // Delivery reports are served by polling the producer: after each batch of records, and on
    // this tick while the input is idle.
    let mut poll_tick = rt.poll_interval();
    loop {
        tokio::select! {
            biased;
            _ = &mut *shutdown => {
                tracing::info!("pipeline draining");
                return Ok(());
            }
            _ = commit_tick.tick() => {
                rt.commit()?;
                worker.now_ms = now_ms();
            }
            _ = poll_tick.tick() => rt.poll(),
            msg = rt.consumer().recv() => match msg {
                Ok(m) => {
                    rt.touch();
                    if !ready(rt, resolver, &m, shutdown).await {
                        return Ok(());
                    }
                    worker.handle(&m)?;
                    drop(m);
                    for _ in 0..DRAIN_BATCH {
                        match rt.consumer().recv().now_or_never() {
                            Some(Ok(m)) => {
                                if !ready(rt, resolver, &m, shutdown).await {
                                    return Ok(());
                                }
                                worker.handle(&m)?
                            }
                            Some(Err(e)) => consume_error(rt, e),
                            None => break,
                        }
                    }
                    rt.poll();
                    if !rt.wait_for_room(shutdown).await {
                        tracing::info!("pipeline draining (shutdown while waiting for acknowledgements)");
                        return Ok(());
                    }
                }
                Err(e) => consume_error(rt, e),
            }
        }
    }
}

/// Whether `m` may be processed: its writer schema is in the table (fetched if need be), or it
/// needs none. `false` after a shutdown while the registry could not be reached; the consumer is
/// then back at `m`, so nothing after the last processed record is committed.
pub(super) async fn ready(
    rt: &Runtime,
    resolver: Option<&Resolver>,
    m: &impl rdkafka::Message,
    shutdown: &mut (impl Future<Output = ()> + Unpin),
) -> bool {
    let Some(r) = resolver else {
        return true;
    };
    if r.prepare(m.topic(), m.payload().unwrap_or(&[]), shutdown)
        .await
    {
        return true;
    }
    tracing::info!("pipeline draining (shutdown while the schema registry was unreachable)");
    schemas::rewind(rt, m);
    false
}

pub(super) fn consume_error(rt: &Runtime, e: rdkafka::error::KafkaError) {
    // End of partition is information, not a failure (the consumer reports it only when
    // enable.partition.eof is set).
    if matches!(e, rdkafka::error::KafkaError::PartitionEOF(_)) {
        return;
    }
    tracing::warn!(error = %e, "consume error");
    rt.metrics().kafka_error("consume");
}
