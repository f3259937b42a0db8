//! The pipeline's Prometheus metrics, one registry per process component.
//!
//! Call sites do not touch the prometheus types: each metric is updated through a named method
//! (an "internal event" in Vector's sense), so that the list below is the whole vocabulary of what
//! the pipeline reports. Per-topic handles are resolved once and cached by the caller, because
//! label lookups hash on every call.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    records_in: IntCounterVec,
    records_out: IntCounterVec,
    dead_letters: IntCounterVec,
    filtered: IntCounterVec,
    consumer_lag: IntGaugeVec,
    stage_seconds: HistogramVec,
    in_flight: IntGauge,
    delivery_errors: IntCounter,
    commits: IntCounterVec,
    kafka_errors: IntCounterVec,
    batch_seconds: Histogram,
    ready: IntGauge,
    /// What `ready` is made of: the delivery runtime's view (broker and assignment) and the
    /// schema registry's (reachable, or none configured).
    broker_ready: std::sync::Arc<std::sync::atomic::AtomicBool>,
    registry_ok: std::sync::Arc<std::sync::atomic::AtomicBool>,
    registry_requests: IntCounterVec,
    registry_up: IntGauge,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    // Only fails for malformed names or duplicate registration, both fixed at compile time here.
    r.expect("metric definition is valid")
}

impl Metrics {
    pub fn new(device: &str) -> Self {
        let registry = Registry::new_custom(Some("warmstart".into()), None).expect("valid prefix");
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = must(IntCounterVec::new(Opts::new(name, help), labels));
            must(registry.register(Box::new(c.clone())));
            c
        };
        let records_in = counter_vec(
            "records_in_total",
            "Records consumed, by input topic.",
            &["topic"],
        );
        let records_out = counter_vec(
            "records_out_total",
            "Records acknowledged by the broker, by output topic.",
            &["topic"],
        );
        let dead_letters = counter_vec(
            "dead_letters_total",
            "Input records sent to the dead-letter topic, by reason code.",
            &["reason"],
        );
        let filtered = counter_vec(
            "records_filtered_total",
            "Input records that produced no output on purpose (duplicates), by stage.",
            &["stage"],
        );
        let commits = counter_vec(
            "offset_commits_total",
            "Offset commits, by result.",
            &["result"],
        );
        let kafka_errors = counter_vec(
            "kafka_errors_total",
            "Client-level Kafka errors, by code.",
            &["code"],
        );
        let consumer_lag = must(IntGaugeVec::new(
            Opts::new(
                "consumer_lag",
                "Messages behind the partition's high watermark.",
            ),
            &["topic", "partition"],
        ));
        must(registry.register(Box::new(consumer_lag.clone())));
        let stage_seconds = must(HistogramVec::new(
            HistogramOpts::new(
                "stage_duration_seconds",
                "Time a record spends in each stage.",
            )
            .buckets(prometheus::exponential_buckets(1e-7, 4.0, 12).expect("valid buckets")),
            &["stage"],
        ));
        must(registry.register(Box::new(stage_seconds.clone())));
        let batch_seconds = must(Histogram::with_opts(
            HistogramOpts::new(
                "produce_ack_seconds",
                "Time from producing an output to its acknowledgement by the broker.",
            )
            .buckets(prometheus::exponential_buckets(1e-4, 2.5, 12).expect("valid buckets")),
        ));
        must(registry.register(Box::new(batch_seconds.clone())));
        let in_flight = must(IntGauge::new(
            "in_flight_records",
            "Outputs sent and not yet acknowledged.",
        ));
        must(registry.register(Box::new(in_flight.clone())));
        let delivery_errors = must(IntCounter::new(
            "delivery_errors_total",
            "Outputs the broker did not acknowledge; the pipeline stops without committing them.",
        ));
        must(registry.register(Box::new(delivery_errors.clone())));
        let ready = must(IntGauge::new(
            "ready",
            "1 when the pipeline has a broker connection and an assignment.",
        ));
        must(registry.register(Box::new(ready.clone())));
        let registry_requests = counter_vec(
            "schema_registry_requests_total",
            "Requests to the schema-registry server, by call (schema, register) and outcome (ok, not_found, refused, unreachable).",
            &["call", "outcome"],
        );
        let registry_up = must(IntGauge::new(
            "schema_registry_up",
            "0 while the schema-registry server cannot be reached (records wait), else 1.",
        ));
        registry_up.set(1);
        must(registry.register(Box::new(registry_up.clone())));
        let build = must(IntGaugeVec::new(
            Opts::new("build_info", "Build and runtime facts; always 1."),
            &["version", "rdkafka", "torch_device"],
        ));
        must(registry.register(Box::new(build.clone())));
        let (_, rdkafka_version) = rdkafka::util::get_rdkafka_version();
        build
            .with_label_values(&[env!("CARGO_PKG_VERSION"), rdkafka_version.as_str(), device])
            .set(1);
        // The series the alerts and the dashboard query exist from the start, at 0: a rate over
        // a counter that appears only at its first increment misses that increment, and a rule
        // over a series that does not exist yet cannot be told from one with a wrong name.
        kafka_errors.with_label_values(&["AllBrokersDown"]);
        for call in ["schema", "register"] {
            for outcome in ["ok", "not_found", "refused", "unreachable"] {
                registry_requests.with_label_values(&[call, outcome]);
            }
        }
        Metrics {
            registry,
            records_in,
            records_out,
            dead_letters,
            filtered,
            consumer_lag,
            stage_seconds,
            in_flight,
            delivery_errors,
            commits,
            kafka_errors,
            batch_seconds,
            ready,
            broker_ready: Default::default(),
            registry_ok: std::sync::Arc::new(true.into()),
            registry_requests,
            registry_up,
        }
    }

    pub fn records_in(&self, topic: &str) -> IntCounter {
        self.records_in.with_label_values(&[topic])
    }
    pub fn records_out(&self, topic: &str) -> IntCounter {
        self.records_out.with_label_values(&[topic])
    }
    pub fn stage_timer(&self, stage: &str) -> Histogram {
        self.stage_seconds.with_label_values(&[stage])
    }
    pub fn dead_letter(&self, reason: &str) {
        self.dead_letters.with_label_values(&[reason]).inc();
    }
    pub fn filtered(&self, stage: &str) {
        self.filtered.with_label_values(&[stage]).inc();
    }
    pub fn consumer_lag(&self, topic: &str, partition: i32, lag: i64) {
        self.consumer_lag
            .with_label_values(&[topic, &partition.to_string()])
            .set(lag);
    }
    pub fn in_flight(&self, n: usize) {
        self.in_flight.set(n as i64);
    }
    pub fn delivery_error(&self) {
        self.delivery_errors.inc();
    }
    pub fn ack_latency(&self, seconds: f64) {
        self.batch_seconds.observe(seconds);
    }
    pub fn commit(&self, ok: bool) {
        self.commits
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }
    pub fn kafka_error(&self, code: &str) {
        self.kafka_errors.with_label_values(&[code]).inc();
    }
    /// Declares the dead-letter reasons (at 0), so that their series exist before the first one.
    pub fn dead_letter_reasons<'a>(&self, reasons: impl IntoIterator<Item = &'a str>) {
        for r in reasons {
            self.dead_letters.with_label_values(&[r]);
        }
    }

    /// The delivery runtime's readiness; `/readyz` also needs the schema registry.
    pub fn set_ready(&self, ready: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.broker_ready.store(ready, Relaxed);
        self.ready
            .set((ready && self.registry_ok.load(Relaxed)) as i64);
    }
    /// A call to the schema-registry server and how it went.
    pub fn registry_request(&self, call: &str, outcome: &str) {
        self.registry_requests
            .with_label_values(&[call, outcome])
            .inc();
    }
    /// Whether the schema-registry server can be reached; readiness follows.
    pub fn set_registry_reachable(&self, ok: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.registry_ok.store(ok, Relaxed);
        self.registry_up.set(ok as i64);
        self.ready
            .set((ok && self.broker_ready.load(Relaxed)) as i64);
    }
    /// Sum of `records_in_total` over the input topics.
    pub fn total_records_in(&self) -> u64 {
        use prometheus::core::Collector;
        self.records_in
            .collect()
            .iter()
            .flat_map(|f| f.get_metric())
            .map(|m| m.get_counter().get_value() as u64)
            .sum()
    }
    pub fn in_flight_now(&self) -> i64 {
        self.in_flight.get()
    }
    pub fn is_ready(&self) -> bool {
        self.ready.get() == 1
    }

    /// The text exposition format, as served on `/metrics`.
    pub fn render(&self) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        let encoder = prometheus::TextEncoder::new();
        // Encoding into a Vec cannot fail for well-formed metric families.
        let _ = encoder.encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}
