//! `warmstart recommender`: the online model fed from Kafka, served over HTTP.
//!
//! One task consumes the enriched and accepted-product topics (its own consumer group) and
//! applies each event to the model under a write lock taken once per batch of fetched records;
//! the HTTP handlers take read locks. Offsets are committed after the events are applied (at
//! least once: a restart re-applies at most the records since the last commit).

use super::online::{Online, OnlineConfig};
use crate::events::{EnrichedEvent, Origin, ProductEvent};
use crate::kafka::consumer_config;
use crate::topology::Topology;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, Opts, Registry};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::Message;
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The largest `k` a request may ask for.
pub const MAX_K: usize = 200;

#[derive(Clone)]
pub struct ServiceMetrics {
    pub registry: Registry,
    applied: IntCounterVec,
    rejected: IntCounterVec,
    update_seconds: Histogram,
    request_seconds: HistogramVec,
    users: IntGauge,
    items: IntGauge,
    freshness_ms: IntGauge,
    ready: IntGauge,
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

    fn render(&self) -> String {
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

#[derive(Clone)]
pub struct AppState {
    pub model: Arc<RwLock<Online>>,
    pub metrics: ServiceMetrics,
}

#[derive(serde::Deserialize)]
pub struct KParam {
    k: Option<usize>,
}

#[derive(serde::Serialize)]
struct Scored {
    item_id: String,
    score: f32,
}

fn bad_request(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": msg })),
    )
        .into_response()
}

// The error is the HTTP answer itself, built only for a bad request.
#[allow(clippy::result_large_err)]
fn check(id: &str, k: Option<usize>) -> Result<usize, Response> {
    if id.is_empty() || id.len() > 256 {
        return Err(bad_request("ids are 1 to 256 bytes".into()));
    }
    match k.unwrap_or(20) {
        k @ 1..=MAX_K => Ok(k),
        k => Err(bad_request(format!(
            "k must be between 1 and {MAX_K}, got {k}"
        ))),
    }
}

/// Validates the request, runs `query` under the model's read lock, records the latency under
/// `endpoint`, and renders `{ <id_field>: id, items: [...] }`, or 404 when `query` finds nothing.
fn top_k_response(
    s: &AppState,
    endpoint: &str,
    id_field: &str,
    id: String,
    k: Option<usize>,
    query: impl FnOnce(&Online, &str, usize) -> Option<Vec<(String, f32)>>,
) -> Response {
    let started = Instant::now();
    let k = match check(&id, k) {
        Ok(k) => k,
        Err(r) => return r,
    };
    let found = s.model.read().ok().and_then(|m| query(&m, &id, k));
    s.metrics
        .request_seconds
        .with_label_values(&[endpoint])
        .observe(started.elapsed().as_secs_f64());
    match found {
        Some(items) => {
            let body: Vec<Scored> = items
                .into_iter()
                .map(|(item_id, score)| Scored { item_id, score })
                .collect();
            Json(serde_json::json!({ id_field: id, "items": body })).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({ "error": format!("unknown {id_field} {id}") })),
        )
            .into_response(),
    }
}

async fn recommendations(
    State(s): State<AppState>,
    Path(user): Path<String>,
    Query(q): Query<KParam>,
) -> Response {
    // Unknown users get popular and fresh items: never a 404.
    top_k_response(&s, "recommendations", "user_id", user, q.k, |m, u, k| {
        Some(m.recommend(u, k))
    })
}

async fn similar(
    State(s): State<AppState>,
    Path(item): Path<String>,
    Query(q): Query<KParam>,
) -> Response {
    top_k_response(&s, "similar", "item_id", item, q.k, |m, i, k| {
        m.similar(i, k)
    })
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/recommendations/{user_id}", get(recommendations))
        .route("/v1/items/{item_id}/similar", get(similar))
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(|State(s): State<AppState>| async move {
                if s.metrics.ready.get() == 1 {
                    (StatusCode::OK, "ready\n")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
                }
            }),
        )
        .route(
            "/metrics",
            get(|State(s): State<AppState>| async move { s.metrics.render() }),
        )
        .with_state(state)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("Kafka: {0}")]
    Kafka(#[from] rdkafka::error::KafkaError),
    #[error(transparent)]
    Snapshot(#[from] super::snapshot::SnapshotError),
}

/// Where and how often the model is snapshotted.
pub struct SnapshotPolicy {
    pub path: std::path::PathBuf,
    pub interval: Duration,
}

/// Consumes the topology's enriched and accepted-product topics (JSON) into the model until
/// `shutdown` resolves.
///
/// Without a snapshot policy the consumer joins `group_id` and commits its position (at least
/// once). With one, the state lives in the snapshot: the model is restored from it, every
/// partition is assigned at the offset stored with the model, and snapshots are written every
/// interval and at shutdown, so a restart neither loses nor repeats an event.
pub async fn consume(
    topology: &Topology,
    group_id: &str,
    state: AppState,
    snapshots: Option<SnapshotPolicy>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), ServiceError> {
    use super::snapshot;
    use rdkafka::{Offset, TopicPartitionList};
    let mut k = topology.kafka.clone();
    k.group_id = group_id.to_owned();
    let consumer: StreamConsumer = consumer_config(&k).create()?;
    let enriched = topology.outputs.enriched.topic.clone();
    let products = topology.outputs.products.topic.clone();
    let mut offsets = snapshot::Offsets::new();
    match &snapshots {
        None => consumer.subscribe(&[&enriched, &products])?,
        Some(policy) => {
            if let Some(snap) = snapshot::load(&policy.path)? {
                tracing::info!(path = %policy.path.display(), "model restored from snapshot");
                offsets = snap.offsets;
                *state.model.write().unwrap_or_else(|p| p.into_inner()) = snap.model;
            }
            let mut tpl = TopicPartitionList::new();
            for topic in [&enriched, &products] {
                let md = consumer.fetch_metadata(Some(topic), Duration::from_secs(30))?;
                for p in md.topics().iter().flat_map(|t| t.partitions()) {
                    let at = offsets.get(topic.as_str()).and_then(|o| o.get(&p.id()));
                    tpl.add_partition_offset(
                        topic,
                        p.id(),
                        at.map_or(Offset::Beginning, |&o| Offset::Offset(o)),
                    )?;
                }
            }
            consumer.assign(&tpl)?;
        }
    }
    let mut snapshot_tick = tokio::time::interval(
        snapshots
            .as_ref()
            .map_or(Duration::from_secs(3600), |p| p.interval),
    );
    // Delay, not burst: a snapshot takes a while, and missed ticks firing back to back would
    // starve the consumer (the select below is biased towards ticks).
    snapshot_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    snapshot_tick.tick().await;
    let save = |offsets: &snapshot::Offsets| -> Result<(), ServiceError> {
        if let Some(policy) = &snapshots {
            let model = state.model.read().unwrap_or_else(|p| p.into_inner());
            tokio::task::block_in_place(|| snapshot::save(&policy.path, &model, offsets))?;
        }
        Ok(())
    };
    let mut commit_tick = tokio::time::interval(Duration::from_secs(1));
    commit_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        // Not biased: a busy input must not starve the ticks, nor the ticks the input.
        tokio::select! {
            _ = &mut shutdown => break,
            _ = snapshot_tick.tick() => {
                save(&offsets)?;
                // A full period from the end of the save, however long it took.
                snapshot_tick.reset();
            }
            _ = commit_tick.tick() => {
                if consumer.assignment().map(|a| a.count() > 0).unwrap_or(false) {
                    state.metrics.ready.set(1);
                }
                if snapshots.is_none() {
                    let _ = consumer.commit_consumer_state(CommitMode::Async);
                }
                if let Ok(m) = state.model.read() {
                    state.metrics.users.set(m.users() as i64);
                    state.metrics.items.set(m.items() as i64);
                    if m.newest_ts() > 0 {
                        state.metrics.freshness_ms.set(now_ms() - m.newest_ts());
                    }
                }
            }
            msg = consumer.recv() => {
                let m = match msg {
                    Ok(m) => m,
                    Err(e) => { tracing::warn!(error = %e, "consume error"); continue; }
                };
                let payload = m.payload().unwrap_or_default();
                let mut model = match state.model.write() {
                    Ok(g) => g,
                    Err(p) => p.into_inner(),
                };
                let started = Instant::now();
                if m.topic() == products {
                    match serde_json::from_slice::<ProductEvent>(payload) {
                        Ok(p) => { model.apply_product(&p); }
                        Err(_) => state.metrics.rejected.with_label_values(&[&products]).inc(),
                    }
                } else {
                    match serde_json::from_slice::<EnrichedEvent>(payload) {
                        Ok(e) => {
                            model.apply(&e);
                            let origin = if e.origin == Origin::Real { "real" } else { "synthetic" };
                            state.metrics.applied.with_label_values(&[origin]).inc();
                        }
                        Err(_) => state.metrics.rejected.with_label_values(&[&enriched]).inc(),
                    }
                }
                state.metrics.update_seconds.observe(started.elapsed().as_secs_f64());
                state.metrics.ready.set(1);
                // Applied synchronously before the next record is received, so the committed
                // position (or the snapshot's offsets) never runs ahead of the model.
                drop(model);
                offsets.entry(m.topic().to_owned()).or_default().insert(m.partition(), m.offset() + 1);
            }
        }
    }
    if snapshots.is_some() {
        save(&offsets)?;
    } else {
        let _ = consumer.commit_consumer_state(CommitMode::Sync);
    }
    Ok(())
}

/// A fresh service state.
pub fn state(config: OnlineConfig) -> AppState {
    AppState {
        model: Arc::new(RwLock::new(Online::new(config))),
        metrics: ServiceMetrics::new(),
    }
}
