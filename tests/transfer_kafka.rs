//! The generation stage's default behaviour source on the real broker: the transfer generator
//! draws a new product's synthetic shoppers from the real shoppers of its content neighbours,
//! which it reads back from the stage's own topics, and a restarted stage reads them again before
//! it takes a product.

mod common;

use common::*;
use std::collections::{HashMap, HashSet};
use std::time::Duration;
use warmstart::codec::{Codec, Format, SchemaRegistry};
use warmstart::data::{beauty, StreamEvent};
use warmstart::events::{BehaviorEvent, BehaviorKind, EventType, ProductEvent, SyntheticBehavior};
use warmstart::recommend::transfer::{Transfer, TransferConfig};

const USERS: usize = 20;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The synthetic behaviour of `ids`, by item; every record checked for its provenance.
fn shoppers_of(
    topic: &str,
    ids: &HashSet<&str>,
    launched: i64,
) -> HashMap<String, HashSet<String>> {
    let mut by_item: HashMap<String, HashSet<String>> = HashMap::new();
    for b in parse::<SyntheticBehavior>(topic) {
        if !ids.contains(b.item_id.as_str()) {
            continue;
        }
        assert!(b.synthetic);
        assert_eq!(b.model_name, "transfer");
        assert_eq!(b.model_version, format!("transfer-n5-r50-u{USERS}"));
        assert_eq!((b.kind, b.ts), (BehaviorKind::View, launched));
        assert!(
            by_item.entry(b.item_id).or_default().insert(b.user_id),
            "a user is drawn once per product"
        );
    }
    by_item
}

/// Once every synthetic behaviour record the stage counts is on the topic: the records of `ids`.
fn all_written(
    addr: &str,
    topic: &str,
    ids: &HashSet<&str>,
    launched: i64,
) -> HashMap<String, HashSet<String>> {
    let emitted = metric(
        addr,
        "warmstart_generation_records_total{kind=\"behavior\"}",
    ) as usize;
    assert!(emitted > 0, "no synthetic behaviour emitted");
    wait_until(
        "the emitted synthetic behaviour on its topic",
        Duration::from_secs(60),
        || {
            let got = shoppers_of(topic, ids, launched);
            (got.values().map(HashSet::len).sum::<usize>() >= emitted).then_some(got)
        },
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transfer_generator_draws_real_shoppers_of_the_neighbours_and_restores_them_after_a_restart(
) {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("transfer");
    topics.create().await;
    let topology = topics.write_topology_with(
        dir.path(),
        Some(&format!("reviews_per_product = 0\nmax_product_age_ms = 86400000\n[generation.gates]\ndiscriminator_samples = 64\n[generation.transfer]\nusers = {USERS}")),
    );

    // The history: Beauty's products and its first 20,000 interactions, none of them with the
    // 25 newest items, which are launched later.
    let stream = beauty::load(&warmstart::data::data_dir().join("beauty-5core"), None).unwrap();
    let products: Vec<&ProductEvent> = stream.iter().filter_map(StreamEvent::as_product).collect();
    let newest: Vec<ProductEvent> = products[products.len() - 25..]
        .iter()
        .map(|p| (*p).clone())
        .collect();
    let new_ids: HashSet<&str> = newest.iter().map(|p| p.item_id.as_str()).collect();
    let json = Codec::new(Format::Json, std::sync::Arc::new(SchemaRegistry::builtin()));
    let mut records = Vec::new();
    let mut real: Vec<BehaviorEvent> = Vec::new();
    // The same history in process, to name each new product's nearest neighbours.
    let mut reference = Transfer::new(TransferConfig::default());
    for e in &stream {
        match e {
            StreamEvent::Product(p) if !new_ids.contains(p.item_id.as_str()) => {
                reference.product(p);
                records.push((
                    topics.products.clone(),
                    p.item_id.clone().into_bytes(),
                    json.encode_to_vec(EventType::Product, p).unwrap(),
                ));
            }
            StreamEvent::Behavior(b)
                if !new_ids.contains(b.item_id.as_str()) && real.len() < 20_000 =>
            {
                reference.interaction(&b.user_id, &b.item_id, b.ts);
                records.push((
                    topics.behavior.clone(),
                    b.user_id.clone().into_bytes(),
                    json.encode_to_vec(EventType::Behavior, b).unwrap(),
                ));
                real.push(b.clone());
            }
            _ => {}
        }
    }
    let warm_products = records.iter().filter(|r| r.0 == topics.products).count() as f64;
    publish(&records);
    let launch = |products: &[ProductEvent], ts: i64| {
        let records: Vec<_> = products
            .iter()
            .map(|p| {
                let p = ProductEvent { ts, ..p.clone() };
                (
                    topics.products.clone(),
                    p.item_id.clone().into_bytes(),
                    json.encode_to_vec(EventType::Product, &p).unwrap(),
                )
            })
            .collect();
        publish(&records);
    };

    // The pipeline with the stage in process; the history goes through first, as in a running
    // shop, and the stage's index follows the enriched topic.
    let addr = format!("127.0.0.1:{}", free_port());
    let mut pipeline = spawn_pipeline(&topology, &addr);
    let interactions = "warmstart_generation_shopper_records_total{kind=\"interaction\"}";
    assert_eq!(
        wait_for_metric(
            &addr,
            interactions,
            real.len() as f64,
            Duration::from_secs(240)
        ),
        real.len() as f64,
        "the index read every real interaction once"
    );
    wait_for_metric(
        &addr,
        "warmstart_generation_shopper_records_total{kind=\"product\"}",
        warm_products,
        Duration::from_secs(120),
    );
    let first = &newest[..20];
    let launched = now_ms();
    launch(first, launched);
    assert_eq!(
        wait_for_metric(
            &addr,
            "warmstart_generation_products_total",
            warm_products + 20.0,
            Duration::from_secs(120)
        ),
        warm_products + 20.0
    );
    assert_eq!(
        metric(
            &addr,
            "warmstart_generation_products_total{outcome=\"generated\"}"
        ),
        20.0,
        "every new product got its synthetic shoppers (the history is years old: skipped)"
    );
    let ids: HashSet<&str> = first.iter().map(|p| p.item_id.as_str()).collect();
    let wanted = all_written(&addr, &topics.synthetic_behavior, &ids, launched);
    assert_eq!(wanted.len(), 20, "every new product has synthetic shoppers");
    assert!(wanted.values().all(|u| !u.is_empty() && u.len() <= USERS));

    // Who they are: real shoppers of the history, and shoppers of the product's content
    // neighbours (in process: the stage read the same history in another order, which may
    // reorder ties among its 5 nearest, so ties with the 5th count too).
    let mut shopped: HashMap<&str, HashSet<&str>> = HashMap::new();
    for b in &real {
        shopped
            .entry(b.item_id.as_str())
            .or_default()
            .insert(b.user_id.as_str());
    }
    for p in first {
        let mut p = p.clone();
        p.ts = launched;
        reference.product(&p);
        // The 10 nearest, and every item tied with the 5th.
        let ranked = reference.neighbours(&p.item_id, usize::MAX);
        let fifth = ranked.get(4).map_or(f32::MIN, |n| n.1);
        let near: HashSet<&str> = ranked
            .iter()
            .enumerate()
            .filter(|(k, n)| *k < 10 || n.1 >= fifth - 1e-6)
            .flat_map(|(_, n)| shopped.get(n.0.as_str()).into_iter().flatten().copied())
            .collect();
        let users = &wanted[&p.item_id];
        let outside: Vec<&String> = users
            .iter()
            .filter(|u| !near.contains(u.as_str()))
            .collect();
        assert!(
            outside.is_empty(),
            "{}: synthetic shoppers who bought none of its nearest neighbours: {outside:?}",
            p.item_id
        );
    }

    // A restart: the enriched topic is not written again (the pipeline's offsets are
    // committed), so what the new process knows it read back from the topics before it took a
    // product.
    assert!(sigterm_and_wait(&mut pipeline).success());
    let addr = format!("127.0.0.1:{}", free_port());
    let _pipeline = spawn_pipeline(&topology, &addr);
    wait_for_metric(
        &addr,
        "warmstart_generation_shoppers_restored",
        1.0,
        Duration::from_secs(120),
    );
    assert!(
        metric(&addr, interactions) >= real.len() as f64,
        "restored before the first product: every real interaction read back"
    );
    let second = &newest[20..];
    let relaunched = now_ms();
    launch(second, relaunched);
    let ids: HashSet<&str> = second.iter().map(|p| p.item_id.as_str()).collect();
    let users: HashSet<&str> = real.iter().map(|b| b.user_id.as_str()).collect();
    wait_for_metric(
        &addr,
        "warmstart_generation_products_total{outcome=\"generated\"}",
        5.0,
        Duration::from_secs(120),
    );
    let got = all_written(&addr, &topics.synthetic_behavior, &ids, relaunched);
    assert_eq!(
        got.len(),
        5,
        "every product launched after the restart has shoppers"
    );
    for u in got.values().flatten() {
        assert!(users.contains(u.as_str()), "{u} is not a real shopper");
    }
}
