//! Helpers for the tests that run against the real local broker (`scripts/kafka start`).
#![allow(dead_code)]

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the warmstart binary in the repo root and waits for it.
pub fn warmstart(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

pub fn brokers() -> String {
    std::env::var("WARMSTART_TEST_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into())
}

/// Fails with a clear message when no broker answers: these tests need the real one.
pub fn require_broker() {
    let c: BaseConsumer = client().create().unwrap();
    if let Err(e) = c.fetch_metadata(None, Duration::from_secs(10)) {
        panic!(
            "no Kafka broker at {} ({e}); start one with `scripts/kafka start`",
            brokers()
        );
    }
}

pub fn client() -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers());
    c
}

/// Topic names unique to one test run, so that runs never see each other's records.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

pub struct Topics {
    pub behavior: String,
    pub behavior_avro: String,
    pub products: String,
    pub enriched: String,
    pub accepted: String,
    pub dlq: String,
    pub synthetic_reviews: String,
    pub synthetic_behavior: String,
    pub group: String,
}

impl Topics {
    pub fn new(test: &str) -> Self {
        let base = unique(test);
        Topics {
            behavior: format!("{base}.behavior"),
            behavior_avro: format!("{base}.behavior.avro"),
            products: format!("{base}.products"),
            enriched: format!("{base}.enriched"),
            accepted: format!("{base}.products.accepted"),
            dlq: format!("{base}.dlq"),
            synthetic_reviews: format!("{base}.synthetic.reviews"),
            synthetic_behavior: format!("{base}.synthetic.behavior"),
            group: format!("{base}.group"),
        }
    }

    /// A topology file for these topics, in a fresh temporary folder.
    pub fn write_topology(&self, dir: &Path) -> PathBuf {
        self.write_topology_with(dir, None)
    }

    /// As `write_topology`, plus the generation stage configured by `generation` (the body of
    /// its `[generation]` section) and its output topics.
    pub fn write_topology_with(&self, dir: &Path, generation: Option<&str>) -> PathBuf {
        let schema =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/history/behavior_event.v0.avsc");
        let text = format!(
            r#"
name = "test"
[kafka]
bootstrap_servers = "{brokers}"
group_id = "{group}"
create_topics_partitions = 4
[kafka.consumer]
"statistics.interval.ms" = "1000"
[inputs.behavior]
topic = "{behavior}"
type = "behavior"
[inputs.behavior_avro]
topic = "{behavior_avro}"
type = "behavior"
format = "confluent"
[inputs.products]
topic = "{products}"
type = "product"
[outputs.enriched]
topic = "{enriched}"
[outputs.products]
topic = "{accepted}"
[outputs.dead_letter]
topic = "{dlq}"
[[stages]]
type = "decode"
max_payload_bytes = 65536
[[stages]]
type = "normalize"
[[stages]]
type = "dedup"
window = 1000000
[[stages]]
type = "enrich"
[[schemas]]
id = 101
type = "behavior"
file = "{schema}"
[runtime]
commit_interval_ms = 200
[http]
listen = ""
"#,
            brokers = brokers(),
            group = self.group,
            behavior = self.behavior,
            behavior_avro = self.behavior_avro,
            products = self.products,
            enriched = self.enriched,
            accepted = self.accepted,
            dlq = self.dlq,
            schema = schema.display(),
        );
        let text = match generation {
            None => text,
            Some(g) => format!(
                "{text}\n[outputs.synthetic_reviews]\ntopic = \"{}\"\n[outputs.synthetic_behavior]\ntopic = \"{}\"\n[generation]\ngroup_id = \"{}-generation\"\n{g}\n",
                self.synthetic_reviews, self.synthetic_behavior, self.group
            ),
        };
        let path = dir.join("topology.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    pub async fn create(&self) {
        self.create_with_partitions(4).await
    }

    pub async fn create_with_partitions(&self, partitions: i32) {
        let topics = [
            &self.behavior,
            &self.behavior_avro,
            &self.products,
            &self.enriched,
            &self.accepted,
            &self.dlq,
            &self.synthetic_reviews,
            &self.synthetic_behavior,
        ];
        let names: Vec<&str> = topics.iter().map(|s| s.as_str()).collect();
        warmstart::kafka::admin::ensure_topics(&client(), &names, partitions, 1)
            .await
            .unwrap();
    }
}

/// A child process that is killed when the test ends, failed or not, so that a panicking test
/// leaves no pipeline running.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Proc {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Proc {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

/// What a child writes on stdout and stderr, gathered as it comes (its pipes must be piped).
/// `finish` waits for the child's pipes to close (kill it first) and returns the whole text.
pub struct Logs {
    text: std::sync::Arc<std::sync::Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Logs {
    pub fn capture(child: &mut Child) -> Logs {
        let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stderr.take().expect("stderr piped")),
            Box::new(child.stdout.take().expect("stdout piped")),
        ];
        let readers = pipes
            .into_iter()
            .map(|mut pipe| {
                let text = text.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 8192];
                    while let Ok(n @ 1..) = pipe.read(&mut buf) {
                        text.lock()
                            .unwrap()
                            .push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                })
            })
            .collect();
        Logs { text, readers }
    }

    /// Whether what was written so far contains `s`.
    pub fn contains(&self, s: &str) -> bool {
        self.text.lock().unwrap().contains(s)
    }

    pub fn so_far(&self) -> String {
        self.text.lock().unwrap().clone()
    }

    pub fn finish(self) -> String {
        for r in self.readers {
            r.join().unwrap();
        }
        let text = self.text.lock().unwrap().clone();
        text
    }
}

/// `warmstart <args>` as a long-running service of a test: JSON logs (`warn,warmstart=info`) on
/// the test's stderr, stdout dropped, killed when the `Proc` is dropped. `env` is applied after
/// those defaults, so it may override `RUST_LOG`.
pub fn spawn_warmstart(args: &[&str], env: &[(&str, &str)]) -> Proc {
    let child = Command::new(env!("CARGO_BIN_EXE_warmstart"))
        .args(["--log-format", "json"])
        .args(args)
        .env("RUST_LOG", "warn,warmstart=info")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn warmstart {}: {e}", args.join(" ")));
    Proc(child)
}

fn path_arg(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

/// `warmstart run`: the pipeline.
pub fn spawn_pipeline(topology: &Path, http_listen: &str) -> Proc {
    spawn_warmstart(
        &[
            "run",
            "--topology",
            path_arg(topology),
            "--http-listen",
            http_listen,
        ],
        &[],
    )
}

pub fn sigterm_and_wait(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill(2) on a child this test spawned and has not reaped.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    wait_until(
        "the process to stop after SIGTERM",
        Duration::from_secs(60),
        || child.try_wait().unwrap(),
    )
}

pub fn sigkill(child: &mut Child) {
    child.kill().unwrap(); // SIGKILL on unix
    child.wait().unwrap();
}

/// Waits until consumer group `group` has committed every partition of `topic` up to its high
/// watermark: the pipeline has handled everything, duplicates or not. `false` on timeout.
pub fn wait_for_group(group: &str, topic: &str, timeout: Duration) -> bool {
    let c: BaseConsumer = client().set("group.id", group).create().unwrap();
    poll_until(timeout, || {
        let md = c
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .unwrap();
        let mut tpl = TopicPartitionList::new();
        let mut high = std::collections::HashMap::new();
        for p in md.topics()[0].partitions() {
            tpl.add_partition(topic, p.id());
            high.insert(
                p.id(),
                c.fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                    .unwrap()
                    .1,
            );
        }
        let committed = c.committed_offsets(tpl, Duration::from_secs(10)).ok()?;
        committed
            .elements()
            .iter()
            .all(|e| {
                let hi = high[&e.partition()];
                hi == 0 || e.offset().to_raw().is_some_and(|o| o >= hi)
            })
            .then_some(())
    })
    .is_some()
}

/// Sum of the high watermarks of every partition of `topic`.
pub fn count(topic: &str) -> i64 {
    let c: BaseConsumer = client().create().unwrap();
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let Some(t) = md.topics().first() else {
        return 0;
    };
    t.partitions()
        .iter()
        .map(|p| {
            c.fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .map_or(0, |(lo, hi)| hi - lo)
        })
        .sum()
}

/// Waits until `topic` holds at least `n` records; returns how many it holds (fewer on timeout).
pub fn wait_for_count(topic: &str, n: i64, timeout: Duration) -> i64 {
    poll_until(timeout, || {
        let c = count(topic);
        (c >= n).then_some(c)
    })
    .unwrap_or_else(|| count(topic))
}

pub struct Record {
    pub key: Option<Vec<u8>>,
    pub payload: Vec<u8>,
    pub headers: Vec<(String, Vec<u8>)>,
}

/// Reads every record of `topic` up to its current high watermarks.
pub fn read_all(topic: &str) -> Vec<Record> {
    let c: BaseConsumer = client()
        .set("group.id", unique("reader"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0;
    let mut ends = std::collections::HashMap::new();
    for p in md.topics()[0].partitions() {
        let (lo, hi) = c
            .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
            .unwrap();
        tpl.add_partition_offset(topic, p.id(), Offset::Offset(lo))
            .unwrap();
        remaining += hi - lo;
        ends.insert(p.id(), hi);
    }
    c.assign(&tpl).unwrap();
    let mut out = Vec::with_capacity(remaining as usize);
    let deadline = Instant::now() + Duration::from_secs(120);
    while (out.len() as i64) < remaining {
        assert!(
            Instant::now() < deadline,
            "read only {} of {remaining} from {topic}",
            out.len()
        );
        if let Some(m) = c.poll(Duration::from_millis(500)) {
            let m = m.unwrap();
            if m.offset() >= ends[&m.partition()] {
                continue;
            }
            let headers = m
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|x| (x.key.to_owned(), x.value.unwrap_or_default().to_vec()))
                        .collect()
                })
                .unwrap_or_default();
            out.push(Record {
                key: m.key().map(<[u8]>::to_vec),
                payload: m.payload().unwrap_or_default().to_vec(),
                headers,
            });
        }
    }
    out
}

/// Every committed record of `topic`, read in `read_committed` up to the end of each partition.
pub fn read_committed(topic: &str) -> Vec<Vec<u8>> {
    let c: BaseConsumer = client()
        .set("group.id", unique("eos-reader"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "true")
        .set("isolation.level", "read_committed")
        .create()
        .unwrap();
    let md = c
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    let partitions = md.topics()[0].partitions().len();
    for p in md.topics()[0].partitions() {
        tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
            .unwrap();
    }
    c.assign(&tpl).unwrap();
    let (mut out, mut at_end) = (Vec::new(), std::collections::HashSet::new());
    let deadline = Instant::now() + Duration::from_secs(120);
    while at_end.len() < partitions {
        assert!(
            Instant::now() < deadline,
            "could not read {topic} to its end"
        );
        match c.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => out.push(m.payload().unwrap_or_default().to_vec()),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(p))) => {
                at_end.insert(p);
            }
            Some(Err(e)) => panic!("{e}"),
            None => {}
        }
    }
    out
}

/// `kcat -P`: each line of `lines` is `key<TAB>value`.
pub fn kcat_produce_lines(topic: &str, lines: &[String], dir: &Path) {
    let file = dir.join(format!("{}.lines", unique("kcat")));
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let status = Command::new("kcat")
        .args([
            "-P",
            "-b",
            &brokers(),
            "-t",
            topic,
            "-K",
            "\t",
            "-z",
            "lz4",
            "-l",
        ])
        .arg(&file)
        .status()
        .expect("kcat is installed (apt-get install kcat)");
    assert!(status.success(), "kcat failed");
}

/// `kcat -P` with one message per file: the way to send binary payloads with newlines.
pub fn kcat_produce_payloads(topic: &str, payloads: &[Vec<u8>], dir: &Path) {
    let sub = dir.join(unique("payloads"));
    std::fs::create_dir_all(&sub).unwrap();
    let files: Vec<PathBuf> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let f = sub.join(format!("{i:06}"));
            std::fs::write(&f, p).unwrap();
            f
        })
        .collect();
    for chunk in files.chunks(500) {
        let status = Command::new("kcat")
            .args(["-P", "-b", &brokers(), "-t", topic])
            .args(chunk)
            .status()
            .expect("kcat is installed");
        assert!(status.success(), "kcat failed");
    }
}

/// A plain HTTP/1.1 GET on loopback; returns (status, body).
pub fn http_get(addr: &str, path: &str) -> (u16, String) {
    http_request(addr, "GET", path)
}

/// A plain HTTP/1.1 request without a body on loopback; returns (status, body).
pub fn http_request(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let status = buf
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
    (status, body)
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `warmstart recommender` in group `group`, serving on `listen`.
pub fn spawn_recommender(topology: &Path, group: &str, listen: &str) -> Proc {
    spawn_recommender_with(topology, group, listen, &[])
}

/// As `spawn_recommender`, with `extra` arguments (a snapshot, its interval).
pub fn spawn_recommender_with(topology: &Path, group: &str, listen: &str, extra: &[&str]) -> Proc {
    let mut args = vec![
        "recommender",
        "--topology",
        path_arg(topology),
        "--group-id",
        group,
        "--listen",
        listen,
    ];
    args.extend_from_slice(extra);
    spawn_warmstart(&args, &[])
}

/// The sum of a metric's series; 0 while the server is not listening yet.
pub fn metric(addr: &str, name: &str) -> f64 {
    let Some(body) = http_get_ok(addr, "/metrics") else {
        return 0.0;
    };
    body.lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// A GET that gives `None` while nothing listens yet.
pub fn http_get_ok(addr: &str, path: &str) -> Option<String> {
    std::net::TcpStream::connect(addr).ok()?;
    Some(http_get(addr, path).1)
}

/// Waits until the metric `name` at `addr` reaches `at_least`; returns its value then (or at the
/// timeout, for the caller's own assertion).
pub fn wait_for_metric(addr: &str, name: &str, at_least: f64, timeout: Duration) -> f64 {
    poll_until(timeout, || {
        let v = metric(addr, name);
        (v >= at_least).then_some(v)
    })
    .unwrap_or_else(|| metric(addr, name))
}

/// Polls `check` until it gives a value and returns it; panics naming `what` once `timeout` has
/// passed. The pause between polls grows from 5 ms to 100 ms: quick for the conditions that hold
/// almost at once, without hammering the broker or an HTTP endpoint for the slow ones.
#[track_caller]
pub fn wait_until<T>(what: &str, timeout: Duration, check: impl FnMut() -> Option<T>) -> T {
    match poll_until(timeout, check) {
        Some(v) => v,
        None => panic!("timed out after {timeout:?} waiting for {what}"),
    }
}

/// `wait_until` for callers that assert themselves, with their own message: `None` on timeout.
pub fn poll_until<T>(timeout: Duration, mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = check() {
            return Some(v);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        std::thread::sleep(pause.min(deadline - now));
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

/// `n` real behaviour events from Amazon Beauty 5-core.
pub fn real_events(n: usize) -> Vec<warmstart::events::BehaviorEvent> {
    let dir = warmstart::data::data_dir().join("beauty-5core");
    let events: Vec<warmstart::events::BehaviorEvent> =
        warmstart::data::beauty::load(&dir, Some(n))
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                warmstart::data::StreamEvent::Behavior(b) => Some(b),
                warmstart::data::StreamEvent::Product(_) => None,
            })
            .collect();
    assert_eq!(events.len(), n);
    events
}

/// Produces `events` to `topic` at about `per_sec`, from a background thread.
pub fn produce_slowly(
    topic: String,
    events: Vec<warmstart::events::BehaviorEvent>,
    per_sec: usize,
) -> std::thread::JoinHandle<()> {
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
    std::thread::spawn(move || {
        let p: BaseProducer = client().set("linger.ms", "5").create().unwrap();
        let chunk = (per_sec / 20).max(1);
        for batch in events.chunks(chunk) {
            for e in batch {
                let payload = serde_json::to_vec(e).unwrap();
                let rec = BaseRecord::to(&topic)
                    .key(e.user_id.as_bytes())
                    .payload(&payload);
                warmstart::kafka::publish::send_waiting(&p, rec).unwrap();
            }
            p.poll(Duration::ZERO);
            std::thread::sleep(Duration::from_millis(50));
        }
        // Generous: the broker-restart test stops the broker under this producer, and on a
        // loaded 2-core machine its restart alone can take most of a minute.
        p.flush(Duration::from_secs(300)).unwrap();
    })
}

/// Publishes `(topic, key, payload)` records and waits until the broker has them all.
pub fn publish(records: &[(String, Vec<u8>, Vec<u8>)]) {
    warmstart::kafka::publish::publish_all(
        &client(),
        records
            .iter()
            .map(|(topic, key, payload)| warmstart::kafka::publish::Publish {
                topic,
                key,
                payload,
            }),
    )
    .unwrap();
}

/// Every record of `topic`, parsed as JSON.
pub fn parse<T: serde::de::DeserializeOwned>(topic: &str) -> Vec<T> {
    read_all(topic)
        .iter()
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .collect()
}
