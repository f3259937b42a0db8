//! Sustained load on the real broker: one `warmstart run` process at half its measured maximum
//! for 10 minutes; its resident memory (VmRSS) must stay flat and it must keep up.
//!
//!     cargo test --release --test soak_kafka -- --nocapture              # as .ci/run runs it
//!     WARMSTART_SOAK_SECONDS=60 cargo test --release --test soak_kafka -- --nocapture
//!
//! The maximum is measured first, in the same run on the same machine: a backlog of 300,000 real
//! events is put on the input before the pipeline starts, and the rate at which it drains is the
//! maximum. The load is then half that, sent on a schedule (10 ms steps) for the soak's length.
//! Events are Amazon Beauty interactions, cycled, each with a fresh event id, so the dedup window
//! fills to its bound and stays there. The topics keep two minutes of data, so a long run does not
//! fill the disk.
//!
//! Memory is read every 10 s. "Flat" is judged on the second half of the run: start-up (topic
//! metadata, librdkafka's queues, the dedup window filling, the allocator's arenas) settles within
//! the first half; a leak of even 2 bytes per event would add 30 MiB over a 5-minute half at
//! 50,000 events/s, over the 32 MiB allowed here.

mod common;

use common::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::time::{Duration, Instant};
use warmstart::events::BehaviorEvent;

/// Growth of RSS over the second half of the run that still counts as flat.
const FLAT_MIB: f64 = 32.0;
const BACKLOG: u64 = 300_000;

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

/// Sends events `from..to` of the cycled stream, each with its own event id.
fn send(producer: &BaseProducer, topic: &str, events: &[BehaviorEvent], from: u64, to: u64) {
    let mut payload = Vec::with_capacity(512);
    let mut n = from;
    while n < to {
        let e = &events[(n % events.len() as u64) as usize];
        let e = BehaviorEvent {
            event_id: format!("{}-{n}", e.event_id),
            ..e.clone()
        };
        payload.clear();
        serde_json::to_writer(&mut payload, &e).unwrap();
        let record = BaseRecord::to(topic)
            .key(e.user_id.as_bytes())
            .payload(&payload);
        if producer.send(record).is_err() {
            producer.poll(Duration::from_millis(10));
            continue;
        }
        n += 1;
    }
    producer.poll(Duration::ZERO);
}

fn wait_consumed(addr: &str, n: u64, timeout: Duration) -> f64 {
    wait_for_metric(addr, "warmstart_records_in_total", n as f64, timeout)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_flat_at_half_the_maximum_for_ten_minutes() {
    require_broker();
    let seconds: u64 = std::env::var("WARMSTART_SOAK_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
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
    admin
        .create_topics([&behavior, &enriched], &AdminOptions::new())
        .await
        .unwrap();
    topics.create().await;
    let topology = topics.write_topology(dir.path());
    let events = real_events(198_502);
    let producer: BaseProducer = client()
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .unwrap();

    // The maximum: how fast a fresh instance drains a backlog.
    send(&producer, &topics.behavior, &events, 0, BACKLOG);
    producer.flush(Duration::from_secs(60)).unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let pipeline = spawn_pipeline(&topology, &addr);
    let pid = pipeline.id();
    // Timed from the first record consumed, so the start-up and the group join do not count.
    assert!(wait_consumed(&addr, 1, Duration::from_secs(60)) >= 1.0);
    let t0 = Instant::now();
    let drained = wait_consumed(&addr, BACKLOG, Duration::from_secs(120));
    assert_eq!(drained as u64, BACKLOG, "the backlog was not consumed");
    let max_rate = BACKLOG as f64 / t0.elapsed().as_secs_f64();
    let rate = max_rate / 2.0;
    eprintln!("maximum {max_rate:.0} events/s: soak at {rate:.0} events/s for {seconds} s");

    let started = Instant::now();
    let mut samples: Vec<(f64, f64)> = Vec::new(); // (s, RSS MiB)
    let mut sent = BACKLOG;
    let mut next_sample = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(seconds) {
        let due = BACKLOG + (started.elapsed().as_secs_f64() * rate) as u64;
        send(&producer, &topics.behavior, &events, sent, due);
        sent = due.max(sent);
        if started.elapsed() >= next_sample {
            let s = started.elapsed().as_secs_f64();
            let rss = rss_mib(pid);
            let consumed = metric(&addr, "warmstart_records_in_total");
            eprintln!("{s:>6.0} s  RSS {rss:>7.1} MiB  sent {sent:>10}  consumed {consumed:>10.0}");
            samples.push((s, rss));
            next_sample += Duration::from_secs(10.min(seconds / 10).max(1));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let consumed = wait_consumed(&addr, sent, Duration::from_secs(120));
    let end = rss_mib(pid);
    drop(pipeline);

    let start = samples.first().map_or(0.0, |s| s.1);
    let mid = samples
        .iter()
        .find(|s| s.0 >= seconds as f64 / 2.0)
        .map_or(start, |s| s.1);
    let max = samples.iter().map(|s| s.1).fold(end, f64::max);
    println!(
        "soak: {seconds} s at {rate:.0} events/s (half of {max_rate:.0}): sent {sent}, consumed {consumed:.0}; RSS at the start {start:.1} MiB, at half time {mid:.1} MiB, at the end {end:.1} MiB, max {max:.1} MiB"
    );
    assert_eq!(
        consumed as u64, sent,
        "the pipeline fell behind or lost records"
    );
    assert!(
        end - mid <= FLAT_MIB,
        "memory grew {:.1} MiB over the second half ({mid:.1} -> {end:.1} MiB)",
        end - mid
    );
}
