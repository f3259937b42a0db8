//! The recommender's metrics, in their own registry (prefix `warmstart_recommender_`): events
//! applied and rejected, update and request latency, model size, freshness and readiness.

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};

#[derive(Clone)]
pub struct ServiceMetrics {
    pub registry: Registry,
    pub(super) applied: IntCounterVec,
    pub(super) rejected: IntCounterVec,
    pub(super) update_seconds: Histogram,
    pub(super) request_seconds: HistogramVec,
    pub(super) users: IntGauge,
    pub(super) items: IntGauge,
    pub(super) freshness_ms: IntGauge,
    pub(super) ready: IntGauge,
}

fn must<T>(r: prometheus::Result<T>) -> T {
    r.expect("metric definition is valid")
}

impl ServiceMetrics {
    pub fn new() -> Self {
        let registry =
            Registry::new_custom(Some("warmstart_recommender".into()), None).expect("valid prefix");
        let applied = must(IntCounterVec::new(
            Opts::new(
                "events_applied_total",
                "Events applied to the model, by origin.",
            ),
            &["origin"],
        ));
        let rejected = must(IntCounterVec::new(
            Opts::new(
                "events_rejected_total",
                "Records that did not decode, by topic.",
            ),
            &["topic"],
        ));
        let update_seconds = must(Histogram::with_opts(
            HistogramOpts::new(
                "update_duration_seconds",
                "Time to apply one event to the model.",
            )
            .buckets(prometheus::exponential_buckets(1e-7, 4.0, 12).expect("valid buckets")),
        ));
        let request_seconds = must(HistogramVec::new(
            HistogramOpts::new(
                "request_duration_seconds",
                "HTTP request latency, by endpoint.",
            )
            .buckets(prometheus::exponential_buckets(1e-5, 3.0, 12).expect("valid buckets")),
            &["endpoint"],
        ));
        let users = must(IntGauge::new("users", "Users in the model."));
        let items = must(IntGauge::new("items", "Items in the model."));
        let freshness_ms = must(IntGauge::new(
            "freshness_ms",
            "Wall clock minus the timestamp of the newest applied event.",
        ));
        let ready = must(IntGauge::new(
            "ready",
            "1 once the consumer has an assignment.",
        ));
        for c in [
            Box::new(applied.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rejected.clone()),
            Box::new(update_seconds.clone()),
            Box::new(request_seconds.clone()),
            Box::new(users.clone()),
            Box::new(items.clone()),
            Box::new(freshness_ms.clone()),
            Box::new(ready.clone()),
        ] {
            must(registry.register(c));
        }
        ServiceMetrics {
            registry,
            applied,
            rejected,
            update_seconds,
            request_seconds,
            users,
            items,
            freshness_ms,
            ready,
        }
    }

    pub(super) fn render(&self) -> String {
        use prometheus::Encoder;
        let mut buf = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for ServiceMetrics {
    fn default() -> Self {
        Self::new()
    }
}
