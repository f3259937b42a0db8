//! Scale-out on this machine: the same stream through one `warmstart run` instance and through
//! two in one consumer group (separate processes, as deployed), on the local broker.
//!
//!     scripts/kafka start && cargo bench --bench scale_out
//!
//! The input is every Amazon Beauty interaction twice (fresh event ids the second time), 397,004
//! events in 8 partitions. Each run uses a new consumer group, so it reads everything; the clock
//! starts when the first instance has consumed a record and stops when the group has committed
//! every partition to its end (the second instance's join, and the rebalance it causes, count).
//! Runs alternate, and the median of each is reported. Both instances share this machine's two
//! cores with the broker: the figure says what a second instance costs and gains here, not what
//! it gains on a machine of its own. Without `--bench` (as `cargo test --all-targets` runs it) it
//! is a smoke run on 20,000 events.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use std::time::{Duration, Instant};
use warmstart::data::{beauty, StreamEvent};
use warmstart::events::BehaviorEvent;
use warmstart::kafka::publish::{publish_all, Publish};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Events/s of `instances` pipelines in a new group over the `n` events of `topology`'s input.
fn run(
    topics: &Topics,
    topology_text: &str,
    dir: &std::path::Path,
    n: usize,
    instances: usize,
) -> f64 {
    let group = unique("scale-group");
    let text = topology_text.replace(
        &format!("group_id = \"{}\"", topics.group),
        &format!("group_id = \"{group}\""),
    );
    assert_ne!(
        text, topology_text,
        "the topology names no group to replace"
    );
    let path = dir.join(format!("{group}.toml"));
    std::fs::write(&path, text).unwrap();
    let addrs: Vec<String> = (0..instances)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let procs: Vec<Proc> = addrs.iter().map(|a| spawn_pipeline(&path, a)).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while addrs
        .iter()
        .all(|a| metric(a, "warmstart_records_in_total") < 1.0)
    {
        assert!(Instant::now() < deadline, "no instance started consuming");
        std::thread::sleep(Duration::from_millis(5));
    }
    let started = Instant::now();
    assert!(
        wait_for_group(&group, &topics.behavior, Duration::from_secs(600)),
        "{instances} instance(s) did not finish"
    );
    let seconds = started.elapsed().as_secs_f64();
    let consumed: f64 = addrs
        .iter()
        .map(|a| metric(a, "warmstart_records_in_total"))
        .sum();
    assert!(consumed >= n as f64, "{consumed} of {n} consumed");
    drop(procs);
    n as f64 / seconds
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    require_broker();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("scale");
    rt.block_on(topics.create_with_partitions(8));
    let topology = std::fs::read_to_string(topics.write_topology(dir.path())).unwrap();

    let stream = beauty::load(&warmstart::data::data_dir().join("beauty-5core"), None).unwrap();
    let once: Vec<BehaviorEvent> = stream
        .into_iter()
        .filter_map(|e| match e {
            StreamEvent::Behavior(b) => Some(b),
            _ => None,
        })
        .collect();
    let mut events: Vec<BehaviorEvent> = once.clone();
    events.extend(once.into_iter().map(|b| BehaviorEvent {
        event_id: format!("{}-again", b.event_id),
        ..b
    }));
    if !full {
        events.truncate(20_000);
    }
    let records: Vec<(Vec<u8>, Vec<u8>)> = events
        .iter()
        .map(|e| {
            (
                e.user_id.clone().into_bytes(),
                serde_json::to_vec(e).unwrap(),
            )
        })
        .collect();
    publish_all(
        &client(),
        records.iter().map(|(key, payload)| Publish {
            topic: &topics.behavior,
            key,
            payload,
        }),
    )
    .unwrap();
    let n = events.len();

    let rounds = if full { 3 } else { 1 };
    let (mut one, mut two) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        let a = run(&topics, &topology, dir.path(), n, 1);
        eprintln!("round {round}: one instance {a:.0} events/s");
        one.push(a);
        let b = run(&topics, &topology, dir.path(), n, 2);
        eprintln!("round {round}: two instances {b:.0} events/s");
        two.push(b);
    }
    let ratios: Vec<String> = one
        .iter()
        .zip(&two)
        .map(|(a, b)| format!("{:.2}", b / a))
        .collect();
    let (a, b) = (median(one), median(two));
    println!("scale-out, {n} events in 8 partitions, median of {rounds} rounds, this machine's cores shared");
    println!("| instances | events/s |");
    println!("| --- | ---: |");
    println!("| 1 | {a:.0} |");
    println!("| 2 (one group) | {b:.0} |");
    println!("two / one: {:.2} (rounds {})", b / a, ratios.join(", "));
}
