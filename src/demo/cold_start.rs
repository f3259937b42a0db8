//! The demo's second act, when the topology has a `[generation]` section: new products arrive
//! after the replayed history, the generation stage writes synthetic reviews and behaviour for
//! them, and the online recommender (in this process, on the same embedded cluster) learns from
//! the enriched topic until it can recommend each new product before any real shopper has seen it.

use crate::data::{beauty, StreamEvent};
use crate::events::{ProductEvent, SyntheticBehavior, SyntheticReview};
use crate::recommender::AppState;
use crate::topology::Topology;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// What the demo shows for one new product.
pub struct NewProduct {
    pub item_id: String,
    pub title: String,
    /// (rating, text, model version) of its first synthetic review.
    pub review: Option<(i32, String, String)>,
    pub users: usize,
    /// Of its generated users, how many have it in their top 20.
    pub recommended_to: usize,
    /// Titles of its nearest items in the recommender.
    pub similar: Vec<String>,
}

pub struct ColdStartReport {
    pub products: Vec<NewProduct>,
    pub reviews: usize,
    pub behavior: usize,
}

impl ColdStartReport {
    pub fn recommendable(&self) -> usize {
        self.products
            .iter()
            .filter(|p| p.recommended_to > 0)
            .count()
    }
}

/// The newest `n` products of Beauty that are not in its first `events` interactions, launched
/// now: the products the demo's history has not seen.
pub fn new_products(events: usize, n: usize) -> Result<Vec<ProductEvent>, crate::data::DataError> {
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
    let mut out: Vec<ProductEvent> = all
        .iter()
        .rev()
        .filter_map(|e| match e {
            StreamEvent::Product(p) if !seen.contains(p.item_id.as_str()) => Some(ProductEvent {
                ts: now,
                ..p.clone()
            }),
            _ => None,
        })
        .take(n)
        .collect();
    out.reverse();
    Ok(out)
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

/// Reads what the stage wrote for `new` and asks the recommender about each product.
pub fn report(
    topology: &Topology,
    new: &[ProductEvent],
    titles: &HashMap<String, String>,
    state: &AppState,
) -> anyhow::Result<ColdStartReport> {
    let o = &topology.outputs;
    let (Some(reviews_out), Some(behavior_out)) = (&o.synthetic_reviews, &o.synthetic_behavior)
    else {
        anyhow::bail!("the topology has no synthetic outputs");
    };
    let reviews: Vec<SyntheticReview> = read_topic(topology, &reviews_out.topic)?;
    let behavior: Vec<SyntheticBehavior> = read_topic(topology, &behavior_out.topic)?;
    let mut users: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for b in &behavior {
        users.entry(&b.item_id).or_default().insert(&b.user_id);
    }
    let model = state.model.read().unwrap_or_else(|p| p.into_inner());
    let products = new
        .iter()
        .map(|p| {
            let mine = users.get(p.item_id.as_str());
            let recommended_to = mine.map_or(0, |us| {
                us.iter()
                    .filter(|u| model.recommend(u, 20).iter().any(|(i, _)| *i == p.item_id))
                    .count()
            });
            NewProduct {
                item_id: p.item_id.clone(),
                title: p.title.clone(),
                review: reviews
                    .iter()
                    .find(|r| r.item_id == p.item_id)
                    .map(|r| (r.rating, r.text.clone(), r.model_version.clone())),
                users: mine.map_or(0, |us| us.len()),
                recommended_to,
                similar: model
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
    })
}
