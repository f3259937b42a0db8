//! A client of a Confluent-compatible schema-registry server (Confluent Schema Registry, Apicurio's
//! `ccompat` API, Karapace): writer schemas by id for the readers, ids by subject for the writers.
//!
//! The REST API is small and stable, so this is a thin client on `reqwest` rather than a crate that
//! would decode records itself: decoding stays with the local table (`codec::registry`), which
//! checks every fetched schema against this build's reader schema before a record uses it. What
//! the client must get right is telling the three outcomes apart, because the pipeline acts on
//! them differently: a schema, "no such id" (the record is a dead letter), and "the registry
//! cannot answer" (the pipeline waits and retries; nothing is dead-lettered for an outage).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// `[schema_registry]`: absent, the embedded table of built-in ids is the registry.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryConfig {
    /// Base URL of the Confluent-compatible API, e.g. `http://registry:8081` or Apicurio's
    /// `http://registry:8080/apis/ccompat/v7`.
    pub url: String,
    /// Basic-auth user (Confluent Cloud: the API key).
    #[serde(default)]
    pub username: Option<String>,
    /// Basic-auth password (Confluent Cloud: the API secret). Never logged.
    #[serde(default)]
    pub password: Option<String>,
    /// PEM file of the CA that signs the registry's certificate (default: the system's roots).
    #[serde(default)]
    pub ca_location: Option<PathBuf>,
    /// Per-request timeout.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Writer schemas kept, at most; a record with an id beyond them is fetched again.
    #[serde(default = "default_cache_capacity")]
    pub cache_capacity: usize,
    /// Attempts when registering the outputs' schemas at start before giving up.
    #[serde(default = "default_start_attempts")]
    pub start_attempts: u32,
    /// The subject an output's schema is registered under.
    #[serde(default)]
    pub subject_name_strategy: SubjectNameStrategy,
}

/// Confluent's subject name strategies, by their serializer setting's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubjectNameStrategy {
    /// `<topic>-value` (TopicNameStrategy, the default of the Confluent serializers).
    #[default]
    Topic,
    /// The record's full name, e.g. `warmstart.events.EnrichedEvent` (RecordNameStrategy).
    Record,
    /// `<topic>-<record full name>` (TopicRecordNameStrategy).
    TopicRecord,
}

impl SubjectNameStrategy {
    /// The subject of a value written to `topic` with `schema` (an Avro record schema's JSON).
    pub fn subject(self, topic: &str, schema: &str) -> String {
        let record = || {
            let v: serde_json::Value = serde_json::from_str(schema).unwrap_or_default();
            let name = v["name"].as_str().unwrap_or_default();
            match v["namespace"].as_str() {
                Some(ns) if !name.contains('.') => format!("{ns}.{name}"),
                _ => name.to_owned(),
            }
        };
        match self {
            SubjectNameStrategy::Topic => format!("{topic}-value"),
            SubjectNameStrategy::Record => record(),
            SubjectNameStrategy::TopicRecord => format!("{topic}-{}", record()),
        }
    }
}

fn default_timeout_ms() -> u64 {
    5_000
}
fn default_cache_capacity() -> usize {
    1_000
}
fn default_start_attempts() -> u32 {
    10
}

impl std::fmt::Debug for RegistryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "[redacted]"))
            .field("ca_location", &self.ca_location)
            .field("timeout_ms", &self.timeout_ms)
            .field("cache_capacity", &self.cache_capacity)
            .field("start_attempts", &self.start_attempts)
            .field("subject_name_strategy", &self.subject_name_strategy)
            .finish()
    }
}

impl RegistryConfig {
    /// The first invalid field, named as in the topology.
    pub fn validate(&self) -> Result<(), String> {
        let scheme_ok = self.url.starts_with("http://") || self.url.starts_with("https://");
        if !scheme_ok {
            return Err(format!(
                "schema_registry.url: `{}` is not an http:// or https:// URL",
                self.url
            ));
        }
        if self.password.is_some() && self.username.is_none() {
            return Err("schema_registry.password: set without schema_registry.username".into());
        }
        if self.timeout_ms == 0 {
            return Err("schema_registry.timeout_ms: must be at least 1".into());
        }
        if self.cache_capacity == 0 {
            return Err("schema_registry.cache_capacity: must be at least 1".into());
        }
        if self.start_attempts == 0 {
            return Err("schema_registry.start_attempts: must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The registry could not be asked or answered with a server error: worth retrying.
    #[error("schema registry at {url} unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    /// Registration refused under the subject's compatibility rule (HTTP 409).
    #[error("schema registry refused the schema for subject `{subject}`: incompatible ({reason})")]
    Incompatible { subject: String, reason: String },
    /// Any other refusal (4xx): retrying will not help.
    #[error("schema registry refused {what}: HTTP {status}: {reason}")]
    Refused {
        what: String,
        status: u16,
        reason: String,
    },
    #[error("schema registry client: {0}")]
    Client(String),
}

impl RemoteError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, RemoteError::Unreachable { .. })
    }
}

/// A writer schema as the registry stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetched {
    pub schema: String,
    /// `AVRO` when the registry leaves it out (the Confluent API's default).
    pub schema_type: String,
}

#[derive(Deserialize)]
struct SchemaById {
    schema: String,
    #[serde(default, rename = "schemaType")]
    schema_type: Option<String>,
}

#[derive(Deserialize)]
struct Id {
    id: u32,
}

#[derive(Serialize)]
struct Register<'a> {
    schema: &'a str,
    #[serde(rename = "schemaType")]
    schema_type: &'static str,
}

#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
    auth: Option<(String, Option<String>)>,
}

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";

impl RegistryClient {
    pub fn new(config: &RegistryConfig) -> Result<Self, RemoteError> {
        let mut builder =
            reqwest::Client::builder().timeout(Duration::from_millis(config.timeout_ms));
        if let Some(path) = &config.ca_location {
            let pem = std::fs::read(path).map_err(|e| {
                RemoteError::Client(format!(
                    "schema_registry.ca_location {}: {e}",
                    path.display()
                ))
            })?;
            let cert = reqwest::Certificate::from_pem(&pem).map_err(|e| {
                RemoteError::Client(format!(
                    "schema_registry.ca_location {}: {e}",
                    path.display()
                ))
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let http = builder
            .build()
            .map_err(|e| RemoteError::Client(e.to_string()))?;
        Ok(RegistryClient {
            http,
            base: config.url.trim_end_matches('/').to_owned(),
            auth: config
                .username
                .clone()
                .map(|u| (u, config.password.clone())),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header(reqwest::header::ACCEPT, CONTENT_TYPE);
        match &self.auth {
            Some((user, password)) => r.basic_auth(user, password.as_ref()),
            None => r,
        }
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> RemoteError {
        RemoteError::Unreachable {
            url: self.base.clone(),
            reason: e.to_string(),
        }
    }

    /// `GET /schemas/ids/{id}`: `Ok(None)` when the registry has no schema under `id`.
    pub async fn schema(&self, id: u32) -> Result<Option<Fetched>, RemoteError> {
        let r = self
            .request(reqwest::Method::GET, &format!("/schemas/ids/{id}"))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = r.status();
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_server_error() {
            return Err(self.unreachable(format!("HTTP {status}")));
        }
        if !status.is_success() {
            let reason = r.text().await.unwrap_or_default();
            return Err(RemoteError::Refused {
                what: format!("schema id {id}"),
                status: status.as_u16(),
                reason,
            });
        }
        let body: SchemaById = r.json().await.map_err(|e| self.unreachable(e))?;
        Ok(Some(Fetched {
            schema: body.schema,
            schema_type: body.schema_type.unwrap_or_else(|| "AVRO".into()),
        }))
    }

    /// `POST /subjects/{subject}/versions`: the id of `schema` under `subject`, registering it
    /// when the subject has no such version (the registry applies the subject's rule).
    pub async fn register(&self, subject: &str, schema: &str) -> Result<u32, RemoteError> {
        let r = self
            .request(
                reqwest::Method::POST,
                &format!("/subjects/{subject}/versions"),
            )
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .json(&Register {
                schema,
                schema_type: "AVRO",
            })
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        let status = r.status();
        if status.is_server_error() {
            return Err(self.unreachable(format!("HTTP {status}")));
        }
        if status == reqwest::StatusCode::CONFLICT {
            return Err(RemoteError::Incompatible {
                subject: subject.to_owned(),
                reason: r.text().await.unwrap_or_default(),
            });
        }
        if !status.is_success() {
            return Err(RemoteError::Refused {
                what: format!("registration under `{subject}`"),
                status: status.as_u16(),
                reason: r.text().await.unwrap_or_default(),
            });
        }
        let id: Id = r.json().await.map_err(|e| self.unreachable(e))?;
        Ok(id.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml_text: &str) -> RegistryConfig {
        toml::from_str(toml_text).unwrap()
    }

    #[test]
    fn the_password_never_shows_in_debug_output() {
        let c = config("url = \"http://r:8081\"\nusername = \"key\"\npassword = \"s3cr3t-pw\"");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s3cr3t-pw") && shown.contains("[redacted]"),
            "{shown}"
        );
        assert!(shown.contains("key"));
    }

    #[test]
    fn validation_names_the_field() {
        let bad = [
            ("url = \"registry:8081\"", "schema_registry.url"),
            (
                "url = \"http://r\"\npassword = \"p\"",
                "schema_registry.password",
            ),
            (
                "url = \"http://r\"\ntimeout_ms = 0",
                "schema_registry.timeout_ms",
            ),
            (
                "url = \"http://r\"\ncache_capacity = 0",
                "schema_registry.cache_capacity",
            ),
        ];
        for (text, field) in bad {
            let e = config(text).validate().unwrap_err();
            assert!(e.starts_with(field), "{text}: {e}");
        }
        assert!(config("url = \"https://r/apis/ccompat/v7\"")
            .validate()
            .is_ok());
    }

    #[test]
    fn subjects_follow_the_confluent_strategies() {
        let schema = crate::events::EventType::Enriched.schema_text();
        let s = |strategy| SubjectNameStrategy::subject(strategy, "warmstart.enriched", schema);
        assert_eq!(s(SubjectNameStrategy::Topic), "warmstart.enriched-value");
        assert_eq!(
            s(SubjectNameStrategy::Record),
            "warmstart.events.EnrichedEvent"
        );
        assert_eq!(
            s(SubjectNameStrategy::TopicRecord),
            "warmstart.enriched-warmstart.events.EnrichedEvent"
        );
        let c = config("url = \"http://r\"\nsubject_name_strategy = \"topic_record\"");
        assert_eq!(c.subject_name_strategy, SubjectNameStrategy::TopicRecord);
    }

    #[tokio::test]
    async fn nothing_listening_is_unreachable_and_retryable() {
        // A port just freed: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c =
            RegistryClient::new(&config(&format!("url = \"http://127.0.0.1:{port}\""))).unwrap();
        let e = c.schema(1).await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
        let e = c.register("t-value", "\"string\"").await.unwrap_err();
        assert!(e.is_retryable(), "{e}");
    }
}
