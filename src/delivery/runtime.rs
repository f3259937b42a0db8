//! The delivery runtime: one consume -> process -> produce -> commit protocol for every service.
//!
//! A service (the pipeline, the generation stage, the recommender's consumer) owns its loop and
//! its processing; the runtime owns everything between that and Kafka:
//!
//! - the clients: a consumer in the service's group whose context commits on revocation, and,
//!   when the service writes, an idempotent producer whose delivery reports feed the
//!   [`AckTracker`] (transactional with `runtime.delivery = "exactly_once"`);
//! - [`Runtime::send`]: every output goes out tied to its input record, so the record's offset
//!   can only be committed once the output is acknowledged;
//! - [`Runtime::commit`], the commit tick: at least once, the tracker's committable offsets;
//!   exactly once, the open transaction with its input offsets (`transaction`);
//! - [`Runtime::send_dead_letter`]: dead letters with the configured cap and the reason header;
//! - [`Runtime::wait_for_room`]: backpressure while the broker is behind on acknowledgements;
//! - [`Runtime::finish`]: the drain on shutdown, the last commit, leaving the group.
//!
//! The rule it keeps, in both modes: offset `o + 1` of a partition is committed only once the
//! outputs of every record up to `o` are acknowledged (or, exactly once, are in the same
//! transaction as the offset).

use super::ack::{unpack, AckTracker, Slot};
use super::context::{AckContext, PipelineContext, Producer};
use super::dead_letter::DeadLetters;
use super::handoff::Handoff;
use super::transaction::{self, Offsets, Transactions};
use super::{commit_acknowledged, DeliveryError};
use crate::codec::Codec;
use crate::events::{DeadLetter, EventType};
use crate::kafka::admin::ensure_topics;
use crate::kafka::publish::send_waiting;
use crate::kafka::{common_config, consumer_config, producer_config, redacted};
use crate::observe::Metrics;
use crate::topology::{Delivery, KafkaConfig, RuntimeConfig};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer as _};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// What a service asks of the runtime.
pub struct Spec {
    /// For logs: `pipeline`, `generation`, `recommender`.
    pub service: &'static str,
    /// Client settings, with the service's own `group_id`.
    pub kafka: KafkaConfig,
    pub runtime: RuntimeConfig,
    /// The producer's `transactional.id` with exactly-once.
    pub transactional_id: String,
    pub inputs: Vec<String>,
    /// Empty: the service only consumes (no producer, at least once on its consumer position).
    pub outputs: Vec<String>,
    /// Where an exactly-once transaction's offsets come from.
    pub offsets: Offsets,
    /// Subscribe to `inputs` in the group; `false`: the service assigns partitions itself.
    pub subscribe: bool,
}

/// Sends outputs tied to their input records; cheap to clone, one per worker thread.
#[derive(Clone)]
pub struct Sender {
    producer: Option<Arc<Producer>>,
    tracker: Arc<AckTracker>,
    service: &'static str,
}

impl Sender {
    /// Hands one output of the input record `token` (see `ack::pack`) to the producer, waiting
    /// while its local queue is full. A refusal marks the input record failed, so its offset is
    /// never committed.
    pub fn send(
        &self,
        topic: &str,
        key: &[u8],
        payload: &[u8],
        headers: Option<OwnedHeaders>,
        token: usize,
    ) -> Result<(), DeliveryError> {
        let Some(producer) = &self.producer else {
            return Err(DeliveryError::Undelivered(format!(
                "the {} writes nothing, yet something was sent to {topic}",
                self.service
            )));
        };
        let mut record = BaseRecord::with_opaque_to(topic, token)
            .key(key)
            .payload(payload);
        if let Some(h) = headers {
            record = record.headers(h);
        }
        send_waiting(producer, record).map_err(|e| {
            let (slot, offset) = unpack(token);
            self.tracker.failed(slot, offset, e.to_string());
            DeliveryError::Undelivered(format!("cannot produce to {topic}: {e}"))
        })
    }

    /// Encodes `dl` with `codec` and sends it to `topic` with the `warmstart.reason` header.
    pub fn send_dead_letter(
        &self,
        topic: &str,
        codec: &Codec,
        dl: &DeadLetter,
        buf: &mut Vec<u8>,
        token: usize,
    ) -> Result<(), DeliveryError> {
        buf.clear();
        codec.encode(EventType::DeadLetter, dl, buf)?;
        let headers = OwnedHeaders::new().insert(Header {
            key: "warmstart.reason",
            value: Some(dl.reason_code.as_str()),
        });
        self.send(
            topic,
            dl.key.as_deref().unwrap_or_default(),
            buf,
            Some(headers),
            token,
        )
    }

    /// Registers input record (slot, offset) with the `outputs` it is about to send: before
    /// sending, so that an acknowledgement never precedes its record.
    pub fn processed(&self, slot: Slot, offset: i64, outputs: u32) {
        self.tracker.processed(slot, offset, outputs);
    }

    pub fn tracker(&self) -> &Arc<AckTracker> {
        &self.tracker
    }

    /// Serves delivery reports.
    pub fn poll(&self) {
        if let Some(p) = &self.producer {
            p.poll(Duration::ZERO);
        }
    }
}

pub struct Runtime {
    consumer: StreamConsumer<PipelineContext>,
    /// The producer (if the service writes) and the ack tracker, shared with the workers.
    sender: Sender,
    handoff: Arc<Handoff>,
    metrics: Metrics,
    transactions: Option<Transactions>,
    /// Whether the open transaction has anything new (an atomic only so that the loop can mark
    /// it while it borrows the consumer).
    dirty: AtomicBool,
    dead_letters: DeadLetters,
    config: RuntimeConfig,
    service: &'static str,
}

impl Runtime {
    /// Creates the topics it needs, the clients, and (exactly once) the first transaction.
    pub async fn start(spec: Spec, metrics: Metrics) -> Result<Self, DeliveryError> {
        let k = &spec.kafka;
        let mut all: Vec<&str> = spec.inputs.iter().map(String::as_str).collect();
        all.extend(spec.outputs.iter().map(String::as_str));
        ensure_topics(
            &common_config(k),
            &all,
            k.create_topics_partitions,
            k.create_topics_replication,
        )
        .await?;
        let tracker = Arc::new(AckTracker::new());
        let writes = !spec.outputs.is_empty();
        let eos = writes && spec.runtime.delivery == Delivery::ExactlyOnce;
        let transactions = eos.then_some(Transactions {
            timeout: Duration::from_millis(spec.runtime.drain_timeout_ms),
            offsets: spec.offsets,
        });
        let producer = if writes {
            let mut pconf = producer_config(k);
            if eos {
                transaction::configure(&mut pconf, k, &spec.transactional_id);
            }
            tracing::debug!(service = spec.service, config = %redacted(&pconf), "producer");
            let outputs: Vec<&str> = spec.outputs.iter().map(String::as_str).collect();
            let p: Producer = pconf.create_with_context(AckContext::new(
                tracker.clone(),
                metrics.clone(),
                &outputs,
            ))?;
            Some(Arc::new(p))
        } else {
            None
        };
        let handoff = Arc::new(Handoff::default());
        let cconf = consumer_config(k);
        tracing::debug!(service = spec.service, config = %redacted(&cconf), "consumer");
        let context = PipelineContext {
            service: spec.service,
            tracker: tracker.clone(),
            metrics: metrics.clone(),
            producer: Default::default(),
            drain_timeout: Duration::from_millis(spec.runtime.drain_timeout_ms),
            assigned: Default::default(),
            transactional: transactions,
            handoff: handoff.clone(),
        };
        if let Some(p) = &producer {
            let _ = context.producer.set(p.clone());
        }
        if let (Some(tx), Some(p)) = (transactions, &producer) {
            tokio::task::block_in_place(|| transaction::start(p, tx.timeout))?;
            tracing::info!(service = spec.service, transactional_id = %spec.transactional_id, "exactly-once: transactions initialised");
        }
        let consumer: StreamConsumer<PipelineContext> = cconf.create_with_context(context)?;
        if spec.subscribe {
            let inputs: Vec<&str> = spec.inputs.iter().map(String::as_str).collect();
            consumer.subscribe(&inputs)?;
        }
        tracing::debug!(
            service = spec.service,
            group = %k.group_id,
            inputs = ?spec.inputs,
            delivery = if eos { "exactly_once" } else { "at_least_once" },
            "clients ready"
        );
        let sender = Sender {
            producer,
            tracker,
            service: spec.service,
        };
        Ok(Runtime {
            consumer,
            sender,
            handoff,
            metrics,
            transactions,
            dirty: AtomicBool::new(false),
            dead_letters: DeadLetters {
                max_payload: spec.runtime.dead_letter_max_payload_bytes,
            },
            config: spec.runtime,
            service: spec.service,
        })
    }

    pub fn consumer(&self) -> &StreamConsumer<PipelineContext> {
        &self.consumer
    }

    /// Assigns partitions at chosen offsets (a consumer that keeps its positions itself, not in
    /// the group). No rebalance follows, so readiness learns of the assignment here.
    pub fn assign(
        &self,
        partitions: &rdkafka::TopicPartitionList,
    ) -> rdkafka::error::KafkaResult<()> {
        self.consumer.assign(partitions)?;
        self.consumer
            .context()
            .assigned
            .store(true, Ordering::Relaxed);
        self.metrics.set_ready(true);
        Ok(())
    }

    pub fn tracker(&self) -> &Arc<AckTracker> {
        &self.sender.tracker
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn dead_letters(&self) -> DeadLetters {
        self.dead_letters
    }

    pub fn is_exactly_once(&self) -> bool {
        self.transactions.is_some()
    }

    /// How often a loop serves delivery reports while its input is idle (it also does after
    /// every batch of records).
    pub fn poll_interval(&self) -> tokio::time::Interval {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    }

    /// The commit tick of `runtime.commit_interval_ms`; missed ticks are delayed, not bunched.
    pub fn commit_interval(&self) -> tokio::time::Interval {
        let mut tick = tokio::time::interval(Duration::from_millis(self.config.commit_interval_ms));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick
    }

    /// Something was consumed or sent since the last commit.
    pub fn touch(&self) {
        self.dirty.store(true, Ordering::Relaxed);
    }

    /// Serves delivery reports (the producer is polled from the service's loop, see `context`).
    pub fn poll(&self) {
        self.sender.poll();
    }

    /// The commit tick: a failed delivery stops the service; otherwise, at least once, the
    /// acknowledged offsets are committed, and exactly once, the open transaction.
    pub fn commit(&self) -> Result<(), DeliveryError> {
        if let Some(failure) = self.sender.tracker.failure() {
            return Err(DeliveryError::Undelivered(failure));
        }
        match (self.transactions, &self.sender.producer) {
            (Some(tx), Some(p)) => {
                if self.dirty.load(Ordering::Relaxed) {
                    // The consumer's positions are the transaction's offsets: every record taken
                    // from the consumer must have its outputs sent first.
                    if !tokio::task::block_in_place(|| self.handoff.wait_idle(tx.timeout)) {
                        return Err(DeliveryError::Undelivered(
                            "workers did not finish their records before the commit".into(),
                        ));
                    }
                    let r = tokio::task::block_in_place(|| {
                        transaction::commit(&self.consumer, p, &self.sender.tracker, tx)
                    });
                    self.metrics.commit(r.is_ok());
                    r?;
                    self.dirty.store(false, Ordering::Relaxed);
                }
            }
            _ => {
                commit_acknowledged(
                    &self.consumer,
                    &self.sender.tracker,
                    &self.metrics,
                    CommitMode::Async,
                );
            }
        }
        self.metrics.in_flight(self.sender.tracker.in_flight());
        Ok(())
    }

    /// The sending side, for worker threads.
    pub fn sender(&self) -> &Sender {
        &self.sender
    }

    /// Records handed to worker threads (see `handoff`).
    pub fn handoff(&self) -> &Arc<Handoff> {
        &self.handoff
    }

    /// See [`Sender::processed`]; also marks the open transaction as having work.
    pub fn processed(&self, slot: Slot, offset: i64, outputs: u32) {
        self.touch();
        self.sender.processed(slot, offset, outputs);
    }

    /// Backpressure: waits while more than `runtime.max_in_flight` outputs are unacknowledged.
    /// Returns `false` if `shutdown` fired meanwhile.
    pub async fn wait_for_room(&self, shutdown: &mut (impl Future<Output = ()> + Unpin)) -> bool {
        while self.sender.tracker.in_flight() > self.config.max_in_flight
            && self.sender.tracker.failure().is_none()
        {
            self.poll();
            tokio::select! {
                _ = &mut *shutdown => return false,
                _ = tokio::time::sleep(Duration::from_millis(1)) => {}
            }
        }
        true
    }

    /// [`Runtime::finish`] after a service's own loop: its error, if any, aborts the open
    /// transaction (at least once: commits only what was acknowledged) and is returned as is.
    pub fn close<E>(self, result: Result<(), E>) -> Result<(), E>
    where
        E: From<DeliveryError> + std::fmt::Display,
    {
        match result {
            Ok(()) => self.finish(Ok(())).map_err(E::from),
            Err(e) => {
                let _ = self.finish(Err(DeliveryError::Undelivered(e.to_string())));
                Err(e)
            }
        }
    }

    /// Shutdown: exactly once, the last transaction is committed if all went well and aborted
    /// otherwise (its records are consumed again by the next owner); at least once, the producer
    /// drains and the acknowledged offsets are committed. Then the group is left.
    pub fn finish(self, mut result: Result<(), DeliveryError>) -> Result<(), DeliveryError> {
        let drain = Duration::from_millis(self.config.drain_timeout_ms);
        match (self.transactions, self.sender.producer.clone()) {
            (Some(tx), Some(p)) => {
                if result.is_ok() && self.sender.tracker.failure().is_none() {
                    self.touch();
                    result = self.commit();
                } else {
                    let _ = tokio::task::block_in_place(|| p.abort_transaction(tx.timeout));
                }
            }
            (_, producer) => {
                if let Some(p) = producer {
                    if let Err(e) = tokio::task::block_in_place(|| p.flush(drain)) {
                        tracing::warn!(service = self.service, error = %e, "producer did not drain in time; undelivered records stay uncommitted");
                    }
                }
                // After a failed delivery nothing is committed; the check below reports it.
                if self.sender.tracker.failure().is_none() {
                    commit_acknowledged(
                        &self.consumer,
                        &self.sender.tracker,
                        &self.metrics,
                        CommitMode::Sync,
                    );
                }
            }
        }
        if let Some(failure) = self.sender.tracker.failure() {
            if result.is_ok() {
                result = Err(DeliveryError::Undelivered(failure));
            }
        }
        self.metrics.in_flight(self.sender.tracker.in_flight());
        self.metrics.set_ready(false);
        self.consumer.unsubscribe();
        result
    }
}
