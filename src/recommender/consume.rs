//! The recommender's consumer: the pipeline's enriched and accepted-product topics into the
//! model, decoded with the codec of each topic's configured format (JSON, Avro or the Confluent
//! wire format, as the pipeline wrote them).
//!
//! Records already fetched are applied in batches under one write lock (at most
//! [`MAX_BATCH`]), so that a busy stream does not take and release the lock per record while the
//! HTTP handlers wait for read locks. Every record is applied before the next batch is received,
//! so the committed position (or the snapshot's offsets) never runs ahead of the model.

use super::http::AppState;
use super::ServiceError;
use crate::codec::Codec;
use crate::delivery::schemas::Schemas;
use crate::delivery::transaction::Offsets;
use crate::delivery::{now_ms, Runtime, Spec};
use crate::events::{EnrichedEvent, EventType, Origin, ProductEvent};
use crate::observe::Metrics;
use crate::recommend::online::Online;
use crate::recommend::snapshot;
use crate::topology::Topology;
use futures::FutureExt;
use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::future::Future;
use std::time::{Duration, Instant};

/// Records applied under one write lock, at most.
pub const MAX_BATCH: usize = 256;

/// The two inputs and how to read them.
struct Inputs {
    enriched: String,
    products: String,
    enriched_codec: Codec,
    products_codec: Codec,
}

impl Inputs {
    fn apply(&self, model: &mut Online, state: &AppState, m: &BorrowedMessage<'_>) {
        let payload = m.payload().unwrap_or_default();
        let started = Instant::now();
        if m.topic() == self.products {
            match self
                .products_codec
                .decode::<ProductEvent>(EventType::Product, payload)
            {
                Ok(p) => {
                    model.apply_product(&p);
                }
                Err(_) => state
                    .metrics
                    .rejected
                    .with_label_values(&[&self.products])
                    .inc(),
            }
        } else {
            match self
                .enriched_codec
                .decode::<EnrichedEvent>(EventType::Enriched, payload)
            {
                Ok(e) => {
                    model.apply(&e);
                    let origin = if e.origin == Origin::Real {
                        "real"
                    } else {
                        "synthetic"
                    };
                    state.metrics.applied.with_label_values(&[origin]).inc();
                }
                Err(_) => state
                    .metrics
                    .rejected
                    .with_label_values(&[&self.enriched])
                    .inc(),
            }
        }
        state
            .metrics
            .update_seconds
            .observe(started.elapsed().as_secs_f64());
    }
}

/// Consumes the topology's enriched and accepted-product topics into the model until
/// `shutdown` resolves, with the group, snapshot and commit interval of `[recommender]`.
///
/// Without a snapshot the consumer joins the group and commits its position (at least once: a
/// restart re-applies at most the records since the last commit). With one, the state lives in
/// the snapshot: the model is restored from it, every partition is assigned at the offset stored
/// with the model, and snapshots are written every interval and at shutdown, so a restart
/// neither loses nor repeats an event.
pub async fn consume(
    topology: &Topology,
    state: AppState,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    let config = &topology.recommender;
    let mut kafka = topology.kafka.clone();
    kafka.group_id = config.group_id.clone();
    let o = &topology.outputs;
    // The runtime's own metrics (commits, lag, registry requests) are not exported by the
    // recommender, whose `/metrics` keeps its own registry.
    let runtime_metrics = Metrics::new("none");
    let schemas = Schemas::start(
        topology,
        topology.served_topics(),
        Vec::new(),
        &runtime_metrics,
    )
    .await?;
    let inputs = Inputs {
        enriched: o.enriched.topic.clone(),
        products: o.products.topic.clone(),
        enriched_codec: schemas.codec(&o.enriched.topic, o.enriched.format),
        products_codec: schemas.codec(&o.products.topic, o.products.format),
    };
    let snapshot_path = config.snapshot.clone();
    // It writes nothing: the runtime gives it the consumer, at least once on the positions it
    // registers as processed (or, with a snapshot, no commits at all: the offsets live in it).
    let spec = Spec {
        service: "recommender",
        kafka,
        runtime: crate::topology::RuntimeConfig {
            commit_interval_ms: config.commit_interval_ms,
            ..topology.runtime.clone()
        },
        transactional_id: String::new(),
        inputs: vec![inputs.enriched.clone(), inputs.products.clone()],
        outputs: Vec::new(),
        offsets: Offsets::Positions,
        subscribe: snapshot_path.is_none(),
    };
    let rt = Runtime::start(spec, runtime_metrics).await?;
    let consumer = rt.consumer();
    let mut offsets = snapshot::Offsets::new();
    match &snapshot_path {
        None => {}
        Some(path) => {
            if let Some(snap) = snapshot::load(path)? {
                tracing::info!(path = %path.display(), "model restored from snapshot");
                offsets = snap.offsets;
                *state.model.write().unwrap_or_else(|p| p.into_inner()) = snap.model;
            }
            let mut tpl = TopicPartitionList::new();
            for topic in [&inputs.enriched, &inputs.products] {
                let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
                for p in md.topics().iter().flat_map(|t| t.partitions()) {
                    let at = offsets.get(topic.as_str()).and_then(|o| o.get(&p.id()));
                    tpl.add_partition_offset(
                        topic,
                        p.id(),
                        at.map_or(Offset::Beginning, |&o| Offset::Offset(o)),
                    )?;
                }
            }
            rt.assign(&tpl)?;
        }
    }
    tracing::info!(group = %config.group_id, snapshot = ?snapshot_path, "recommender consuming");
    let mut snapshot_tick = tokio::time::interval(Duration::from_secs(
        snapshot_path
            .as_ref()
            .map_or(3600, |_| config.snapshot_interval_s),
    ));
    // Delay, not burst: a snapshot takes a while, and missed ticks firing back to back would
    // starve the consumer.
    snapshot_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    snapshot_tick.tick().await;
    let save = |offsets: &snapshot::Offsets| -> Result<(), ServiceError> {
        if let Some(path) = &snapshot_path {
            let model = state.model.read().unwrap_or_else(|p| p.into_inner());
            tokio::task::block_in_place(|| snapshot::save(path, &model, offsets))?;
        }
        Ok(())
    };
    // Readiness is the runtime's (a broker connection up, partitions assigned, the registry
    // reachable), not the HTTP server's: an instance that lost its broker still serves its
    // model, but reports it will not catch up, so an orchestrator can route around it.
    let refresh_ready = || state.metrics.ready.set(rt.metrics().is_ready() as i64);
    let mut commit_tick = rt.commit_interval();
    // Tracker slots by (is the products topic, partition): no string key per record.
    let mut slots: std::collections::HashMap<(bool, i32), crate::delivery::ack::Slot> =
        Default::default();
    tokio::pin!(shutdown);
    loop {
        // Not biased: a busy input must not starve the ticks, nor the ticks the input.
        tokio::select! {
            _ = &mut shutdown => break,
            _ = snapshot_tick.tick() => {
                save(&offsets)?;
                // A full period from the end of the save, however long it took.
                snapshot_tick.reset();
            }
            _ = commit_tick.tick() => {
                refresh_ready();
                if snapshot_path.is_none() {
                    rt.commit()?;
                }
                if let Ok(m) = state.model.read() {
                    state.metrics.users.set(m.users() as i64);
                    state.metrics.items.set(m.items() as i64);
                    if m.newest_ts() > 0 {
                        state.metrics.freshness_ms.set(now_ms() - m.newest_ts());
                    }
                }
            }
            msg = consumer.recv() => {
                let first = match msg {
                    Ok(m) => m,
                    Err(e) => { tracing::warn!(error = %e, "consume error"); continue; }
                };
                // Batches under the write lock; a record whose writer schema must be fetched
                // ends its batch and starts the next one after the fetch, which happens outside
                // the lock (it may wait out a registry outage while the HTTP handlers serve).
                let mut pending = Some(first);
                let mut stopped = false;
                while let Some(first) = pending.take() {
                    let payload = first.payload().unwrap_or_default();
                    if schemas.needs_fetch(first.topic(), payload) {
                        state.metrics.ready.set(0);
                        if !schemas.prepare(first.topic(), payload, &mut shutdown).await {
                            // Not applied, so neither committed nor in the snapshot's offsets.
                            stopped = true;
                            break;
                        }
                        refresh_ready();
                    }
                    let mut model = state.model.write().unwrap_or_else(|p| p.into_inner());
                    let mut next = Some(first);
                    let mut applied = 0;
                    while let Some(m) = next.take() {
                        inputs.apply(&mut model, &state, &m);
                        if snapshot_path.is_none() {
                            let key = (m.topic() == inputs.products, m.partition());
                            let slot = *slots
                                .entry(key)
                                .or_insert_with(|| rt.tracker().slot(m.topic(), m.partition()));
                            rt.processed(slot, m.offset(), 0);
                        }
                        offsets.entry(m.topic().to_owned()).or_default().insert(m.partition(), m.offset() + 1);
                        applied += 1;
                        if applied < MAX_BATCH {
                            match consumer.recv().now_or_never() {
                                Some(Ok(m)) if schemas.needs_fetch(m.topic(), m.payload().unwrap_or_default()) => pending = Some(m),
                                Some(Ok(m)) => next = Some(m),
                                Some(Err(e)) => tracing::warn!(error = %e, "consume error"),
                                None => {}
                            }
                        }
                    }
                    drop(model);
                }
                if stopped {
                    break;
                }
                refresh_ready();
            }
        }
    }
    if snapshot_path.is_some() {
        save(&offsets)?;
    }
    rt.finish(Ok(()))?;
    Ok(())
}
