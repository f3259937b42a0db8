//! The broker stopped and started again in the middle of the stream (its own test binary: it
//! takes the shared local broker away, which no other test may see). The pipeline reports not
//! ready while the broker is away, reconnects by itself, and loses nothing.

mod common;

use common::*;
use std::collections::HashSet;
use std::time::Duration;
use warmstart::events::EnrichedEvent;

fn kafka(action: &str) {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/kafka");
    let status = std::process::Command::new(script)
        .arg(action)
        .status()
        .unwrap();
    assert!(status.success(), "scripts/kafka {action} failed");
}

/// Waits until `/readyz` answers `want`, asserting on every poll that the pipeline still runs.
fn wait_ready(pipeline: &mut Proc, addr: &str, want: u16, timeout: Duration) -> bool {
    poll_until(timeout, || {
        assert_running(pipeline);
        (http_get_ok(addr, "/readyz").is_some() && http_get(addr, "/readyz").0 == want)
            .then_some(())
    })
    .is_some()
}

fn assert_running(pipeline: &mut Proc) {
    assert!(
        pipeline.try_wait().unwrap().is_none(),
        "the pipeline exited while the broker was away"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_nothing_and_readiness_follows_the_broker() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("restart");
    topics.create().await;
    let topology = topics.write_topology(dir.path());
    let events = real_events(40_000);
    let addr = format!("127.0.0.1:{}", free_port());
    let mut pipeline = spawn_pipeline(&topology, &addr);
    assert!(
        wait_ready(&mut pipeline, &addr, 200, Duration::from_secs(60)),
        "never ready"
    );
    let producer = produce_slowly(topics.behavior.clone(), events.clone(), 8_000);
    assert!(
        wait_for_metric(
            &addr,
            "warmstart_records_out_total",
            10_000.0,
            Duration::from_secs(60)
        ) >= 10_000.0,
        "no progress before the restart"
    );

    kafka("stop");
    let went_unready = wait_ready(&mut pipeline, &addr, 503, Duration::from_secs(60));
    // Going unready is the first broker error; the pipeline must also survive the ones that
    // keep coming while the broker is away (librdkafka reports every failed reconnect), so the
    // broker stays away until it has handled more of them.
    let errors = metric(&addr, "warmstart_kafka_errors_total");
    let errors_while_away = poll_until(Duration::from_secs(60), || {
        assert_running(&mut pipeline);
        (metric(&addr, "warmstart_kafka_errors_total") >= errors + 5.0).then_some(())
    });
    assert_running(&mut pipeline);
    kafka("start");
    assert!(went_unready, "/readyz stayed 200 while the broker was away");
    assert!(
        errors_while_away.is_some(),
        "no further Kafka errors reported while the broker was away"
    );
    assert!(
        wait_ready(&mut pipeline, &addr, 200, Duration::from_secs(120)),
        "not ready again after the restart"
    );

    producer.join().unwrap();
    assert!(
        wait_for_group(&topics.group, &topics.behavior, Duration::from_secs(180)),
        "the pipeline did not finish the stream after the restart"
    );
    assert!(sigterm_and_wait(&mut pipeline).success());
    let ids: HashSet<String> = read_all(&topics.enriched)
        .iter()
        .map(|r| {
            serde_json::from_slice::<EnrichedEvent>(&r.payload)
                .unwrap()
                .event_id
        })
        .collect();
    let lost = events.iter().filter(|e| !ids.contains(&e.event_id)).count();
    assert_eq!(lost, 0, "events lost across the broker restart");
    eprintln!(
        "broker restarted mid-stream: readiness went false and back, 0 of {} lost",
        events.len()
    );
}
