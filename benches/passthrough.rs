//! Passthrough throughput: the warmstart pipeline against a raw rdkafka consume-then-produce loop,
//! on the same local broker, in the same run, over the same input messages.
//!
//!     scripts/kafka start
//!     cargo bench --bench passthrough                # 1,000,000 messages of about 200 bytes
//!     BENCH_MESSAGES=200000 cargo bench --bench passthrough
//!
//! Both sides read one 4-partition input topic in their own consumer group and write to their own
//! output topic with an idempotent producer; the clock runs from the first message received to
//! the last output acknowledged, so group joins do not count. Rounds alternate (raw, pipeline,
//! raw, pipeline) so that a slow patch of the machine hits both; the median of each is reported.

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;
use std::time::{Duration, Instant};
use warmstart::events::{BehaviorEvent, BehaviorKind};
use warmstart::kafka::publish::{publish_all, send_waiting, Publish};
use warmstart::observe::Metrics;
use warmstart::pipeline::runner::Pipeline;
use warmstart::topology::Topology;

fn brokers() -> String {
    std::env::var("WARMSTART_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

fn config() -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers());
    c
}

fn unique(p: &str) -> String {
    let n = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("bench-{p}-{n}")
}

/// About 200-byte JSON behaviour events with distinct ids (the dedup stage sees no duplicates).
fn messages(n: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    (0..n)
        .map(|i| {
            let e = BehaviorEvent {
                event_id: format!("bench-{i:09}"),
                user_id: format!("A{:013}", i % 22_363),
                item_id: format!("B{:09}", (i * 7919) % 12_101),
                kind: [
                    BehaviorKind::View,
                    BehaviorKind::Cart,
                    BehaviorKind::Purchase,
                ][i % 3],
                ts: 1_700_000_000_000 + i as i64,
                session_id: Some(format!("web-session-{:016x}-{:024}", i / 10, i % 97)),
                rating: None,
                review_text: None,
            };
            (
                e.user_id.clone().into_bytes(),
                serde_json::to_vec(&e).unwrap(),
            )
        })
        .collect()
}

/// The reference: consume, copy the payload unchanged to the output, commit at the end.
fn raw_loop(input: &str, n: usize) -> f64 {
    let out = unique("raw-out");
    let consumer: BaseConsumer = config()
        .set("group.id", unique("raw"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "50")
        .create()
        .unwrap();
    let producer: BaseProducer = config()
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "500000")
        .create()
        .unwrap();
    consumer.subscribe(&[input]).unwrap();
    let mut seen = 0;
    let mut started = None;
    while seen < n {
        let Some(m) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let m = m.unwrap();
        started.get_or_insert_with(Instant::now);
        let mut rec = BaseRecord::to(&out).payload(m.payload().unwrap_or_default());
        if let Some(k) = m.key() {
            rec = rec.key(k);
        }
        send_waiting(&producer, rec).unwrap();
        producer.poll(Duration::ZERO);
        seen += 1;
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    consumer
        .commit_consumer_state(rdkafka::consumer::CommitMode::Sync)
        .unwrap();
    started.unwrap().elapsed().as_secs_f64()
}

fn pipeline(rt: &tokio::runtime::Runtime, input: &str, n: usize) -> f64 {
    let out = unique("pipe-out");
    let text = format!(
        r#"
[kafka]
bootstrap_servers = "{b}"
group_id = "{g}"
[inputs.behavior]
topic = "{input}"
type = "behavior"
[outputs.enriched]
topic = "{out}"
[outputs.products]
topic = "{out}.products"
[outputs.dead_letter]
topic = "{out}.dlq"
[[stages]]
type = "decode"
[[stages]]
type = "normalize"
[[stages]]
type = "dedup"
[[stages]]
type = "enrich"
[http]
listen = ""
"#,
        b = brokers(),
        g = unique("pipe")
    );
    let topology = Topology::parse(&text).unwrap();
    let metrics = Metrics::new("cpu");
    let watch = metrics.clone();
    let out_counter = metrics.records_out(&out);
    let (tx, rx) = std::sync::mpsc::channel();
    let done = async move {
        let mut started = None;
        loop {
            if started.is_none() && watch.total_records_in() > 0 {
                started = Some(Instant::now());
            }
            if out_counter.get() as usize >= n {
                let _ = tx.send(started.unwrap().elapsed().as_secs_f64());
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let summary = rt
        .block_on(Pipeline::new(topology, metrics).unwrap().run(done))
        .unwrap();
    assert_eq!(summary.outputs as usize, n);
    rx.recv().unwrap()
}

/// The stages and the output encoding alone, in memory: the pipeline's CPU cost per event.
fn chain_only(msgs: &[(Vec<u8>, Vec<u8>)]) -> f64 {
    use std::sync::Arc;
    use warmstart::codec::{Codec, Format, SchemaRegistry};
    use warmstart::pipeline::{stages, Chain, InputCtx, Record};
    use warmstart::topology::{DecodeConfig, DedupConfig, EnrichConfig, StageConfig};
    let configs = vec![
        StageConfig::Decode(DecodeConfig::default()),
        StageConfig::Normalize,
        StageConfig::Dedup(DedupConfig { window: 1_000_000 }),
        StageConfig::Enrich(EnrichConfig::default()),
    ];
    let mut chain = Chain::new(stages::build(&configs));
    let codec = Codec::new(Format::Json, Arc::new(SchemaRegistry::builtin()));
    let mut out = Vec::new();
    let mut bytes = 0;
    let t = Instant::now();
    for (_, payload) in msgs {
        out.clear();
        let ctx = InputCtx {
            payload,
            event_type: warmstart::events::EventType::Behavior,
            codec: &codec,
            now_ms: 1_800_000_000_000,
        };
        chain.run(Record::Undecoded, &ctx, &mut out).unwrap();
        for r in out.drain(..) {
            if let Record::Enriched(e) = r {
                bytes += codec
                    .encode_to_vec(warmstart::events::EventType::Enriched, &e)
                    .unwrap()
                    .len();
            }
        }
    }
    assert!(bytes > 0);
    t.elapsed().as_secs_f64() / msgs.len() as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return; // test-runner probing; nothing to list
    }
    // `cargo bench` passes --bench; `cargo test --all-targets` does not, and gets a quick smoke run.
    let smoke = !args.iter().any(|a| a == "--bench");
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d)
    };
    let n = env("BENCH_MESSAGES", if smoke { 20_000 } else { 1_000_000 });
    let rounds = env("BENCH_ROUNDS", if smoke { 1 } else { 3 });
    warmstart::observe::logging::init(warmstart::observe::logging::LogFormat::Human);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let input = unique("in");
    rt.block_on(warmstart::kafka::admin::ensure_topics(
        &config(),
        &[&input],
        4,
        1,
    ))
    .unwrap();
    let msgs = messages(n);
    let avg = msgs.iter().map(|(_, p)| p.len()).sum::<usize>() / n;
    let t = Instant::now();
    publish_all(
        &config(),
        msgs.iter().map(|(k, p)| Publish {
            topic: &input,
            key: k,
            payload: p,
        }),
    )
    .unwrap();
    eprintln!(
        "loaded {n} messages ({avg} bytes on average) in {:.1?}",
        t.elapsed()
    );
    let per_event = chain_only(&msgs);
    eprintln!(
        "stages + encoding in memory: {:.2} us per event ({:.0} events/s on one core)",
        per_event * 1e6,
        1.0 / per_event
    );
    drop(msgs);

    let (mut raw, mut pipe) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // BENCH_ONLY=pipeline (or raw) runs one side, for profiling.
        let only = std::env::var("BENCH_ONLY").unwrap_or_default();
        if only != "pipeline" {
            let r = raw_loop(&input, n);
            eprintln!("round {round}: raw loop {:.0} events/s", n as f64 / r);
            raw.push(n as f64 / r);
        }
        if only == "raw" {
            continue;
        }
        let p = pipeline(&rt, &input, n);
        eprintln!("round {round}: pipeline {:.0} events/s", n as f64 / p);
        pipe.push(n as f64 / p);
    }
    let ratios: Vec<f64> = raw.iter().zip(&pipe).map(|(r, p)| p / r).collect();
    let ratio = median(ratios.clone());
    let (r, p) = (median(raw), median(pipe));
    println!("passthrough, {n} messages of {avg} bytes, median of {rounds} rounds");
    println!("| run | events/s |");
    println!("| --- | ---: |");
    println!("| raw rdkafka consume-then-produce | {r:.0} |");
    println!("| warmstart pipeline (decode, normalize, dedup, enrich) | {p:.0} |");
    let each: Vec<String> = ratios.iter().map(|x| format!("{x:.2}")).collect();
    println!(
        "| ratio pipeline / raw (median of the rounds' ratios: {}) | {ratio:.2} |",
        each.join(", ")
    );
    println!(
        "stages + output encoding in memory: {:.2} us per event",
        per_event * 1e6
    );
}
