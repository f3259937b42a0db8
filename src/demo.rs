//! `warmstart demo`: the whole pipeline on librdkafka's embedded mock cluster, fed with real
//! Amazon Beauty events plus one bad record of every kind, then a report of what went where.

use crate::codec::{Codec, Format, SchemaRegistry};
use crate::data::{beauty, malformed, StreamEvent};
use crate::events::EventType;
use crate::kafka::common_config;
use crate::kafka::mock::EmbeddedKafka;
use crate::kafka::publish::{publish_all, Publish};
use crate::observe::Metrics;
use crate::pipeline::runner::{Pipeline, Summary};
use crate::topology::Topology;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct DemoReport {
    pub bootstrap_servers: String,
    pub published_behavior: usize,
    pub published_products: usize,
    pub published_bad: usize,
    pub published_duplicates: usize,
    pub summary: Summary,
    pub outputs_by_topic: Vec<(String, u64)>,
    pub elapsed: Duration,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs the demo with `topology` (its broker address is replaced by the embedded cluster's).
pub async fn run(
    mut topology: Topology,
    events: usize,
    metrics: Metrics,
) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let kafka = EmbeddedKafka::start()?;
    topology.kafka.bootstrap_servers = kafka.bootstrap_servers();
    topology.kafka.create_topics_partitions = 0;
    let partitions = 4;
    let t = &topology;
    for topic in t.inputs.values().map(|i| &i.topic).chain([
        &t.outputs.enriched.topic,
        &t.outputs.products.topic,
        &t.outputs.dead_letter.topic,
    ]) {
        kafka.create_topic(topic, partitions)?;
    }
    let input_of = |ty: EventType, format: Format| {
        t.inputs
            .values()
            .find(|i| i.event_type == ty && i.format == format)
            .map(|i| i.topic.clone())
    };
    let behavior_topic = input_of(EventType::Behavior, Format::Json)
        .ok_or_else(|| anyhow::anyhow!("the demo needs a JSON behaviour input in the topology"))?;
    let product_topic = input_of(EventType::Product, Format::Json)
        .ok_or_else(|| anyhow::anyhow!("the demo needs a JSON product input in the topology"))?;
    let wire_topic = input_of(EventType::Behavior, Format::Confluent);

    // Real events, then a few exact duplicates (redeliveries) and one bad record of each kind.
    let stream = beauty::load(&crate::data::data_dir().join("beauty-5core"), Some(events))?;
    let registry = Arc::new(SchemaRegistry::builtin());
    let json = Codec::new(Format::Json, registry);
    let mut prepared: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::with_capacity(stream.len() + 32);
    let (mut behavior, mut products) = (0, 0);
    for e in &stream {
        match e {
            StreamEvent::Behavior(b) => {
                behavior += 1;
                prepared.push((
                    behavior_topic.clone(),
                    b.user_id.clone().into_bytes(),
                    json.encode_to_vec(EventType::Behavior, b)?,
                ));
            }
            StreamEvent::Product(p) => {
                products += 1;
                prepared.push((
                    product_topic.clone(),
                    p.item_id.clone().into_bytes(),
                    json.encode_to_vec(EventType::Product, p)?,
                ));
            }
        }
    }
    let duplicates: Vec<_> = prepared
        .iter()
        .filter(|(t, _, _)| *t == behavior_topic)
        .take(10)
        .cloned()
        .collect();
    let duplicates_n = duplicates.len();
    prepared.extend(duplicates);
    let max_payload = match t.stages.first() {
        Some(crate::topology::StageConfig::Decode(d)) => d.max_payload_bytes,
        _ => 65536,
    };
    let bad = malformed::generate(malformed::KINDS.len(), now_ms(), max_payload);
    let mut bad_n = 0;
    for b in bad {
        let topic = match b.format {
            Format::Json => behavior_topic.clone(),
            _ => match &wire_topic {
                Some(t) => t.clone(),
                None => continue,
            },
        };
        bad_n += 1;
        prepared.push((topic, b"bad".to_vec(), b.payload));
    }
    let total = publish_all(
        &common_config(&t.kafka),
        prepared.iter().map(|(topic, key, payload)| Publish {
            topic,
            key,
            payload,
        }),
    )?;

    // Run until every input record is consumed and every output acknowledged.
    let pipeline = Pipeline::new(topology.clone(), metrics.clone())?;
    let watch = metrics.clone();
    let done = async move {
        let deadline = Instant::now() + Duration::from_secs(120);
        while (watch.total_records_in() < total as u64 || watch.in_flight_now() > 0)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // One commit interval more, so that the final offsets are committed on the way out too.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary = pipeline.run(done).await?;
    let outputs_by_topic = [
        &topology.outputs.enriched.topic,
        &topology.outputs.products.topic,
        &topology.outputs.dead_letter.topic,
    ]
    .into_iter()
    .map(|t| (t.clone(), metrics.records_out(t).get()))
    .collect();
    Ok(DemoReport {
        bootstrap_servers: topology.kafka.bootstrap_servers.clone(),
        published_behavior: behavior,
        published_products: products,
        published_bad: bad_n,
        published_duplicates: duplicates_n,
        summary,
        outputs_by_topic,
        elapsed: started.elapsed(),
    })
}
