//! The demo's second act, when the topology has a `[generation]` section: new products arrive
//! after the replayed history, the generation stage writes synthetic reviews and behaviour for
//! them, and the online recommender (in this process, on the same embedded cluster) learns from
//! the enriched topic until it can recommend each new product before any real shopper has seen it.
//!
//! Whether it did is measured against the shoppers who really came: each new product's first real
//! shoppers in the data set's later history. Their top 20 at launch is asked of two models fed the
//! same enriched topic in the same order, one with the synthetic events and one without. (Asking
//! the generated users instead would prove nothing: the events were written for them.)

use crate::data::{beauty, StreamEvent};
use crate::events::{EnrichedEvent, Origin, ProductEvent, SyntheticReview};
use crate::recommend::online::{Online, OnlineConfig};
use crate::recommender::AppState;
use crate::topology::Topology;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// Real first shoppers of each new product measured.
pub const FIRST_SHOPPERS: usize = 5;

/// Of some real first shoppers known from the history, how many have the product in their top
/// 20 at launch. Shoppers the history does not know get popular and fresh items from either
/// model, so they are counted apart and not measured.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reached {
    pub shoppers: usize,
    pub known: usize,
    pub with_synthetic: usize,
    pub without: usize,
}

impl Reached {
    fn add(&mut self, other: Reached) {
        self.shoppers += other.shoppers;
        self.known += other.known;
        self.with_synthetic += other.with_synthetic;
        self.without += other.without;
    }
}

/// What the demo shows for one new product.
pub struct NewProduct {
    pub item_id: String,
    pub title: String,
    pub brand: Option<String>,
    pub category: Vec<String>,
    /// (rating, text, model version) of its first synthetic review.
    pub review: Option<(i32, String, String)>,
    /// Synthetic behaviour events written for it.
    pub synthetic_events: usize,
    pub reached: Reached,
    /// Titles of its nearest items in the recommender.
    pub similar: Vec<String>,
}

pub struct ColdStartReport {
    pub products: Vec<NewProduct>,
    pub reviews: usize,
    pub behavior: usize,
    /// Reviews the stage did not write: the product is out of every loaded model's domain.
    pub reviews_out_of_domain: u64,
}

impl ColdStartReport {
    /// The honest figure over all new products.
    pub fn reached(&self) -> Reached {
        let mut r = Reached::default();
        self.products.iter().for_each(|p| r.add(p.reached));
        r
    }
}

/// A model fed the accepted products, then the enriched events in topic order (the synthetic
/// ones only if `synthetic`).
fn replayed(
    config: &OnlineConfig,
    products: &[ProductEvent],
    events: &[EnrichedEvent],
    synthetic: bool,
) -> Online {
    let mut model = Online::new(config.clone());
    for p in products {
        model.apply_product(p);
    }
    for e in events
        .iter()
        .filter(|e| synthetic || e.origin == Origin::Real)
    {
        model.apply(e);
    }
    model
}

fn in_top_20(model: &Online, user: &str, item: &str) -> bool {
    model.recommend(user, 20).iter().any(|(i, _)| i == item)
}

/// The products the demo launches, and the real first shoppers it measures them against.
#[derive(Default)]
pub struct Launch {
    pub products: Vec<ProductEvent>,
    /// Each product's first [`FIRST_SHOPPERS`] distinct real shoppers in Beauty's whole history.
    pub first_shoppers: HashMap<String, Vec<String>>,
}

/// The first `n` products of Beauty that the history (its first `events` interactions) has not
/// seen, launched now: the products that really came next, so that their real first shoppers
/// are, mostly, shoppers the history knows.
pub fn new_products(events: usize, n: usize) -> Result<Launch, crate::data::DataError> {
    let all = beauty::load(&crate::data::data_dir().join("beauty-5core"), None)?;
    let seen: BTreeSet<&str> = all
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Behavior(b) => Some(b.item_id.as_str()),
            _ => None,
        })
        .take(events)
        .collect();
    let now = crate::delivery::now_ms();
    let products: Vec<ProductEvent> = all
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Product(p) if !seen.contains(p.item_id.as_str()) => Some(ProductEvent {
                ts: now,
                ..p.clone()
            }),
            _ => None,
        })
        .take(n)
        .collect();
    let mut first_shoppers: HashMap<String, Vec<String>> = products
        .iter()
        .map(|p| (p.item_id.clone(), Vec::new()))
        .collect();
    for e in &all {
        if let StreamEvent::Behavior(b) = e {
            if let Some(users) = first_shoppers.get_mut(&b.item_id) {
                if users.len() < FIRST_SHOPPERS && !users.contains(&b.user_id) {
                    users.push(b.user_id.clone());
                }
            }
        }
    }
    Ok(Launch {
        products,
        first_shoppers,
    })
}

/// Every record of `topic` on the cluster, decoded as JSON (what the demo's topology writes).
fn read_topic<T: serde::de::DeserializeOwned>(
    topology: &Topology,
    topic: &str,
) -> anyhow::Result<Vec<T>> {
    // Read up to the high watermarks taken now: the end is known without asking librdkafka for
    // end-of-partition events, which it also reports through its error callback.
    let consumer: BaseConsumer = crate::kafka::common_config(&topology.kafka)
        .set("group.id", "warmstart-demo-reader")
        .set("enable.auto.commit", "false")
        .create()?;
    let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    let mut ends: HashMap<i32, i64> = HashMap::new();
    for p in md.topics().iter().flat_map(|t| t.partitions()) {
        let (lo, hi) = consumer.fetch_watermarks(topic, p.id(), Duration::from_secs(10))?;
        if hi > lo {
            tpl.add_partition_offset(topic, p.id(), rdkafka::Offset::Offset(lo))?;
            ends.insert(p.id(), hi);
        }
    }
    let mut out = Vec::new();
    if ends.is_empty() {
        return Ok(out);
    }
    consumer.assign(&tpl)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !ends.is_empty() && std::time::Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => {
                out.push(serde_json::from_slice(m.payload().unwrap_or_default())?);
                if ends
                    .get(&m.partition())
                    .is_some_and(|&hi| m.offset() + 1 >= hi)
                {
                    ends.remove(&m.partition());
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
    }
    Ok(out)
}

/// Reads what the stage and the pipeline wrote for `new`, and asks two models (with and without
/// the synthetic events) about each product's real first shoppers.
pub fn report(
    topology: &Topology,
    new: &[ProductEvent],
    shoppers: &HashMap<String, Vec<String>>,
    titles: &HashMap<String, String>,
    state: &AppState,
) -> anyhow::Result<ColdStartReport> {
    let o = &topology.outputs;
    let (Some(reviews_out), Some(behavior_out)) = (&o.synthetic_reviews, &o.synthetic_behavior)
    else {
        anyhow::bail!("the topology has no synthetic outputs");
    };
    let reviews: Vec<SyntheticReview> = read_topic(topology, &reviews_out.topic)?;
    let behavior: Vec<crate::events::SyntheticBehavior> =
        read_topic(topology, &behavior_out.topic)?;
    let products: Vec<ProductEvent> = read_topic(topology, &o.products.topic)?;
    let enriched: Vec<EnrichedEvent> = read_topic(topology, &o.enriched.topic)?;
    let config = &topology.recommender.model;
    let with = replayed(config, &products, &enriched, true);
    let without = replayed(config, &products, &enriched, false);
    let mut written: HashMap<&str, usize> = HashMap::new();
    for b in &behavior {
        *written.entry(&b.item_id).or_default() += 1;
    }
    let served = state.model.read().unwrap_or_else(|p| p.into_inner());
    let products = new
        .iter()
        .map(|p| {
            let mut reached = Reached::default();
            for u in shoppers.get(&p.item_id).map_or(&[][..], |v| v) {
                reached.shoppers += 1;
                if !without.knows(u) {
                    continue;
                }
                reached.known += 1;
                reached.with_synthetic += usize::from(in_top_20(&with, u, &p.item_id));
                reached.without += usize::from(in_top_20(&without, u, &p.item_id));
            }
            NewProduct {
                item_id: p.item_id.clone(),
                title: p.title.clone(),
                brand: p.brand.clone(),
                category: p.category.clone(),
                review: reviews
                    .iter()
                    .find(|r| r.item_id == p.item_id)
                    .map(|r| (r.rating, r.text.clone(), r.model_version.clone())),
                synthetic_events: written.get(p.item_id.as_str()).copied().unwrap_or(0),
                reached,
                similar: served
                    .similar(&p.item_id, 3)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(i, _)| titles.get(&i).cloned().unwrap_or(i))
                    .collect(),
            }
        })
        .collect();
    Ok(ColdStartReport {
        products,
        reviews: reviews.len(),
        behavior: behavior.len(),
        reviews_out_of_domain: 0,
    })
}
