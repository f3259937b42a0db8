//! Time to recommendable, on the real broker: a new product is produced to the product topic,
//! and the clock runs until the recommender serves it in `/v1/items/{id}/similar`, and until it
//! is in the top 20 of `/v1/recommendations` for at least one of the users the behaviour
//! generator drew for it.
//!
//!     scripts/kafka start && cargo bench --bench time_to_recommendable
//!
//! The pipeline (with the generation stage) and the recommender run as separate processes, as
//! deployed. The recommender is first warmed with real Beauty behaviour on the other items; then
//! the newest 1,000 Beauty items (none of their interactions replayed) are produced at a steady
//! rate, timestamped now, while this process polls the HTTP API. Everything shares this
//! machine's cores. Without `--bench` (as `cargo test --all-targets` runs it) it is a smoke run
//! of 20 products.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warmstart::data::{beauty, StreamEvent};
use warmstart::events::{EventType, ProductEvent, SyntheticBehavior};
use warmstart::kafka::publish::{publish_all, Publish};

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Per new item: when its first synthetic event arrived, and its synthetic users so far.
type Arrivals = Arc<Mutex<HashMap<String, (Instant, HashSet<String>)>>>;

/// Synthetic users per new item as they appear on the behaviour topic, with the arrival time.
fn watch_users(topic: String, users: Arrivals) {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    // Assigned, not subscribed: no group join, so it reads from the first record on.
    let c: BaseConsumer = client()
        .set("group.id", unique("ttr-watch"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let md = c
        .fetch_metadata(Some(&topic), Duration::from_secs(10))
        .unwrap();
    let mut tpl = rdkafka::TopicPartitionList::new();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(&topic, p.id(), rdkafka::Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    std::thread::spawn(move || loop {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            let b: SyntheticBehavior = serde_json::from_slice(m.payload().unwrap()).unwrap();
            users
                .lock()
                .unwrap()
                .entry(b.item_id)
                .or_insert_with(|| (Instant::now(), HashSet::new()))
                .1
                .insert(b.user_id);
        }
    });
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let (n_new, n_warm, rate) = if full {
        (1000, 100_000, 10.0)
    } else {
        (20, 5_000, 10.0)
    };
    require_broker();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("ttr");
    rt.block_on(topics.create());
    let topology = topics.write_topology_with(
        dir.path(),
        Some("max_product_age_ms = 86400000\n[generation.gates]\ndiscriminator_samples = 256"),
    );
    let users = Arc::new(Mutex::new(HashMap::new()));
    watch_users(topics.synthetic_behavior.clone(), users.clone());
    let _pipeline = spawn_pipeline(&topology, "");
    let rec = format!("127.0.0.1:{}", free_port());
    let _recommender = spawn_recommender(&topology, &format!("{}-rec", topics.group), &rec);

    let stream = beauty::load(&warmstart::data::data_dir().join("beauty-5core"), None).unwrap();
    let products: Vec<&ProductEvent> = stream.iter().filter_map(StreamEvent::as_product).collect();
    let new: Vec<ProductEvent> = products[products.len() - n_new..]
        .iter()
        .map(|p| (*p).clone())
        .collect();
    let new_ids: HashSet<&str> = new.iter().map(|p| p.item_id.as_str()).collect();
    let mut warm: Vec<(String, Vec<u8>, Vec<u8>)> = Vec::new();
    let mut behaviour = 0;
    for e in &stream {
        match e {
            StreamEvent::Product(p) if !new_ids.contains(p.item_id.as_str()) => warm.push((
                topics.products.clone(),
                p.item_id.clone().into_bytes(),
                serde_json::to_vec(p).unwrap(),
            )),
            StreamEvent::Behavior(b)
                if !new_ids.contains(b.item_id.as_str()) && behaviour < n_warm =>
            {
                behaviour += 1;
                warm.push((
                    topics.behavior.clone(),
                    b.user_id.clone().into_bytes(),
                    serde_json::to_vec(b).unwrap(),
                ));
            }
            _ => {}
        }
    }
    publish_all(
        &client(),
        warm.iter().map(|(topic, key, payload)| Publish {
            topic,
            key,
            payload,
        }),
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(600);
    while metric(&rec, "warmstart_recommender_events_applied_total") < behaviour as f64 {
        assert!(
            Instant::now() < deadline,
            "the recommender did not catch up with the warm-up"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("warm: {behaviour} real events applied; producing {n_new} new products at {rate}/s");

    let producer: BaseProducer = client().set("linger.ms", "0").create().unwrap();
    let json = warmstart::codec::Codec::new(
        warmstart::codec::Format::Json,
        Arc::new(warmstart::codec::SchemaRegistry::builtin()),
    );
    // item -> (produced at, served by /similar after, recommended after)
    let mut state: HashMap<String, (Instant, Option<f64>, Option<f64>)> = HashMap::new();
    let mut next = new.iter();
    let started = Instant::now();
    let mut sent = 0usize;
    let timeout = Duration::from_secs(10);
    let (mut rounds, mut round_time) = (0u64, 0.0f64);
    loop {
        // Produce on schedule.
        while sent < n_new && started.elapsed().as_secs_f64() >= sent as f64 / rate {
            let p = next.next().unwrap();
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64;
            let p = ProductEvent {
                ts: now_ms,
                ..p.clone()
            };
            let payload = json.encode_to_vec(EventType::Product, &p).unwrap();
            state.insert(p.item_id.clone(), (Instant::now(), None, None));
            producer
                .send(
                    BaseRecord::to(&topics.products)
                        .key(&p.item_id)
                        .payload(&payload),
                )
                .unwrap();
            producer.poll(Duration::ZERO);
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        let round = Instant::now();
        let known = users.lock().unwrap().clone();
        let mut open = 0;
        for (item, (t0, similar, recommended)) in state.iter_mut() {
            if recommended.is_some() && similar.is_some() || t0.elapsed() > timeout {
                continue;
            }
            open += 1;
            if similar.is_none() {
                let (status, _) = http_get(&rec, &format!("/v1/items/{item}/similar?k=1"));
                if status == 200 {
                    *similar = Some(t0.elapsed().as_secs_f64());
                }
            }
            if recommended.is_none() {
                if let Some((_, us)) = known.get(item) {
                    for u in us {
                        let (_, body) = http_get(&rec, &format!("/v1/recommendations/{u}?k=20"));
                        if body.contains(&format!("\"{item}\"")) {
                            *recommended = Some(t0.elapsed().as_secs_f64());
                            break;
                        }
                    }
                }
            }
        }
        rounds += 1;
        round_time += round.elapsed().as_secs_f64();
        if sent == n_new && open == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let _ = producer.flush(Duration::from_secs(10));
    let mut similar: Vec<f64> = state.values().filter_map(|s| s.1).collect();
    let mut recommended: Vec<f64> = state.values().filter_map(|s| s.2).collect();
    let generated = users.lock().unwrap();
    let mut both: Vec<f64> = state
        .values()
        .filter_map(|s| Some(s.1?.max(s.2?)))
        .collect();
    let mut generation: Vec<f64> = state
        .iter()
        .filter_map(|(item, s)| generated.get(item).map(|g| (g.0 - s.0).as_secs_f64()))
        .collect();
    println!(
        "time to recommendable, {n_new} new Beauty products at {rate}/s after {behaviour} real events (polling round {:.1} ms on average):",
        1e3 * round_time / rounds as f64
    );
    // Why an item missed: its best rank among its generated users' recommendations (0 = none
    // of them ranks it in the first 200, or it has no generated users).
    let mut missed_ranks: Vec<usize> = Vec::new();
    for (item, s) in &state {
        if s.2.is_some() {
            continue;
        }
        let best = generated.get(item).and_then(|(_, us)| {
            us.iter()
                .filter_map(|u| {
                    let (_, body) = http_get(&rec, &format!("/v1/recommendations/{u}?k=200"));
                    body.find(&format!("\"{item}\""))
                        .map(|at| body[..at].matches("\"item_id\"").count())
                })
                .min()
        });
        missed_ranks.push(best.unwrap_or(0));
    }
    missed_ranks.sort_unstable();
    // How the generated users spread over users: a few drawn for most items crowd each
    // other's new items out of their top 20.
    let mut per_user: HashMap<&str, usize> = HashMap::new();
    for (_, us) in generated.values() {
        for u in us {
            *per_user.entry(u.as_str()).or_default() += 1;
        }
    }
    let mut loads: Vec<usize> = per_user.values().copied().collect();
    loads.sort_unstable_by(|a, b| b.cmp(a));
    let missed_load: Vec<f64> = state
        .iter()
        .filter(|(_, s)| s.2.is_none())
        .filter_map(|(item, _)| generated.get(item))
        .map(|(_, us)| {
            us.iter().map(|u| per_user[u.as_str()]).sum::<usize>() as f64 / us.len().max(1) as f64
        })
        .collect();
    println!(
        "  generated users: {} distinct; new items per user: max {}, top 10 {:?}, median {}; mean over the users of missed items: {:.1}",
        loads.len(),
        loads.first().unwrap_or(&0),
        &loads[..loads.len().min(10)],
        loads.get(loads.len() / 2).unwrap_or(&0),
        missed_load.iter().sum::<f64>() / missed_load.len().max(1) as f64
    );
    if !missed_ranks.is_empty() {
        println!(
            "  {} items never in a top 20; their best rank among their users (0: not in the top 200): {missed_ranks:?}",
            missed_ranks.len()
        );
    }
    for (name, v) in [
        ("synthetic behaviour on its topic", &mut generation),
        ("served by /similar", &mut similar),
        ("in the top 20 of a generated user", &mut recommended),
        ("both (time to recommendable)", &mut both),
    ] {
        if v.is_empty() {
            println!("  {name:<36} none within {timeout:?}");
            continue;
        }
        // Percentiles over all new items: one that never got there counts as slower than all.
        let reached = v.len();
        let mut all: Vec<f64> = v.to_vec();
        all.resize(n_new, f64::INFINITY);
        let ms = |x: f64| {
            if x.is_finite() {
                format!("{:.0} ms", x * 1e3)
            } else {
                format!("over {timeout:?}")
            }
        };
        println!(
            "  {name:<36} {reached:>4}/{n_new} within {timeout:?}: p50 {}, p99 {}",
            ms(percentile(&mut all, 0.5)),
            ms(percentile(&mut all, 0.99))
        );
    }
}
