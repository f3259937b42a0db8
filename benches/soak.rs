//! Sustained load: a `warmstart run` process fed real events at a fixed rate for a fixed time,
//! its resident memory (VmRSS) sampled every 10 s: memory must stay flat.
//!
//!     scripts/kafka start && cargo bench --bench soak          # 10 minutes at 50,000 events/s
//!     SOAK_SECONDS=60 SOAK_RATE=20000 cargo bench --bench soak
//!
//! 50,000 events/s is about half of what one instance passes on this machine (benches/passthrough).
//! Events are Amazon Beauty interactions, cycled, each with a fresh event id (so the dedup window
//! fills up to its bound and stays there). The topics keep two minutes of data, so a long run does
//! not fill the disk. Without `--bench` (as `cargo test --all-targets` runs it) it is a 5 s smoke
//! run at 5,000 events/s.

#[path = "../tests/common/mod.rs"]
mod common;

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::time::{Duration, Instant};
use warmstart::events::BehaviorEvent;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident set size of `pid` in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let full = args.iter().any(|a| a == "--bench");
    let seconds = env("SOAK_SECONDS", if full { 600 } else { 5 });
    let rate = env("SOAK_RATE", if full { 50_000 } else { 5_000 });
    require_broker();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("soak");
    // Input and output with a short retention, created before the others.
    let admin: AdminClient<DefaultClientContext> = client().create().unwrap();
    fn short(name: &str) -> NewTopic<'_> {
        NewTopic::new(name, 4, TopicReplication::Fixed(1))
            .set("retention.ms", "120000")
            .set("segment.ms", "20000")
            .set("segment.bytes", "67108864")
    }
    let (behavior, enriched) = (short(&topics.behavior), short(&topics.enriched));
    rt.block_on(admin.create_topics([&behavior, &enriched], &AdminOptions::new()))
        .unwrap();
    rt.block_on(topics.create());
    let topology = topics.write_topology(dir.path());

    let events = real_events(198_502);
    let addr = format!("127.0.0.1:{}", free_port());
    let pipeline = spawn_pipeline(&topology, &addr);
    let pid = pipeline.id();
    let producer: BaseProducer = client()
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();

    let started = Instant::now();
    let mut samples: Vec<(f64, f64, f64)> = Vec::new(); // (s, RSS MiB, consumed)
    let mut sent: u64 = 0;
    let mut next_sample = Duration::ZERO;
    let mut payload = Vec::with_capacity(512);
    while started.elapsed() < Duration::from_secs(seconds) {
        // Send what the schedule says is due, 10 ms at a time.
        let due = (started.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            let e = &events[(sent % events.len() as u64) as usize];
            let e = BehaviorEvent {
                event_id: format!("{}-{sent}", e.event_id),
                ..e.clone()
            };
            payload.clear();
            serde_json::to_writer(&mut payload, &e).unwrap();
            let record = BaseRecord::to(&topics.behavior)
                .key(e.user_id.as_bytes())
                .payload(&payload);
            if producer.send(record).is_err() {
                producer.poll(Duration::from_millis(10));
                continue;
            }
            sent += 1;
        }
        producer.poll(Duration::ZERO);
        if started.elapsed() >= next_sample {
            let s = started.elapsed().as_secs_f64();
            let consumed = metric(&addr, "warmstart_records_in_total");
            let rss = rss_mib(pid);
            eprintln!("{s:>6.0} s  RSS {rss:>7.1} MiB  sent {sent:>10}  consumed {consumed:>10.0}");
            samples.push((s, rss, consumed));
            next_sample += Duration::from_secs(if full { 10 } else { 1 });
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while metric(&addr, "warmstart_records_in_total") < sent as f64 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
    }
    let consumed = metric(&addr, "warmstart_records_in_total");
    let end_rss = rss_mib(pid);
    drop(pipeline);
    // Memory after the first 30 s (librdkafka's queues and the dedup window filling) against the end.
    let warm = samples
        .iter()
        .find(|s| s.0 >= 30.0_f64.min(seconds as f64 / 2.0))
        .map_or(0.0, |s| s.1);
    let max = samples.iter().map(|s| s.1).fold(0.0, f64::max);
    println!(
        "soak: {seconds} s at {rate} events/s: sent {sent}, consumed {consumed:.0}; RSS after warm-up {warm:.1} MiB, at the end {end_rss:.1} MiB, max {max:.1} MiB ({:+.1}% warm-up to end)",
        100.0 * (end_rss - warm) / warm.max(1.0)
    );
    assert_eq!(
        consumed as u64, sent,
        "the pipeline fell behind or lost records"
    );
}
