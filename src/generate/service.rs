//! The generation stage on Kafka: accepted new products in, synthetic reviews, synthetic
//! behaviour and the matching enriched events out.
//!
//! It is its own consumer (its own group, on `outputs.products`), so real events flowing through
//! the pipeline never wait for a model. New products go to the inference thread through a bounded
//! queue; when the queue reaches its capacity the product partitions are paused, and resumed once
//! it has drained to half, so a slow model slows the stage down without dropping a product or
//! growing memory. Every consumed record waits in an [`InOrder`] buffer (also bounded) until it
//! and everything before it is done, and only then is handed to the producer: that is what lets
//! the [`AckTracker`] commit an input offset only after every record generated from it, and from
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
//! released so far ([`Offsets::Acknowledged`]), so a record still in the inference queue at a
//! crash is generated again and its earlier, aborted outputs are never visible. Either way, a
//! record whose partition was revoked while it was being generated is dropped when it finishes:
//! the partition's next owner consumes it again.

use super::cold::ColdCatalogue;
use super::engine::Generated;
use super::engine::Versions;
use super::in_order::InOrder;
use super::metrics::GenerationMetrics;
use super::worker::{self, BatchConfig, Handle, Job, Loader};
use super::{GenerateError, GenerationConfig};
use crate::codec::Codec;
use crate::events::{DeadLetter, EnrichedEvent, EventType, Origin, ProductEvent};
use crate::kafka::admin::ensure_topics;
use crate::kafka::context::{AckContext, PipelineContext, Producer};
use crate::kafka::publish::send_waiting;
use crate::kafka::{common_config, consumer_config, producer_config};
use crate::observe::Metrics;
use crate::pipeline::ack::{pack, AckTracker, Slot};
use crate::pipeline::runner::{build_registry, commit_acknowledged, now_ms};
use crate::pipeline::transaction::{self, Offsets, Transactions};
use crate::topology::{Delivery, StageConfig, Topology, Weights};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::{BaseRecord, Producer as _};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Where a job's results go: its input partition and offset, and, for a record that did not
/// decode, the dead letter to write instead.
pub struct Ticket {
    slot: Slot,
    offset: i64,
    dead_letter: Option<DeadLetter>,
    /// Older than `max_product_age_ms`: passes through without generation.
    skipped: bool,
    /// The tracker's revocation epoch when it was consumed.
    epoch: u64,
}

/// Jobs of top-up rounds carry this bit in their ticket: their results bypass the in-order
/// buffer, which holds consumed records only.
const TOP_UP: u64 = 1 << 63;
/// The delivery token's slot of top-up outputs: no input partition, so the tracker ignores them.
const TOP_UP_SLOT: Slot = (1 << 24) - 1;

type Reply = oneshot::Sender<Result<Versions, String>>;

/// Asks a running stage to reload its models (the admin endpoint and SIGHUP hold one).
#[derive(Clone)]
pub struct Reloader(mpsc::Sender<Reply>);

impl Reloader {
    pub fn new() -> (Reloader, mpsc::Receiver<Reply>) {
        let (tx, rx) = mpsc::channel(4);
        (Reloader(tx), rx)
    }

    pub async fn reload(&self) -> Result<Versions, String> {
        let (tx, rx) = oneshot::channel();
        self.0
            .send(tx)
            .await
            .map_err(|_| "the generation stage is not running".to_string())?;
        rx.await
            .map_err(|_| "the generation stage stopped".to_string())?
    }
}

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

struct Outputs {
    reviews: (String, Codec),
    behavior: (String, Codec),
    enriched: (String, Codec),
    dead_letter: (String, Codec),
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

/// Runs the stage until `shutdown` resolves, then drains what is queued, delivers it and commits.
pub async fn run(
    topology: &Topology,
    metrics: Metrics,
    gm: GenerationMetrics,
    loader: Loader,
    mut reloads: mpsc::Receiver<Reply>,
    shutdown: impl Future<Output = ()>,
) -> Result<Summary, GenerateError> {
    let config: &GenerationConfig = topology
        .generation
        .as_ref()
        .ok_or(GenerateError::NotConfigured)?;
    let o = &topology.outputs;
    // Validation made sure each kind the stage writes has its topic.
    let unused = || crate::topology::OutputConfig {
        topic: String::new(),
        format: o.enriched.format,
    };
    let reviews_out = o.synthetic_reviews.clone().unwrap_or_else(unused);
    let behavior_out = o.synthetic_behavior.clone().unwrap_or_else(unused);
    let registry = Arc::new(build_registry(topology)?);
    let codec = |f| Codec::new(f, registry.clone());
    let outputs = Outputs {
        reviews: (reviews_out.topic.clone(), codec(reviews_out.format)),
        behavior: (behavior_out.topic.clone(), codec(behavior_out.format)),
        enriched: (o.enriched.topic.clone(), codec(o.enriched.format)),
        dead_letter: (o.dead_letter.topic.clone(), codec(o.dead_letter.format)),
    };
    let input = o.products.topic.clone();
    let input_codec = codec(o.products.format);
    let enriched_codec = codec(o.enriched.format);
    let mut cold = config.top_up.clone().map(ColdCatalogue::new);
    let out_topics: Vec<&str> = [
        outputs.reviews.0.as_str(),
        outputs.behavior.0.as_str(),
        outputs.enriched.0.as_str(),
        outputs.dead_letter.0.as_str(),
    ]
    .into_iter()
    .filter(|t| !t.is_empty())
    .collect();
    let mut k = topology.kafka.clone();
    k.group_id = config.group_id.clone();
    let mut all = out_topics.clone();
    all.push(&input);
    ensure_topics(
        &common_config(&k),
        &all,
        k.create_topics_partitions,
        k.create_topics_replication,
    )
    .await?;

    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<worker::Done<u64>>();
    let batch = BatchConfig {
        max_batch: config.max_batch,
        max_wait: Duration::from_millis(config.max_wait_ms),
        capacity: config.queue_capacity,
        delay: Duration::from_millis(config.debug_batch_delay_ms),
    };
    let wm = gm.clone();
    let handle: Arc<Handle<u64>> = Arc::new(
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

    let tracker = Arc::new(AckTracker::new());
    let eos = topology.runtime.delivery == Delivery::ExactlyOnce;
    let tx = Transactions {
        timeout: Duration::from_millis(topology.runtime.drain_timeout_ms),
        offsets: Offsets::Acknowledged,
    };
    let mut pconf = producer_config(&k);
    // Distinct from the pipeline's id, which may run in the same process: one would fence the
    // other.
    let transactional_id = format!(
        "{}-generate",
        topology.runtime.transactional_id(&topology.kafka.group_id)
    );
    if eos {
        transaction::configure(&mut pconf, &k, &transactional_id);
    }
    let producer: Arc<Producer> = Arc::new(pconf.create_with_context(AckContext::new(
        tracker.clone(),
        metrics.clone(),
        &out_topics,
    ))?);
    let context = PipelineContext {
        tracker: tracker.clone(),
        metrics: metrics.clone(),
        producer: Default::default(),
        drain_timeout: Duration::from_millis(topology.runtime.drain_timeout_ms),
        assigned: Default::default(),
        transactional: eos.then_some(tx),
    };
    let _ = context.producer.set(producer.clone());
    if eos {
        tokio::task::block_in_place(|| transaction::start(&producer, tx.timeout))?;
        tracing::info!(%transactional_id, "generation stage: transactions initialised");
    }
    let consumer: StreamConsumer<PipelineContext> =
        consumer_config(&k).create_with_context(context)?;
    let enriched_topic = o.enriched.topic.clone();
    if cold.is_some() {
        consumer.subscribe(&[&input, &enriched_topic])?;
    } else {
        consumer.subscribe(&[&input])?;
    }
    tracing::info!(topic = %input, group = %k.group_id, top_up = cold.is_some(), "generation stage started");

    let mut emitter = Emitter {
        outputs,
        weights: weights(topology),
        producer: producer.clone(),
        tracker: tracker.clone(),
        gm: gm.clone(),
        buf: Vec::with_capacity(1024),
        summary: Summary::default(),
    };
    let records_in = metrics.records_in(&input);
    let capacity = config.queue_capacity;
    let mut paused = false;
    let mut order: InOrder<(Ticket, Instant), Generated> = InOrder::default();
    // Records waiting behind an unfinished product are bounded too (old products and dead
    // letters do not enter the inference queue, so they need their own bound).
    let order_capacity = capacity * 64;
    let mut commit_tick =
        tokio::time::interval(Duration::from_millis(topology.runtime.commit_interval_ms));
    commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut poll_tick = tokio::time::interval(Duration::from_millis(5));
    poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let top_up_every = config
        .top_up
        .as_ref()
        .map_or(1000, |t| (t.interval_ms / 4).clamp(10, 1000));
    let mut top_up_tick = tokio::time::interval(Duration::from_millis(top_up_every));
    top_up_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut top_ups = 0u64;
    // Whether the open transaction has anything to commit.
    let mut dirty = false;
    tokio::pin!(shutdown);
    let mut result = Ok(());
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            _ = commit_tick.tick() => {
                if let Some(failure) = tracker.failure() {
                    result = Err(GenerateError::Delivery(failure));
                    break;
                }
                if !eos {
                    commit_acknowledged(&consumer, &tracker, &metrics, CommitMode::Async);
                } else if dirty {
                    let r = tokio::task::block_in_place(|| transaction::commit(&consumer, &producer, &tracker, tx));
                    metrics.commit(r.is_ok());
                    if let Err(e) = r {
                        result = Err(e.into());
                        break;
                    }
                    dirty = false;
                }
                metrics.in_flight(tracker.in_flight());
            }
            _ = poll_tick.tick() => { producer.poll(Duration::ZERO); }
            _ = top_up_tick.tick(), if cold.is_some() => {
                let Some(cold) = cold.as_mut() else { continue };
                let room = (capacity / 2).saturating_sub(handle.depth());
                let due = if paused { Vec::new() } else { cold.due(now_ms(), room) };
                let rounds = due.len();
                for mut product in due {
                    // Its synthetic behaviour happens now, not when the product first appeared.
                    product.ts = now_ms();
                    top_ups += 1;
                    let job = Job { product, ticket: TOP_UP | top_ups, arrived: Instant::now() };
                    if handle.submit(job).is_err() {
                        result = Err(GenerateError::Thread("the inference thread stopped".into()));
                        break;
                    }
                }
                gm.cold(cold.len(), rounds, cold.take_counts());
                gm.queue(handle.depth(), capacity);
            }
            Some(reply) = reloads.recv() => {
                let h = handle.clone();
                tokio::spawn(async move { let _ = reply.send(h.reload().await); });
            }
            Some(done) = done_rx.recv() => {
                dirty = true;
                let released = if done.ticket & TOP_UP != 0 {
                    emitter.emit_top_up(done.generated)
                } else {
                    order.complete(done.ticket, done.generated);
                    emitter.release(&mut order)
                };
                if let Err(e) = released {
                    result = Err(e);
                    break;
                }
                gm.queue(handle.depth(), capacity);
                if paused && handle.depth() <= capacity / 2 && order.len() <= order_capacity / 2 {
                    let assignment = consumer.assignment()?;
                    consumer.resume(&assignment)?;
                    paused = false;
                    gm.paused(false);
                }
            }
            msg = consumer.recv() => match msg {
                Ok(m) if m.topic() == enriched_topic => {
                    dirty = true;
                    let slot = tracker.slot(m.topic(), m.partition());
                    if let Some(cold) = cold.as_mut() {
                        count_real(cold, &m, &enriched_codec, &gm);
                    }
                    tracker.processed(slot, m.offset(), 0);
                }
                Ok(m) => {
                    dirty = true;
                    records_in.inc();
                    let slot = tracker.slot(m.topic(), m.partition());
                    let (mut ticket, mut product) = decode(&m, &input_codec, slot, tracker.epoch());
                    let max_age = config.max_product_age_ms as i64;
                    if max_age > 0 && product.as_ref().is_some_and(|p| now_ms() - p.ts > max_age) {
                        ticket.skipped = true;
                        product = None;
                    }
                    let arrived = Instant::now();
                    match product {
                        None => order.push_ready((ticket, arrived), Generated::default()),
                        Some(product) => {
                            if let Some(cold) = cold.as_mut() {
                                cold.track(&product, now_ms());
                            }
                            let seq = order.push_waiting((ticket, arrived));
                            if handle.submit(Job { product, ticket: seq, arrived }).is_err() {
                                result = Err(GenerateError::Thread("the inference thread stopped".into()));
                                break;
                            }
                        }
                    }
                    if let Err(e) = emitter.release(&mut order) {
                        result = Err(e);
                        break;
                    }
                    gm.queue(handle.depth(), capacity);
                    // Pausing again on every arrival also covers partitions assigned since.
                    if handle.is_full() || order.len() >= order_capacity {
                        let assignment = consumer.assignment()?;
                        consumer.pause(&assignment)?;
                        if !paused {
                            tracing::debug!(depth = handle.depth(), waiting = order.len(), "generation queue full: product partitions paused");
                        }
                        paused = true;
                        gm.paused(true);
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "consume error");
                    metrics.kafka_error("consume");
                }
            }
        }
    }

    // Drain: what is queued is generated and delivered before the last commit.
    let deadline = Instant::now() + Duration::from_millis(topology.runtime.drain_timeout_ms);
    while !order.is_empty() && Instant::now() < deadline && result.is_ok() {
        match tokio::time::timeout(Duration::from_millis(100), done_rx.recv()).await {
            Ok(Some(done)) if done.ticket & TOP_UP != 0 => emitter.emit_top_up(done.generated)?,
            Ok(Some(done)) => {
                order.complete(done.ticket, done.generated);
                emitter.release(&mut order)?;
            }
            Ok(None) => break,
            Err(_) => {
                producer.poll(Duration::ZERO);
            }
        }
    }
    if eos {
        // The last transaction: committed if everything went well, aborted otherwise; records
        // not released yet are consumed again by the next owner either way.
        if result.is_ok() && tracker.failure().is_none() {
            let r = tokio::task::block_in_place(|| {
                transaction::commit(&consumer, &producer, &tracker, tx)
            });
            metrics.commit(r.is_ok());
            result = r.map_err(Into::into);
        } else {
            let _ = tokio::task::block_in_place(|| producer.abort_transaction(tx.timeout));
        }
    } else {
        let drain = Duration::from_millis(topology.runtime.drain_timeout_ms);
        if let Err(e) = tokio::task::block_in_place(|| producer.flush(drain)) {
            tracing::warn!(error = %e, "producer did not drain in time; undelivered records stay uncommitted");
        }
        commit_acknowledged(&consumer, &tracker, &metrics, CommitMode::Sync);
    }
    if let Some(failure) = tracker.failure() {
        result = result.and(Err(GenerateError::Delivery(failure)));
    }
    consumer.unsubscribe();
    tracing::info!(summary = ?emitter.summary, "generation stage stopped");
    result.map(|()| emitter.summary.clone())
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
    slot: Slot,
    epoch: u64,
) -> (Ticket, Option<ProductEvent>) {
    let payload = m.payload().unwrap_or_default();
    let (product, dead_letter) = match codec.decode::<ProductEvent>(EventType::Product, payload) {
        Ok(p) if !p.item_id.is_empty() => (Some(p), None),
        Ok(_) => (
            None,
            Some(("invalid_value", "item_id is empty".to_string())),
        ),
        Err(r) => (None, Some((r.code.as_str(), r.message))),
    };
    let dead_letter = dead_letter.map(|(code, message)| DeadLetter {
        reason_code: code.to_owned(),
        reason_message: message,
        stage: "generate".into(),
        source_topic: m.topic().to_owned(),
        source_partition: m.partition(),
        source_offset: m.offset(),
        key: m.key().map(<[u8]>::to_vec),
        payload: payload[..payload.len().min(256 * 1024)].to_vec(),
        payload_size: payload.len() as i64,
        ts: now_ms(),
    });
    let ticket = Ticket {
        slot,
        offset: m.offset(),
        dead_letter,
        skipped: false,
        epoch,
    };
    (ticket, product)
}

/// Turns results into records on the output topics.
struct Emitter {
    outputs: Outputs,
    weights: Weights,
    producer: Arc<Producer>,
    tracker: Arc<AckTracker>,
    gm: GenerationMetrics,
    buf: Vec<u8>,
    summary: Summary,
}

impl Emitter {
    fn send<T: serde::Serialize>(
        &mut self,
        out: fn(&Outputs) -> &(String, Codec),
        ty: EventType,
        key: &[u8],
        value: &T,
        token: usize,
    ) -> Result<(), GenerateError> {
        let (topic, codec) = out(&self.outputs);
        self.buf.clear();
        codec.encode(ty, value, &mut self.buf)?;
        let record = BaseRecord::with_opaque_to(topic, token)
            .key(key)
            .payload(&self.buf);
        send_waiting(&self.producer, record).map_err(|e| {
            let (slot, offset) = crate::pipeline::ack::unpack(token);
            self.tracker.failed(slot, offset, e.to_string());
            GenerateError::Delivery(format!("cannot produce to {topic}: {e}"))
        })
    }

    /// Hands every finished record at the front of `order` to the producer.
    fn release(
        &mut self,
        order: &mut InOrder<(Ticket, Instant), Generated>,
    ) -> Result<(), GenerateError> {
        while let Some(((ticket, arrived), generated)) = order.pop_ready() {
            self.emit(ticket, arrived, generated)?;
        }
        Ok(())
    }

    fn emit(&mut self, t: Ticket, arrived: Instant, g: Generated) -> Result<(), GenerateError> {
        if !self.tracker.still_owned(t.slot, t.epoch) {
            // Revoked while it was generated: its next owner consumes it again, and outputs
            // from here would be doubled (or, with transactions, committed without its offset).
            self.gm.product("revoked");
            return Ok(());
        }
        let token = pack(t.slot, t.offset);
        if let Some(dl) = t.dead_letter {
            self.tracker.processed(t.slot, t.offset, 1);
            self.summary.dead_letters += 1;
            self.gm.product("dead_letter");
            let key = dl.key.clone().unwrap_or_default();
            return self.send(|o| &o.dead_letter, EventType::DeadLetter, &key, &dl, token);
        }
        if t.skipped {
            self.tracker.processed(t.slot, t.offset, 0);
            self.summary.skipped += 1;
            self.gm.product("skipped_old");
            return Ok(());
        }
        let n = g.reviews.len() + 2 * g.behavior.len();
        // Registered before sending, so that an acknowledgement never precedes its record.
        self.tracker.processed(t.slot, t.offset, n as u32);
        self.send_generated(&g, token)?;
        self.summary.products += 1;
        let complete = g.missing_reviews == 0 && !g.missing_behavior;
        self.gm
            .product(if complete { "generated" } else { "partial" });
        self.gm.latency(arrived.elapsed().as_secs_f64());
        Ok(())
    }

    /// A top-up round's records: produced like any others, but tied to no input offset.
    fn emit_top_up(&mut self, mut g: Generated) -> Result<(), GenerateError> {
        // A round's ids must differ from the first round's (consumers deduplicate by id); the
        // batch seed differs per round.
        for r in &mut g.reviews {
            r.event_id = format!("{}-top{}", r.event_id, r.seed);
        }
        for b in &mut g.behavior {
            b.event_id = format!("{}-top{}", b.event_id, b.seed);
        }
        self.send_generated(&g, pack(TOP_UP_SLOT, 0))?;
        self.summary.top_ups += 1;
        self.gm.product("top_up");
        Ok(())
    }

    fn send_generated(&mut self, g: &Generated, token: usize) -> Result<(), GenerateError> {
        for r in &g.reviews {
            self.send(
                |o| &o.reviews,
                EventType::SyntheticReview,
                r.item_id.as_bytes(),
                r,
                token,
            )?;
        }
        for b in &g.behavior {
            self.send(
                |o| &o.behavior,
                EventType::SyntheticBehavior,
                b.user_id.as_bytes(),
                b,
                token,
            )?;
            let weight = self.weights.of(b.kind);
            let e = EnrichedEvent {
                event_id: b.event_id.clone(),
                user_id: b.user_id.clone(),
                item_id: b.item_id.clone(),
                kind: b.kind,
                ts: b.ts,
                weight,
                origin: Origin::Synthetic,
                synthetic: true,
                model_version: Some(b.model_version.clone()),
                rating: None,
            };
            self.send(
                |o| &o.enriched,
                EventType::Enriched,
                e.user_id.as_bytes(),
                &e,
                token,
            )?;
        }
        self.summary.reviews += g.reviews.len() as u64;
        self.summary.behavior += g.behavior.len() as u64;
        self.gm.generated("review", g.reviews.len());
        self.gm.generated("behavior", g.behavior.len());
        for ((kind, reason), n) in &g.rejected {
            self.gm.rejected(kind, reason, *n);
        }
        self.gm.shortfall("review", g.missing_reviews);
        self.gm.shortfall("behavior", g.missing_behavior as usize);
        Ok(())
    }
}
