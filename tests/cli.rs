//! The command line: bad topologies fail at start naming the field, secrets stay out of the logs,
//! and the demo (the main job) runs end to end.

mod common;

use common::{wait_until, warmstart, Logs, Proc};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn validate_accepts_every_shipped_topology() {
    for (file, inputs) in [
        ("default.toml", 3),
        ("generation.toml", 3),
        ("registry.toml", 3),
        ("reviews-only.toml", 2),
        ("behavior-only.toml", 2),
    ] {
        let out = warmstart(&["validate", "--topology", &format!("topologies/{file}")]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("ok ({inputs} inputs, 4 stages)")),
            "{file}: {stdout}"
        );
    }
}

#[test]
fn an_invalid_topology_fails_at_start_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let default = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/topologies/default.toml"
    ))
    .unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        default.replace("max_payload_bytes = 65536", "max_payload_bytes = 0"),
    )
    .unwrap();
    for cmd in ["validate", "run"] {
        let out = warmstart(&[cmd, "--topology", bad.to_str().unwrap()]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("`stages[0].max_payload_bytes`"),
            "{cmd}: {err}"
        );
    }
    let out = warmstart(&["validate", "--topology", "no/such/file.toml"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/file.toml"));
}

#[test]
fn an_incompatible_extra_schema_fails_validation() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("v9.avsc");
    std::fs::write(&schema, r#"{"type":"record","name":"BehaviorEvent","namespace":"warmstart.events","fields":[{"name":"event_id","type":"int"}]}"#).unwrap();
    let default = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/topologies/default.toml"
    ))
    .unwrap();
    let topo = dir.path().join("t.toml");
    std::fs::write(
        &topo,
        default.replace(
            "../schemas/history/behavior_event.v0.avsc",
            schema.to_str().unwrap(),
        ),
    )
    .unwrap();
    let out = warmstart(&["validate", "--topology", topo.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("schema 101"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sasl_ssl_settings_pass_through_and_secrets_stay_out_of_the_logs_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let default = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/topologies/default.toml"
    ))
    .unwrap();
    let secret = "s3cr3t-Pa55word-never-logged";
    // Port 1: nothing listens, so the clients keep retrying while we read the logs. Topic
    // creation is off, so that the run gets as far as creating the clients.
    let text = default
        .replace("bootstrap_servers = \"127.0.0.1:9092\"", "bootstrap_servers = \"127.0.0.1:1\"")
        .replace("create_topics_partitions = 4", "create_topics_partitions = 0")
        .replace("../schemas/", concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/"))
        .replace(
            "[inputs.behavior]",
            &format!(
                "[kafka.common]\n\"security.protocol\" = \"SASL_SSL\"\n\"sasl.mechanisms\" = \"SCRAM-SHA-512\"\n\"sasl.username\" = \"warmstart\"\n\"sasl.password\" = \"{secret}\"\n\n[inputs.behavior]"
            ),
        );
    let topo = dir.path().join("sasl.toml");
    std::fs::write(&topo, text).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Not `common::spawn_warmstart`: this test reads what the run logs, in the default format,
    // at debug level.
    let mut child = Proc(
        Command::new(env!("CARGO_BIN_EXE_warmstart"))
            .args([
                "run",
                "--http-listen",
                &format!("127.0.0.1:{port}"),
                "--topology",
            ])
            .arg(&topo)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let logs = Logs::capture(&mut child.0);
    // The HTTP server starts before the clients. A broker thread logging about the unreachable
    // broker means a client exists: its settings were logged just before it was created, and a
    // librdkafka without SASL/SSL would have refused to create it.
    wait_until(
        "the run's Kafka clients to try the broker",
        Duration::from_secs(60),
        || {
            let exited = child.try_wait().unwrap().is_some();
            (exited || logs.contains("127.0.0.1:1/bootstrap")).then_some(())
        },
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run exited: {}",
        logs.so_far()
    );
    let metrics = {
        use std::io::Write;
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.write_all(b"GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    };
    drop(child); // killed: the readers see the end of the pipes
    let logs = logs.finish();
    assert!(metrics.contains("warmstart_build_info"), "{metrics}");
    assert!(
        !metrics.contains(secret),
        "the password leaked into /metrics"
    );
    assert!(
        logs.contains("security.protocol=SASL_SSL"),
        "settings reach the clients: {logs}"
    );
    assert!(logs.contains("sasl.password=***"), "{logs}");
    assert!(!logs.contains(secret), "the password leaked into the logs");
    assert!(
        !logs.contains("No provider for SASL mechanism"),
        "librdkafka built without SASL/SSL: {logs}"
    );
}

/// The main job, as `scripts/demo` runs it (smaller): history through the pipeline, then new
/// products through the generation stage into the online recommender, on the embedded cluster;
/// the report measures the new products against their real first shoppers, with and without the
/// synthetic data, and shows their real brand and categories.
#[test]
fn the_demo_measures_new_products_against_their_real_first_shoppers() {
    let out = warmstart(&["demo", "--events", "2000", "--new-products", "6"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("EMBEDDED MOCK Kafka"), "{stdout}");
    assert!(stdout.contains("2000 real behaviour events"), "{stdout}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("reached at launch: "))
        .unwrap_or_else(|| panic!("no cold-start report: {stdout}"));
    let numbers: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    // with, known, (top) 20, without, (first) 5, shoppers, unknown
    assert_eq!(
        (numbers.len(), numbers[2], numbers[4]),
        (7, 20, 5),
        "{line}"
    );
    let (with, known, without, shoppers, unknown) =
        (numbers[0], numbers[1], numbers[3], numbers[5], numbers[6]);
    assert!((6..=6 * 5).contains(&shoppers), "{line}");
    assert_eq!(known + unknown, shoppers, "{line}");
    assert!(with <= known && without <= known, "{line}");
    assert!(
        !stdout.contains("generated users"),
        "the circular figure is gone: {stdout}"
    );
    assert!(stdout.contains("    brand "), "real brand names: {stdout}");
    // Beauty products get beauty text, from the beauty review model, never the clothing one's.
    let beauty = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/reviews-beauty/card.json"),
    )
    .unwrap();
    let card: serde_json::Value = serde_json::from_str(&beauty).unwrap();
    let version = card["version"].as_str().unwrap();
    let reviews: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("synthetic review ("))
        .collect();
    assert!(!reviews.is_empty(), "{stdout}");
    assert!(
        reviews.iter().all(|l| l.contains(version)),
        "every review from the beauty model {version}: {reviews:?}"
    );
    assert!(
        stdout.contains("; 0 reviews not written because the product is out of every loaded review model's domain"),
        "{stdout}"
    );
}
