//! The online recommender in process: update throughput (events/s on one core) and the latency
//! of a top-20 query, on the Amazon Beauty scale (22k users, 12k items).
//!
//!     cargo bench --bench recommender
//!
//! No broker, no HTTP: this is the model's own cost, the floor under the service's figures.

use std::time::Instant;
use warmstart::data::{beauty, StreamEvent};
use warmstart::events::EnrichedEvent;
use warmstart::recommend::online::{Online, OnlineConfig};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let smoke = !args.iter().any(|a| a == "--bench");
    let limit = if smoke { Some(20_000) } else { None };
    let stream = beauty::load(&warmstart::data::data_dir().join("beauty-5core"), limit).unwrap();
    let mut model = Online::new(OnlineConfig::default());
    let mut events = 0usize;
    let started = Instant::now();
    for e in &stream {
        match e {
            StreamEvent::Product(p) => {
                model.apply_product(p);
            }
            StreamEvent::Behavior(b) => {
                model.apply(&EnrichedEvent::real(b.clone(), 3.0));
                events += 1;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "applied {events} events ({} users, {} items) in {secs:.2} s: {:.0} events/s on one core",
        model.users(),
        model.items(),
        events as f64 / secs
    );
    let users: Vec<String> = stream
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Behavior(b) => Some(b.user_id.clone()),
            _ => None,
        })
        .step_by(97)
        .take(2000)
        .collect();
    let mut lat: Vec<f64> = users
        .iter()
        .map(|u| {
            let t = Instant::now();
            let r = model.recommend(u, 20);
            assert!(!r.is_empty());
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let p = |q: f64| lat[((lat.len() as f64 - 1.0) * q) as usize];
    println!(
        "recommend k=20 over {} items, {} queries: p50 {:.3} ms, p99 {:.3} ms",
        model.items(),
        lat.len(),
        p(0.5),
        p(0.99)
    );
}
