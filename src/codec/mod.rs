//! Codecs between event types and bytes: JSON, Avro datums with a schema from `schemas/`, and Avro
//! in the Confluent wire format (magic byte 0, big-endian 4-byte schema id, datum).
//!
//! Decoding never panics: every failure is a [`Rejection`] with a code, so that the pipeline can
//! send the record to the dead-letter topic and move on.

mod avro;
mod json;
mod registry;
pub mod remote;

pub use registry::{Lookup, RegistryError, SchemaRegistry};

use crate::events::EventType;
use crate::reject::Rejection;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// How records are laid out on a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    #[default]
    Json,
    /// A bare Avro datum written with the built-in schema of the event type.
    Avro,
    /// Confluent wire format: `0x00`, schema id (u32, big endian), Avro datum.
    Confluent,
}

/// Encoding failed: only possible for values that break the schema (a bug, not bad input).
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("JSON encoding of {0} failed: {1}")]
    Json(&'static str, serde_json::Error),
    #[error("Avro encoding of {0} failed: {1}")]
    Avro(&'static str, apache_avro::Error),
}

/// Encodes and decodes one format, sharing the schema registry.
#[derive(Clone)]
pub struct Codec {
    format: Format,
    registry: Arc<SchemaRegistry>,
    /// The schema id written in the Confluent format: the one a registry server assigned to the
    /// output's subject, else the built-in id.
    write_id: Option<u32>,
}

/// The schema id of a Confluent wire-format record, when it has the header.
pub fn wire_schema_id(bytes: &[u8]) -> Option<u32> {
    match bytes {
        [0, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

impl Codec {
    pub fn new(format: Format, registry: Arc<SchemaRegistry>) -> Self {
        Codec {
            format,
            registry,
            write_id: None,
        }
    }

    /// Writes `id` instead of the built-in id (the id a registry server gave this schema).
    pub fn with_write_id(mut self, id: u32) -> Self {
        self.write_id = Some(id);
        self
    }

    pub fn format(&self) -> Format {
        self.format
    }

    pub fn decode<T: DeserializeOwned>(&self, ty: EventType, bytes: &[u8]) -> Result<T, Rejection> {
        match self.format {
            Format::Json => json::decode(bytes),
            Format::Avro => avro::decode_datum(&self.registry, ty, bytes),
            Format::Confluent => avro::decode_wire(&self.registry, ty, bytes),
        }
    }

    /// Appends the encoding of `value` to `out`.
    pub fn encode<T: Serialize>(
        &self,
        ty: EventType,
        value: &T,
        out: &mut Vec<u8>,
    ) -> Result<(), EncodeError> {
        match self.format {
            Format::Json => serde_json::to_writer(&mut *out, value)
                .map_err(|e| EncodeError::Json(ty.as_str(), e)),
            Format::Avro => avro::encode_datum(&self.registry, ty, value, out),
            Format::Confluent => {
                out.push(0);
                let id = self.write_id.unwrap_or_else(|| ty.builtin_schema_id());
                out.extend_from_slice(&id.to_be_bytes());
                avro::encode_datum(&self.registry, ty, value, out)
            }
        }
    }

    pub fn encode_to_vec<T: Serialize>(
        &self,
        ty: EventType,
        value: &T,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(256);
        self.encode(ty, value, &mut out)?;
        Ok(out)
    }
}
