//! The generation stage on Kafka: accepted new products in, synthetic reviews, synthetic
//! behaviour and the matching enriched events out.
//!
//! It is its own consumer (its own group, on `outputs.products`), so real events flowing through
//! the pipeline never wait for a model. New products go to the inference thread through a bounded
//! queue; when the queue reaches its capacity the product partitions are paused, and resumed once
//! it has drained to half, so a slow model slows the stage down without dropping a product or
//! growing memory. Every consumed record waits in an [`InOrder`] buffer (also bounded) until it
//! and everything before it is done, and only then is handed to the producer: that is what lets
//! the ack tracker commit an input offset only after every record generated from it, and from
//! the records before it, is acknowledged (at least once, as in the pipeline).
//!
//! Records that do not decode go to the dead-letter topic; products older than
//! `max_product_age_ms` pass without generation. Neither enters the inference queue.
//!
//! With `[generation.top_up]` the stage also reads the enriched topic, counting real
//! interactions of the products it generated for, and submits the ones still cold for another
//! round when they fall due (see [`ColdCatalogue`]). Top-up rounds come from no input record, so
//! they commit nothing; they use only the queue's free lower half, so they never cause
//! backpressure on new products.
//!
//! With `runtime.delivery = "exactly_once"` the stage's outputs and its input offsets go in one
//! transaction per commit interval, as in the pipeline; the offsets are those of the records
//! released so far (`Offsets::Acknowledged`), so a record still in the inference queue at a
//! crash is generated again and its earlier, aborted outputs are never visible. Either way, a
//! record whose partition was revoked while it was being generated is dropped when it finishes:
//! the partition's next owner consumes it again.

//! With the transfer generator (`behavior_source = "transfer"`, the default) the stage first
//! restores the shoppers it draws from, reading the enriched and accepted-products topics before
//! it takes a product, and follows them while it runs ([`super::shoppers`]).
//!
//! The Kafka side (clients, commits, transactions, dead letters, drain) is the delivery
//! [`Runtime`]; this module is the stage's loop on top of it, and [`super::emitter`] what it
//! writes.

use super::cold::ColdCatalogue;
use super::emitter::{Emitter, Outputs};
use super::engine::Generated;
use super::in_order::InOrder;
use super::metrics::GenerationMetrics;
use super::reload::Reply;
use super::shoppers::Shared;
use super::worker::{self, BatchConfig, Handle, Job, Loader};
use super::{GenerateError, GenerationConfig};
use crate::codec::Codec;
use crate::delivery::ack::Slot;
use crate::delivery::dead_letter::{DeadLetters, Source};
use crate::delivery::schemas::Schemas;
use crate::delivery::transaction::Offsets;
use crate::delivery::{now_ms, Runtime, Spec};
use crate::events::{DeadLetter, EnrichedEvent, EventType, Origin, ProductEvent};
use crate::observe::Metrics;
use crate::reject::{RejectCode, Rejection};
use crate::topology::{StageConfig, Topology, Weights};
use rdkafka::consumer::Consumer;
use rdkafka::message::{BorrowedMessage, Message};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub use super::reload::Reloader;

/// Where a job's results go: its input partition and offset, and, for a record that did not
/// decode, the dead letter to write instead.
pub struct Ticket {
    pub(super) slot: Slot,
    pub(super) offset: i64,
    pub(super) dead_letter: Option<DeadLetter>,
    /// Older than `max_product_age_ms`: passes through without generation.
    pub(super) skipped: bool,
    /// The tracker's revocation epoch when it was consumed.
    pub(super) epoch: u64,
}

/// Jobs of top-up rounds carry this bit in their ticket: their results bypass the in-order
/// buffer, which holds consumed records only.
const TOP_UP: u64 = 1 << 63;
/// The delivery token's slot of top-up outputs: no input partition, so the tracker ignores them.
pub(super) const TOP_UP_SLOT: Slot = (1 << 24) - 1;

/// What one run did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub products: u64,
    /// Top-up rounds of products still cold (their records are in `reviews` and `behavior`).
    pub top_ups: u64,
    pub skipped: u64,
    pub dead_letters: u64,
    pub reviews: u64,
    pub behavior: u64,
}

fn weights(t: &Topology) -> Weights {
    t.stages
        .iter()
        .find_map(|s| match s {
            StageConfig::Enrich(e) => Some(e.weights.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// The stage's outputs, and the topics among them it writes.
fn outputs(
    topology: &Topology,
    codec: impl Fn(&str, crate::codec::Format) -> Codec,
) -> (Outputs, Vec<String>) {
    let o = &topology.outputs;
    // Validation made sure each kind the stage writes has its topic.
    let unused = || crate::topology::OutputConfig {
        topic: String::new(),
        format: o.enriched.format,
    };
    let reviews = o.synthetic_reviews.clone().unwrap_or_else(unused);
    let behavior = o.synthetic_behavior.clone().unwrap_or_else(unused);
    let outputs = Outputs {
        reviews: (reviews.topic.clone(), codec(&reviews.topic, reviews.format)),
        behavior: (
            behavior.topic.clone(),
            codec(&behavior.topic, behavior.format),
        ),
        enriched: (
            o.enriched.topic.clone(),
            codec(&o.enriched.topic, o.enriched.format),
        ),
        dead_letter: (
            o.dead_letter.topic.clone(),
            codec(&o.dead_letter.topic, o.dead_letter.format),
        ),
    };
    let topics = [
        &outputs.reviews.0,
        &outputs.behavior.0,
        &outputs.enriched.0,
        &outputs.dead_letter.0,
    ]
    .into_iter()
    .filter(|t| !t.is_empty())
    .cloned()
    .collect();
    (outputs, topics)
}

/// Starts the inference thread with the models of `loader`.
async fn start_inference(
    config: &GenerationConfig,
    loader: Loader,
    gm: &GenerationMetrics,
) -> Result<(Arc<Handle<u64>>, mpsc::UnboundedReceiver<worker::Done<u64>>), GenerateError> {
    let (done_tx, done_rx) = mpsc::unbounded_channel::<worker::Done<u64>>();
    let batch = BatchConfig {
        max_batch: config.max_batch,
        max_wait: Duration::from_millis(config.max_wait_ms),
        capacity: config.queue_capacity,
        delay: worker::test_batch_delay(),
    };
    let wm = gm.clone();
    let handle = Arc::new(
        tokio::task::spawn_blocking(move || worker::spawn(loader, batch, wm, done_tx))
            .await
            .map_err(|e| GenerateError::Thread(e.to_string()))??,
    );
    tracing::info!(
        device = %crate::torch::device_name(handle.device),
        reviews = %handle.loaded.reviews,
        behavior = %handle.loaded.behavior,
        "generation models loaded"
    );
    Ok((handle, done_rx))
}

/// The loop's state between events.
struct Stage {
    handle: Arc<Handle<u64>>,
    emitter: Emitter,
    order: InOrder<(Ticket, Instant), Generated>,
    cold: Option<ColdCatalogue>,
    input_codec: Codec,
    enriched_codec: Codec,
    enriched_topic: String,
    records_in: prometheus::IntCounter,
    dead_letters: DeadLetters,
    max_age_ms: i64,
    capacity: usize,
    /// Records waiting behind an unfinished product are bounded too (old products and dead
    /// letters do not enter the inference queue, so they need their own bound).
    order_capacity: usize,
    paused: bool,
    top_ups: u64,
    gm: GenerationMetrics,
}

/// Runs the stage until `shutdown` resolves, then drains what is queued, delivers it and commits.
pub async fn run(
    topology: &Topology,
    metrics: Metrics,
    gm: GenerationMetrics,
    loader: Loader,
    shoppers: Option<Shared>,
    mut reloads: mpsc::Receiver<Reply>,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, GenerateError> {
    let config: &GenerationConfig = topology
        .generation
        .as_ref()
        .ok_or(GenerateError::NotConfigured)?;
    let o = &topology.outputs;
    let writes = topology
        .output_topics()
        .into_iter()
        .filter(|(_, ty, _)| {
            matches!(
                ty,
                EventType::SyntheticReview
                    | EventType::SyntheticBehavior
                    | EventType::Enriched
                    | EventType::DeadLetter
            )
        })
        .collect();
    // With a registry server its output schemas are registered before the stage consumes.
    let schemas = Schemas::start(topology, topology.served_topics(), writes, &metrics).await?;
    let codec = |topic: &str, f| schemas.codec(topic, f);
    let (outputs, out_topics) = outputs(topology, codec);
    let input = o.products.topic.clone();
    let cold = config.top_up.clone().map(ColdCatalogue::new);
    let (handle, mut done_rx) = start_inference(config, loader, &gm).await?;
    let mut kafka = topology.kafka.clone();
    kafka.group_id = config.group_id.clone();
    let mut inputs = vec![input.clone()];
    if cold.is_some() {
        inputs.push(o.enriched.topic.clone());
    }
    let spec = Spec {
        service: "generation",
        kafka,
        runtime: topology.runtime.clone(),
        // Distinct from the pipeline's id, which may run in the same process: one would fence
        // the other.
        transactional_id: format!(
            "{}-generate",
            topology.runtime.transactional_id(&topology.kafka.group_id)
        ),
        inputs,
        outputs: out_topics,
        // Records finish later than they are consumed: only released records' offsets count.
        offsets: Offsets::Acknowledged,
        subscribe: true,
    };
    let rt = Runtime::start(spec, metrics.clone()).await?;
    // After the runtime, which creates missing topics, and before the loop takes a product, so
    // that no product is drawn for from a half-read history; stopped after the drain, so that
    // products still queued draw from a live index. A shutdown during the restore stops it.
    tokio::pin!(shutdown);
    let (stop_index, index_stopped) = crate::shutdown::channel();
    let index_task = match shoppers {
        None => None,
        Some(index) => {
            let start =
                super::shoppers::start(topology, index, gm.clone(), &metrics, index_stopped.wait());
            tokio::select! {
                started = start => match started {
                    Ok(task) => Some(task),
                    Err(e) => {
                        let e = rt.close(Err(e));
                        return e.map(|()| Summary::default());
                    }
                },
                _ = &mut shutdown => {
                    tracing::info!("shutdown during the shopper index's restore");
                    return rt.close(Ok(())).map(|()| Summary::default());
                }
            }
        }
    };
    tracing::info!(topic = %input, group = %config.group_id, top_up = cold.is_some(), exactly_once = rt.is_exactly_once(), "generation stage started");
    let top_up_every = config
        .top_up
        .as_ref()
        .map_or(1000, |t| (t.interval_ms / 4).clamp(10, 1000));
    let mut stage = Stage {
        emitter: Emitter {
            outputs,
            weights: weights(topology),
            sender: rt.sender().clone(),
            gm: gm.clone(),
            buf: Vec::with_capacity(1024),
            summary: Summary::default(),
        },
        dead_letters: rt.dead_letters(),
        handle,
        order: InOrder::default(),
        cold,
        input_codec: codec(&o.products.topic, o.products.format),
        enriched_codec: codec(&o.enriched.topic, o.enriched.format),
        enriched_topic: o.enriched.topic.clone(),
        records_in: metrics.records_in(&input),
        max_age_ms: config.max_product_age_ms as i64,
        capacity: config.queue_capacity,
        order_capacity: config.queue_capacity * 64,
        paused: false,
        top_ups: 0,
        gm,
    };
    let mut commit_tick = rt.commit_interval();
    let mut poll_tick = rt.poll_interval();
    let mut top_up_tick = tokio::time::interval(Duration::from_millis(top_up_every));
    top_up_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let result: Result<(), GenerateError> = loop {
        let step = tokio::select! {
            biased;
            _ = &mut shutdown => break Ok(()),
            _ = commit_tick.tick() => rt.commit().map_err(GenerateError::from),
            _ = poll_tick.tick() => { rt.poll(); Ok(()) }
            _ = top_up_tick.tick(), if stage.cold.is_some() => stage.top_up(),
            Some(reply) = reloads.recv() => {
                let h = stage.handle.clone();
                tokio::spawn(async move { let _ = reply.send(h.reload().await); });
                Ok(())
            }
            Some(done) = done_rx.recv() => stage.finished(&rt, done),
            msg = rt.consumer().recv() => match msg {
                Ok(m) => {
                    let payload = m.payload().unwrap_or_default();
                    // Offsets are committed only once released, so a record left here on a
                    // shutdown (the registry unreachable) is read again after a restart.
                    if schemas.needs_fetch(m.topic(), payload)
                        && !schemas.prepare(m.topic(), payload, &mut shutdown).await
                    {
                        break Ok(());
                    }
                    stage.consumed(&rt, &m)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "consume error");
                    rt.metrics().kafka_error("consume");
                    Ok(())
                }
            },
        };
        if let Err(e) = step {
            break Err(e);
        }
    };

    // Drain: what is queued is generated and delivered before the last commit.
    let deadline = Instant::now() + Duration::from_millis(topology.runtime.drain_timeout_ms);
    let mut result = result;
    while result.is_ok() && !stage.order.is_empty() && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(100), done_rx.recv()).await {
            Ok(Some(done)) => result = stage.finished(&rt, done),
            Ok(None) => break,
            Err(_) => rt.poll(),
        }
    }
    let summary = stage.emitter.summary.clone();
    let delivered = rt.close(result);
    stop_index.fire();
    if let Some(task) = index_task {
        let _ = task.await;
    }
    tracing::info!(?summary, "generation stage stopped");
    delivered.map(|()| summary)
}

impl Stage {
    /// A consumed record: an enriched event counts towards a product's warming up; a product
    /// goes to the inference queue, or straight to the in-order buffer when it is a dead letter
    /// or too old to generate for.
    fn consumed(&mut self, rt: &Runtime, m: &BorrowedMessage<'_>) -> Result<(), GenerateError> {
        rt.touch();
        let tracker = rt.tracker().clone();
        let slot = tracker.slot(m.topic(), m.partition());
        if m.topic() == self.enriched_topic {
            if let Some(cold) = self.cold.as_mut() {
                count_real(cold, m, &self.enriched_codec, &self.gm);
            }
            rt.processed(slot, m.offset(), 0);
            return Ok(());
        }
        self.records_in.inc();
        let (mut ticket, mut product) = decode(
            m,
            &self.input_codec,
            &self.dead_letters,
            slot,
            tracker.epoch(),
        );
        if self.max_age_ms > 0
            && product
                .as_ref()
                .is_some_and(|p| now_ms() - p.ts > self.max_age_ms)
        {
            ticket.skipped = true;
            product = None;
        }
        let arrived = Instant::now();
        match product {
            None => self
                .order
                .push_ready((ticket, arrived), Generated::default()),
            Some(product) => {
                if let Some(cold) = self.cold.as_mut() {
                    cold.track(&product, now_ms());
                }
                let seq = self.order.push_waiting((ticket, arrived));
                self.submit(Job {
                    product,
                    ticket: seq,
                    arrived,
                })?;
            }
        }
        self.emitter.release(&mut self.order)?;
        self.gm.queue(self.handle.depth(), self.capacity);
        // Pausing again on every arrival also covers partitions assigned since.
        if self.handle.is_full() || self.order.len() >= self.order_capacity {
            let consumer = rt.consumer();
            consumer.pause(&consumer.assignment()?)?;
            if !self.paused {
                tracing::debug!(
                    depth = self.handle.depth(),
                    waiting = self.order.len(),
                    "generation queue full: product partitions paused"
                );
            }
            self.paused = true;
            self.gm.paused(true);
        }
        Ok(())
    }

    /// A job came back from the inference thread.
    fn finished(&mut self, rt: &Runtime, done: worker::Done<u64>) -> Result<(), GenerateError> {
        rt.touch();
        if done.ticket & TOP_UP != 0 {
            self.emitter.emit_top_up(done.generated)?;
        } else {
            self.order.complete(done.ticket, done.generated);
            self.emitter.release(&mut self.order)?;
        }
        self.gm.queue(self.handle.depth(), self.capacity);
        if self.paused
            && self.handle.depth() <= self.capacity / 2
            && self.order.len() <= self.order_capacity / 2
        {
            let consumer = rt.consumer();
            consumer.resume(&consumer.assignment()?)?;
            self.paused = false;
            self.gm.paused(false);
        }
        Ok(())
    }

    /// Submits the products due for another round, into the queue's free lower half only, so
    /// that top-ups never cause backpressure on new products.
    fn top_up(&mut self) -> Result<(), GenerateError> {
        let Some(cold) = self.cold.as_mut() else {
            return Ok(());
        };
        let room = (self.capacity / 2).saturating_sub(self.handle.depth());
        let due = if self.paused {
            Vec::new()
        } else {
            cold.due(now_ms(), room)
        };
        let rounds = due.len();
        for mut product in due {
            // Its synthetic behaviour happens now, not when the product first appeared.
            product.ts = now_ms();
            self.top_ups += 1;
            let job = Job {
                product,
                ticket: TOP_UP | self.top_ups,
                arrived: Instant::now(),
            };
            self.handle
                .submit(job)
                .map_err(|_| GenerateError::Thread("the inference thread stopped".into()))?;
        }
        if let Some(cold) = self.cold.as_mut() {
            self.gm.cold(cold.len(), rounds, cold.take_counts());
        }
        self.gm.queue(self.handle.depth(), self.capacity);
        Ok(())
    }

    fn submit(&self, job: Job<u64>) -> Result<(), GenerateError> {
        self.handle
            .submit(job)
            .map_err(|_| GenerateError::Thread("the inference thread stopped".into()))
    }
}

/// A real event on the enriched topic counts towards its item's warming up; the stage's own
/// synthetic events do not.
fn count_real(
    cold: &mut ColdCatalogue,
    m: &BorrowedMessage<'_>,
    codec: &Codec,
    gm: &GenerationMetrics,
) {
    match codec.decode::<EnrichedEvent>(EventType::Enriched, m.payload().unwrap_or_default()) {
        Ok(e) if e.origin == Origin::Real => cold.real_interaction(&e.item_id),
        Ok(_) => {}
        // The pipeline wrote it; a record it cannot read back is a bug to see, not to stop on.
        Err(r) => {
            tracing::warn!(topic = m.topic(), offset = m.offset(), reason = %r.message, "enriched record does not decode; not counted");
            gm.cold_undecodable();
        }
    }
}

fn decode(
    m: &BorrowedMessage<'_>,
    codec: &Codec,
    dead_letters: &DeadLetters,
    slot: Slot,
    epoch: u64,
) -> (Ticket, Option<ProductEvent>) {
    let payload = m.payload().unwrap_or_default();
    let (product, rejection) = match codec.decode::<ProductEvent>(EventType::Product, payload) {
        Ok(p) if !p.item_id.is_empty() => (Some(p), None),
        Ok(_) => (
            None,
            Some(Rejection::new(RejectCode::InvalidValue, "item_id is empty")),
        ),
        Err(r) => (None, Some(r)),
    };
    let dead_letter =
        rejection.map(|r| dead_letters.build(&Source::of(m), "generate", r, now_ms()));
    let ticket = Ticket {
        slot,
        offset: m.offset(),
        dead_letter,
        skipped: false,
        epoch,
    };
    (ticket, product)
}
