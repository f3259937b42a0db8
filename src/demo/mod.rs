//! `warmstart demo`: the whole pipeline on librdkafka's embedded mock cluster, fed with real
//! Amazon Beauty events plus one bad record of every kind, then a report of what went where.
//! With a `[generation]` section in the topology, new products follow the history, and the
//! generation stage and the online recommender run too ([`cold_start`]).

pub mod cold_start;

use crate::codec::{Codec, Format, SchemaRegistry};
use crate::data::{beauty, malformed, StreamEvent};
use crate::delivery::now_ms;
use crate::events::EventType;
use crate::kafka::common_config;
use crate::kafka::mock::EmbeddedKafka;
use crate::kafka::publish::{publish_all, Publish};
use crate::observe::Metrics;
use crate::pipeline::runner::{Pipeline, Summary};
use crate::topology::generation::BehaviorSource;
use crate::topology::Topology;
use std::collections::HashMap;
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
    pub cold_start: Option<cold_start::ColdStartReport>,
    pub elapsed: Duration,
}

/// The sum of every sample of the counter or gauge family `name` in `registry`.
fn family_total(registry: &prometheus::Registry, name: &str) -> f64 {
    labelled_total(registry, name, &[])
}

/// As [`family_total`], over the samples whose labels include all of `labels`.
fn labelled_total(registry: &prometheus::Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            })
        })
        .map(|m| m.get_counter().get_value() + m.get_gauge().get_value())
        .sum()
}

/// What "everything has gone through" means: every published record consumed by the pipeline
/// and every output acknowledged; with generation, also the stage has handled every accepted
/// product, the recommender has applied every enriched event and the transfer generator's shopper
/// index has read both topics, steady for half a second (the stage's last records may still be on
/// their way to the broker).
struct Settled {
    metrics: Metrics,
    recommender: prometheus::Registry,
    generation: bool,
    shopper_index: bool,
    enriched: String,
    accepted: String,
}

impl Settled {
    async fn wait(&self, published: u64, deadline: Instant) {
        let m = &self.metrics;
        while (m.total_records_in() < published || m.in_flight_now() > 0)
            && Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut steady = 0;
        while self.generation && steady < 10 && Instant::now() < deadline {
            let (enriched, accepted) = (
                m.records_out(&self.enriched).get(),
                m.records_out(&self.accepted).get(),
            );
            let handled = family_total(&m.registry, "warmstart_generation_products_total") as u64;
            let applied = family_total(
                &self.recommender,
                "warmstart_recommender_events_applied_total",
            ) as u64;
            let indexed =
                family_total(&m.registry, "warmstart_generation_shopper_records_total") as u64;
            let caught_up = handled >= accepted
                && applied >= enriched
                && (!self.shopper_index || indexed >= enriched + accepted);
            steady = if caught_up { steady + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs the demo with `topology` (its broker address is replaced by the embedded cluster's).
pub async fn run(
    mut topology: Topology,
    events: usize,
    new_products: usize,
    metrics: Metrics,
) -> anyhow::Result<DemoReport> {
    let started = Instant::now();
    let kafka = EmbeddedKafka::start()?;
    topology.kafka.bootstrap_servers = kafka.bootstrap_servers();
    topology.kafka.create_topics_partitions = 0;
    let partitions = 4;
    if let Some(g) = topology.generation.as_mut() {
        // The replayed catalogue is history; only the products launched after it are new.
        if g.max_product_age_ms == 0 {
            g.max_product_age_ms = 86_400_000;
        }
    }
    let t = &topology;
    let synthetic = [&t.outputs.synthetic_reviews, &t.outputs.synthetic_behavior];
    for topic in t
        .inputs
        .values()
        .map(|i| &i.topic)
        .chain([
            &t.outputs.enriched.topic,
            &t.outputs.products.topic,
            &t.outputs.dead_letter.topic,
        ])
        .chain(synthetic.into_iter().flatten().map(|o| &o.topic))
    {
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
    let mut titles: HashMap<String, String> = HashMap::new();
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
                titles.insert(p.item_id.clone(), p.title.clone());
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
    let launch = if t.generation.is_some() {
        cold_start::new_products(events, new_products)?
    } else {
        cold_start::Launch::default()
    };
    let (new, shoppers) = (&launch.products, &launch.first_shoppers);
    // The launches go out once the history has gone through, as in a running shop: a product
    // launched while the shop's past is still being read would be generated for from part of it.
    let mut launches: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::with_capacity(new.len());
    for p in new {
        titles.insert(p.item_id.clone(), p.title.clone());
        launches.push((
            product_topic.clone(),
            p.item_id.clone().into_bytes(),
            json.encode_to_vec(EventType::Product, p)?,
        ));
    }
    let client = common_config(&t.kafka);
    let history = publish_all(
        &client,
        prepared.iter().map(|(topic, key, payload)| Publish {
            topic,
            key,
            payload,
        }),
    )?;

    // With generation: the stage and the recommender, each with its own consumer group.
    let (stop, stopped) = crate::shutdown::channel();
    let recommender = crate::recommender::state(t.recommender.model.clone());
    let mut side_tasks = None;
    if t.generation.is_some() {
        let (_reloader, stage) =
            crate::generate::launch::spawn(topology.clone(), metrics.clone(), stopped.wait())?;
        let mut rt = topology.clone();
        rt.recommender.group_id = "warmstart-demo-recommender".into();
        rt.recommender.snapshot = None;
        let (state, until) = (recommender.clone(), stopped.wait());
        let rec = tokio::spawn(async move { crate::recommender::consume(&rt, state, until).await });
        side_tasks = Some((stage, rec));
    }

    let pipeline = Pipeline::new(topology.clone(), metrics.clone())?;
    let settled = Settled {
        metrics: metrics.clone(),
        recommender: recommender.metrics.registry.clone(),
        generation: t.generation.is_some(),
        shopper_index: t
            .generation
            .as_ref()
            .is_some_and(|g| g.behavior_source == BehaviorSource::Transfer),
        enriched: t.outputs.enriched.topic.clone(),
        accepted: t.outputs.products.topic.clone(),
    };
    let done = async move {
        let deadline = Instant::now() + Duration::from_secs(300);
        settled.wait(history as u64, deadline).await;
        if !launches.is_empty() {
            let n = tokio::task::spawn_blocking(move || {
                publish_all(
                    &client,
                    launches.iter().map(|(topic, key, payload)| Publish {
                        topic,
                        key,
                        payload,
                    }),
                )
            })
            .await
            .expect("the publisher does not panic");
            match n {
                Ok(n) => settled.wait((history + n) as u64, deadline).await,
                Err(e) => tracing::error!(error = %e, "the new products could not be published"),
            }
        }
        // One commit interval more, so that the final offsets are committed on the way out too.
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let summary = pipeline.run(done).await?;
    stop.fire();
    let cold_start = match side_tasks {
        Some((stage, rec)) => {
            stage.await??;
            rec.await??;
            let mut c = cold_start::report(&topology, new, shoppers, &titles, &recommender)?;
            c.reviews_out_of_domain = labelled_total(
                &metrics.registry,
                "warmstart_generation_skipped_total",
                &[("kind", "review"), ("reason", "out_of_domain")],
            ) as u64;
            Some(c)
        }
        None => None,
    };
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
        cold_start,
        elapsed: started.elapsed(),
    })
}

/// The demo's report as the terminal shows it.
pub fn render(r: &DemoReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "\nmock cluster at {}", r.bootstrap_servers);
    let _ = writeln!(
        s,
        "published: {} real behaviour events (Amazon Beauty 5-core), {} catalogue products, {} redelivered duplicates, {} bad records",
        r.published_behavior, r.published_products, r.published_duplicates, r.published_bad
    );
    let _ = writeln!(
        s,
        "pipeline consumed {} records in {:.1?}",
        r.summary.records_in, r.elapsed
    );
    let _ = writeln!(s, "\n{:<32} {:>10}", "output topic", "records");
    for (topic, n) in &r.outputs_by_topic {
        let _ = writeln!(s, "{topic:<32} {n:>10}");
    }
    let _ = writeln!(
        s,
        "{:<32} {:>10}",
        "(duplicates dropped)", r.summary.filtered
    );
    let _ = writeln!(s, "\ndead letters by reason:");
    for (reason, n) in &r.summary.dead_letters_by_reason {
        let _ = writeln!(s, "  {reason:<24} {n:>4}");
    }
    if let Some(c) = &r.cold_start {
        let _ = writeln!(
            s,
            "\ncold start: {} new products launched after the history; the generation stage wrote {} synthetic reviews and {} synthetic behaviour events (all flagged synthetic: true, training signal only); {} reviews not written because the product is out of every loaded review model's domain",
            c.products.len(),
            c.reviews,
            c.behavior,
            c.reviews_out_of_domain
        );
        let r = c.reached();
        let _ = writeln!(
            s,
            "reached at launch: {} of their {} real first shoppers known from the history have the product in their top 20 with the synthetic data, {} without it (the first {} shoppers of each product in the data set's later history: {}; the {} unknown to the history get popular and fresh items either way)",
            r.with_synthetic,
            r.known,
            r.without,
            cold_start::FIRST_SHOPPERS,
            r.shoppers,
            r.shoppers - r.known
        );
        for p in c.products.iter().take(5) {
            let title: String = p.title.chars().take(70).collect();
            let _ = writeln!(s, "\n  {} {title}", p.item_id);
            let _ = writeln!(
                s,
                "    brand {}; categories {}",
                p.brand.as_deref().unwrap_or("(none)"),
                p.category.join(", ")
            );
            if p.review.is_none() {
                let _ = writeln!(
                    s,
                    "    no synthetic review: the product is out of every loaded review model's domain"
                );
            }
            if let Some((rating, text, version)) = &p.review {
                let text: String = text
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .chars()
                    .take(110)
                    .collect();
                let _ = writeln!(
                    s,
                    "    synthetic review ({rating}/5, {version}): \"{text}\""
                );
            }
            let _ = writeln!(
                s,
                "    {} synthetic behaviour events; real first shoppers known from the history reached: {} of {} with, {} without; similar: {}",
                p.synthetic_events,
                p.reached.with_synthetic,
                p.reached.known,
                p.reached.without,
                p.similar
                    .iter()
                    .map(|t| t.chars().take(40).collect::<String>())
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
    }
    s
}
