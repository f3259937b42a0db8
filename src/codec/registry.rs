//! A local schema registry: schema id -> writer schema, checked against the reader schema the
//! binary was built with.
//!
//! There is no schema-registry server in this deployment; the ids of the Confluent wire format are
//! assigned in the repo (built-ins 1-4, 6 and 7, this project's earlier built-ins under the ids
//! they had (5: enriched v0), older or foreign writer schemas added from the topology).
//! Registering a writer schema that the reader schema cannot resolve fails at start-up, not on the
//! first record that uses it.

use crate::events::EventType;
use apache_avro::reader::datum::GenericDatumReader;
use apache_avro::schema_compatibility::SchemaCompatibility;
use apache_avro::writer::datum::GenericDatumWriter;
use apache_avro::Schema;
use std::collections::HashMap;

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("schema {id} ({ty}): not a valid Avro schema: {source}")]
    Parse {
        id: u32,
        ty: &'static str,
        source: apache_avro::Error,
    },
    #[error("schema id {0} is already registered")]
    IdTaken(u32),
    #[error("schema {id} cannot be read as {ty} by this build's reader schema: {reason}")]
    Incompatible {
        id: u32,
        ty: &'static str,
        reason: String,
    },
}

/// A schema known to the registry, with its readers and writer prepared once.
pub(super) struct Entry {
    pub ty: EventType,
    /// Reads this schema's datums as-is; used when the writer is the built-in schema.
    pub plain: GenericDatumReader<'static>,
    /// Reads this schema's datums resolved to the built-in reader schema; `None` for built-ins.
    pub resolving: Option<GenericDatumReader<'static>>,
}

pub struct SchemaRegistry {
    builtin: HashMap<EventType, (&'static Schema, GenericDatumWriter<'static>)>,
    by_id: HashMap<u32, Entry>,
}

/// The most apache-avro may allocate for one string, bytes or collection while decoding.
pub const MAX_AVRO_ALLOCATION: usize = 8 << 20;

/// Schemas live as long as the process: one registry is built at start-up, and leaking the
/// parsed schemas lets the prepared readers and writers borrow them without self-references.
fn leak(schema: Schema) -> &'static Schema {
    Box::leak(Box::new(schema))
}

fn ctx(id: u32, ty: EventType) -> impl FnOnce(apache_avro::Error) -> RegistryError {
    move |source| RegistryError::Parse {
        id,
        ty: ty.as_str(),
        source,
    }
}

impl SchemaRegistry {
    /// The registry with the built-in schemas of `schemas/` under their fixed ids.
    pub fn builtin() -> Self {
        // A corrupt length prefix would otherwise make apache-avro allocate up to 512 MiB before
        // finding the datum too short. No field of a Kafka record exceeds the broker's message
        // limit, so 8 MiB is ample. The limit is process-wide and set once.
        apache_avro::util::max_allocation_bytes(MAX_AVRO_ALLOCATION);
        let mut builtin = HashMap::new();
        let mut by_id = HashMap::new();
        for ty in EventType::ALL {
            let id = ty.builtin_schema_id();
            // The built-in schemas are compiled in and covered by tests; failing here is a bug.
            let schema = leak(Schema::parse_str(ty.schema_text()).expect("built-in schema parses"));
            let writer = GenericDatumWriter::builder(schema)
                .build()
                .expect("built-in schema resolves");
            let plain = GenericDatumReader::builder(schema)
                .build()
                .expect("built-in schema resolves");
            builtin.insert(ty, (schema, writer));
            by_id.insert(
                id,
                Entry {
                    ty,
                    plain,
                    resolving: None,
                },
            );
        }
        let mut registry = SchemaRegistry { builtin, by_id };
        for (id, ty, text) in EventType::HISTORY {
            // Covered by tests like the built-ins: a history schema the reader cannot read is a bug.
            registry
                .register(id, ty, text)
                .expect("earlier built-in schemas stay readable");
        }
        registry
    }

    /// Adds a writer schema under `id` for event type `ty`, after checking that this build's
    /// reader schema for `ty` can read what it writes.
    pub fn register(
        &mut self,
        id: u32,
        ty: EventType,
        schema_text: &str,
    ) -> Result<(), RegistryError> {
        if self.by_id.contains_key(&id) {
            return Err(RegistryError::IdTaken(id));
        }
        let writer = Schema::parse_str(schema_text).map_err(ctx(id, ty))?;
        let reader = self.reader_schema(ty);
        SchemaCompatibility::can_read(&writer, reader).map_err(|e| {
            RegistryError::Incompatible {
                id,
                ty: ty.as_str(),
                reason: e.to_string(),
            }
        })?;
        let writer = leak(writer);
        let plain = GenericDatumReader::builder(writer)
            .build()
            .map_err(ctx(id, ty))?;
        let resolving = GenericDatumReader::builder(writer)
            .reader_schema(reader)
            .build()
            .map_err(ctx(id, ty))?;
        self.by_id.insert(
            id,
            Entry {
                ty,
                plain,
                resolving: Some(resolving),
            },
        );
        Ok(())
    }

    /// The schema this build reads and writes `ty` with.
    pub fn reader_schema(&self, ty: EventType) -> &'static Schema {
        self.builtin[&ty].0
    }

    pub(super) fn writer(&self, ty: EventType) -> &GenericDatumWriter<'static> {
        &self.builtin[&ty].1
    }

    pub(super) fn entry(&self, id: u32) -> Option<&Entry> {
        self.by_id.get(&id)
    }
}
