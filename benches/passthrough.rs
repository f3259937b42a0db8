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
//! pipeline exactly-once, pipeline beside a saturated generation stage) so that a slow patch of
//! the machine hits all; the median of each is reported. One more run has the pipeline in its
//! shape before worker threads (`runtime.workers = 1`: everything on the consuming task), the
//! reference for what the workers bring. The exactly-once run's clock also stops
//! at the last acknowledgement; its transactions commit every second on the way.
//!
//! The fourth run is the pipeline in one process with the generation stage (as `warmstart run`
//! starts them), the stage kept busy throughout by a backlog of new products on its input: real
//! events must keep flowing while generation is saturated.

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

/// The machine's CPU time counters (all cores): (idle incl. iowait, total), from /proc/stat.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let idle = v.get(3)? + v.get(4).copied().unwrap_or(0);
    Some((idle, v.iter().sum()))
}

/// The share of the machine's CPU time (every core, the broker's included) spent idle between
/// two samples.
fn idle_share(a: Option<(u64, u64)>, b: Option<(u64, u64)>) -> f64 {
    match (a, b) {
        (Some((i0, t0)), Some((i1, t1))) if t1 > t0 => (i1 - i0) as f64 / (t1 - t0) as f64,
        _ => f64::NAN,
    }
}

/// The pipeline's time and the machine's idle share during it.
fn pipeline(
    rt: &tokio::runtime::Runtime,
    input: &str,
    n: usize,
    delivery: &str,
    workers: usize,
) -> (f64, f64) {
    let (t, _, idle) = pipeline_beside(rt, input, n, None, delivery, workers);
    (t, idle)
}

/// The pipeline on `input`, with the generation stage of `generation` (its product backlog
/// topic) running in the same process when given; returns the pipeline's time and the number
/// of products the stage finished meanwhile.
fn pipeline_beside(
    rt: &tokio::runtime::Runtime,
    input: &str,
    n: usize,
    generation: Option<&str>,
    delivery: &str,
    workers: usize,
) -> (f64, f64, f64) {
    let out = unique("pipe-out");
    let products = generation.map_or(format!("{out}.products"), str::to_owned);
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
topic = "{products}"
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
[runtime]
delivery = "{delivery}"
transactional_id = "{t}"
workers = {workers}
"#,
        b = brokers(),
        g = unique("pipe"),
        t = unique("pipe-tx"),
    );
    let text = match generation {
        None => text,
        Some(_) => format!(
            "{text}\n[outputs.synthetic_reviews]\ntopic = \"{out}.reviews\"\n[outputs.synthetic_behavior]\ntopic = \"{out}.behavior\"\n[generation]\ngroup_id = \"{}\"\n[generation.gates]\ndiscriminator_samples = 256\n",
            unique("gen")
        ),
    };
    let topology = Topology::parse(&text).unwrap();
    let metrics = Metrics::new("cpu");
    // The stage counts in its own registry: it writes synthetic events to the same enriched topic,
    // and the clock must stop on the pipeline's outputs alone.
    let gen_metrics = Metrics::new("cpu");
    let generated = |m: &Metrics| -> f64 {
        m.registry
            .gather()
            .iter()
            .filter(|f| f.name() == "warmstart_generation_products_total")
            .flat_map(|f| f.get_metric().iter().map(|m| m.get_counter().get_value()))
            .sum()
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let stage = generation.map(|_| {
        let mut rx = stopped.clone();
        let shutdown = async move {
            let _ = rx.wait_for(|s| *s).await;
        };
        let _guard = rt.enter();
        let (_, task) =
            warmstart::generate::launch::spawn(topology.clone(), gen_metrics.clone(), shutdown)
                .unwrap();
        // Saturated before the clock starts: the models are loaded and products are flowing.
        while generated(&gen_metrics) < 1.0 {
            std::thread::sleep(Duration::from_millis(50));
        }
        task
    });
    let before = generated(&gen_metrics);
    let watch = metrics.clone();
    let out_counter = metrics.records_out(&out);
    let (tx, rx) = std::sync::mpsc::channel();
    let done = async move {
        let mut started = None;
        let mut cpu_at_start = None;
        loop {
            if started.is_none() && watch.total_records_in() > 0 {
                started = Some(Instant::now());
                cpu_at_start = cpu_times();
            }
            if out_counter.get() as usize >= n {
                let idle = idle_share(cpu_at_start, cpu_times());
                let _ = tx.send((started.unwrap().elapsed().as_secs_f64(), idle));
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let summary = rt
        .block_on(Pipeline::new(topology, metrics.clone()).unwrap().run(done))
        .unwrap();
    assert_eq!(summary.outputs as usize, n);
    let during = generated(&gen_metrics) - before;
    let _ = stop.send(true);
    if let Some(task) = stage {
        rt.block_on(task).unwrap().unwrap();
    }
    let (t, idle) = rx.recv().unwrap();
    (t, during, idle)
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

    // The generation stage's backlog: far more new products than it can finish during a run.
    let backlog = unique("backlog");
    rt.block_on(warmstart::kafka::admin::ensure_topics(
        &config(),
        &[&backlog],
        4,
        1,
    ))
    .unwrap();
    let products =
        warmstart::generate::bench::new_products(if smoke { 2_000 } else { 10_000 }).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let encoded: Vec<(Vec<u8>, Vec<u8>)> = products
        .iter()
        .map(|p| {
            let p = warmstart::events::ProductEvent {
                ts: now,
                ..p.clone()
            };
            (
                p.item_id.clone().into_bytes(),
                serde_json::to_vec(&p).unwrap(),
            )
        })
        .collect();
    publish_all(
        &config(),
        encoded.iter().map(|(k, p)| Publish {
            topic: &backlog,
            key: k,
            payload: p,
        }),
    )
    .unwrap();

    let (mut raw, mut pipe, mut busy, mut busy_products) =
        (Vec::new(), Vec::new(), Vec::new(), 0.0);
    let mut eos = Vec::new();
    let mut single = Vec::new();
    let (mut pipe_idle, mut single_idle) = (Vec::new(), Vec::new());
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
        let (p, idle) = pipeline(&rt, &input, n, "at_least_once", 0);
        eprintln!(
            "round {round}: pipeline {:.0} events/s (machine idle {:.0}%)",
            n as f64 / p,
            idle * 100.0
        );
        pipe.push(n as f64 / p);
        pipe_idle.push(idle);
        let (one, idle) = pipeline(&rt, &input, n, "at_least_once", 1);
        eprintln!(
            "round {round}: pipeline, workers = 1 {:.0} events/s (machine idle {:.0}%)",
            n as f64 / one,
            idle * 100.0
        );
        single.push(n as f64 / one);
        single_idle.push(idle);
        let (x, _) = pipeline(&rt, &input, n, "exactly_once", 0);
        eprintln!(
            "round {round}: pipeline exactly-once {:.0} events/s",
            n as f64 / x
        );
        eos.push(n as f64 / x);
        let (b, products, _) = pipeline_beside(&rt, &input, n, Some(&backlog), "at_least_once", 0);
        eprintln!(
            "round {round}: pipeline beside saturated generation {:.0} events/s ({products} products generated meanwhile)",
            n as f64 / b
        );
        busy.push(n as f64 / b);
        busy_products += products;
    }
    let ratios: Vec<f64> = raw.iter().zip(&pipe).map(|(r, p)| p / r).collect();
    let ratio = median(ratios.clone());
    let busy_ratios: Vec<f64> = pipe.iter().zip(&busy).map(|(p, b)| b / p).collect();
    let busy_ratio = median(busy_ratios.clone());
    let eos_ratios: Vec<f64> = pipe.iter().zip(&eos).map(|(p, x)| x / p).collect();
    let eos_ratio = median(eos_ratios.clone());
    let single_ratios: Vec<f64> = pipe.iter().zip(&single).map(|(p, o)| p / o).collect();
    let single_ratio = median(single_ratios.clone());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (r, p, b, x, o) = (
        median(raw),
        median(pipe),
        median(busy),
        median(eos),
        median(single),
    );
    println!("passthrough, {n} messages of {avg} bytes, median of {rounds} rounds");
    println!("| run | events/s |");
    println!("| --- | ---: |");
    println!("| raw rdkafka consume-then-produce | {r:.0} |");
    println!(
        "| warmstart pipeline (decode, normalize, dedup, enrich), {workers} workers | {p:.0} |"
    );
    let each: Vec<String> = ratios.iter().map(|x| format!("{x:.2}")).collect();
    println!(
        "| ratio pipeline / raw (median of the rounds' ratios: {}; target at least 0.9) | {ratio:.2} |",
        each.join(", ")
    );
    println!("| warmstart pipeline, workers = 1 (everything on the consuming task) | {o:.0} |");
    println!(
        "| the ceiling of that ratio: raw / workers = 1 (a loop that does no work at all) | {:.2} |",
        r / o
    );
    let each: Vec<String> = single_ratios.iter().map(|x| format!("{x:.2}")).collect();
    println!(
        "| ratio pipeline / workers = 1 (median of the rounds' ratios: {}; target at least 1.3) | {single_ratio:.2} |",
        each.join(", ")
    );
    println!(
        "| warmstart pipeline, exactly-once (a transaction per commit interval, 1 s) | {x:.0} |"
    );
    let each: Vec<String> = eos_ratios.iter().map(|x| format!("{x:.2}")).collect();
    println!(
        "| ratio exactly-once / at-least-once (median of the rounds' ratios: {}; target at least 0.9) | {eos_ratio:.2} |",
        each.join(", ")
    );
    println!("| warmstart pipeline beside a saturated generation stage (same process) | {b:.0} |");
    let each: Vec<String> = busy_ratios.iter().map(|x| format!("{x:.2}")).collect();
    println!(
        "| ratio beside generation / pipeline alone (median of the rounds' ratios: {}) | {busy_ratio:.2} |",
        each.join(", ")
    );
    println!(
        "stages + output encoding in memory: {:.2} us per event; the generation stage finished {busy_products} products during the runs beside it",
        per_event * 1e6
    );
    println!(
        "machine idle (both cores, broker included) during the runs: {workers} workers {:.0}%, workers = 1 {:.0}% (medians)",
        median(pipe_idle) * 100.0,
        median(single_idle) * 100.0
    );
}
