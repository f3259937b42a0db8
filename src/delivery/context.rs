//! The client contexts: where librdkafka's callbacks meet the pipeline.
//!
//! - [`AckContext`] (producer): each delivery report acknowledges one output in the
//!   [`AckTracker`], which is what lets an input offset be committed.
//! - [`PipelineContext`] (consumer): on revocation it waits for the producer to deliver what it
//!   holds and commits the revoked partitions' acknowledged offsets before they move to another
//!   consumer, so that a rebalance neither loses nor repeats work; statistics feed the lag gauges;
//!   broker-down errors turn readiness off.

use crate::delivery::ack::{unpack, AckTracker};
use crate::observe::Metrics;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, DeliveryResult, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub struct AckContext {
    pub tracker: Arc<AckTracker>,
    pub metrics: Metrics,
    out_counters: Vec<(String, prometheus::IntCounter)>,
}

impl AckContext {
    pub fn new(tracker: Arc<AckTracker>, metrics: Metrics, output_topics: &[&str]) -> Self {
        let out_counters = output_topics
            .iter()
            .map(|t| (t.to_string(), metrics.records_out(t)))
            .collect();
        AckContext {
            tracker,
            metrics,
            out_counters,
        }
    }
}

impl ClientContext for AckContext {
    fn error(&self, error: KafkaError, reason: &str) {
        self.metrics.kafka_error(&error_code(&error));
        tracing::warn!(error = %error, reason, "producer error");
    }
}

impl ProducerContext for AckContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, token: usize) {
        let (slot, offset) = unpack(token);
        match result {
            Ok(msg) => {
                if let Some((_, c)) = self.out_counters.iter().find(|(t, _)| t == msg.topic()) {
                    c.inc();
                }
                if let Some(sent) = msg.timestamp().to_millis() {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .map_or(0, |d| d.as_millis() as i64);
                    self.metrics
                        .ack_latency((now - sent).max(0) as f64 / 1000.0);
                }
                self.tracker.acked(slot, offset);
            }
            Err((e, msg)) => {
                self.metrics.delivery_error();
                tracing::error!(error = %e, topic = msg.topic(), "output not delivered; offsets stay uncommitted");
                self.tracker.failed(slot, offset, e.to_string());
            }
        }
    }
}

/// Polled from the pipeline's own loop rather than a thread of its own: delivery reports then
/// update the tracker on the thread that also reads it, with no lock contention or wake-ups
/// between threads (a ThreadedProducer cost a third of the throughput here).
pub type Producer = BaseProducer<AckContext>;

pub struct PipelineContext {
    /// Which service's consumer, for the log lines.
    pub service: &'static str,
    pub tracker: Arc<AckTracker>,
    pub metrics: Metrics,
    /// Set once the producer exists; the consumer is created after it.
    pub producer: OnceLock<Arc<Producer>>,
    pub drain_timeout: Duration,
    /// Whether the group gave this consumer an assignment (possibly empty): half of readiness.
    pub assigned: AtomicBool,
    /// Exactly-once: a revocation then commits the open transaction (outputs and offsets)
    /// instead of flushing and committing offsets.
    pub transactional: Option<crate::delivery::transaction::Transactions>,
    /// Records handed to worker threads: a revocation waits for them before it commits.
    pub handoff: Arc<crate::delivery::handoff::Handoff>,
}

impl ClientContext for PipelineContext {
    fn stats(&self, stats: Statistics) {
        // The other half of readiness: a broker connection is up. This is what turns readiness
        // back on after the broker was away, without waiting for a rebalance.
        let broker_up = stats
            .brokers
            .values()
            .any(|b| b.state == "UP" && b.nodeid >= 0);
        self.metrics
            .set_ready(broker_up && self.assigned.load(Ordering::Relaxed));
        for (topic, t) in &stats.topics {
            for (p, part) in &t.partitions {
                if *p >= 0 && part.consumer_lag >= 0 {
                    self.metrics.consumer_lag(topic, *p, part.consumer_lag);
                }
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.metrics.kafka_error(&error_code(&error));
        if matches!(
            error.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AllBrokersDown)
        ) {
            self.metrics.set_ready(false);
        }
        tracing::warn!(error = %error, reason, "consumer error");
    }
}

impl ConsumerContext for PipelineContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(tpl) = rebalance else {
            return;
        };
        let revoked: Vec<(String, i32)> = tpl
            .elements()
            .iter()
            .map(|e| (e.topic().to_owned(), e.partition()))
            .collect();
        // Records of these partitions still with the workers must be processed (their outputs
        // sent) before anything is committed for them.
        if !self.handoff.wait_idle(self.drain_timeout) {
            tracing::error!("workers did not finish their records on revocation; stopping without committing past them");
            if let Some((topic, partition)) = revoked.first() {
                let slot = self.tracker.slot(topic, *partition);
                self.tracker
                    .failed(slot, -1, "workers did not finish on revocation".into());
            }
        }
        if let (Some(tx), Some(p)) = (self.transactional, self.producer.get()) {
            // Everything done so far, revoked partitions included, commits now; the next owner
            // starts after it. A failure stops the runner (its transaction is aborted, so the
            // next owner repeats those records and nothing is doubled).
            let r = crate::delivery::transaction::commit(consumer, p, &self.tracker, tx);
            self.metrics.commit(r.is_ok());
            if let Err(e) = r {
                if let Some((topic, partition)) = revoked.first() {
                    let slot = self.tracker.slot(topic, *partition);
                    self.tracker.failed(
                        slot,
                        -1,
                        format!("transaction commit on revocation failed: {e}"),
                    );
                }
            }
            self.tracker.forget(&revoked);
            tracing::info!(
                service = self.service,
                partitions = revoked.len(),
                "partitions revoked (transaction committed)"
            );
            return;
        }
        // Outputs of revoked partitions should be acknowledged before their offsets are
        // committed. When the broker is away (a session timeout revokes everything) they cannot
        // be: the acknowledged prefix is committed (the tracker never offers an offset past an
        // unacknowledged output), the rest is repeated by the next owner, and the outputs still
        // queued stay tracked as stale (see `ack`). A failure among them still stops the service.
        if let Some(p) = self.producer.get() {
            if let Err(e) = rdkafka::producer::Producer::flush(p.as_ref(), self.drain_timeout) {
                tracing::warn!(error = %e, service = self.service, "flush on revocation timed out; committing only what was acknowledged");
            }
        }
        let offsets = self.tracker.take_committable(Some(&revoked));
        if !offsets.is_empty() {
            let result = commit(consumer, &offsets, CommitMode::Sync);
            self.metrics.commit(result.is_ok());
            if let Err(e) = result {
                self.tracker.commit_failed(&offsets);
                tracing::warn!(error = %e, "commit on revocation failed; the next owner may repeat records");
            }
        }
        self.tracker.forget(&revoked);
        tracing::info!(
            service = self.service,
            partitions = revoked.len(),
            "partitions revoked"
        );
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Assign(tpl) = rebalance {
            self.assigned.store(true, Ordering::Relaxed);
            self.metrics.set_ready(true);
            tracing::info!(
                service = self.service,
                partitions = tpl.count(),
                "partitions assigned"
            );
        }
    }

    fn commit_callback(
        &self,
        result: rdkafka::error::KafkaResult<()>,
        _offsets: &TopicPartitionList,
    ) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "offset commit failed");
        }
    }
}

/// Commits `(topic, partition, next offset)` triples.
pub fn commit<C: Consumer<X>, X: ConsumerContext>(
    consumer: &C,
    offsets: &[(String, i32, i64)],
    mode: CommitMode,
) -> rdkafka::error::KafkaResult<()> {
    let mut tpl = TopicPartitionList::with_capacity(offsets.len());
    for (t, p, o) in offsets {
        tpl.add_partition_offset(t, *p, Offset::Offset(*o))?;
    }
    consumer.commit(&tpl, mode)
}

fn error_code(e: &KafkaError) -> String {
    e.rdkafka_error_code()
        .map(|c| format!("{c:?}"))
        .unwrap_or_else(|| "other".into())
}
