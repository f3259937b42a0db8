//! Monitoring proven live: a real Prometheus (Debian's `prometheus`) scrapes the services this test
//! starts on the local broker (the pipeline with its generation stage, and the recommender) with
//! the shipped scrape config and alert rules, only the intervals and the rules' `for:` shortened;
//! a real Alertmanager (`prometheus-alertmanager`) delivers to a webhook served here. The test
//! causes each fault, waits until the alert fires in Prometheus and reaches the webhook with its
//! labels and annotations, removes the fault and waits until it resolves.
//!
//! Its own test binary, and one test: it stops the shared broker, which no other test may see.

mod common;

use common::*;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warmstart::events::BehaviorEvent;

/// How long a rule must hold before it fires, here (the shipped rules say minutes).
const FOR: &str = "3s";

fn repo(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// `docker/prometheus/prometheus.yml` pointed at this test's services and Alertmanager, scraping
/// and evaluating every second.
fn prometheus_config(pipeline: &str, recommender: &str, alertmanager: &str) -> String {
    let mut text = repo("docker/prometheus/prometheus.yml");
    for (from, to) in [
        ("scrape_interval: 15s", "scrape_interval: 1s"),
        ("evaluation_interval: 15s", "evaluation_interval: 1s"),
        ("pipeline:9464", pipeline),
        ("recommender:8080", recommender),
    ] {
        assert!(text.contains(from), "prometheus.yml has `{from}`");
        text = text.replace(from, to);
    }
    text.push_str(&format!(
        "\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [\"{alertmanager}\"]\n"
    ));
    text
}

/// `docker/prometheus/alerts.yml` with every `for:` shortened; the expressions untouched.
fn shortened_rules() -> String {
    let text = repo("docker/prometheus/alerts.yml");
    let mut n = 0;
    let out: Vec<String> = text
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for:") {
            Some(_) => {
                n += 1;
                format!("{}for: {FOR}", &l[..l.len() - l.trim_start().len()])
            }
            None => l.to_owned(),
        })
        .collect();
    assert!(n >= 8, "the rules have their `for:`");
    out.join("\n") + "\n"
}

/// The alert names of the shipped rules.
fn rule_names() -> BTreeSet<String> {
    repo("docker/prometheus/alerts.yml")
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert: "))
        .map(|s| s.trim().to_owned())
        .collect()
}

/// The metric selectors of a PromQL expression: `warmstart_*` and `up` names with their label
/// matchers, if any.
fn selectors(expr: &str) -> Vec<String> {
    let b = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts = expr[i..].starts_with("warmstart_")
            || (expr[i..].starts_with("up{") && (i == 0 || !b[i - 1].is_ascii_alphanumeric()));
        if !starts || (i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        if j < b.len() && b[j] == b'{' {
            j += expr[j..].find('}').unwrap() + 1;
        }
        out.push(expr[i..j].to_owned());
        i = j;
    }
    out
}

fn encode(q: &str) -> String {
    q.bytes()
        .map(|c| match c {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (c as char).to_string()
            }
            _ => format!("%{c:02X}"),
        })
        .collect()
}

/// A JSON body, also when Prometheus sent it in chunks (large answers).
fn json_body(body: &str) -> serde_json::Value {
    if let Ok(v) = serde_json::from_str(body) {
        return v;
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || after.len() < n {
            break;
        }
        out.push_str(&after[..n]);
        rest = after[n..].trim_start_matches("\r\n");
    }
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {body}"))
}

/// The series an instant query returns.
fn query(prom: &str, q: &str) -> Vec<serde_json::Value> {
    let (status, body) = http_get(prom, &format!("/api/v1/query?query={}", encode(q)));
    assert_eq!(status, 200, "{q}: {body}");
    let v = json_body(&body);
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Alerts Prometheus reports firing, by name.
fn firing(prom: &str) -> Vec<serde_json::Value> {
    let (_, body) = http_get(prom, "/api/v1/alerts");
    let v = json_body(&body);
    v["data"]["alerts"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| a["state"] == "firing")
        .collect()
}

/// What Alertmanager posted to the webhook: one JSON body per notification.
#[derive(Clone, Default)]
struct Webhook(Arc<Mutex<Vec<serde_json::Value>>>);

impl Webhook {
    fn serve() -> (Self, String) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let hook = Webhook::default();
        let got = hook.0.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut r = BufReader::new(stream);
                let mut len = 0;
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; len];
                if r.read_exact(&mut body).is_ok() {
                    if let Ok(v) = serde_json::from_slice(&body) {
                        got.lock().unwrap().push(v);
                    }
                }
                let _ = r.get_mut().write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        (hook, addr)
    }

    /// The alert `name` as last notified with `status` (firing or resolved), if it was.
    fn notified(&self, name: &str, status: &str) -> Option<serde_json::Value> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flat_map(|n| n["alerts"].as_array().cloned().unwrap_or_default())
            .rfind(|a| a["labels"]["alertname"] == name && a["status"] == status)
    }
}

/// Waits until `name` fires in Prometheus and its notification reaches the webhook with the
/// rule's labels and annotations; returns the notified alert.
fn wait_firing(prom: &str, hook: &Webhook, name: &str, timeout: Duration) -> serde_json::Value {
    wait_until(&format!("{name} firing in Prometheus"), timeout, || {
        firing(prom)
            .iter()
            .any(|a| a["labels"]["alertname"] == name)
            .then_some(())
    });
    let alert = wait_until(&format!("{name} at the webhook"), timeout, || {
        hook.notified(name, "firing")
    });
    assert!(alert["labels"]["severity"].is_string(), "{alert}");
    for key in ["summary", "description", "runbook"] {
        let text = alert["annotations"][key].as_str().unwrap_or_default();
        assert!(
            !text.is_empty() && !text.contains("{{"),
            "{name} {key}: {alert}"
        );
    }
    alert
}

/// Waits until `name` no longer fires and the webhook has its resolution.
fn wait_resolved(prom: &str, hook: &Webhook, name: &str, timeout: Duration) {
    wait_until(&format!("{name} resolved in Prometheus"), timeout, || {
        (!firing(prom)
            .iter()
            .any(|a| a["labels"]["alertname"] == name))
        .then_some(())
    });
    wait_until(&format!("{name} resolved at the webhook"), timeout, || {
        hook.notified(name, "resolved")
    });
}

/// A daemon of the test, killed by pid when dropped (failed test or not).
fn daemon(cmd: &mut Command) -> Proc {
    Proc(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/setup installs it)")),
    )
}

/// The broker is started again when this is dropped, even by a failing test.
struct BrokerBack;

impl Drop for BrokerBack {
    fn drop(&mut self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka");
        let _ = Command::new(script).arg("start").status();
    }
}

fn kafka(action: &str) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka");
    assert!(Command::new(script).arg(action).status().unwrap().success());
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `events` with their times moved to end `ago_ms` before now, one second apart.
fn retimed(events: &[BehaviorEvent], ago_ms: i64) -> Vec<BehaviorEvent> {
    let now = now_ms();
    let n = events.len() as i64;
    events
        .iter()
        .enumerate()
        .map(|(i, e)| BehaviorEvent {
            ts: now - ago_ms - (n - i as i64) * 1000,
            ..e.clone()
        })
        .collect()
}

/// `n` Beauty products launched now, as `key<TAB>json` lines for kcat.
fn launches(key: &str, id: &str, n: usize, title: &str, category: &str) -> Vec<String> {
    (0..n)
        .map(|i| {
            let p = serde_json::json!({"item_id": format!("{id}-{i}"), "ts": now_ms(),
                "title": title, "category": ["Beauty", category], "brand": "Acme"});
            format!("{key}{i}\t{p}")
        })
        .collect()
}

fn lines(events: &[BehaviorEvent]) -> Vec<String> {
    events
        .iter()
        .map(|e| format!("{}\t{}", e.user_id, serde_json::to_string(e).unwrap()))
        .collect()
}

#[test]
fn every_alert_meets_its_live_metrics_and_fires_on_its_fault_through_alertmanager() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("monitoring");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(topics.create());
    let generation = "reviews_per_product = 0\nmax_product_age_ms = 86400000\nmax_batch = 1\nqueue_capacity = 4\n[generation.gates]\ndiscriminator_samples = 64\n[generation.transfer]\nusers = 10";
    let topology = topics.write_topology_with(dir.path(), Some(generation));

    // The services. The generation stage's batches are slowed by its test hook, so that a burst
    // of products saturates its queue (the lag fault below).
    let (p_addr, r_addr) = (
        format!("127.0.0.1:{}", free_port()),
        format!("127.0.0.1:{}", free_port()),
    );
    let pipeline_cmd = || {
        spawn_warmstart(
            &[
                "run",
                "--topology",
                topology.to_str().unwrap(),
                "--http-listen",
                &p_addr,
            ],
            &[("WARMSTART_TEST_BATCH_DELAY_MS", "1500")],
        )
    };
    let _pipeline = pipeline_cmd();
    let group = unique("monitoring-rec");
    let mut recommender = spawn_recommender(&topology, &group, &r_addr);

    // Alertmanager with the test's webhook, then Prometheus.
    let (hook, hook_addr) = Webhook::serve();
    let am_addr = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("alertmanager.yml"),
        format!(
            "route:\n  receiver: test\n  group_by: [alertname, instance]\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: test\n    webhook_configs:\n      - url: http://{hook_addr}/\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let _alertmanager = daemon(
        Command::new("prometheus-alertmanager")
            .arg(format!(
                "--config.file={}",
                dir.path().join("alertmanager.yml").display()
            ))
            .arg(format!(
                "--storage.path={}",
                dir.path().join("am").display()
            ))
            .arg(format!("--web.listen-address={am_addr}"))
            .arg("--cluster.listen-address="),
    );
    let prom_addr = format!("127.0.0.1:{}", free_port());
    std::fs::write(
        dir.path().join("prometheus.yml"),
        prometheus_config(&p_addr, &r_addr, &am_addr),
    )
    .unwrap();
    std::fs::write(dir.path().join("alerts.yml"), shortened_rules()).unwrap();
    let _prometheus = daemon(
        Command::new("prometheus")
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prom_addr}")),
    );
    let up = Duration::from_secs(60);
    wait_until("Prometheus ready", up, || {
        (http_get_ok(&prom_addr, "/-/ready").is_some() && http_get(&prom_addr, "/-/ready").0 == 200)
            .then_some(())
    });
    wait_until("both targets up", up, || {
        (query(&prom_addr, "up == 1").len() == 2).then_some(())
    });

    // Fault: no new events for the recommender. The history arrives with times 10 minutes old
    // (a backfill), so the newest event it applied is older than the rule's 5 minutes. First:
    // a product launched now would count as news.
    let events = real_events(6_000);
    let (history, rest) = events.split_at(2_000);
    kcat_produce_lines(
        &topics.behavior,
        &lines(&retimed(history, 600_000)),
        dir.path(),
    );
    wait_firing(&prom_addr, &hook, "WarmstartRecommenderStale", up);
    // Removed: fresh events.
    kcat_produce_lines(
        &topics.behavior,
        &lines(&retimed(&rest[..2_000], 0)),
        dir.path(),
    );
    wait_resolved(&prom_addr, &hook, "WarmstartRecommenderStale", up);

    // Fault: a consumer that cannot keep up. A burst of products outruns the slowed stage
    // (1.5 s a product), whose queue stays full, its partitions paused. Early, while the
    // series is young: the rule averages the paused gauge over 10 minutes.
    let burst = launches(
        "b",
        "monitoring-burst",
        40,
        "Argan oil shampoo",
        "Hair Care",
    );
    kcat_produce_lines(&topics.products, &burst, dir.path());
    wait_firing(&prom_addr, &hook, "WarmstartGenerationQueueSaturated", up);
    // Removed: the burst drains (the stage generates for every product, slowly).
    wait_resolved(
        &prom_addr,
        &hook,
        "WarmstartGenerationQueueSaturated",
        Duration::from_secs(240),
    );

    // A normal run: products launched (generation), recommendations served. Every alert
    // rule's selectors and every dashboard query return series from the live services.
    let products = launches(
        "p",
        "monitoring-new",
        3,
        "Vitamin C serum for the face",
        "Skin Care",
    );
    kcat_produce_lines(&topics.products, &products, dir.path());
    wait_for_metric(
        &p_addr,
        "warmstart_generation_products_total",
        3.0,
        Duration::from_secs(60),
    );
    assert_eq!(http_get(&r_addr, "/v1/recommendations/someone?k=5").0, 200);
    let rules = repo("docker/prometheus/alerts.yml");
    let mut missing = Vec::new();
    let mut checked = BTreeSet::new();
    for expr in rules.split("expr:").skip(1) {
        let expr = &expr[..expr.find("labels:").unwrap_or(expr.len())];
        for s in selectors(expr) {
            if checked.insert(s.clone()) {
                let found = poll_until(Duration::from_secs(20), || {
                    (!query(&prom_addr, &s).is_empty()).then_some(())
                });
                if found.is_none() {
                    missing.push(s);
                }
            }
        }
    }
    let dashboard: serde_json::Value =
        serde_json::from_str(&repo("docker/grafana/dashboards/warmstart.json")).unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let q = target["expr"].as_str().unwrap();
            let found = poll_until(Duration::from_secs(20), || {
                (!query(&prom_addr, q).is_empty()).then_some(())
            });
            if found.is_none() {
                missing.push(format!("dashboard {:?}: {q}", panel["title"]));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "selectors with no live series:\n{}",
        missing.join("\n")
    );
    assert!(checked.len() >= 15, "{checked:?}");

    // Fault: a flood of malformed records (over 1% of what was consumed).
    let bad: Vec<String> = (0..500).map(|i| format!("k{i}\t{{not json")).collect();
    kcat_produce_lines(&topics.behavior, &bad, dir.path());
    wait_firing(&prom_addr, &hook, "WarmstartDeadLetterRateHigh", up);
    // Removed: the rate over 5 minutes falls below 1% once valid records outnumber them 100 to 1.
    let many = real_events(60_000);
    kcat_produce_lines(&topics.behavior, &lines(&retimed(&many, 0)), dir.path());
    wait_resolved(
        &prom_addr,
        &hook,
        "WarmstartDeadLetterRateHigh",
        Duration::from_secs(120),
    );

    // Fault: the recommender killed.
    sigkill(&mut recommender.0);
    let alert = wait_firing(&prom_addr, &hook, "WarmstartInstanceDown", up);
    assert_eq!(alert["labels"]["job"], "warmstart-recommender", "{alert}");
    recommender = spawn_recommender(&topology, &group, &r_addr);
    wait_resolved(&prom_addr, &hook, "WarmstartInstanceDown", up);

    // Fault: the broker stopped. The pipeline and the recommender report not ready; the
    // recommender goes on serving the model it has.
    let back = BrokerBack;
    kafka("stop");
    for (service, addr) in [("pipeline", &p_addr), ("recommender", &r_addr)] {
        wait_until(
            &format!("{service} /readyz 503 without a broker"),
            up,
            || (http_get(addr, "/readyz").0 == 503).then_some(()),
        );
    }
    assert_eq!(
        http_get(&r_addr, "/v1/recommendations/someone?k=5").0,
        200,
        "the recommender serves without a broker"
    );
    wait_firing(&prom_addr, &hook, "WarmstartBrokerUnreachable", up);
    kafka("start");
    drop(back);
    for (service, addr) in [("pipeline", &p_addr), ("recommender", &r_addr)] {
        wait_until(
            &format!("{service} /readyz 200 with the broker back"),
            Duration::from_secs(120),
            || (http_get(addr, "/readyz").0 == 200).then_some(()),
        );
    }
    wait_resolved(
        &prom_addr,
        &hook,
        "WarmstartBrokerUnreachable",
        Duration::from_secs(120),
    );

    // Every alert the faults were meant for reached the webhook, and each is a shipped rule.
    let names = rule_names();
    for name in [
        "WarmstartRecommenderStale",
        "WarmstartDeadLetterRateHigh",
        "WarmstartGenerationQueueSaturated",
        "WarmstartInstanceDown",
        "WarmstartBrokerUnreachable",
    ] {
        assert!(names.contains(name), "{name} is a shipped rule");
        assert!(hook.notified(name, "resolved").is_some(), "{name}");
    }
    drop(recommender);
}
