//! Writer schemas from a schema-registry server, fetched before the record that names them is
//! decoded.
//!
//! Decoding is synchronous and runs on worker threads; fetching is I/O. So the consuming task
//! looks at each Confluent-format record's schema id before it hands the record on, and fetches
//! the ids the table does not hold yet. A fetched schema is checked against this build's reader
//! schema once, when it arrives: a schema it cannot read is remembered as refused, and its records
//! become dead letters (`incompatible_schema`) without another request. An id the registry does
//! not have becomes `unknown_schema_id`.
//!
//! An outage is not bad input: while the registry cannot be reached the record waits, the task
//! retries with backoff, `/readyz` is false, and nothing is committed past the record, so a
//! shutdown in the middle of it loses nothing (the record is read again after a restart).

use crate::codec::remote::{RegistryClient, RegistryConfig, RemoteError};
use crate::codec::{wire_schema_id, Format, Lookup, SchemaRegistry};
use crate::events::EventType;
use crate::observe::Metrics;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long an id the registry did not have is not asked for again: a record that names it is a
/// dead letter meanwhile, and a flood of such records costs one request per window.
const NOT_FOUND_TTL: Duration = Duration::from_secs(30);
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

pub struct Resolver {
    table: Arc<SchemaRegistry>,
    client: RegistryClient,
    /// Event type of each Confluent-format input topic: the others need nothing fetched.
    topics: HashMap<String, EventType>,
    not_found: Mutex<HashMap<u32, Instant>>,
    metrics: Metrics,
}

impl Resolver {
    /// `None` without a registry server, or when none of `topics` (topic, event type, format) is
    /// in the Confluent format.
    pub fn new(
        config: Option<&RegistryConfig>,
        table: Arc<SchemaRegistry>,
        topics: impl IntoIterator<Item = (String, EventType, Format)>,
        metrics: &Metrics,
    ) -> Result<Option<Self>, RemoteError> {
        let Some(config) = config else {
            return Ok(None);
        };
        let topics: HashMap<String, EventType> = topics
            .into_iter()
            .filter(|(_, _, f)| *f == Format::Confluent)
            .map(|(t, ty, _)| (t, ty))
            .collect();
        if topics.is_empty() {
            return Ok(None);
        }
        Ok(Some(Resolver {
            table,
            client: RegistryClient::new(config)?,
            topics,
            not_found: Mutex::new(HashMap::new()),
            metrics: metrics.clone(),
        }))
    }

    /// Whether this record's writer schema is still to be fetched.
    pub fn needs_fetch(&self, topic: &str, payload: &[u8]) -> bool {
        let (Some(_), Some(id)) = (self.topics.get(topic), wire_schema_id(payload)) else {
            return false;
        };
        self.table.lookup(id) == Lookup::Unknown && !self.recently_not_found(id)
    }

    /// Makes the table ready for this record: returns false only when `shutdown` resolved while
    /// the registry could not be reached (the record must then not be processed).
    pub async fn prepare(
        &self,
        topic: &str,
        payload: &[u8],
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> bool {
        let (Some(&ty), Some(id)) = (self.topics.get(topic), wire_schema_id(payload)) else {
            return true;
        };
        if self.table.lookup(id) != Lookup::Unknown || self.recently_not_found(id) {
            return true;
        }
        let mut backoff = BACKOFF_START;
        loop {
            match self.client.schema(id).await {
                Ok(found) => {
                    self.metrics.set_registry_reachable(true);
                    self.accept(id, ty, found);
                    return true;
                }
                Err(e) if e.is_retryable() => {
                    self.metrics.registry_request("schema", "unreachable");
                    self.metrics.set_registry_reachable(false);
                    tracing::warn!(error = %e, schema_id = id, retry_in_ms = backoff.as_millis() as u64,
                        "schema registry unreachable; the record waits");
                    tokio::select! {
                        _ = &mut *shutdown => return false,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                }
                Err(e) => {
                    // A 4xx other than 404 (auth, a bad request): the registry answers, so the
                    // process is not stuck, but the schema is not to be had. Counted and
                    // retried after the not-found window like a missing id.
                    self.metrics.registry_request("schema", "refused");
                    self.metrics.set_registry_reachable(true);
                    tracing::error!(error = %e, schema_id = id, "schema registry refused the lookup");
                    self.mark_not_found(id);
                    return true;
                }
            }
        }
    }

    fn accept(&self, id: u32, ty: EventType, found: Option<crate::codec::remote::Fetched>) {
        let Some(f) = found else {
            self.metrics.registry_request("schema", "not_found");
            tracing::warn!(schema_id = id, "schema id unknown to the registry");
            self.mark_not_found(id);
            return;
        };
        self.metrics.registry_request("schema", "ok");
        if f.schema_type != "AVRO" {
            let reason = format!("schema id {id} is a {} schema, not Avro", f.schema_type);
            tracing::error!(schema_id = id, reason, "writer schema refused");
            self.table.refuse(id, reason);
            return;
        }
        match self.table.insert_fetched(id, ty, &f.schema) {
            Ok(()) => tracing::info!(schema_id = id, ty = ty.as_str(), "writer schema fetched"),
            Err(e) => tracing::error!(schema_id = id, error = %e,
                "writer schema refused: its records go to the dead-letter topic"),
        }
    }

    fn recently_not_found(&self, id: u32) -> bool {
        let mut m = self.not_found.lock().expect("not poisoned");
        match m.get(&id) {
            Some(t) if t.elapsed() < NOT_FOUND_TTL => true,
            Some(_) => {
                m.remove(&id);
                false
            }
            None => false,
        }
    }

    fn mark_not_found(&self, id: u32) {
        let mut m = self.not_found.lock().expect("not poisoned");
        // Bounded like the table: ids are u32, a hostile producer could name them all.
        if m.len() >= 10_000 {
            m.retain(|_, t| t.elapsed() < NOT_FOUND_TTL);
        }
        m.insert(id, Instant::now());
    }
}

/// A record the pipeline had taken but will not process (a shutdown while its schema could not be
/// fetched): the consumer goes back to it, so the commit at shutdown does not pass it.
pub fn rewind(rt: &super::Runtime, m: &impl rdkafka::Message) {
    use rdkafka::consumer::Consumer;
    let offset = rdkafka::Offset::Offset(m.offset());
    if let Err(e) = rt
        .consumer()
        .seek(m.topic(), m.partition(), offset, Duration::from_secs(5))
    {
        // Without the seek the commit could pass the record; fail loudly instead.
        tracing::error!(error = %e, topic = m.topic(), partition = m.partition(),
            offset = m.offset(), "could not rewind to an unprocessed record");
    }
}

/// The schema id each output in the Confluent format writes: its schema registered (or looked up)
/// under its subject (`<topic>-value` with the default topic-name strategy). Fails at start, naming the
/// subject, when the registry refuses a schema (incompatible: HTTP 409) or cannot be reached after
/// `start_attempts`. Empty without a registry server: the built-in ids are written.
pub async fn output_ids(
    config: Option<&RegistryConfig>,
    outputs: impl IntoIterator<Item = (String, EventType, Format)>,
    metrics: &Metrics,
) -> Result<HashMap<String, u32>, RemoteError> {
    let mut ids = HashMap::new();
    let Some(config) = config else {
        return Ok(ids);
    };
    let client = RegistryClient::new(config)?;
    for (topic, ty, _) in outputs
        .into_iter()
        .filter(|(_, _, f)| *f == Format::Confluent)
    {
        let subject = config
            .subject_name_strategy
            .subject(&topic, ty.schema_text());
        let mut backoff = BACKOFF_START;
        let mut attempt = 1;
        let id = loop {
            match client.register(&subject, ty.schema_text()).await {
                Ok(id) => {
                    metrics.registry_request("register", "ok");
                    break id;
                }
                Err(e) if e.is_retryable() && attempt < config.start_attempts => {
                    metrics.registry_request("register", "unreachable");
                    tracing::warn!(error = %e, subject, attempt, "registering the output schema");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    attempt += 1;
                }
                Err(e) => {
                    metrics.registry_request("register", "refused");
                    return Err(e);
                }
            }
        };
        tracing::info!(subject, schema_id = id, "output schema registered");
        ids.insert(topic, id);
    }
    Ok(ids)
}

/// What a service needs for the Confluent format with or without a registry server: the table of
/// writer schemas, the resolver of the topics it reads, and the id of each topic it writes.
pub struct Schemas {
    pub table: Arc<SchemaRegistry>,
    pub resolver: Option<Resolver>,
    write_ids: HashMap<String, u32>,
}

impl Schemas {
    /// `reads` and `writes`: (topic, event type, format) of what the service consumes and
    /// produces. With a registry server the output schemas are registered here, so a refusal
    /// stops the service before it consumes anything.
    pub async fn start(
        t: &crate::topology::Topology,
        reads: Vec<(String, EventType, Format)>,
        writes: Vec<(String, EventType, Format)>,
        metrics: &Metrics,
    ) -> Result<Schemas, SchemasError> {
        let mut table = t.schema_registry().map_err(SchemasError::Topology)?;
        let config = t.schema_registry.as_ref();
        if let Some(r) = config {
            table = table.for_server(r.cache_capacity);
        }
        let table = Arc::new(table);
        let resolver = Resolver::new(config, table.clone(), reads, metrics)?;
        let write_ids = output_ids(config, writes, metrics).await?;
        Ok(Schemas {
            table,
            resolver,
            write_ids,
        })
    }

    /// The codec for `topic` in `format`, writing the registry's id for it where it has one.
    pub fn codec(&self, topic: &str, format: Format) -> crate::codec::Codec {
        let codec = crate::codec::Codec::new(format, self.table.clone());
        match self.write_ids.get(topic) {
            Some(&id) => codec.with_write_id(id),
            None => codec,
        }
    }

    /// Whether `payload` on `topic` names a writer schema that must be fetched first (cheap: no
    /// I/O, for callers that hold a lock and must release it before [`Resolver::prepare`]).
    pub fn needs_fetch(&self, topic: &str, payload: &[u8]) -> bool {
        self.resolver
            .as_ref()
            .is_some_and(|r| r.needs_fetch(topic, payload))
    }

    /// [`Resolver::prepare`], or true without a resolver.
    pub async fn prepare(
        &self,
        topic: &str,
        payload: &[u8],
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> bool {
        match &self.resolver {
            None => true,
            Some(r) => r.prepare(topic, payload, shutdown).await,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SchemasError {
    #[error(transparent)]
    Topology(crate::topology::TopologyError),
    #[error(transparent)]
    Registry(#[from] RemoteError),
}
