//! The `[recommender]` section: the online recommender service (`warmstart recommender`), which
//! reads the pipeline's enriched and accepted-product topics in its own consumer group and
//! serves top-K over HTTP. Every field has a default, so a topology without the section runs the
//! recommender as before.

use super::{invalid, TopologyError};
use crate::recommend::online::OnlineConfig;
use serde::Deserialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecommenderConfig {
    /// Its consumer group, apart from the pipeline's: it learns from the pipeline's outputs.
    #[serde(default = "default_group")]
    pub group_id: String,
    /// `/v1/recommendations/{user}`, `/v1/items/{item}/similar`, `/metrics`, `/healthz` and
    /// `/readyz`; loopback by default.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Keep the model and its input offsets in this file (restored at start, written every
    /// `snapshot_interval_s` and at shutdown). Without it the group's committed offsets are used.
    #[serde(default)]
    pub snapshot: Option<PathBuf>,
    #[serde(default = "default_snapshot_interval")]
    pub snapshot_interval_s: u64,
    /// How often applied offsets are committed when there is no snapshot.
    #[serde(default = "default_commit_interval")]
    pub commit_interval_ms: u64,
    /// The online model (matrix factorisation, content tower and content match).
    #[serde(default)]
    pub model: OnlineConfig,
}

fn default_group() -> String {
    "warmstart-recommender".into()
}
fn default_listen() -> String {
    "127.0.0.1:8080".into()
}
fn default_snapshot_interval() -> u64 {
    30
}
fn default_commit_interval() -> u64 {
    1000
}

impl Default for RecommenderConfig {
    fn default() -> Self {
        RecommenderConfig {
            group_id: default_group(),
            listen: default_listen(),
            snapshot: None,
            snapshot_interval_s: default_snapshot_interval(),
            commit_interval_ms: default_commit_interval(),
            model: OnlineConfig::default(),
        }
    }
}

impl RecommenderConfig {
    /// Field names are relative to `recommender.`.
    pub(super) fn validate(&self) -> Result<(), TopologyError> {
        let field = |f: &str| format!("recommender.{f}");
        if self.group_id.trim().is_empty() {
            return Err(invalid(field("group_id"), "must not be empty"));
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                field("listen"),
                format!("`{}` is not an address:port", self.listen),
            ));
        }
        if self.snapshot_interval_s == 0 {
            return Err(invalid(field("snapshot_interval_s"), "must be at least 1"));
        }
        if self.commit_interval_ms < 10 {
            return Err(invalid(field("commit_interval_ms"), "must be at least 10"));
        }
        let m = &self.model;
        let positive = |v: f32| v.is_finite() && v > 0.0;
        let non_negative = |v: f32| v.is_finite() && v >= 0.0;
        let checks: [(&str, bool, &str); 8] = [
            (
                "model.bpr.dim",
                (1..=1024).contains(&m.bpr.dim),
                "must be 1 to 1024",
            ),
            (
                "model.bpr.learning_rate",
                positive(m.bpr.learning_rate),
                "must be above 0",
            ),
            (
                "model.bpr.regularization",
                non_negative(m.bpr.regularization),
                "must be 0 or more",
            ),
            (
                "model.bpr.init_std",
                positive(m.bpr.init_std),
                "must be above 0",
            ),
            (
                "model.synthetic_weight",
                non_negative(m.synthetic_weight),
                "must be 0 or more",
            ),
            (
                "model.synthetic_half_life",
                positive(m.synthetic_half_life),
                "must be above 0",
            ),
            (
                "model.popularity_decay",
                m.popularity_decay.is_finite() && (0.0..1.0).contains(&m.popularity_decay),
                "must be at least 0 and below 1",
            ),
            (
                "model.content_weight",
                non_negative(m.content_weight),
                "must be 0 or more",
            ),
        ];
        if let Some((f, _, reason)) = checks.iter().find(|(_, ok, _)| !ok) {
            return Err(invalid(field(f), *reason));
        }
        if m.refresh_every == 0 {
            return Err(invalid(field("model.refresh_every"), "must be at least 1"));
        }
        Ok(())
    }
}
