//! Bulk publishing of prepared records: the demo's and the replay's source of input, and the
//! benchmark's loader. Waits until the broker acknowledged everything.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::ToBytes;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};
use rdkafka::ClientConfig;
use std::time::Duration;

/// Hands `record` to the producer, serving delivery reports while its local queue is full:
/// the backpressure of every producing loop in this crate.
pub fn send_waiting<C, K, P>(
    producer: &BaseProducer<C>,
    mut record: BaseRecord<'_, K, P, C::DeliveryOpaque>,
) -> Result<(), KafkaError>
where
    C: ProducerContext,
    K: ToBytes + ?Sized,
    P: ToBytes + ?Sized,
{
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                record = back;
                producer.poll(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(e),
        }
    }
}

/// One record to publish.
pub struct Publish<'a> {
    pub topic: &'a str,
    pub key: &'a [u8],
    pub payload: &'a [u8],
}

/// Publishes every record and flushes. Returns how many were acknowledged; an error if any failed.
pub fn publish_all<'a>(
    config: &ClientConfig,
    records: impl IntoIterator<Item = Publish<'a>>,
) -> Result<usize, KafkaError> {
    let mut c = config.clone();
    c.set("linger.ms", "10")
        .set("enable.idempotence", "true")
        .set("queue.buffering.max.messages", "1000000");
    let producer: BaseProducer = c.create()?;
    let mut n = 0;
    for r in records {
        send_waiting(
            &producer,
            BaseRecord::to(r.topic).key(r.key).payload(r.payload),
        )?;
        n += 1;
        if n % 1024 == 0 {
            producer.poll(Duration::ZERO);
        }
    }
    producer.flush(Duration::from_secs(120))?;
    Ok(n)
}
