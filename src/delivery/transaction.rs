//! Exactly-once: a pipeline's outputs and its input offsets committed in one Kafka transaction.
//!
//! With `runtime.delivery = "exactly_once"` the producer is transactional and the loop runs one
//! transaction per commit interval: every output of the records consumed in it, then the
//! consumer's positions (`send_offsets_to_transaction`), then `commit_transaction`. A consumer in
//! `read_committed` (librdkafka's default, set explicitly in `kafka::consumer_config`) sees all of
//! a transaction's outputs or none, and the offsets move with them, so a crash at any point
//! repeats nothing and loses nothing: the aborted transaction's outputs are never visible, and
//! its records are consumed again from the last committed offsets.
//!
//! Zombie fencing is KIP-447's: the offsets are sent with the consumer's group metadata (member
//! id and generation), so an instance that lost its partitions in a rebalance cannot commit
//! offsets for them; and an instance restarted with the same `transactional.id` aborts whatever
//! its previous incarnation left open (`init_transactions`). One id per instance is enough.
//!
//! Any transactional error stops the pipeline after aborting: the orchestrator's restart resumes
//! from the committed offsets, which is simpler to trust than rewinding consumers in place.
//!
//! Which offsets a transaction carries depends on the loop ([`Offsets`]): the pipeline handles
//! each record before taking the next, so its consumer's positions are exact; the generation
//! stage finishes records later than it consumes them, so it commits the offsets of what it has
//! released to the producer, which after a flush are the tracker's acknowledged offsets.

use crate::delivery::ack::AckTracker;
use crate::delivery::context::Producer;
use crate::topology::KafkaConfig;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::Producer as _;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

/// Where a transaction's input offsets come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offsets {
    /// The consumer's positions: every record taken from the consumer has its outputs sent.
    Positions,
    /// The [`AckTracker`]'s committable offsets after a flush: outputs are sent later than
    /// their records are consumed, and only records whose outputs are all sent count.
    Acknowledged,
}

/// How a stage runs its transactions; the consumer's context holds one to commit on revocation.
#[derive(Debug, Clone, Copy)]
pub struct Transactions {
    pub timeout: Duration,
    pub offsets: Offsets,
}

/// Makes `pconf` transactional with `transactional_id`.
pub fn configure(pconf: &mut ClientConfig, k: &KafkaConfig, transactional_id: &str) {
    pconf.set("transactional.id", transactional_id);
    // librdkafka requires message.timeout.ms <= transaction.timeout.ms (60 s by default); a user
    // setting of either wins.
    let set = |key: &str| k.common.contains_key(key) || k.producer.contains_key(key);
    if !set("message.timeout.ms") {
        let tx = pconf
            .get("transaction.timeout.ms")
            .unwrap_or("60000")
            .to_owned();
        pconf.set("message.timeout.ms", tx);
    }
}

/// Initialises the producer's transactions (fencing any previous incarnation with the same
/// `transactional.id`) and opens the first one.
pub fn start(producer: &Producer, timeout: Duration) -> KafkaResult<()> {
    producer.init_transactions(timeout)?;
    producer.begin_transaction()
}

/// Commits the open transaction with the consumer's current positions and opens the next one.
/// On failure the transaction is aborted (when it can be) and the error returned.
pub fn commit<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
    consumer: &C,
    producer: &Producer,
    tracker: &AckTracker,
    tx: Transactions,
) -> KafkaResult<()> {
    let timeout = tx.timeout;
    let result = offsets(consumer, producer, tracker, tx)
        .and_then(|offsets| send_and_commit(consumer, producer, &offsets, timeout));
    if let Err(e) = &result {
        let abortable = matches!(e, KafkaError::Transaction(t) if t.txn_requires_abort());
        tracing::error!(error = %e, abortable, "transaction commit failed; aborting");
        if abortable {
            if let Err(a) = producer.abort_transaction(timeout) {
                tracing::error!(error = %a, "abort failed");
            }
        }
        return result;
    }
    producer.begin_transaction()
}

/// The input offsets that go with the open transaction's outputs.
fn offsets<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
    consumer: &C,
    producer: &Producer,
    tracker: &AckTracker,
    tx: Transactions,
) -> KafkaResult<TopicPartitionList> {
    let mut offsets = TopicPartitionList::new();
    match tx.offsets {
        Offsets::Positions => {
            // The position is one past the last record the loop took from the consumer, and the
            // loop handles every record before taking the next: exactly the records whose outputs
            // are in this transaction. Partitions with no record taken yet have no position and
            // keep their offset.
            for e in consumer.position()?.elements() {
                if let Offset::Offset(o) = e.offset() {
                    offsets.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o))?;
                }
            }
        }
        Offsets::Acknowledged => {
            // commit_transaction would flush anyway; flushing first makes every output sent so
            // far acknowledged, so the tracker's offsets cover exactly the released records.
            producer.flush(tx.timeout)?;
            for (topic, partition, o) in tracker.take_committable(None) {
                offsets.add_partition_offset(&topic, partition, Offset::Offset(o))?;
            }
        }
    }
    Ok(offsets)
}

fn send_and_commit<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
    consumer: &C,
    producer: &Producer,
    offsets: &TopicPartitionList,
    timeout: Duration,
) -> KafkaResult<()> {
    if offsets.count() > 0 {
        // Only a consumer that is not in a group has none; the pipeline always subscribes.
        let group = consumer
            .group_metadata()
            .ok_or(KafkaError::Global(RDKafkaErrorCode::State))?;
        producer.send_offsets_to_transaction(offsets, &group, timeout)?;
    }
    producer.commit_transaction(timeout)
}
