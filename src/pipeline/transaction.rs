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

use crate::kafka::context::Producer;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::producer::Producer as _;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};
use std::time::Duration;

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
    timeout: Duration,
) -> KafkaResult<()> {
    let result = send_and_commit(consumer, producer, timeout);
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

fn send_and_commit<C: Consumer<X>, X: rdkafka::consumer::ConsumerContext>(
    consumer: &C,
    producer: &Producer,
    timeout: Duration,
) -> KafkaResult<()> {
    // The position is one past the last record the loop took from the consumer, and the loop
    // handles every record before taking the next: exactly the records whose outputs are in this
    // transaction. Partitions with no record taken yet have no position and keep their offset.
    let positions = consumer.position()?;
    let mut offsets = TopicPartitionList::new();
    for e in positions.elements() {
        if let Offset::Offset(o) = e.offset() {
            offsets.add_partition_offset(e.topic(), e.partition(), Offset::Offset(o))?;
        }
    }
    if offsets.count() > 0 {
        // Only a consumer that is not in a group has none; the pipeline always subscribes.
        let group = consumer
            .group_metadata()
            .ok_or(KafkaError::Global(RDKafkaErrorCode::State))?;
        producer.send_offsets_to_transaction(&offsets, &group, timeout)?;
    }
    producer.commit_transaction(timeout)
}
