//! The shoppers the transfer generator draws from, kept current from the stage's topics.
//!
//! Why a consumer of its own: the stage's group consumer owns a share of the partitions, but a
//! new product's content neighbours may have been bought by anyone. So every instance reads
//! every partition of `outputs.enriched` (real interactions; the stage's own synthetic ones are
//! left out, or it would learn from what it wrote) and of `outputs.products` (content), by
//! assignment, committing nothing.
//!
//! Why a restore: the index lives in memory, so each start rebuilds it from the beginning of the
//! topics (their retention bounds how far back that is, `transfer.recent` how much it keeps per
//! item). [`start`] returns only once it has read up to where the topics ended at that moment,
//! or after `transfer.restore_timeout_ms`: a restarted stage then draws from the same shoppers it
//! drew from before, instead of from whoever came in the last seconds. Afterwards a task follows
//! the topics until shutdown.

use super::metrics::GenerationMetrics;
use super::GenerateError;
use crate::codec::Codec;
use crate::delivery::schemas::Schemas;
use crate::events::{EnrichedEvent, EventType, Origin, ProductEvent};
use crate::recommend::transfer::Transfer;
use crate::topology::Topology;
use futures::FutureExt;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The index, shared by the task that feeds it and the inference thread that draws from it.
pub type Shared = Arc<Mutex<Transfer>>;

/// Messages applied under one lock at most, so that a draw never waits long behind a backlog.
const MAX_BATCH: usize = 512;

enum Update {
    Interaction(EnrichedEvent),
    Product(ProductEvent),
}

struct Feed {
    consumer: StreamConsumer,
    enriched: String,
    enriched_codec: Codec,
    products_codec: Codec,
    schemas: Schemas,
    index: Shared,
    gm: GenerationMetrics,
}

/// Starts following the topics into `index`: returns after the restore, leaving a task that
/// follows them until `shutdown`.
pub async fn start(
    topology: &Topology,
    index: Shared,
    gm: GenerationMetrics,
    metrics: &crate::observe::Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<tokio::task::JoinHandle<()>, GenerateError> {
    let config = topology
        .generation
        .as_ref()
        .ok_or(GenerateError::NotConfigured)?;
    let o = &topology.outputs;
    // Its registry requests count in the stage's metrics, with the stage's own.
    let schemas = Schemas::start(topology, topology.served_topics(), Vec::new(), metrics).await?;
    let mut kafka = topology.kafka.clone();
    // Never used for commits or a subscription; librdkafka wants one for a consumer anyway.
    kafka.group_id = format!("{}-shoppers", config.group_id);
    let topics = [o.enriched.topic.clone(), o.products.topic.clone()];
    let client = crate::kafka::consumer_config(&kafka);
    // Metadata and watermarks are blocking calls.
    let (consumer, ends) = tokio::task::spawn_blocking(move || {
        let consumer: StreamConsumer = client.create()?;
        let mut tpl = TopicPartitionList::new();
        let mut ends = HashMap::new();
        for topic in &topics {
            let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
            let partitions: Vec<i32> = md
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .flat_map(|t| t.partitions().iter().map(|p| p.id()))
                .collect();
            if partitions.is_empty() {
                // The runtime created the stage's topics just before; a topic without partitions
                // here would leave the index empty for good, which must not pass in silence.
                return Err(rdkafka::error::KafkaError::MetadataFetch(
                    rdkafka::types::RDKafkaErrorCode::UnknownTopicOrPartition,
                ));
            }
            for p in partitions {
                tpl.add_partition_offset(topic, p, Offset::Beginning)?;
                let (low, high) = consumer.fetch_watermarks(topic, p, Duration::from_secs(30))?;
                if high > low {
                    ends.insert((topic.clone(), p), (low, high));
                }
            }
        }
        consumer.assign(&tpl)?;
        Ok::<_, rdkafka::error::KafkaError>((consumer, ends))
    })
    .await
    .map_err(|e| GenerateError::Thread(e.to_string()))??;
    let feed = Feed {
        consumer,
        enriched: o.enriched.topic.clone(),
        enriched_codec: schemas.codec(&o.enriched.topic, o.enriched.format),
        products_codec: schemas.codec(&o.products.topic, o.products.format),
        schemas,
        index,
        gm,
    };
    feed.restore(
        ends,
        Duration::from_millis(config.transfer.restore_timeout_ms),
    )
    .await;
    Ok(tokio::spawn(feed.follow(shutdown)))
}

impl Feed {
    /// Reads until every partition's position reaches the end it had at start.
    async fn restore(&self, ends: HashMap<(String, i32), (i64, i64)>, timeout: Duration) {
        let started = Instant::now();
        let total: i64 = ends.values().map(|(low, high)| high - low).sum();
        let mut ends: HashMap<(String, i32), i64> =
            ends.into_iter().map(|(k, (_, high))| (k, high)).collect();
        let mut check = tokio::time::interval(Duration::from_millis(200));
        while !ends.is_empty() && started.elapsed() < timeout {
            tokio::select! {
                // A restore cut short by a shutdown is dropped by the caller's select.
                m = self.consumer.recv() => {
                    let never = &mut std::pin::pin!(std::future::pending::<()>());
                    self.apply_batch(m, never).await;
                }
                _ = check.tick() => {
                    // The position, not the last offset seen: it also moves past the
                    // transaction markers of an exactly-once producer, which are never delivered.
                    if let Ok(at) = self.consumer.position() {
                        ends.retain(|(t, p), end| {
                            at.find_partition(t, *p)
                                .and_then(|e| e.offset().to_raw())
                                .is_none_or(|pos| pos < *end)
                        });
                    }
                }
            }
        }
        let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        self.gm.shoppers(index.users(), index.items());
        if ends.is_empty() {
            tracing::info!(
                records = total,
                users = index.users(),
                items = index.items(),
                seconds = started.elapsed().as_secs_f64(),
                "transfer generator's shoppers restored from the topics"
            );
        } else {
            tracing::warn!(partitions_behind = ends.len(), users = index.users(), items = index.items(), "transfer generator's shoppers not fully restored within generation.transfer.restore_timeout_ms; going on, the rest is read as it comes");
        }
        self.gm.shoppers_restored();
    }

    async fn follow(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut gauges = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = &mut shutdown => break,
                m = self.consumer.recv() => {
                    if !self.apply_batch(m, &mut shutdown).await {
                        break;
                    }
                }
                _ = gauges.tick() => {
                    let index = self.index.lock().unwrap_or_else(|p| p.into_inner());
                    self.gm.shoppers(index.users(), index.items());
                }
            }
        }
    }

    /// Applies `first` and whatever else is ready, up to [`MAX_BATCH`], decoded first and then
    /// under one short lock, so that a draw on the inference thread never waits on decoding.
    /// A record whose writer schema is not in the table yet waits for its fetch (nothing is
    /// committed here, so a record is never skipped for an outage); `false` when `stop` resolved
    /// meanwhile.
    async fn apply_batch(
        &self,
        first: rdkafka::error::KafkaResult<BorrowedMessage<'_>>,
        stop: &mut (impl Future<Output = ()> + Unpin),
    ) -> bool {
        let mut updates = Vec::with_capacity(MAX_BATCH);
        let mut next = Some(first);
        let mut going = true;
        while let Some(m) = next.take() {
            match m {
                Ok(m) => {
                    let payload = m.payload().unwrap_or_default();
                    if self.schemas.needs_fetch(m.topic(), payload)
                        && !self.schemas.prepare(m.topic(), payload, stop).await
                    {
                        going = false;
                        break;
                    }
                    updates.extend(self.decode(&m))
                }
                Err(e) => tracing::warn!(error = %e, "shopper index: consume error"),
            }
            if updates.len() < MAX_BATCH {
                next = self.consumer.recv().now_or_never();
            }
        }
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        for u in updates {
            match u {
                Update::Interaction(e) => index.interaction(&e.user_id, &e.item_id, e.ts),
                Update::Product(p) => index.product(&p),
            }
        }
        going
    }

    fn decode(&self, m: &BorrowedMessage<'_>) -> Option<Update> {
        let payload = m.payload().unwrap_or_default();
        if m.topic() == self.enriched {
            match self
                .enriched_codec
                .decode::<EnrichedEvent>(EventType::Enriched, payload)
            {
                Ok(e) if e.origin == Origin::Real => {
                    self.gm.shopper_record("interaction");
                    Some(Update::Interaction(e))
                }
                Ok(_) => {
                    self.gm.shopper_record("synthetic");
                    None
                }
                Err(r) => {
                    self.undecodable(m, &r.message);
                    None
                }
            }
        } else {
            match self
                .products_codec
                .decode::<ProductEvent>(EventType::Product, payload)
            {
                Ok(p) => {
                    self.gm.shopper_record("product");
                    Some(Update::Product(p))
                }
                Err(r) => {
                    self.undecodable(m, &r.message);
                    None
                }
            }
        }
    }

    /// The pipeline wrote these topics; a record that does not read back is a bug to see in the
    /// log and the metrics, not a reason to stop generating.
    fn undecodable(&self, m: &BorrowedMessage<'_>, reason: &str) {
        tracing::warn!(
            topic = m.topic(),
            partition = m.partition(),
            offset = m.offset(),
            reason,
            "shopper index: record does not decode; skipped"
        );
        self.gm.shopper_record("undecodable");
    }
}
