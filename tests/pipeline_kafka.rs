//! The pipeline against the real local Apache Kafka broker (`scripts/kafka start`), with input
//! written by an independent client (kcat) and output read back with a plain consumer.

mod common;

use common::*;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use warmstart::codec::{Codec, Format, SchemaRegistry};
use warmstart::data::malformed;
use warmstart::events::{BehaviorEvent, DeadLetter, EnrichedEvent, EventType, Origin};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn json_line(e: &BehaviorEvent) -> String {
    format!("{}\t{}", e.user_id, serde_json::to_string(e).unwrap())
}

fn enriched_ids(topic: &str) -> HashMap<String, u32> {
    let mut ids = HashMap::new();
    for r in read_all(topic) {
        let e: EnrichedEvent = serde_json::from_slice(&r.payload).expect("enriched output is JSON");
        assert_eq!(e.origin, Origin::Real);
        assert!(!e.synthetic);
        assert_eq!(
            r.key.as_deref(),
            Some(e.user_id.as_bytes()),
            "enriched events are keyed by user_id"
        );
        *ids.entry(e.event_id).or_insert(0) += 1;
    }
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_valid_event_once_and_every_bad_one_in_the_dlq_with_its_reason() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("e2e");
    topics.create().await;
    let topology = topics.write_topology(dir.path());

    // 99,900 valid events as JSON lines and 100 in the Confluent wire format, half of those
    // written with the old v0 schema (id 101): 100,000 valid events in all.
    let events = real_events(100_000);
    let (json_events, avro_events) = events.split_at(99_900);
    let lines: Vec<String> = json_events.iter().map(json_line).collect();
    kcat_produce_lines(&topics.behavior, &lines, dir.path());
    let wire = Codec::new(Format::Confluent, Arc::new(SchemaRegistry::builtin()));
    let mut avro_payloads: Vec<Vec<u8>> = avro_events
        .iter()
        .map(|e| wire.encode_to_vec(EventType::Behavior, e).unwrap())
        .collect();
    for (i, p) in avro_payloads
        .iter_mut()
        .enumerate()
        .filter(|(i, _)| i % 2 == 0)
    {
        // v0 has no session_id/review_text: the Beauty events carry neither, so rewriting the
        // header is enough to claim the old schema; the datum has the two trailing nulls less.
        let e = &avro_events[i];
        assert!(e.session_id.is_none() && e.review_text.is_none());
        let v0 = apache_avro::Schema::parse_str(include_str!(
            "../schemas/history/behavior_event.v0.avsc"
        ))
        .unwrap();
        let mut r = apache_avro::types::Record::new(&v0).unwrap();
        r.put("event_id", e.event_id.as_str());
        r.put("user_id", e.user_id.as_str());
        r.put("item_id", e.item_id.as_str());
        r.put("kind", apache_avro::types::Value::Enum(3, "review".into()));
        r.put("ts", apache_avro::types::Value::TimestampMillis(e.ts));
        r.put(
            "rating",
            apache_avro::types::Value::Union(0, Box::new(apache_avro::types::Value::Null)),
        );
        let datum = apache_avro::writer::datum::GenericDatumWriter::builder(&v0)
            .build()
            .unwrap()
            .write_value_to_vec(r)
            .unwrap();
        *p = [vec![0, 0, 0, 0, 101], datum].concat();
    }
    kcat_produce_payloads(&topics.behavior_avro, &avro_payloads, dir.path());

    // 1,000 bad records of every kind, to the topic of their format.
    let bad = malformed::generate(1000, now_ms(), 65536);
    let (bad_json, bad_wire): (Vec<_>, Vec<_>) = bad.iter().partition(|b| b.format == Format::Json);
    kcat_produce_payloads(
        &topics.behavior,
        &bad_json
            .iter()
            .map(|b| b.payload.clone())
            .collect::<Vec<_>>(),
        dir.path(),
    );
    kcat_produce_payloads(
        &topics.behavior_avro,
        &bad_wire
            .iter()
            .map(|b| b.payload.clone())
            .collect::<Vec<_>>(),
        dir.path(),
    );

    // One payload far over the limit: its dead letter keeps the first 256 KiB and the size.
    let huge = vec![b'{'; 800_000];
    kcat_produce_payloads(&topics.behavior, std::slice::from_ref(&huge), dir.path());

    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = spawn_pipeline(&topology, &addr);
    let got = wait_for_count(&topics.enriched, 100_000, Duration::from_secs(240));
    let got_dlq = wait_for_count(&topics.dlq, 1001, Duration::from_secs(60));
    assert_eq!((got, got_dlq), (100_000, 1001), "outputs after waiting");

    // The metrics endpoint of the running process tells the same story, once its counters and
    // the next statistics report have caught up with the outputs.
    let needles = [
        format!(
            "warmstart_records_in_total{{topic=\"{}\"}} {}",
            topics.behavior,
            99_900 + bad_json.len() + 1
        ),
        "warmstart_dead_letters_total{reason=\"unknown_schema_id\"}".to_string(),
        "warmstart_stage_duration_seconds_bucket{stage=\"decode\"".to_string(),
        "warmstart_consumer_lag{".to_string(),
        "warmstart_build_info{".to_string(),
        "warmstart_in_flight_records".to_string(),
    ];
    let (status, metrics) = poll_until(Duration::from_secs(30), || {
        let (status, body) = http_get(&addr, "/metrics");
        (status == 200 && needles.iter().all(|n| body.contains(n.as_str())))
            .then_some((status, body))
    })
    .unwrap_or_else(|| http_get(&addr, "/metrics"));
    assert_eq!(status, 200);
    for needle in &needles {
        assert!(metrics.contains(needle.as_str()), "/metrics lacks {needle}");
    }
    assert_eq!(http_get(&addr, "/readyz").0, 200);
    assert_eq!(http_get(&addr, "/healthz").0, 200);

    let status = sigterm_and_wait(&mut child);
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    let ids = enriched_ids(&topics.enriched);
    assert_eq!(ids.len(), 100_000, "distinct events in the enriched topic");
    let repeated: Vec<_> = ids.iter().filter(|(_, &n)| n != 1).collect();
    assert!(
        repeated.is_empty(),
        "events not exactly once: {:?}",
        &repeated[..repeated.len().min(5)]
    );
    for e in &events {
        assert!(ids.contains_key(&e.event_id), "lost {}", e.event_id);
    }

    let expected: HashMap<&[u8], &str> = bad
        .iter()
        .map(|b| (b.payload.as_slice(), b.expected.as_str()))
        .collect();
    assert_eq!(expected.len(), 1000, "bad payloads are distinct");
    let dlq = read_all(&topics.dlq);
    assert_eq!(dlq.len(), 1001);
    let mut by_reason: HashMap<String, usize> = HashMap::new();
    let mut huge_seen = false;
    for r in &dlq {
        let dl: DeadLetter = serde_json::from_slice(&r.payload).unwrap();
        if dl.payload_size == huge.len() as i64 {
            assert_eq!(dl.reason_code, "payload_too_large");
            assert_eq!(
                dl.payload,
                huge[..256 * 1024],
                "cut to runtime.dead_letter_max_payload_bytes"
            );
            huge_seen = true;
            continue;
        }
        assert_eq!(dl.payload_size, dl.payload.len() as i64);
        let want = expected
            .get(dl.payload.as_slice())
            .expect("dead letter carries the original payload");
        assert_eq!(dl.reason_code, *want, "{}", dl.reason_message);
        assert!(dl.source_topic == topics.behavior || dl.source_topic == topics.behavior_avro);
        assert!(dl.source_offset >= 0 && !dl.reason_message.is_empty());
        let header = r
            .headers
            .iter()
            .find(|(k, _)| k == "warmstart.reason")
            .expect("reason header");
        assert_eq!(header.1, dl.reason_code.as_bytes());
        *by_reason.entry(dl.reason_code).or_default() += 1;
    }
    assert!(huge_seen, "the 800 kB record reached the DLQ");
    assert_eq!(by_reason.len(), malformed::KINDS.len(), "{by_reason:?}");
    eprintln!("dead letters by reason: {by_reason:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_stream_then_restart_loses_nothing() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("kill");
    topics.create().await;
    let topology = topics.write_topology(dir.path());
    let events = real_events(60_000);
    let producer = produce_slowly(topics.behavior.clone(), events.clone(), 15_000);

    let mut first = spawn_pipeline(&topology, "");
    let before = wait_for_count(&topics.enriched, 15_000, Duration::from_secs(60));
    sigkill(&mut first);
    assert!(before < 60_000, "killed mid-stream ({before} of 60000 out)");
    let mut second = spawn_pipeline(&topology, "");
    producer.join().unwrap();
    assert!(
        wait_for_group(&topics.group, &topics.behavior, Duration::from_secs(180)),
        "restarted pipeline caught up"
    );
    assert!(sigterm_and_wait(&mut second).success());

    let ids = enriched_ids(&topics.enriched);
    let lost: Vec<_> = events
        .iter()
        .filter(|e| !ids.contains_key(&e.event_id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} events lost, e.g. {}",
        lost.len(),
        lost[0].event_id
    );
    let duplicates: u32 = ids.values().map(|n| n - 1).sum();
    eprintln!("SIGKILL after {before} outputs: 0 lost, {duplicates} duplicates (redelivered after the last commit)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_in_one_group_rebalance_without_loss() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("group");
    topics.create().await;
    let topology = topics.write_topology(dir.path());
    let events = real_events(60_000);
    let producer = produce_slowly(topics.behavior.clone(), events.clone(), 15_000);

    let mut a = spawn_pipeline(&topology, "");
    let enriched = |n: i64| {
        wait_until(
            &format!("{n} enriched events"),
            Duration::from_secs(60),
            || (count(&topics.enriched) >= n).then_some(()),
        )
    };
    enriched(10_000);
    let mut b = spawn_pipeline(&topology, ""); // joins: the group rebalances mid-stream
    enriched(30_000);
    assert!(sigterm_and_wait(&mut a).success()); // leaves: rebalances again
    producer.join().unwrap();
    assert!(
        wait_for_group(&topics.group, &topics.behavior, Duration::from_secs(180)),
        "remaining instance caught up"
    );
    assert!(sigterm_and_wait(&mut b).success());

    let ids = enriched_ids(&topics.enriched);
    let lost = events
        .iter()
        .filter(|e| !ids.contains_key(&e.event_id))
        .count();
    assert_eq!(lost, 0, "events lost across rebalances");
    let duplicates: u32 = ids.values().map(|n| n - 1).sum();
    eprintln!("two rebalances: 0 lost, {duplicates} duplicates");
    assert_eq!(
        duplicates, 0,
        "commit-on-revoke makes clean rebalances duplicate-free"
    );
}
