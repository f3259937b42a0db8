//! The Confluent wire format with a real schema-registry server (Apicurio Registry's ccompat API,
//! `scripts/registry start`) on the real broker, against the Confluent client's own Avro
//! serializer and deserializer (confluent-kafka-python, `tests/fixtures/confluent_client.py`).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use warmstart::codec::remote::{RegistryClient, RegistryConfig, RemoteError};
use warmstart::events::DeadLetter;

fn registry_url() -> String {
    std::env::var("WARMSTART_REGISTRY_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8181/apis/ccompat/v7".into())
}

fn python() -> String {
    std::env::var("WARMSTART_PYTHON").unwrap_or_else(|_| {
        let home = std::env::var("HOME").unwrap_or_default();
        format!("{home}/.cache/warmstart/py/bin/python")
    })
}

fn client() -> RegistryClient {
    RegistryClient::new(&config(&registry_url())).unwrap()
}

fn config(url: &str) -> RegistryConfig {
    toml::from_str(&format!("url = \"{url}\"")).unwrap()
}

async fn require_registry() {
    if let Err(e) = client().schema(1).await {
        panic!(
            "no schema registry at {} (scripts/registry start): {e}",
            registry_url()
        );
    }
}

/// The Confluent Python client, as a producer or consumer; its stdout's JSON lines.
fn confluent(args: &[&str]) -> (i32, Vec<serde_json::Value>) {
    let out = Command::new(python())
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/confluent_client.py"))
        .args(args)
        .env("WARMSTART_BROKERS", brokers())
        .env("WARMSTART_REGISTRY_URL", registry_url())
        .output()
        .expect("the test venv's python (scripts/setup)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 3,
        "confluent_client {args:?}: {code}\n{stderr}"
    );
    let lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (code, lines)
}

fn produce(topic: &str, schema: &Path, count: usize, prefix: &str) -> Result<u32, String> {
    let n = count.to_string();
    let s = schema.to_str().unwrap();
    let args = [
        "produce", "--topic", topic, "--schema", s, "--count", &n, "--prefix", prefix,
    ];
    let (code, lines) = confluent(&args);
    let last = lines.last().cloned().unwrap_or_default();
    if code == 3 {
        return Err(last.to_string());
    }
    Ok(last["schema_id"].as_u64().unwrap() as u32)
}

fn schema_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// The test topology with a registry: the Confluent-format input and the enriched output in the
/// Confluent format, no `[[schemas]]` (ids come from the registry).
fn topology(topics: &Topics, dir: &Path, url: &str) -> PathBuf {
    topology_with(topics, dir, url, true, "")
}

/// As `topology`; `confluent_enriched` false keeps the enriched output JSON, `runtime` goes at
/// the top of `[runtime]`.
fn topology_with(
    topics: &Topics,
    dir: &Path,
    url: &str,
    confluent_enriched: bool,
    runtime: &str,
) -> PathBuf {
    let base = topics.write_topology(dir);
    let text = std::fs::read_to_string(&base).unwrap();
    let schemas_start = text.find("[[schemas]]").unwrap();
    let runtime_start = text.find("[runtime]").unwrap();
    let mut text = format!("{}{}", &text[..schemas_start], &text[runtime_start..]);
    text = text.replace("[runtime]\n", &format!("[runtime]\n{runtime}"));
    if confluent_enriched {
        text = text.replace(
            &format!("[outputs.enriched]\ntopic = \"{}\"", topics.enriched),
            &format!(
                "[outputs.enriched]\ntopic = \"{}\"\nformat = \"confluent\"",
                topics.enriched
            ),
        );
    }
    text.push_str(&format!(
        "\n[schema_registry]\nurl = \"{url}\"\nusername = \"warmstart\"\npassword = \"registry-pw-4711\"\n"
    ));
    std::fs::write(&base, text).unwrap();
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn confluent_serializer_output_with_registry_ids_reaches_the_enriched_topic() {
    require_broker();
    require_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("registry");
    topics.create().await;
    let reg = client();

    // Any shared registry has other subjects: they take ids that are built-in ids here.
    for (i, s) in [
        r#""string""#,
        r#"{"type":"record","name":"Other","fields":[{"name":"x","type":"int"}]}"#,
    ]
    .iter()
    .enumerate()
    {
        reg.register(&format!("{}-other-{i}-value", topics.group), s)
            .await
            .unwrap();
    }

    let current = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/behavior_event.avsc");
    let v0 = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/history/behavior_event.v0.avsc");
    let current_text = std::fs::read_to_string(&current).unwrap();
    // A reader-compatible evolution: one added field with a default.
    let v2 = schema_file(
        dir.path(),
        "v2.avsc",
        &current_text.replace(
            r#"{"name": "review_text", "type": ["null", "string"], "default": null}"#,
            r#"{"name": "review_text", "type": ["null", "string"], "default": null},
    {"name": "channel", "type": ["null", "string"], "default": null}"#,
        ),
    );
    // Incompatible with this build's reader: item_id an int.
    let retyped = schema_file(
        dir.path(),
        "retyped.avsc",
        &current_text.replace(
            r#"{"name": "item_id", "type": "string"}"#,
            r#"{"name": "item_id", "type": "int"}"#,
        ),
    );

    // Producers first wrote with v0, then with today's schema, then with v2: the client registers
    // each under `<topic>-value`, and the registry gives them ids.
    let topic = topics.behavior_avro.clone();
    let id_v0 = produce(&topic, &v0, 50, "v0").unwrap();
    let id_v1 = produce(&topic, &current, 100, "v1").unwrap();
    let id_v2 = produce(&topic, &v2, 20, "v2").unwrap();
    assert!(id_v0 != id_v1 && id_v1 != id_v2, "{id_v0} {id_v1} {id_v2}");

    // The incompatible schema: refused by the registry under its BACKWARD rule...
    let refused = produce(&topic, &retyped, 5, "bad").unwrap_err();
    assert!(refused.contains("409"), "{refused}");
    // ...but the first version of another subject is checked against nothing, so someone can
    // register it there (as with the rule off), and a producer can write with its id: refused by
    // the pipeline at first use, its records dead letters with the reason.
    let bad_id = reg
        .register(
            &format!("{}-loose-value", topics.group),
            &std::fs::read_to_string(&retyped).unwrap(),
        )
        .await
        .unwrap();
    let mut bad = vec![0u8];
    bad.extend_from_slice(&bad_id.to_be_bytes());
    // item_id 7 as an Avro int, the other fields valid.
    let datum = {
        let s =
            apache_avro::Schema::parse_str(&std::fs::read_to_string(&retyped).unwrap()).unwrap();
        let mut r = apache_avro::types::Record::new(&s).unwrap();
        r.put("event_id", "bad-0");
        r.put("user_id", "u");
        r.put("item_id", 7);
        r.put("kind", apache_avro::types::Value::Enum(0, "view".into()));
        r.put(
            "ts",
            apache_avro::types::Value::TimestampMillis(1_700_000_000_000),
        );
        r.put(
            "session_id",
            apache_avro::types::Value::Union(0, Box::new(apache_avro::types::Value::Null)),
        );
        r.put(
            "rating",
            apache_avro::types::Value::Union(0, Box::new(apache_avro::types::Value::Null)),
        );
        r.put(
            "review_text",
            apache_avro::types::Value::Union(0, Box::new(apache_avro::types::Value::Null)),
        );
        apache_avro::writer::datum::GenericDatumWriter::builder(&s)
            .build()
            .unwrap()
            .write_value_to_vec(r)
            .unwrap()
    };
    bad.extend_from_slice(&datum);
    // And an id no registry has.
    let mut unknown = vec![0u8];
    unknown.extend_from_slice(&4_000_000_000u32.to_be_bytes());
    unknown.extend_from_slice(&datum);
    kcat_produce_payloads(
        &topic,
        &[bad.clone(), bad.clone(), unknown.clone(), unknown],
        dir.path(),
    );

    let http_port = free_port();
    let addr = format!("127.0.0.1:{http_port}");
    let path = topology(&topics, dir.path(), &registry_url());
    let mut pipeline = spawn_pipeline(&path, &addr);

    let enriched = wait_for_count(&topics.enriched, 170, Duration::from_secs(90));
    assert_eq!(enriched, 170, "every valid event once");
    assert_eq!(wait_for_count(&topics.dlq, 4, Duration::from_secs(30)), 4);
    let mut reasons: Vec<(String, String)> = read_all(&topics.dlq)
        .iter()
        .map(|r| {
            let d: DeadLetter = serde_json::from_slice(&r.payload).unwrap();
            (d.reason_code, d.reason_message)
        })
        .collect();
    reasons.sort();
    assert_eq!(reasons[0].0, "incompatible_schema");
    assert_eq!(reasons[1].0, "incompatible_schema");
    assert!(
        reasons[0].1.contains("item_id") || reasons[0].1.contains("cannot be read"),
        "{:?}",
        reasons[0]
    );
    assert_eq!(reasons[2].0, "unknown_schema_id");
    assert_eq!(reasons[3].0, "unknown_schema_id");

    // The enriched output in the Confluent format, read back by the Confluent deserializer with
    // the id the pipeline registered under `<topic>-value`.
    let (_, lines) = confluent(&["consume", "--topic", &topics.enriched, "--count", "170"]);
    let mut ids: Vec<String> = lines
        .iter()
        .map(|v| v["event_id"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 170, "170 distinct events");
    assert!(lines.iter().all(|v| v["origin"] == "real"));
    let with_text = lines
        .iter()
        .filter(|v| v["review_text"] == "fits the strings well")
        .count();
    assert!(with_text > 0, "review text travels on the enriched topic");

    // Each writer schema was fetched once, and the password shows nowhere.
    let metrics = http_get_ok(&addr, "/metrics").unwrap();
    let fetched: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("warmstart_schema_registry_requests_total{call=\"schema\""))
        .filter(|l| l.contains("outcome=\"ok\""))
        .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum();
    assert_eq!(
        fetched, 4.0,
        "v0, v1, v2 and the retyped schema, once each:\n{metrics}"
    );
    assert!(!metrics.contains("registry-pw-4711"));
    sigterm_and_wait(&mut pipeline.0);

    // The recommender reads the enriched topic with the registry's ids too.
    let listen = format!("127.0.0.1:{}", free_port());
    let _recommender = spawn_recommender(&path, &unique("registry-rec"), &listen);
    let applied = wait_for_metric(
        &listen,
        "warmstart_recommender_events_applied_total{origin=\"real\"}",
        170.0,
        Duration::from_secs(60),
    );
    assert_eq!(applied, 170.0);
    let rejected = metric(
        &listen,
        &format!(
            "warmstart_recommender_events_rejected_total{{topic=\"{}\"}}",
            topics.enriched
        ),
    );
    assert_eq!(rejected, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_output_schema_the_registry_refuses_stops_the_pipeline_at_start() {
    require_broker();
    require_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("registry-refused");
    topics.create().await;
    // Someone registered an unrelated schema under the enriched topic's subject.
    let e = client()
        .register(
            &format!("{}-value", topics.enriched),
            r#"{"type":"record","name":"Unrelated","fields":[{"name":"x","type":"int"}]}"#,
        )
        .await
        .unwrap();
    assert!(e > 0);
    let path = topology(&topics, dir.path(), &registry_url());
    let out = warmstart(&[
        "run",
        "--topology",
        path.to_str().unwrap(),
        "--http-listen",
        "",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("`{}-value`", topics.enriched)) && stderr.contains("incompatible"),
        "{stderr}"
    );
    assert!(!stderr.contains("registry-pw-4711"), "{stderr}");
}

#[tokio::test]
async fn an_unreachable_registry_is_a_retryable_error_naming_its_address() {
    let port = free_port();
    let c = RegistryClient::new(&config(&format!("http://127.0.0.1:{port}"))).unwrap();
    let e = c.register("t-value", r#""string""#).await.unwrap_err();
    assert!(matches!(e, RemoteError::Unreachable { .. }), "{e}");
    assert!(e.to_string().contains(&port.to_string()), "{e}");
}

/// A registry of this test's own (`scripts/registry` on a free port), so that stopping it
/// disturbs no other test; stopped when dropped.
struct OwnRegistry {
    port: u16,
}

impl OwnRegistry {
    fn start() -> Self {
        let r = OwnRegistry { port: free_port() };
        r.script("start");
        r
    }
    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/apis/ccompat/v7", self.port)
    }
    fn script(&self, what: &str) {
        let status = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/registry"))
            .arg(what)
            .env("REGISTRY_PORT", self.port.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "scripts/registry {what}");
    }
}

impl Drop for OwnRegistry {
    fn drop(&mut self) {
        self.script("stop");
    }
}

/// `events` in the wire format under `id`, each datum with `tail` appended (the encoding of the
/// fields a later writer schema adds).
fn framed(events: &[warmstart::events::BehaviorEvent], id: u32, tail: &[u8]) -> Vec<Vec<u8>> {
    use std::sync::Arc;
    use warmstart::codec::{Codec, Format, SchemaRegistry};
    let codec =
        Codec::new(Format::Confluent, Arc::new(SchemaRegistry::builtin())).with_write_id(id);
    events
        .iter()
        .map(|e| {
            let mut b = codec
                .encode_to_vec(warmstart::events::EventType::Behavior, e)
                .unwrap();
            b.extend_from_slice(tail);
            b
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_stopped_mid_stream_turns_readiness_off_and_back_and_loses_nothing_exactly_once()
{
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("registry-outage");
    topics.create().await;
    let registry = OwnRegistry::start();
    let reg = RegistryClient::new(&config(&registry.url())).unwrap();
    let current = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/behavior_event.avsc"),
    )
    .unwrap();
    // A later writer: one more optional field at the end, so its datum is today's plus a null.
    let evolved = current.replace(
        r#"{"name": "review_text", "type": ["null", "string"], "default": null}"#,
        r#"{"name": "review_text", "type": ["null", "string"], "default": null},
    {"name": "channel", "type": ["null", "string"], "default": null}"#,
    );
    let subject = format!("{}-value", topics.behavior_avro);
    let register = || async {
        (
            reg.register(&subject, &current).await.unwrap(),
            reg.register(&subject, &evolved).await.unwrap(),
        )
    };
    let (id_current, id_evolved) = register().await;
    assert_ne!(id_current, id_evolved);

    let addr = format!("127.0.0.1:{}", free_port());
    let path = topology_with(
        &topics,
        dir.path(),
        &registry.url(),
        false,
        "delivery = \"exactly_once\"\n",
    );
    let mut pipeline = spawn_pipeline(&path, &addr);
    let events = real_events(3_000);
    let (before, during) = events.split_at(1_000);
    kcat_produce_payloads(
        &topics.behavior_avro,
        &framed(before, id_current, &[]),
        dir.path(),
    );
    // Under exactly-once the high watermarks count transaction markers too: read committed.
    let committed = |n: usize| {
        poll_until(Duration::from_secs(90), || {
            let got = read_committed(&topics.enriched).len();
            (got >= n).then_some(got)
        })
    };
    assert_eq!(committed(1_000), Some(1_000));
    wait_until("ready", Duration::from_secs(30), || {
        (http_get(&addr, "/readyz").0 == 200).then_some(())
    });

    // The registry goes away; then records arrive whose writer schema the pipeline has not
    // fetched yet, followed by more with the cached one (they wait behind them on their
    // partitions, or flow on the others).
    registry.script("stop");
    let (evolved_part, cached_part) = during.split_at(1_000);
    kcat_produce_payloads(
        &topics.behavior_avro,
        &framed(evolved_part, id_evolved, &[0]),
        dir.path(),
    );
    kcat_produce_payloads(
        &topics.behavior_avro,
        &framed(cached_part, id_current, &[]),
        dir.path(),
    );
    wait_until(
        "/readyz 503 while the registry is down",
        Duration::from_secs(60),
        || (http_get(&addr, "/readyz").0 == 503).then_some(()),
    );
    assert_eq!(metric(&addr, "warmstart_schema_registry_up"), 0.0);
    assert!(count(&topics.dlq) == 0, "an outage is not bad input");

    // Back, empty (in-memory storage): the same schemas registered in the same order get the
    // same ids, as a registry restored from its storage would serve them.
    registry.script("start");
    assert_eq!(register().await, (id_current, id_evolved));
    wait_until(
        "/readyz 200 with the registry back",
        Duration::from_secs(60),
        || (http_get(&addr, "/readyz").0 == 200).then_some(()),
    );
    assert_eq!(committed(3_000), Some(3_000));
    sigterm_and_wait(&mut pipeline.0);

    // read_committed: every event exactly once, none dead-lettered.
    let mut ids: Vec<String> = read_committed(&topics.enriched)
        .iter()
        .map(|p| {
            let e: warmstart::events::EnrichedEvent = serde_json::from_slice(p).unwrap();
            e.event_id
        })
        .collect();
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!((n, ids.len()), (3_000, 3_000), "no loss, no duplicate");
    assert_eq!(count(&topics.dlq), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_password_stays_out_of_the_logs_and_metrics_at_debug_level() {
    use std::process::Stdio;
    require_broker();
    require_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("registry-secret");
    topics.create().await;
    let id = client()
        .register(
            &format!("{}-value", topics.behavior_avro),
            warmstart::events::EventType::Behavior.schema_text(),
        )
        .await
        .unwrap();
    let path = topology(&topics, dir.path(), &registry_url());
    let addr = format!("127.0.0.1:{}", free_port());
    // Not `spawn_pipeline`: this test reads everything the run logs, at debug level, HTTP
    // client included.
    let mut child = Proc(
        Command::new(env!("CARGO_BIN_EXE_warmstart"))
            .args(["run", "--http-listen", &addr, "--topology"])
            .arg(&path)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let logs = Logs::capture(&mut child.0);
    kcat_produce_payloads(
        &topics.behavior_avro,
        &framed(&real_events(10), id, &[]),
        dir.path(),
    );
    // A fetch and a registration, both with the credentials, have happened once records are out.
    assert!(wait_for_count(&topics.enriched, 10, Duration::from_secs(90)) >= 10);
    let metrics = http_get_ok(&addr, "/metrics").unwrap();
    drop(child); // killed: the readers see the end of the pipes
    let logs = logs.finish();
    assert!(logs.contains("writer schema fetched"), "{logs}");
    assert!(logs.contains("output schema registered"), "{logs}");
    // Neither the password nor the basic-auth header that carries it.
    let header = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "warmstart:registry-pw-4711",
    );
    for leak in ["registry-pw-4711", header.as_str()] {
        assert!(!logs.contains(leak), "the password leaked into the logs");
        assert!(!metrics.contains(leak), "the password leaked into /metrics");
    }
}

/// `topic`'s output (or input) written in the Confluent format.
fn confluent_topic(text: &str, topic: &str) -> String {
    let line = format!("topic = \"{topic}\"\n");
    assert!(text.contains(&line), "{topic} in the topology");
    text.replace(&line, &format!("{line}format = \"confluent\"\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generation_stage_reads_and_writes_registry_ids() {
    use warmstart::data::{beauty, StreamEvent};
    use warmstart::events::ProductEvent;
    require_broker();
    require_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("registry-generation");
    topics.create().await;
    let generation = "reviews_per_product = 0\nmax_product_age_ms = 86400000\n[generation.gates]\ndiscriminator_samples = 64\n[generation.transfer]\nusers = 10";
    let base = topics.write_topology_with(dir.path(), Some(generation));
    let text = std::fs::read_to_string(&base).unwrap();
    let (start, end) = (
        text.find("[[schemas]]").unwrap(),
        text.find("[runtime]").unwrap(),
    );
    let mut text = format!("{}{}", &text[..start], &text[end..]);
    // The pipeline's accepted products and enriched events, which the stage reads, and the
    // stage's synthetic behaviour, all with the registry's ids.
    for t in [
        &topics.accepted,
        &topics.enriched,
        &topics.synthetic_behavior,
    ] {
        text = confluent_topic(&text, t);
    }
    text.push_str(&format!(
        "\n[schema_registry]\nurl = \"{}\"\n",
        registry_url()
    ));
    std::fs::write(&base, text).unwrap();

    // A small history, then the newest products launched after it.
    let stream = beauty::load(&warmstart::data::data_dir().join("beauty-5core"), None).unwrap();
    let products: Vec<&ProductEvent> = stream.iter().filter_map(StreamEvent::as_product).collect();
    let newest: Vec<ProductEvent> = products[products.len() - 5..]
        .iter()
        .map(|p| ProductEvent {
            ts: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
            ..(*p).clone()
        })
        .collect();
    let new_ids: std::collections::HashSet<String> =
        newest.iter().map(|p| p.item_id.clone()).collect();
    let json = warmstart::codec::Codec::new(
        warmstart::codec::Format::Json,
        std::sync::Arc::new(warmstart::codec::SchemaRegistry::builtin()),
    );
    let mut history = Vec::new();
    let mut interactions = 0;
    for e in &stream {
        match e {
            StreamEvent::Product(p) if !new_ids.contains(&p.item_id) => history.push((
                topics.products.clone(),
                p.item_id.clone().into_bytes(),
                json.encode_to_vec(warmstart::events::EventType::Product, p)
                    .unwrap(),
            )),
            StreamEvent::Behavior(b) if !new_ids.contains(&b.item_id) && interactions < 5_000 => {
                interactions += 1;
                history.push((
                    topics.behavior.clone(),
                    b.user_id.clone().into_bytes(),
                    json.encode_to_vec(warmstart::events::EventType::Behavior, b)
                        .unwrap(),
                ));
            }
            _ => {}
        }
    }
    let warm_products = history.iter().filter(|r| r.0 == topics.products).count() as f64;
    publish(&history);
    let addr = format!("127.0.0.1:{}", free_port());
    let _pipeline = spawn_pipeline(&base, &addr);
    // The stage's shopper index decodes the pipeline's Confluent output with the registry.
    assert_eq!(
        wait_for_metric(
            &addr,
            "warmstart_generation_shopper_records_total{kind=\"interaction\"}",
            interactions as f64,
            Duration::from_secs(240),
        ),
        interactions as f64
    );
    wait_for_metric(
        &addr,
        "warmstart_generation_shopper_records_total{kind=\"product\"}",
        warm_products,
        Duration::from_secs(120),
    );
    let launch: Vec<_> = newest
        .iter()
        .map(|p| {
            (
                topics.products.clone(),
                p.item_id.clone().into_bytes(),
                json.encode_to_vec(warmstart::events::EventType::Product, p)
                    .unwrap(),
            )
        })
        .collect();
    publish(&launch);
    let emitted = wait_for_metric(
        &addr,
        "warmstart_generation_records_total{kind=\"behavior\"}",
        1.0,
        Duration::from_secs(120),
    );
    assert!(emitted >= 1.0, "no synthetic behaviour");
    // Read back by the Confluent deserializer, with the id the stage registered.
    let n = (emitted as usize).to_string();
    let (_, lines) = confluent(&[
        "consume",
        "--topic",
        &topics.synthetic_behavior,
        "--count",
        &n,
    ]);
    assert_eq!(lines.len(), emitted as usize);
    for v in &lines {
        assert_eq!(v["synthetic"], true, "{v}");
        assert_eq!(v["model_name"], "transfer", "{v}");
        assert!(new_ids.contains(v["item_id"].as_str().unwrap()), "{v}");
    }
    let dead = metric(&addr, "warmstart_dead_letters_total");
    assert_eq!(dead, 0.0, "nothing undecodable");
}
