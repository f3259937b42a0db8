//! The online recommender behind the pipeline, on the real broker: real Beauty events go in
//! through the pipeline, recommendations and similar items come out over HTTP, a product
//! published while it runs becomes servable, and restarted from its snapshot, after SIGTERM or
//! SIGKILL, it continues as if it had never stopped.

mod common;

use common::*;
use rand::Rng;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use warmstart::data::{beauty, StreamEvent};
use warmstart::kafka::publish::{publish_all, Publish};
use warmstart::recommend::online::Online;
use warmstart::recommend::snapshot::{self, Snapshot};
use warmstart::recommend::splitmix::SplitMix64;

/// A pipeline and a recommender on fresh topics; the processes stop when it is dropped.
struct Service {
    topics: Topics,
    addr: String,
    _dir: tempfile::TempDir,
    _pipeline: Proc,
    _recommender: Proc,
}

impl Service {
    async fn start(name: &str, partitions: i32) -> Self {
        require_broker();
        let dir = tempfile::tempdir().unwrap();
        let topics = Topics::new(name);
        topics.create_with_partitions(partitions).await;
        let topology = topics.write_topology(dir.path());
        let pipeline = spawn_pipeline(&topology, "");
        let addr = format!("127.0.0.1:{}", free_port());
        let recommender = spawn_recommender(&topology, &format!("{}-rec", topics.group), &addr);
        Service {
            topics,
            addr,
            _dir: dir,
            _pipeline: pipeline,
            _recommender: recommender,
        }
    }
}

fn beauty_stream(limit: usize) -> Vec<StreamEvent> {
    beauty::load(
        &warmstart::data::data_dir().join("beauty-5core"),
        Some(limit),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recommender_learns_from_the_stream_and_serves_new_products() {
    let service = Service::start("rec", 4).await;
    let (topics, addr) = (&service.topics, service.addr.as_str());
    let stream = beauty_stream(3000);
    let mut history: HashMap<String, HashSet<String>> = HashMap::new();
    for e in &stream {
        if let StreamEvent::Behavior(b) = e {
            history
                .entry(b.user_id.clone())
                .or_default()
                .insert(b.item_id.clone());
        }
    }
    publish_behavior(topics, &stream);

    wait_applied(addr, 3000.0);
    assert_eq!(http_get(addr, "/readyz").0, 200);

    // A known user: 20 items, none of which the user already has.
    let (user, seen) = history.iter().max_by_key(|(_, s)| s.len()).unwrap();
    let (status, body) = http_get(addr, &format!("/v1/recommendations/{user}?k=20"));
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let items: Vec<&str> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["item_id"].as_str().unwrap())
        .collect();
    assert_eq!(items.len(), 20);
    assert!(
        items.iter().all(|i| !seen.contains(*i)),
        "recommended an item the user has"
    );
    // Unknown users get popular and fresh items, never an error; bad k is a 400.
    let (status, body) = http_get(addr, "/v1/recommendations/someone-new?k=5");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap()["items"]
            .as_array()
            .unwrap()
            .len(),
        5
    );
    assert_eq!(http_get(addr, "/v1/recommendations/u?k=0").0, 400);
    assert_eq!(http_get(addr, "/v1/items/no-such-item/similar").0, 404);

    // A new product published now is served by /similar once it went through the pipeline.
    let product = warmstart::events::ProductEvent {
        item_id: "NEW-PRODUCT-1".into(),
        ts: 1_400_000_000_000,
        title: "OPI Nail Lacquer, Brand New Shade, 0.5 Fluid Ounce".into(),
        category: vec!["Beauty".into()],
        brand: None,
        price: Some(9.5),
        description: None,
        attributes: Default::default(),
    };
    let payload = serde_json::to_vec(&product).unwrap();
    let sent = Instant::now();
    publish_all(
        &client(),
        [Publish {
            topic: &topics.products,
            key: b"NEW-PRODUCT-1",
            payload: &payload,
        }],
    )
    .unwrap();
    let body = wait_until(
        "the new product to be served by /similar",
        Duration::from_secs(30),
        || {
            let (status, body) = http_get(addr, "/v1/items/NEW-PRODUCT-1/similar?k=5");
            (status == 200).then_some(body)
        },
    );
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 5);
    eprintln!(
        "new product servable by /similar {:?} after it was produced",
        sent.elapsed()
    );
}

const APPLIED: &str = "warmstart_recommender_events_applied_total";
const REJECTED: &str = "warmstart_recommender_events_rejected_total";

fn wait_applied(addr: &str, n: f64) {
    wait_until(
        &format!("the recommender to apply {n} events"),
        Duration::from_secs(120),
        || (metric(addr, APPLIED) >= n).then_some(()),
    );
}

fn wait_items(addr: &str, n: usize) {
    wait_until(
        &format!("{n} products in the recommender"),
        Duration::from_secs(60),
        || (metric(addr, "warmstart_recommender_items") >= n as f64).then_some(()),
    );
}

/// Puts a record that does not decode at the end of every partition of the enriched topic and
/// waits until the recommender at `addr` has rejected all of them. It has then read every
/// partition past everything published before the markers, so whatever it was going to apply of
/// that is applied, and counted, by now; the markers change nothing in the model.
fn read_past_markers(topics: &Topics, addr: &str) {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
    let topic = &topics.enriched;
    let p: BaseProducer = client().create().unwrap();
    let partitions = p
        .client()
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap()
        .topics()[0]
        .partitions()
        .len() as i32;
    let rejected = metric(addr, REJECTED);
    for partition in 0..partitions {
        let marker = BaseRecord::to(topic)
            .partition(partition)
            .key("marker")
            .payload("a marker, not an event");
        warmstart::kafka::publish::send_waiting(&p, marker).unwrap();
    }
    p.flush(Duration::from_secs(30)).unwrap();
    wait_until(
        &format!("the recommender to read the markers on {partitions} partitions"),
        Duration::from_secs(60),
        || (metric(addr, REJECTED) >= rejected + partitions as f64).then_some(()),
    );
}

fn publish_behavior(topics: &Topics, stream: &[StreamEvent]) {
    let records: Vec<(String, String, Vec<u8>)> = stream
        .iter()
        .map(|e| match e {
            StreamEvent::Behavior(b) => (
                topics.behavior.clone(),
                b.user_id.clone(),
                serde_json::to_vec(b).unwrap(),
            ),
            StreamEvent::Product(p) => (
                topics.products.clone(),
                p.item_id.clone(),
                serde_json::to_vec(p).unwrap(),
            ),
        })
        .collect();
    publish_all(
        &client(),
        records.iter().map(|(t, k, p)| Publish {
            topic: t,
            key: k.as_bytes(),
            payload: p,
        }),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_from_the_snapshot_neither_loses_nor_repeats_events() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("snap");
    topics.create().await;
    let topology = topics.write_topology(dir.path());
    let _pipeline = spawn_pipeline(&topology, "");
    let snap = dir.path().join("model.snap");
    let args = [
        "--snapshot",
        snap.to_str().unwrap(),
        "--snapshot-interval-s",
        "1",
    ];
    let stream = beauty_stream(2500);
    let cut = stream
        .iter()
        .filter(|e| matches!(e, StreamEvent::Behavior(_)))
        .take(2000)
        .count();
    let split_at = stream
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, StreamEvent::Behavior(_)))
        .nth(cut - 1)
        .unwrap()
        .0
        + 1;
    publish_behavior(&topics, &stream[..split_at]);

    let addr = format!("127.0.0.1:{}", free_port());
    let mut first = spawn_recommender_with(&topology, "unused", &addr, &args);
    wait_applied(&addr, 2000.0);
    let user = "A1YJEY40YUW4SE";
    let before = http_get(&addr, &format!("/v1/recommendations/{user}?k=20")).1;
    assert!(sigterm_and_wait(&mut first).success());
    assert!(snap.exists(), "a snapshot is written at shutdown");

    let addr = format!("127.0.0.1:{}", free_port());
    let _second = spawn_recommender_with(&topology, "unused", &addr, &args);
    wait_listening(&addr);
    // Markers behind the restored offsets: a restart that re-read events already in the snapshot
    // would have applied them before it reaches the markers.
    read_past_markers(&topics, &addr);
    assert_eq!(
        metric(&addr, APPLIED),
        0.0,
        "nothing re-applied after the restart"
    );
    let after = http_get(&addr, &format!("/v1/recommendations/{user}?k=20")).1;
    assert_eq!(
        before, after,
        "the restored model answers exactly as before the restart"
    );

    publish_behavior(&topics, &stream[split_at..]);
    wait_applied(&addr, 500.0);
    read_past_markers(&topics, &addr);
    assert_eq!(
        metric(&addr, APPLIED),
        500.0,
        "only the new events are applied"
    );
}

/// An `Online` model fed the accepted products, then the enriched events, each topic in order as
/// the broker holds it; and how many enriched events there were.
fn in_process_model(topics: &Topics) -> (Online, usize) {
    let mut model = Online::new(Default::default());
    for r in read_all(&topics.accepted) {
        model.apply_product(&serde_json::from_slice(&r.payload).unwrap());
    }
    let enriched = read_all(&topics.enriched);
    for r in &enriched {
        model.apply(&serde_json::from_slice(&r.payload).unwrap());
    }
    (model, enriched.len())
}

/// Top-k lists from the service and from an in-process model: same items in the same order,
/// scores equal up to JSON's float printing.
fn assert_same_answers(addr: &str, path: &str, expected: &[(String, f32)]) {
    let (status, body) = http_get(addr, path);
    assert_eq!(status, 200, "{path}: {body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let got: Vec<(String, f64)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["item_id"].as_str().unwrap().to_owned(),
                i["score"].as_f64().unwrap(),
            )
        })
        .collect();
    let got_ids: Vec<&str> = got.iter().map(|g| g.0.as_str()).collect();
    let want_ids: Vec<&str> = expected.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(got_ids, want_ids, "{path}");
    for ((_, g), (_, w)) in got.iter().zip(expected) {
        assert!(
            (g - *w as f64).abs() <= 1e-5 * (1.0 + g.abs()),
            "{path}: {g} vs {w}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_answers_like_the_in_process_model_on_the_same_events() {
    // One partition per topic: the service then applies the enriched events in topic order, which
    // is the order the in-process model below applies them in.
    let service = Service::start("same", 1).await;
    let (topics, addr) = (&service.topics, service.addr.as_str());
    let stream = beauty_stream(4000);
    // Products first and all applied, then behaviour: the service sees every item's content
    // before its first interaction, as the in-process model does.
    let (products, behavior): (Vec<StreamEvent>, Vec<StreamEvent>) = stream
        .into_iter()
        .partition(|e| matches!(e, StreamEvent::Product(_)));
    publish_behavior(topics, &products);
    wait_items(addr, products.len());
    publish_behavior(topics, &behavior);
    wait_applied(addr, behavior.len() as f64);

    // The in-process model, fed what the service consumed, read back from the broker.
    let (model, enriched) = in_process_model(topics);
    assert_eq!(enriched, behavior.len(), "every event enriched once");

    let mut users: Vec<String> = behavior
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Behavior(b) => Some(b.user_id.clone()),
            _ => None,
        })
        .collect();
    users.sort();
    users.dedup();
    for user in users.iter().step_by(users.len() / 40) {
        assert_same_answers(
            addr,
            &format!("/v1/recommendations/{user}?k=20"),
            &model.recommend(user, 20),
        );
    }
    assert_same_answers(
        addr,
        "/v1/recommendations/a-user-never-seen?k=10",
        &model.recommend("a-user-never-seen", 10),
    );
    for p in products.iter().step_by(products.len() / 20) {
        let StreamEvent::Product(p) = p else {
            unreachable!()
        };
        assert_same_answers(
            addr,
            &format!("/v1/items/{}/similar?k=10", p.item_id),
            &model.similar(&p.item_id, 10).unwrap(),
        );
    }
}

/// The next offset of partition 0 of `topic` stored in `snap` (0 when it has none yet).
fn snapshot_offset(snap: &Snapshot, topic: &str) -> i64 {
    snap.offsets
        .get(topic)
        .and_then(|p| p.get(&0))
        .copied()
        .unwrap_or(0)
}

fn wait_listening(addr: &str) {
    wait_until(
        &format!("the recommender at {addr} to answer /healthz"),
        Duration::from_secs(30),
        || http_get_ok(addr, "/healthz").map(drop),
    );
}

/// The path to the first difference between two JSON documents and the two values there.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value, path: &str) -> Option<String> {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.keys().ne(y.keys()) {
                return Some(format!("{path}: keys differ"));
            }
            x.iter()
                .find_map(|(k, v)| first_difference(v, &y[k], &format!("{path}.{k}")))
        }
        (Value::Array(x), Value::Array(y)) => {
            if x.len() != y.len() {
                return Some(format!("{path}: length {} vs {}", x.len(), y.len()));
            }
            x.iter()
                .zip(y)
                .enumerate()
                .find_map(|(i, (v, w))| first_difference(v, w, &format!("{path}[{i}]")))
        }
        _ if a == b => None,
        _ => Some(format!("{path}: {a} vs {b}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recommender_killed_and_restarted_from_its_snapshot_ends_like_an_uninterrupted_run() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    // One partition per topic: the order in which the service applies events is the topic order,
    // the order the in-process model (the uninterrupted run) applies them in.
    let topics = Topics::new("kill");
    topics.create_with_partitions(1).await;
    let topology = topics.write_topology(dir.path());
    let _pipeline = spawn_pipeline(&topology, "");
    let snap = dir.path().join("model.snap");
    let args = [
        "--snapshot",
        snap.to_str().unwrap(),
        "--snapshot-interval-s",
        "1",
    ];
    let spawn = |addr: &str| spawn_recommender_with(&topology, "unused", addr, &args);

    let (products, behavior): (Vec<StreamEvent>, Vec<StreamEvent>) = beauty_stream(6000)
        .into_iter()
        .partition(|e| matches!(e, StreamEvent::Product(_)));
    let behavior: Vec<warmstart::events::BehaviorEvent> = behavior
        .into_iter()
        .filter_map(|e| match e {
            StreamEvent::Behavior(b) => Some(b),
            StreamEvent::Product(_) => None,
        })
        .collect();
    let n = behavior.len() as i64;

    // Every product in a snapshot before the first behaviour event: a restart then never re-reads
    // products, whose interleaving with behaviour would depend on fetch timing.
    publish_behavior(&topics, &products);
    let mut addr = format!("127.0.0.1:{}", free_port());
    let mut rec = spawn(&addr);
    let mut applied = None;
    let all_in = poll_until(Duration::from_secs(60), || {
        applied = snapshot::load(&snap)
            .unwrap()
            .map(|s| snapshot_offset(&s, &topics.accepted));
        (applied == Some(products.len() as i64)).then_some(())
    });
    assert!(
        all_in.is_some(),
        "no snapshot with all {} products ({applied:?})",
        products.len()
    );

    // Paced (about 15 s for 6,000 events), so that snapshots are taken while behaviour arrives
    // and the five kills (about 12 s) fall inside the stream; at full speed the whole stream is
    // applied before the first snapshot.
    let producer = produce_slowly(topics.behavior.clone(), behavior.clone(), 400);
    let seed: u64 = std::env::var("WARMSTART_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2024);
    let mut rng = SplitMix64::new(seed);
    let mut resumed_at = 0; // the running incarnation's start on the stream
    let mut resumes = Vec::new();
    let tmp = snap.with_extension("tmp");
    for kill in 1..=5 {
        // Odd kills land after the incarnation has written a snapshot of its own (the restart must
        // resume from there): between two snapshots or while the next is written (they take about
        // 1 s, 1 s apart). Even ones land within its first second, before it can have written one
        // (the restart goes back to an older snapshot and applies those events again): while it
        // loads the snapshot or catches up.
        let own_snapshot = kill % 2 == 1;
        let (started, started_wall) = (Instant::now(), std::time::SystemTime::now());
        let delay = if own_snapshot {
            // A snapshot written after the incarnation applied an event holds that event.
            wait_until(
                &format!("incarnation {kill} to apply an event"),
                Duration::from_secs(60),
                || (metric(&addr, APPLIED) >= 1.0).then_some(()),
            );
            let written = || std::fs::metadata(&snap).unwrap().modified().unwrap();
            let before = written();
            wait_until(
                &format!("incarnation {kill} to write a snapshot"),
                Duration::from_secs(60),
                || (written() != before).then_some(()),
            );
            rng.random_range(100..2200)
        } else {
            rng.random_range(100..1000)
        };
        std::thread::sleep(Duration::from_millis(delay));
        // A leftover of an earlier kill is older than this incarnation.
        let writing = std::fs::metadata(&tmp).is_ok_and(|m| m.modified().unwrap() > started_wall);
        let at = resumed_at + metric(&addr, APPLIED) as i64;
        sigkill(&mut rec);
        let resume = snapshot_offset(
            &snapshot::load(&snap).unwrap().expect("a snapshot"),
            &topics.enriched,
        );
        eprintln!(
            "seed {seed}, kill {kill}: SIGKILL {:.1?} after start{}, at about event {at} of {n} \
             (started at {resumed_at}); the snapshot resumes at {resume}",
            started.elapsed(),
            if writing { ", writing a snapshot" } else { "" },
        );
        if own_snapshot {
            assert!(
                resume > resumed_at,
                "kill {kill}: the incarnation's own snapshot resumes at {resume}, not after {resumed_at}"
            );
        }
        assert!(
            resumed_at <= resume && resume <= n,
            "kill {kill}: the snapshot resumes at {resume}, before the previous one ({resumed_at})"
        );
        resumes.push(resume);
        resumed_at = resume;
        addr = format!("127.0.0.1:{}", free_port());
        rec = spawn(&addr);
        wait_listening(&addr);
    }
    producer.join().unwrap();
    assert_eq!(
        wait_for_count(&topics.enriched, n, Duration::from_secs(60)),
        n,
        "every event enriched once"
    );
    let remaining = (n - resumed_at) as f64;
    wait_applied(&addr, remaining);
    // A snapshot written from now on that resumes at the end of the topic: the incarnation has
    // then read the whole topic, so an event it applied twice is in the count below. (No markers
    // here: the topic must hold only events, for the in-process model and the offsets below.)
    let since = std::time::SystemTime::now();
    wait_until(
        "a snapshot at the end of the enriched topic",
        Duration::from_secs(60),
        || {
            let written = std::fs::metadata(&snap).ok()?.modified().ok()?;
            let s = snapshot::load(&snap).ok()??;
            (written > since && snapshot_offset(&s, &topics.enriched) == n).then_some(())
        },
    );
    assert_eq!(
        metric(&addr, APPLIED),
        remaining,
        "the last incarnation applies exactly the events after its snapshot"
    );
    let mut mid_stream: Vec<i64> = resumes
        .iter()
        .copied()
        .filter(|&r| 0 < r && r < n)
        .collect();
    mid_stream.dedup();
    assert!(
        mid_stream.len() >= 2,
        "restarts resumed from fewer than 2 snapshots taken mid-stream: {resumes:?}"
    );

    // The uninterrupted run: an in-process model fed what the broker holds, in topic order.
    let (model, _) = in_process_model(&topics);

    // The gauges follow the model once a second, when no snapshot is being written.
    let gauges = || {
        (
            metric(&addr, "warmstart_recommender_items"),
            metric(&addr, "warmstart_recommender_users"),
        )
    };
    let want = (model.items() as f64, model.users() as f64);
    poll_until(Duration::from_secs(30), || (gauges() == want).then_some(()));
    assert_eq!(gauges(), want, "items and users");
    let mut users: Vec<&str> = behavior.iter().map(|b| b.user_id.as_str()).collect();
    users.sort();
    users.dedup();
    for user in users.iter().chain(&["a-user-never-seen"]) {
        assert_same_answers(
            &addr,
            &format!("/v1/recommendations/{user}?k=20"),
            &model.recommend(user, 20),
        );
    }
    for p in &products {
        let StreamEvent::Product(p) = p else {
            unreachable!()
        };
        assert_same_answers(
            &addr,
            &format!("/v1/items/{}/similar?k=10", p.item_id),
            &model.similar(&p.item_id, 10).unwrap(),
        );
    }

    // The whole state, not only what the answers show: the snapshot written at shutdown against
    // the uninterrupted model, field by field (maps compare regardless of their order).
    assert!(sigterm_and_wait(&mut rec).success());
    let last = snapshot::load(&snap).unwrap().unwrap();
    assert_eq!(snapshot_offset(&last, &topics.enriched), n);
    assert_eq!(
        snapshot_offset(&last, &topics.accepted),
        products.len() as i64
    );
    let (got, want) = (
        serde_json::to_value(&last.model).unwrap(),
        serde_json::to_value(&model).unwrap(),
    );
    if let Some(d) = first_difference(&got, &want, "model") {
        panic!("the restarted model differs from the uninterrupted one at {d}");
    }
    eprintln!(
        "{} users, {} items: answers and state equal after 5 kills resuming at {resumes:?}",
        users.len(),
        model.items()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recommender_reads_its_inputs_in_their_configured_formats() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("rec-avro");
    topics.create_with_partitions(2).await;
    // The pipeline writes enriched events as bare Avro and accepted products in the Confluent
    // wire format; the recommender must read both with the codec of their format.
    let path = topics.write_topology(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace(
            &format!("topic = \"{}\"\n", topics.enriched),
            &format!("topic = \"{}\"\nformat = \"avro\"\n", topics.enriched),
        )
        .replace(
            &format!("topic = \"{}\"\n", topics.accepted),
            &format!("topic = \"{}\"\nformat = \"confluent\"\n", topics.accepted),
        );
    std::fs::write(&path, text).unwrap();
    let _pipeline = spawn_pipeline(&path, "");
    let addr = format!("127.0.0.1:{}", free_port());
    let _recommender = spawn_recommender(&path, &format!("{}-rec", topics.group), &addr);

    let stream = beauty_stream(2000);
    let behavior = stream
        .iter()
        .filter(|e| matches!(e, StreamEvent::Behavior(_)))
        .count();
    let products = stream.len() - behavior;
    publish_behavior(&topics, &stream);
    wait_applied(&addr, behavior as f64);
    wait_items(&addr, products);
    assert_eq!(metric(&addr, REJECTED), 0.0, "nothing refused");
    // The topics really hold Avro, not JSON: what the recommender read is what it had to decode.
    let enriched = read_all(&topics.enriched);
    assert_eq!(enriched.len(), behavior);
    assert!(enriched
        .iter()
        .all(|r| serde_json::from_slice::<serde_json::Value>(&r.payload).is_err()));
    let accepted = read_all(&topics.accepted);
    assert!(!accepted.is_empty() && accepted.iter().all(|r| r.payload.first() == Some(&0)));
    let StreamEvent::Behavior(b) = stream
        .iter()
        .find(|e| matches!(e, StreamEvent::Behavior(_)))
        .unwrap()
    else {
        unreachable!()
    };
    let (status, body) = http_get(&addr, &format!("/v1/recommendations/{}?k=10", b.user_id));
    assert_eq!(status, 200, "{body}");
}
