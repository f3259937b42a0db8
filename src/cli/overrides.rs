//! Command-line overrides of topology fields, applied in one place and followed by validation
//! for every command, so that a flag can never bring in a value the topology file would have
//! been refused for.

use crate::topology::Topology;
use anyhow::Context;
use std::path::{Path, PathBuf};

/// Every field a flag can override; `None` keeps the topology's value.
#[derive(Debug, Default)]
pub struct Overrides {
    /// `kafka.bootstrap_servers`
    pub bootstrap_servers: Option<String>,
    /// `kafka.group_id`
    pub group_id: Option<String>,
    /// `http.listen` (empty: no HTTP server)
    pub http_listen: Option<String>,
    /// `runtime.transactional_id`
    pub transactional_id: Option<String>,
    /// `recommender.group_id`
    pub recommender_group_id: Option<String>,
    /// `recommender.listen`
    pub recommender_listen: Option<String>,
    /// `recommender.snapshot`
    pub snapshot: Option<PathBuf>,
    /// `recommender.snapshot_interval_s`
    pub snapshot_interval_s: Option<u64>,
}

impl Overrides {
    pub fn apply(self, t: &mut Topology) {
        let set = |field: &mut String, v: Option<String>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        set(&mut t.kafka.bootstrap_servers, self.bootstrap_servers);
        set(&mut t.kafka.group_id, self.group_id);
        set(&mut t.http.listen, self.http_listen);
        if self.transactional_id.is_some() {
            t.runtime.transactional_id = self.transactional_id;
        }
        set(&mut t.recommender.group_id, self.recommender_group_id);
        set(&mut t.recommender.listen, self.recommender_listen);
        if self.snapshot.is_some() {
            t.recommender.snapshot = self.snapshot;
        }
        if let Some(s) = self.snapshot_interval_s {
            t.recommender.snapshot_interval_s = s;
        }
    }
}

/// Loads the topology at `path`, applies `overrides` and validates the result.
pub fn load(path: &Path, overrides: Overrides) -> anyhow::Result<Topology> {
    let mut t =
        Topology::load(path).with_context(|| format!("invalid topology {}", path.display()))?;
    overrides.apply(&mut t);
    t.validate().with_context(|| {
        format!(
            "invalid topology {} after the command-line overrides",
            path.display()
        )
    })?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_override_is_validated_like_the_file() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/default.toml");
        let bad = Overrides {
            recommender_listen: Some("nowhere".into()),
            ..Default::default()
        };
        let err = format!("{:#}", load(&path, bad).unwrap_err());
        assert!(err.contains("recommender.listen"), "{err}");
        let good = Overrides {
            bootstrap_servers: Some("10.0.0.1:9092".into()),
            snapshot_interval_s: Some(5),
            ..Default::default()
        };
        let t = load(&path, good).unwrap();
        assert_eq!(t.kafka.bootstrap_servers, "10.0.0.1:9092");
        assert_eq!(t.recommender.snapshot_interval_s, 5);
    }
}
