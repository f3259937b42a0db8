//! The generation stage's metrics, registered in the process's registry next to the pipeline's
//! (one `/metrics` for both). Every update goes through a named method, as in `observe::Metrics`.

use prometheus::{Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

#[derive(Clone)]
pub struct GenerationMetrics {
    queue_depth: IntGauge,
    queue_capacity: IntGauge,
    paused: IntGauge,
    batch_size: Histogram,
    batch_seconds: Histogram,
    latency_seconds: Histogram,
    products: IntCounterVec,
    generated: IntCounterVec,
    rejected: IntCounterVec,
    skipped: IntCounterVec,
    shortfall: IntCounterVec,
    model_info: IntGaugeVec,
    device_info: IntGaugeVec,
    reloads: IntCounterVec,
    cold_products: IntGauge,
    cold_events: IntCounterVec,
    shopper_records: IntCounterVec,
    shopper_users: IntGauge,
    shopper_items: IntGauge,
    shoppers_restored: IntGauge,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    r.expect("metric definition is valid")
}

impl GenerationMetrics {
    /// Registers the metrics in `registry` (whose prefix, `warmstart`, they share).
    pub fn new(registry: &Registry) -> Self {
        let reg = |c: Box<dyn prometheus::core::Collector>| must(registry.register(c));
        let gauge = |name: &str, help: &str| {
            let g = must(IntGauge::new(name, help));
            reg(Box::new(g.clone()));
            g
        };
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = must(IntCounterVec::new(Opts::new(name, help), labels));
            reg(Box::new(c.clone()));
            c
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = must(Histogram::with_opts(
                HistogramOpts::new(name, help).buckets(buckets),
            ));
            reg(Box::new(h.clone()));
            h
        };
        let info = |name: &str, help: &str, labels: &[&str]| {
            let g = must(IntGaugeVec::new(Opts::new(name, help), labels));
            reg(Box::new(g.clone()));
            g
        };
        let m = GenerationMetrics {
            queue_depth: gauge(
                "generation_queue_depth",
                "New products queued for generation or in inference.",
            ),
            queue_capacity: gauge(
                "generation_queue_capacity",
                "The queue's bound; at it the product partitions are paused.",
            ),
            paused: gauge(
                "generation_paused",
                "1 while the product partitions are paused by backpressure.",
            ),
            batch_size: histogram(
                "generation_batch_size",
                "Products per forward pass.",
                vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0],
            ),
            batch_seconds: histogram(
                "generation_batch_duration_seconds",
                "Time of one batch: sampling, gates and regeneration.",
                must(prometheus::exponential_buckets(1e-3, 2.0, 16)),
            ),
            latency_seconds: histogram(
                "generation_latency_seconds",
                "From a product's arrival at the stage to its generated records handed to the producer.",
                must(prometheus::exponential_buckets(1e-3, 2.0, 16)),
            ),
            products: counter(
                "generation_products_total",
                "Products through the generation stage, by outcome.",
                &["outcome"],
            ),
            generated: counter(
                "generation_records_total",
                "Synthetic records emitted, by kind.",
                &["kind"],
            ),
            rejected: counter(
                "generation_rejected_total",
                "Generated records dropped by a gate, by kind and reason.",
                &["kind", "reason"],
            ),
            skipped: counter(
                "generation_skipped_total",
                "Synthetic records not generated because no loaded model applies, by kind and reason (out_of_domain: no review model declares the product's domain).",
                &["kind", "reason"],
            ),
            shortfall: counter(
                "generation_shortfall_total",
                "Records still rejected after the last regeneration round, by kind.",
                &["kind"],
            ),
            model_info: info(
                "generation_model_info",
                "The models in use; always 1.",
                &["model", "version"],
            ),
            device_info: info(
                "generation_device_info",
                "The device inference runs on; always 1.",
                &["device"],
            ),
            reloads: counter(
                "generation_reloads_total",
                "Model reloads, by result.",
                &["result"],
            ),
            cold_products: gauge(
                "generation_cold_products",
                "Products tracked for top-up rounds (generated for, still short of real interactions).",
            ),
            cold_events: counter(
                "generation_cold_total",
                "Top-up bookkeeping: rounds submitted, products leaving the catalogue (warmed, exhausted, evicted), enriched records that did not decode.",
                &["event"],
            ),
            shopper_records: counter(
                "generation_shopper_records_total",
                "Records the transfer generator's shopper index read, by kind (interaction, synthetic: skipped, product, undecodable).",
                &["kind"],
            ),
            shopper_users: gauge(
                "generation_shopper_users",
                "Users the transfer generator can draw from.",
            ),
            shopper_items: gauge(
                "generation_shopper_items",
                "Items the transfer generator's shopper index knows (content or shoppers).",
            ),
            shoppers_restored: gauge(
                "generation_shoppers_restored",
                "1 once the shopper index has read the topics up to where they ended at start (or gave up waiting); new products wait for it.",
            ),
        };
        // The series the alerts and the dashboard query exist from the start, at 0: a rate over
        // a counter that appears only at its first increment misses that increment, and a rule
        // over a series that does not exist yet cannot be told from one with a wrong name.
        for kind in ["review", "behavior"] {
            m.generated.with_label_values(&[kind]);
            m.shortfall.with_label_values(&[kind]);
        }
        for reason in super::gates::REVIEW_REASONS {
            m.rejected.with_label_values(&["review", reason]);
        }
        m
    }

    pub fn queue(&self, depth: usize, capacity: usize) {
        self.queue_depth.set(depth as i64);
        self.queue_capacity.set(capacity as i64);
    }
    pub fn paused(&self, paused: bool) {
        self.paused.set(paused as i64);
    }
    pub fn batch(&self, size: usize, seconds: f64) {
        self.batch_size.observe(size as f64);
        self.batch_seconds.observe(seconds);
    }
    pub fn latency(&self, seconds: f64) {
        self.latency_seconds.observe(seconds);
    }
    pub fn product(&self, outcome: &str) {
        self.products.with_label_values(&[outcome]).inc();
    }
    pub fn generated(&self, kind: &str, n: usize) {
        self.generated.with_label_values(&[kind]).inc_by(n as u64);
    }
    pub fn rejected(&self, kind: &str, reason: &str, n: u32) {
        self.rejected
            .with_label_values(&[kind, reason])
            .inc_by(n as u64);
    }
    pub fn skipped(&self, kind: &str, reason: &str, n: u32) {
        self.skipped
            .with_label_values(&[kind, reason])
            .inc_by(n as u64);
    }
    pub fn shortfall(&self, kind: &str, n: usize) {
        self.shortfall.with_label_values(&[kind]).inc_by(n as u64);
    }
    /// The models now in use; the previous versions' series are removed.
    pub fn models(&self, versions: &super::engine::Versions) {
        self.model_info.reset();
        self.model_info
            .with_label_values(&["reviews", &versions.reviews])
            .set(1);
        self.model_info
            .with_label_values(&["behavior", &versions.behavior])
            .set(1);
    }
    pub fn device(&self, device: &str) {
        self.device_info.reset();
        self.device_info.with_label_values(&[device]).set(1);
    }
    pub fn reload(&self, ok: bool) {
        self.reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    pub fn shopper_record(&self, kind: &str) {
        self.shopper_records.with_label_values(&[kind]).inc();
    }
    pub fn shoppers(&self, users: usize, items: usize) {
        self.shopper_users.set(users as i64);
        self.shopper_items.set(items as i64);
    }
    pub fn shoppers_restored(&self) {
        self.shoppers_restored.set(1);
    }

    pub fn cold_undecodable(&self) {
        self.cold_events.with_label_values(&["undecodable"]).inc();
    }
    /// The cold catalogue's size, and what happened since the last call.
    pub fn cold(&self, tracked: usize, rounds: usize, delta: super::cold::Counts) {
        self.cold_products.set(tracked as i64);
        for (event, n) in [
            ("round", rounds as u64),
            ("warmed", delta.warmed),
            ("exhausted", delta.exhausted),
            ("evicted", delta.evicted),
        ] {
            if n > 0 {
                self.cold_events.with_label_values(&[event]).inc_by(n);
            }
        }
    }
}
