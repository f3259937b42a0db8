//! The consume-transform-produce loop.
//!
//! One tokio task reads the input topics, runs each record through the [`Chain`], and hands the
//! outputs to an idempotent producer. Input offsets are committed periodically, and only up to
//! the records whose outputs the broker has acknowledged ([`AckTracker`]); the rebalance callback
//! does the same for partitions that move away. Together this is at-least-once with no loss: a
//! crash repeats at most the records after the last commit, it never skips one.

use super::ack::{pack, AckTracker, Slot};
use super::chain::Chain;
use super::transaction;
use super::{stages, InputCtx, Record};
use crate::codec::{Codec, EncodeError, SchemaRegistry};
use crate::events::{DeadLetter, EventType};
use crate::kafka::admin::{ensure_topics, AdminError};
use crate::kafka::context::{commit, AckContext, PipelineContext, Producer};
use crate::kafka::publish::send_waiting;
use crate::kafka::{common_config, consumer_config, producer_config, redacted};
use crate::observe::Metrics;
use crate::topology::{Delivery, OutputConfig, Topology};
use futures::FutureExt;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _};
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("schema file {path}: {source}")]
    SchemaFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Registry(#[from] crate::codec::RegistryError),
    #[error("Kafka client: {0}")]
    Kafka(#[from] KafkaError),
    #[error(transparent)]
    Admin(#[from] AdminError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("{0}")]
    Delivery(String),
    #[error("no output topic for `{0}` records leaving the last stage; add one to the topology")]
    NoRoute(&'static str),
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

struct Input {
    event_type: EventType,
    codec: Codec,
    records_in: prometheus::IntCounter,
    /// Tracker slots of this topic's partitions, so the hot path needs no string key.
    slots: HashMap<i32, Slot>,
}

struct Output {
    topic: String,
    codec: Codec,
}

impl Output {
    fn new(c: &OutputConfig, registry: &Arc<SchemaRegistry>) -> Self {
        Output {
            topic: c.topic.clone(),
            codec: Codec::new(c.format, registry.clone()),
        }
    }
}

pub fn build_registry(topology: &Topology) -> Result<SchemaRegistry, PipelineError> {
    let mut registry = SchemaRegistry::builtin();
    for s in &topology.schemas {
        let text =
            std::fs::read_to_string(&s.file).map_err(|source| PipelineError::SchemaFile {
                path: s.file.clone(),
                source,
            })?;
        registry.register(s.id, s.event_type, &text)?;
    }
    Ok(registry)
}

pub struct Pipeline {
    topology: Topology,
    registry: Arc<SchemaRegistry>,
    metrics: Metrics,
}

impl Pipeline {
    pub fn new(topology: Topology, metrics: Metrics) -> Result<Self, PipelineError> {
        let registry = Arc::new(build_registry(&topology)?);
        Ok(Pipeline {
            topology,
            registry,
            metrics,
        })
    }

    fn output_topics(&self) -> Vec<&str> {
        let o = &self.topology.outputs;
        vec![&o.enriched.topic, &o.products.topic, &o.dead_letter.topic]
    }

    /// Runs until `shutdown` resolves, then drains: stops fetching, waits for the producer to
    /// deliver everything, commits, and leaves the group.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<Summary, PipelineError> {
        let t = &self.topology;
        let k = &t.kafka;
        let mut all_topics: Vec<&str> = t.inputs.values().map(|i| i.topic.as_str()).collect();
        all_topics.extend(self.output_topics());
        ensure_topics(
            &common_config(k),
            &all_topics,
            k.create_topics_partitions,
            k.create_topics_replication,
        )
        .await?;

        let tracker = Arc::new(AckTracker::new());
        let eos = t.runtime.delivery == Delivery::ExactlyOnce;
        let tx = transaction::Transactions {
            timeout: Duration::from_millis(t.runtime.drain_timeout_ms),
            offsets: transaction::Offsets::Positions,
        };
        let mut pconf = producer_config(k);
        let transactional_id = t.runtime.transactional_id(&k.group_id);
        if eos {
            transaction::configure(&mut pconf, k, &transactional_id);
        }
        tracing::info!(config = %redacted(&pconf), "producer");
        let producer: Arc<Producer> = Arc::new(pconf.create_with_context(AckContext::new(
            tracker.clone(),
            self.metrics.clone(),
            &self.output_topics(),
        ))?);
        let cconf = consumer_config(k);
        tracing::info!(config = %redacted(&cconf), "consumer");
        let context = PipelineContext {
            tracker: tracker.clone(),
            metrics: self.metrics.clone(),
            producer: Default::default(),
            drain_timeout: Duration::from_millis(t.runtime.drain_timeout_ms),
            assigned: Default::default(),
            transactional: eos.then_some(tx),
        };
        let _ = context.producer.set(producer.clone());
        if eos {
            tokio::task::block_in_place(|| transaction::start(&producer, tx.timeout))?;
            tracing::info!(%transactional_id, "exactly-once: transactions initialised");
        }
        let consumer: StreamConsumer<PipelineContext> = cconf.create_with_context(context)?;
        let input_topics: Vec<&str> = t.inputs.values().map(|i| i.topic.as_str()).collect();
        consumer.subscribe(&input_topics)?;
        tracing::info!(topology = %t.name, inputs = ?input_topics, "pipeline started");

        let mut worker = Worker::new(&self, producer.clone(), tracker.clone());
        let mut commit_tick =
            tokio::time::interval(Duration::from_millis(t.runtime.commit_interval_ms));
        commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Delivery reports are served by polling the producer: after each record, and on this
        // tick while the input is idle.
        let mut poll_tick = tokio::time::interval(Duration::from_millis(5));
        poll_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        let mut result = Ok(());
        let mut consumed_since_commit = false;
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => {
                    tracing::info!("shutdown requested: draining");
                    break;
                }
                _ = commit_tick.tick() => {
                    if let Some(failure) = tracker.failure() {
                        result = Err(PipelineError::Delivery(failure));
                        break;
                    }
                    if eos {
                        if consumed_since_commit {
                            let r = tokio::task::block_in_place(|| transaction::commit(&consumer, &producer, &tracker, tx));
                            self.metrics.commit(r.is_ok());
                            if let Err(e) = r {
                                result = Err(e.into());
                                break;
                            }
                            consumed_since_commit = false;
                        }
                    } else {
                        commit_acknowledged(&consumer, &tracker, &self.metrics, CommitMode::Async);
                    }
                    worker.now_ms = now_ms();
                    self.metrics.in_flight(tracker.in_flight());
                }
                _ = poll_tick.tick() => {
                    producer.poll(Duration::ZERO);
                }
                msg = consumer.recv() => match msg {
                    Ok(m) => {
                        consumed_since_commit = true;
                        if let Err(e) = worker.handle(&m) {
                            result = Err(e);
                            break;
                        }
                        drop(m);
                        // Records already fetched are handled without another trip through
                        // select!, whose per-record cost showed in the passthrough bench.
                        if let Err(e) = drain_ready(&consumer, &mut worker, &self.metrics) {
                            result = Err(e);
                            break;
                        }
                        producer.poll(Duration::ZERO);
                        // Backpressure: stop reading while the broker is behind on acknowledgements.
                        let mut stop = false;
                        while tracker.in_flight() > t.runtime.max_in_flight && tracker.failure().is_none() {
                            producer.poll(Duration::ZERO);
                            tokio::select! {
                                _ = &mut shutdown => { stop = true; break; }
                                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
                            }
                        }
                        if stop {
                            tracing::info!("shutdown requested while waiting for acknowledgements: draining");
                            break;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "consume error");
                        self.metrics.kafka_error("consume");
                    }
                }
            }
        }

        if eos {
            // The last transaction: committed if everything went well, aborted otherwise (its
            // records are consumed again by the next owner).
            if result.is_ok() && tracker.failure().is_none() {
                let r = tokio::task::block_in_place(|| {
                    transaction::commit(&consumer, &producer, &tracker, tx)
                });
                self.metrics.commit(r.is_ok());
                result = r.map_err(Into::into);
            } else {
                let _ = tokio::task::block_in_place(|| producer.abort_transaction(tx.timeout));
            }
        } else {
            // Drain: everything handed to the producer is delivered (or fails) before the last
            // commit.
            let drain = Duration::from_millis(t.runtime.drain_timeout_ms);
            let flushed = tokio::task::block_in_place(|| producer.flush(drain));
            if let Err(e) = flushed {
                tracing::warn!(error = %e, "producer did not drain in time; undelivered records stay uncommitted");
            }
        }
        if let Some(failure) = tracker.failure() {
            result = result.and(Err(PipelineError::Delivery(failure)));
        }
        if !eos {
            commit_acknowledged(&consumer, &tracker, &self.metrics, CommitMode::Sync);
        }
        self.metrics.in_flight(tracker.in_flight());
        self.metrics.set_ready(false);
        consumer.unsubscribe();
        let summary = worker.summary.clone();
        tracing::info!(?summary, "pipeline stopped");
        result.map(|()| summary)
    }
}

/// Handles up to `DRAIN_BATCH` records that the consumer already holds, without waiting.
fn drain_ready(
    consumer: &StreamConsumer<PipelineContext>,
    worker: &mut Worker,
    metrics: &Metrics,
) -> Result<(), PipelineError> {
    const DRAIN_BATCH: usize = 64;
    for _ in 0..DRAIN_BATCH {
        match consumer.recv().now_or_never() {
            Some(Ok(m)) => worker.handle(&m)?,
            Some(Err(e)) => {
                tracing::warn!(error = %e, "consume error");
                metrics.kafka_error("consume");
            }
            None => break,
        }
    }
    Ok(())
}

pub(crate) fn commit_acknowledged(
    consumer: &StreamConsumer<PipelineContext>,
    tracker: &AckTracker,
    metrics: &Metrics,
    mode: CommitMode,
) {
    let offsets = tracker.take_committable(None);
    if offsets.is_empty() {
        return;
    }
    let r = commit(consumer, &offsets, mode);
    metrics.commit(r.is_ok());
    if let Err(e) = r {
        tracker.commit_failed(&offsets);
        tracing::warn!(error = %e, "offset commit failed; will retry with the next commit");
    }
}

/// The per-record work, separated from the loop so that the loop reads as the protocol.
struct Worker {
    inputs: HashMap<String, Input>,
    dead_letter_max_payload: usize,
    /// Output topic of each event type that leaves the chain.
    outputs: HashMap<EventType, Output>,
    dead_letter: Output,
    chain: Chain,
    stage_timers: Vec<prometheus::Histogram>,
    producer: Arc<Producer>,
    tracker: Arc<AckTracker>,
    metrics: Metrics,
    outs: Vec<Record>,
    /// Encoding buffer reused for every output: the producer copies the bytes.
    scratch: Vec<u8>,
    summary: Summary,
    /// The wall clock, refreshed at every commit tick: it only bounds future timestamps (by an
    /// hour by default) and dates dead letters, and reading it per record cost 1% of throughput.
    now_ms: i64,
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Worker {
    fn new(p: &Pipeline, producer: Arc<Producer>, tracker: Arc<AckTracker>) -> Self {
        let t = &p.topology;
        let inputs = t
            .inputs
            .values()
            .map(|i| {
                (
                    i.topic.clone(),
                    Input {
                        event_type: i.event_type,
                        codec: Codec::new(i.format, p.registry.clone()),
                        records_in: p.metrics.records_in(&i.topic),
                        slots: HashMap::new(),
                    },
                )
            })
            .collect();
        let chain = Chain::new(stages::build(&t.stages));
        let stage_timers = chain
            .stage_names()
            .iter()
            .map(|n| p.metrics.stage_timer(n))
            .collect();
        Worker {
            inputs,
            dead_letter_max_payload: t.runtime.dead_letter_max_payload_bytes,
            outputs: HashMap::from([
                (
                    EventType::Enriched,
                    Output::new(&t.outputs.enriched, &p.registry),
                ),
                (
                    EventType::Product,
                    Output::new(&t.outputs.products, &p.registry),
                ),
            ]),
            dead_letter: Output::new(&t.outputs.dead_letter, &p.registry),
            chain,
            stage_timers,
            producer,
            tracker,
            metrics: p.metrics.clone(),
            outs: Vec::with_capacity(4),
            scratch: Vec::with_capacity(1024),
            summary: Summary::default(),
            now_ms: now_ms(),
        }
    }

    fn handle(&mut self, m: &BorrowedMessage<'_>) -> Result<(), PipelineError> {
        let topic = m.topic();
        let Some(input) = self.inputs.get_mut(topic) else {
            return Ok(()); // not subscribed; cannot happen with subscribe()
        };
        let tracker = &self.tracker;
        let slot = *input
            .slots
            .entry(m.partition())
            .or_insert_with(|| tracker.slot(topic, m.partition()));
        input.records_in.inc();
        self.summary.records_in += 1;
        let payload = m.payload().unwrap_or(&[]);
        let ctx = InputCtx {
            payload,
            event_type: input.event_type,
            codec: &input.codec,
            now_ms: self.now_ms,
        };
        self.outs.clear();
        let outcome = self.chain.run(Record::Undecoded, &ctx, &mut self.outs);
        for (timer, d) in self.stage_timers.iter().zip(self.chain.last_timings()) {
            timer.observe(d.as_secs_f64());
        }
        let outputs = match &outcome {
            Ok(()) => self.outs.len(),
            Err(_) => 1,
        };
        self.summary.outputs += outputs as u64;
        // Registered before sending, so that an acknowledgement can never precede its record.
        self.tracker.processed(slot, m.offset(), outputs as u32);
        let token = pack(slot, m.offset());
        match outcome {
            Ok(()) => {
                if self.outs.is_empty() {
                    self.summary.filtered += 1;
                    self.metrics.filtered(self.chain.last_stage());
                }
                for r in &self.outs {
                    // Routing is by event type, so that a stage emitting a new type needs an
                    // output in the topology, not a change here.
                    let out = r
                        .event_type()
                        .and_then(|ty| self.outputs.get(&ty))
                        .ok_or_else(|| PipelineError::NoRoute(r.kind()))?;
                    self.scratch.clear();
                    r.encode(&out.codec, &mut self.scratch)?;
                    let record = BaseRecord::with_opaque_to(&out.topic, token)
                        .key(r.key())
                        .payload(&self.scratch);
                    send(&self.producer, record, &self.tracker)?;
                }
            }
            Err(rej) => {
                let code = rej.rejection.code.as_str();
                self.metrics.dead_letter(code);
                self.summary.dead_letters += 1;
                *self
                    .summary
                    .dead_letters_by_reason
                    .entry(code.to_owned())
                    .or_default() += 1;
                tracing::debug!(topic, partition = m.partition(), offset = m.offset(), reason = %rej.rejection, "dead letter");
                let dl = DeadLetter {
                    reason_code: code.to_owned(),
                    reason_message: rej.rejection.message,
                    stage: rej.stage.to_owned(),
                    source_topic: topic.to_owned(),
                    source_partition: m.partition(),
                    source_offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: payload[..payload.len().min(self.dead_letter_max_payload)].to_vec(),
                    payload_size: payload.len() as i64,
                    ts: ctx.now_ms,
                };
                self.scratch.clear();
                self.dead_letter
                    .codec
                    .encode(EventType::DeadLetter, &dl, &mut self.scratch)?;
                let headers = OwnedHeaders::new().insert(Header {
                    key: "warmstart.reason",
                    value: Some(code),
                });
                let record = BaseRecord::with_opaque_to(&self.dead_letter.topic, token)
                    .key(m.key().unwrap_or_default())
                    .payload(&self.scratch)
                    .headers(headers);
                send(&self.producer, record, &self.tracker)?;
            }
        }
        Ok(())
    }
}

/// Hands one output to the producer (which copies it), waiting while its local queue is full.
/// A refusal marks the input record failed, so that its offset is never committed.
fn send(
    producer: &Producer,
    record: BaseRecord<'_, [u8], Vec<u8>, usize>,
    tracker: &AckTracker,
) -> Result<(), PipelineError> {
    let token = record.delivery_opaque;
    let topic = record.topic.to_owned();
    send_waiting(producer, record).map_err(|e| {
        let (slot, offset) = crate::pipeline::ack::unpack(token);
        tracker.failed(slot, offset, e.to_string());
        PipelineError::Delivery(format!("cannot produce to {topic}: {e}"))
    })
}
