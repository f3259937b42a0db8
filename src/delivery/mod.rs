//! The delivery protocol, stated once: how an input record's outputs reach Kafka before its
//! offset is committed, in both delivery modes.
//!
//! - [`ack`]: which input offsets are safe to commit. Offset `o + 1` of a partition is committed
//!   only once every output of `o`, and of every record before it, is acknowledged by the broker.
//! - [`context`]: the librdkafka callbacks that feed it: delivery reports acknowledge outputs,
//!   revocations commit (or commit the open transaction) before partitions move, statistics and
//!   errors drive readiness and the lag gauges.
//! - [`transaction`]: exactly-once, outputs and input offsets in one Kafka transaction per commit
//!   interval (KIP-447 group metadata).
//! - [`runtime`]: the clients, the commit tick, sending, dead letters ([`dead_letter`]),
//!   backpressure and the drain on shutdown, as one [`Runtime`] that every service runs on.
//! - [`DeliveryError`]: what went wrong, typed so that a caller can tell a retriable failure from
//!   a fatal one and from a fenced instance.
//!
//! The pipeline, the generation stage and the recommender's consumer all sit on top of this; none
//! of them commits an offset any other way.

pub mod ack;
pub mod context;
pub mod dead_letter;
pub mod handoff;
pub mod runtime;
pub mod schemas;
pub mod transaction;

pub use runtime::{Runtime, Spec};

use crate::observe::Metrics;
use ack::AckTracker;
use context::PipelineContext;
use rdkafka::consumer::{CommitMode, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::time::{SystemTime, UNIX_EPOCH};

/// Why delivery stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// An output was refused or timed out. Its input offset was never committed, so a restart
    /// consumes the record again: nothing is lost, and retrying (restarting) is safe.
    #[error("output not delivered: {0}")]
    Undelivered(String),
    /// Another instance took over this one's transactional id, or the group moved on without it:
    /// this instance must stop, and must not retry with the same identity.
    #[error("fenced by another instance: {0}")]
    Fenced(KafkaError),
    /// A Kafka client error that is neither of the above.
    #[error("Kafka client: {0}")]
    Kafka(KafkaError),
    /// The topics could not be checked or created.
    #[error(transparent)]
    Admin(#[from] crate::kafka::admin::AdminError),
    /// An output (a dead letter) could not be encoded: a bug, not a condition to retry.
    #[error(transparent)]
    Encode(#[from] crate::codec::EncodeError),
}

impl DeliveryError {
    /// Whether a restart of this instance (same identity) can succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            DeliveryError::Undelivered(_) => true,
            DeliveryError::Fenced(_) => false,
            DeliveryError::Kafka(KafkaError::Transaction(e)) => !e.is_fatal(),
            DeliveryError::Kafka(_) => true,
            DeliveryError::Admin(_) => true,
            DeliveryError::Encode(_) => false,
        }
    }

    pub fn is_fenced(&self) -> bool {
        matches!(self, DeliveryError::Fenced(_))
    }
}

impl From<KafkaError> for DeliveryError {
    fn from(e: KafkaError) -> Self {
        let fenced = matches!(
            e.rdkafka_error_code(),
            Some(
                RDKafkaErrorCode::Fenced
                    | RDKafkaErrorCode::ProducerFenced
                    | RDKafkaErrorCode::InvalidProducerEpoch
                    | RDKafkaErrorCode::FencedInstanceId
            )
        );
        if fenced {
            DeliveryError::Fenced(e)
        } else {
            DeliveryError::Kafka(e)
        }
    }
}

/// Commits every acknowledged offset (at least once). A failed commit is retried with the next
/// one: the tracker keeps the offsets as not yet committed.
pub fn commit_acknowledged(
    consumer: &StreamConsumer<PipelineContext>,
    tracker: &AckTracker,
    metrics: &Metrics,
    mode: CommitMode,
) {
    let offsets = tracker.take_committable(None);
    if offsets.is_empty() {
        return;
    }
    let r = context::commit(consumer, &offsets, mode);
    metrics.commit(r.is_ok());
    if let Err(e) = r {
        tracker.commit_failed(&offsets);
        tracing::warn!(error = %e, "offset commit failed; will retry with the next commit");
    }
}

/// The wall clock in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
