//! `/metrics`, `/healthz` and `/readyz` over HTTP, plus `POST /admin/reload` when the process
//! runs the generation stage (new model checkpoints without a restart).
//!
//! Liveness says the process serves requests; readiness says it can do its job (broker reachable,
//! partitions assigned), so that an orchestrator routes around an instance that lost its broker.

use super::Metrics;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::future::BoxFuture;
use std::net::SocketAddr;
use std::sync::Arc;

/// What `POST /admin/reload` asks to reload (the generation stage's models). A trait rather than
/// the stage's own handle, so that observability depends on nothing above it.
pub trait Reload: Send + Sync + 'static {
    /// Reloads and answers with what now serves, as JSON, or the reason it failed.
    fn reload(&self) -> BoxFuture<'static, Result<serde_json::Value, String>>;
}

pub type Reloader = Arc<dyn Reload>;

pub fn router(metrics: Metrics, reloader: Option<Reloader>) -> Router {
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(metrics);
    match reloader {
        Some(r) => app.route("/admin/reload", post(reload).with_state(r)),
        None => app,
    }
}

/// Reloads the generation models; answers with the versions now serving, or 500 with the reason
/// (the previous models keep serving).
async fn reload(State(r): State<Reloader>) -> Response {
    match r.reload().await {
        Ok(v) => Json(v).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(serde_json::json!({ "error": e })),
        )
            .into_response(),
    }
}

async fn metrics_text(
    State(m): State<Metrics>,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        m.render(),
    )
}

async fn ready(State(m): State<Metrics>) -> (StatusCode, &'static str) {
    if m.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
    }
}

/// Binds and serves until the task is dropped. Returns the bound address (port 0 picks one).
pub async fn serve(
    listen: &str,
    metrics: Metrics,
    reloader: Option<Reloader>,
) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let app = router(metrics, reloader);
    let handle = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok((addr, handle))
}
