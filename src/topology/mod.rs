//! The pipeline config (`topologies/*.toml`): which topics to read and write, which stages run in
//! which order, and the Kafka client settings.
//!
//! Every struct has defaults and rejects unknown fields, so that a typo fails at start with the
//! name of the field rather than being ignored; [`Topology::validate`] adds the checks that serde
//! cannot express and names the offending field the same way.

pub mod generation;
pub mod recommender;
mod stages;

pub use stages::{DecodeConfig, DedupConfig, EnrichConfig, StageConfig, Weights};

use crate::codec::Format;
use crate::events::EventType;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("cannot read topology {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("topology {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("topology field `{field}`: {reason}")]
    Invalid { field: String, reason: String },
    #[error("schema file {path}: {source}")]
    SchemaFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Schema(#[from] crate::codec::RegistryError),
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> TopologyError {
    TopologyError::Invalid {
        field: field.into(),
        reason: reason.into(),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    #[serde(default = "default_name")]
    pub name: String,
    #[serde(default)]
    pub kafka: KafkaConfig,
    /// Input topics by a name of your choice.
    pub inputs: BTreeMap<String, InputConfig>,
    pub outputs: OutputsConfig,
    pub stages: Vec<StageConfig>,
    /// Extra writer schemas for the Confluent wire format (older versions, other producers).
    #[serde(default)]
    pub schemas: Vec<SchemaConfig>,
    #[serde(default)]
    pub runtime: RuntimeConfig,
    #[serde(default)]
    pub http: HttpConfig,
    /// The generation stage (synthetic reviews and behaviour for new products); absent: off.
    #[serde(default)]
    pub generation: Option<generation::GenerationConfig>,
    /// The online recommender service (`warmstart recommender`).
    #[serde(default)]
    pub recommender: recommender::RecommenderConfig,
    /// A schema-registry server for the Confluent format; absent: the built-in ids.
    #[serde(default)]
    pub schema_registry: Option<RegistryConfig>,
}

pub use crate::codec::remote::RegistryConfig;

fn default_name() -> String {
    "default".into()
}

/// librdkafka settings, passed through untouched (SASL/SSL included). `common` applies to both
/// clients, `consumer` and `producer` override it for one of them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    #[serde(default = "default_brokers")]
    pub bootstrap_servers: String,
    #[serde(default = "default_group")]
    pub group_id: String,
    #[serde(default)]
    pub common: BTreeMap<String, String>,
    #[serde(default)]
    pub consumer: BTreeMap<String, String>,
    #[serde(default)]
    pub producer: BTreeMap<String, String>,
    /// Create missing topics at start with this many partitions (0: do not create).
    #[serde(default = "default_partitions")]
    pub create_topics_partitions: i32,
    /// Replication factor of the topics created at start.
    #[serde(default = "default_replication")]
    pub create_topics_replication: i32,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            bootstrap_servers: default_brokers(),
            group_id: default_group(),
            common: BTreeMap::new(),
            consumer: BTreeMap::new(),
            producer: BTreeMap::new(),
            create_topics_partitions: default_partitions(),
            create_topics_replication: default_replication(),
        }
    }
}

fn default_brokers() -> String {
    "127.0.0.1:9092".into()
}
fn default_group() -> String {
    "warmstart-pipeline".into()
}
fn default_partitions() -> i32 {
    4
}
fn default_replication() -> i32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputConfig {
    pub topic: String,
    /// The event type the topic carries: `behavior` or `product`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    #[serde(default)]
    pub format: Format,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    pub topic: String,
    #[serde(default)]
    pub format: Format,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputsConfig {
    /// Real (and later synthetic) interactions for the recommender, keyed by user_id.
    pub enriched: OutputConfig,
    /// Accepted product events, keyed by item_id.
    pub products: OutputConfig,
    /// Rejected input with the reason, keyed by the original key.
    pub dead_letter: OutputConfig,
    /// Generated reviews, keyed by item_id (needed with `[generation]`).
    #[serde(default)]
    pub synthetic_reviews: Option<OutputConfig>,
    /// Generated behaviour, keyed by user_id (needed with `[generation]`).
    #[serde(default)]
    pub synthetic_behavior: Option<OutputConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemaConfig {
    pub id: u32,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// Path of the .avsc file, relative to the topology file.
    pub file: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    /// `at_least_once` (offsets committed after the outputs are acknowledged) or `exactly_once`
    /// (outputs and offsets in one Kafka transaction; see `delivery::transaction`).
    #[serde(default)]
    pub delivery: Delivery,
    /// The producer's `transactional.id` with `exactly_once`: stable across restarts of one
    /// instance, distinct between instances. Default: `{group_id}-{hostname}`.
    #[serde(default)]
    pub transactional_id: Option<String>,
    /// How often acknowledged offsets are committed (with `exactly_once`: how often the
    /// transaction is committed, which is also when its outputs become visible).
    #[serde(default = "default_commit_interval")]
    pub commit_interval_ms: u64,
    /// Output records sent but not yet acknowledged before consumption pauses.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Threads that decode, run the stages and encode, each owning a fixed share of the input
    /// partitions (so each partition stays in order). 1: all of it on the consuming task, the
    /// shape before workers; 0 (the default): one per CPU core.
    #[serde(default)]
    pub workers: usize,
    /// How long shutdown waits for the producer to deliver what it holds.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_ms: u64,
    /// Dead letters keep at most this many bytes of the original payload.
    #[serde(default = "default_dl_payload")]
    pub dead_letter_max_payload_bytes: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    #[default]
    AtLeastOnce,
    ExactlyOnce,
}

impl RuntimeConfig {
    /// `workers`, with 0 resolved to the number of CPU cores.
    pub fn worker_threads(&self) -> usize {
        match self.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        }
    }

    /// The `transactional.id` an exactly-once pipeline of group `group_id` uses.
    pub fn transactional_id(&self, group_id: &str) -> String {
        self.transactional_id.clone().unwrap_or_else(|| {
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .ok()
                .or_else(|| std::env::var("HOSTNAME").ok())
                .unwrap_or_else(|| "localhost".into());
            format!("{group_id}-{}", host.trim())
        })
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            delivery: Delivery::default(),
            transactional_id: None,
            commit_interval_ms: default_commit_interval(),
            max_in_flight: default_max_in_flight(),
            workers: 0,
            drain_timeout_ms: default_drain_timeout(),
            dead_letter_max_payload_bytes: default_dl_payload(),
        }
    }
}

fn default_commit_interval() -> u64 {
    1000
}
fn default_max_in_flight() -> usize {
    200_000
}
fn default_drain_timeout() -> u64 {
    30_000
}
fn default_dl_payload() -> usize {
    256 * 1024
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `/metrics`, `/healthz`, `/readyz`; loopback by default, empty to disable.
    #[serde(default = "default_listen")]
    pub listen: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_listen(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:9464".into()
}

impl Topology {
    /// The built-in schemas plus the topology's extra writer schemas (`[[schemas]]`).
    pub fn schema_registry(&self) -> Result<crate::codec::SchemaRegistry, TopologyError> {
        let mut registry = crate::codec::SchemaRegistry::builtin();
        for s in &self.schemas {
            let text =
                std::fs::read_to_string(&s.file).map_err(|source| TopologyError::SchemaFile {
                    path: s.file.clone(),
                    source,
                })?;
            registry.register(s.id, s.event_type, &text)?;
        }
        Ok(registry)
    }

    /// Topic, event type and format of each input.
    pub fn input_topics(&self) -> Vec<(String, EventType, crate::codec::Format)> {
        self.inputs
            .values()
            .map(|i| (i.topic.clone(), i.event_type, i.format))
            .collect()
    }

    /// The pipeline's enriched and accepted-product outputs (topic, event type, format): what
    /// the recommender and the generation stage read.
    pub fn served_topics(&self) -> Vec<(String, EventType, crate::codec::Format)> {
        let o = &self.outputs;
        vec![
            (
                o.enriched.topic.clone(),
                EventType::Enriched,
                o.enriched.format,
            ),
            (
                o.products.topic.clone(),
                EventType::Product,
                o.products.format,
            ),
        ]
    }

    /// Topic, event type and format of each output the topology names.
    pub fn output_topics(&self) -> Vec<(String, EventType, crate::codec::Format)> {
        let o = &self.outputs;
        [
            (Some(&o.enriched), EventType::Enriched),
            (Some(&o.products), EventType::Product),
            (Some(&o.dead_letter), EventType::DeadLetter),
            (o.synthetic_reviews.as_ref(), EventType::SyntheticReview),
            (o.synthetic_behavior.as_ref(), EventType::SyntheticBehavior),
        ]
        .into_iter()
        .filter_map(|(c, ty)| c.map(|c| (c.topic.clone(), ty, c.format)))
        .collect()
    }

    pub fn load(path: &Path) -> Result<Self, TopologyError> {
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut topology = Self::parse(&text).map_err(|e| match e {
            TopologyError::Parse { source, .. } => TopologyError::Parse {
                path: path.to_owned(),
                source,
            },
            other => other,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        for schema in &mut topology.schemas {
            if schema.file.is_relative() {
                schema.file = base.join(&schema.file);
            }
        }
        if let Some(ca) = topology
            .schema_registry
            .as_mut()
            .and_then(|r| r.ca_location.as_mut())
        {
            if ca.is_relative() {
                *ca = base.join(&*ca);
            }
        }
        if let Some(snapshot) = &mut topology.recommender.snapshot {
            if snapshot.is_relative() {
                *snapshot = base.join(&*snapshot);
            }
        }
        if let Some(g) = &mut topology.generation {
            for dir in [&mut g.reviews_model, &mut g.behavior_model]
                .into_iter()
                .flatten()
                .chain(g.reviews_models.iter_mut().flatten())
            {
                if dir.is_relative() {
                    *dir = base.join(&*dir);
                }
            }
        }
        Ok(topology)
    }

    pub fn parse(text: &str) -> Result<Self, TopologyError> {
        let topology: Topology = toml::from_str(text).map_err(|e| TopologyError::Parse {
            path: PathBuf::from("<string>"),
            source: Box::new(e),
        })?;
        topology.validate()?;
        Ok(topology)
    }

    /// Checks that serde cannot express. Each error names the field.
    pub fn validate(&self) -> Result<(), TopologyError> {
        if self.kafka.bootstrap_servers.trim().is_empty() {
            return Err(invalid("kafka.bootstrap_servers", "must not be empty"));
        }
        if self.kafka.group_id.trim().is_empty() {
            return Err(invalid("kafka.group_id", "must not be empty"));
        }
        if self.kafka.create_topics_partitions < 0 {
            return Err(invalid(
                "kafka.create_topics_partitions",
                "must be 0 (do not create) or more",
            ));
        }
        if self.kafka.create_topics_replication < 1 {
            return Err(invalid(
                "kafka.create_topics_replication",
                "must be at least 1",
            ));
        }
        if self.inputs.is_empty() {
            return Err(invalid("inputs", "at least one input topic is needed"));
        }
        let mut seen = std::collections::HashSet::new();
        for (name, input) in &self.inputs {
            let field = format!("inputs.{name}");
            check_topic(&format!("{field}.topic"), &input.topic)?;
            if !matches!(input.event_type, EventType::Behavior | EventType::Product) {
                return Err(invalid(
                    format!("{field}.type"),
                    format!(
                        "inputs carry `behavior` or `product`, not `{}`",
                        input.event_type.as_str()
                    ),
                ));
            }
            if !seen.insert(input.topic.as_str()) {
                return Err(invalid(
                    format!("{field}.topic"),
                    format!("topic `{}` is read twice", input.topic),
                ));
            }
        }
        let o = &self.outputs;
        let mut outputs = vec![
            ("outputs.enriched", &o.enriched),
            ("outputs.products", &o.products),
            ("outputs.dead_letter", &o.dead_letter),
        ];
        if let Some(r) = &o.synthetic_reviews {
            outputs.push(("outputs.synthetic_reviews", r));
        }
        if let Some(b) = &o.synthetic_behavior {
            outputs.push(("outputs.synthetic_behavior", b));
        }
        for (field, out) in outputs {
            check_topic(&format!("{field}.topic"), &out.topic)?;
            if seen.contains(out.topic.as_str()) {
                return Err(invalid(
                    format!("{field}.topic"),
                    format!(
                        "`{}` is also an input: the pipeline would read its own output",
                        out.topic
                    ),
                ));
            }
        }
        stages::validate(&self.stages)?;
        self.recommender.validate()?;
        if let Some(r) = &self.schema_registry {
            if !self.schemas.is_empty() {
                return Err(invalid(
                    "schemas",
                    "with [schema_registry] the writer schemas and their ids come from the registry; remove [[schemas]]",
                ));
            }
            r.validate().map_err(|e| match e.split_once(": ") {
                Some((field, reason)) => invalid(field, reason),
                None => invalid("schema_registry", e.as_str()),
            })?;
        }
        if let Some(g) = &self.generation {
            g.validate()?;
            // Each kind of synthetic record needs its topic only when the stage writes it.
            for (field, out, writes) in [
                (
                    "outputs.synthetic_reviews",
                    &o.synthetic_reviews,
                    g.reviews_per_product > 0,
                ),
                (
                    "outputs.synthetic_behavior",
                    &o.synthetic_behavior,
                    g.users_per_product > 0,
                ),
            ] {
                if writes && out.is_none() {
                    return Err(invalid(
                        field,
                        "the [generation] stage needs this output topic",
                    ));
                }
            }
        }
        for (i, schema) in self.schemas.iter().enumerate() {
            if (1..=6).contains(&schema.id) {
                return Err(invalid(
                    format!("schemas[{i}].id"),
                    "ids 1-6 are the built-in schemas",
                ));
            }
        }
        if self.runtime.commit_interval_ms == 0 {
            return Err(invalid("runtime.commit_interval_ms", "must be at least 1"));
        }
        if self.runtime.dead_letter_max_payload_bytes > 512 * 1024 {
            return Err(invalid(
                "runtime.dead_letter_max_payload_bytes",
                "at most 524288: with base64 and the envelope a dead letter must stay under the producer's 1 MB message limit",
            ));
        }
        if self
            .runtime
            .transactional_id
            .as_ref()
            .is_some_and(|t| t.trim().is_empty())
        {
            return Err(invalid("runtime.transactional_id", "must not be empty"));
        }
        if self.runtime.workers > 64 {
            return Err(invalid("runtime.workers", "must be 0 (one per core) to 64"));
        }
        if self.runtime.max_in_flight == 0 {
            return Err(invalid("runtime.max_in_flight", "must be at least 1"));
        }
        if !self.http.listen.is_empty() && self.http.listen.parse::<std::net::SocketAddr>().is_err()
        {
            return Err(invalid(
                "http.listen",
                format!("`{}` is not an address:port", self.http.listen),
            ));
        }
        Ok(())
    }
}

fn check_topic(field: &str, topic: &str) -> Result<(), TopologyError> {
    let legal = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if topic.is_empty() || topic.len() > 249 || !topic.chars().all(legal) {
        return Err(invalid(
            field,
            format!("`{topic}` is not a legal Kafka topic name"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
