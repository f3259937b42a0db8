//! The HTTP side: top-K for a user, similar items for an item, and the health, readiness and
//! metrics endpoints. Handlers take the model's read lock only for the query itself.

use super::metrics::ServiceMetrics;
use crate::recommend::online::{Online, OnlineConfig};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// The largest `k` a request may ask for.
pub const MAX_K: usize = 200;

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

/// A fresh service state.
pub fn state(config: OnlineConfig) -> AppState {
    AppState {
        model: Arc::new(RwLock::new(Online::new(config))),
        metrics: ServiceMetrics::new(),
    }
}
