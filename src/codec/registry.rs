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
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

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
    /// The built-in schemas' readers, for bare datums (which name no id).
    bare: HashMap<EventType, Arc<Entry>>,
    /// Built-ins, the topology's and, with a registry server, the fetched ones. Behind a lock
    /// because fetched schemas arrive while workers decode; a read costs no allocation.
    by_id: RwLock<HashMap<u32, Arc<Entry>>>,
    /// Fetched ids, oldest first, with the refusals: what `cache_capacity` bounds.
    fetched: Mutex<VecDeque<u32>>,
    /// Ids whose writer schema this build cannot read, with the reason: a record naming one is a
    /// dead letter without a second fetch (an id's schema never changes).
    refused: RwLock<HashMap<u32, String>>,
    capacity: usize,
}

/// What the table holds for an id.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Known,
    /// Fetched, and this build's reader schema cannot read it.
    Refused(String),
    Unknown,
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
        let mut bare = HashMap::new();
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
            let entry = Arc::new(Entry {
                ty,
                plain,
                resolving: None,
            });
            bare.insert(ty, entry.clone());
            by_id.insert(id, entry);
        }
        let mut registry = SchemaRegistry {
            builtin,
            bare,
            by_id: RwLock::new(by_id),
            fetched: Mutex::new(VecDeque::new()),
            refused: RwLock::new(HashMap::new()),
            capacity: usize::MAX,
        };
        for (id, ty, text) in EventType::HISTORY {
            // Covered by tests like the built-ins: a history schema the reader cannot read is a bug.
            registry
                .register(id, ty, text)
                .expect("earlier built-in schemas stay readable");
        }
        registry
    }

    /// The table for a registry server: no id is known in advance (the server assigns them, and
    /// its id 3 is whatever it registered third, not this build's built-in 3), each is fetched;
    /// at most `capacity` are kept.
    pub fn for_server(self, capacity: usize) -> Self {
        self.by_id.write().expect("not poisoned").clear();
        self.with_capacity(capacity)
    }

    /// At most `capacity` fetched schemas are kept (built-ins and the topology's always are).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Adds a writer schema under `id` for event type `ty`, after checking that this build's
    /// reader schema for `ty` can read what it writes.
    pub fn register(
        &mut self,
        id: u32,
        ty: EventType,
        schema_text: &str,
    ) -> Result<(), RegistryError> {
        if self
            .by_id
            .get_mut()
            .expect("not poisoned")
            .contains_key(&id)
        {
            return Err(RegistryError::IdTaken(id));
        }
        let entry = self.prepare(id, ty, schema_text)?;
        self.by_id
            .get_mut()
            .expect("not poisoned")
            .insert(id, Arc::new(entry));
        Ok(())
    }

    /// A writer schema fetched from the registry server for a record of type `ty`: kept when
    /// this build can read it, remembered as refused (with the reason, returned) when not. The
    /// oldest fetched schema goes when `capacity` is reached.
    pub fn insert_fetched(
        &self,
        id: u32,
        ty: EventType,
        schema_text: &str,
    ) -> Result<(), RegistryError> {
        match self.prepare(id, ty, schema_text) {
            Ok(entry) => {
                self.make_room(id);
                self.by_id
                    .write()
                    .expect("not poisoned")
                    .insert(id, Arc::new(entry));
                Ok(())
            }
            Err(e) => {
                self.refuse(id, e.to_string());
                Err(e)
            }
        }
    }

    /// Remembers the fetched `id` as unreadable for `reason`, within the same capacity.
    pub fn refuse(&self, id: u32, reason: String) {
        self.make_room(id);
        self.refused
            .write()
            .expect("not poisoned")
            .insert(id, reason);
    }

    /// Counts `id` among the fetched ones, first evicting the oldest when at capacity.
    fn make_room(&self, id: u32) {
        let mut fetched = self.fetched.lock().expect("not poisoned");
        if fetched.len() >= self.capacity {
            if let Some(old) = fetched.pop_front() {
                self.by_id.write().expect("not poisoned").remove(&old);
                self.refused.write().expect("not poisoned").remove(&old);
            }
        }
        fetched.push_back(id);
    }

    pub fn lookup(&self, id: u32) -> Lookup {
        if self.by_id.read().expect("not poisoned").contains_key(&id) {
            return Lookup::Known;
        }
        match self.refused.read().expect("not poisoned").get(&id) {
            Some(reason) => Lookup::Refused(reason.clone()),
            None => Lookup::Unknown,
        }
    }

    /// The fetched schemas held now (for the cache-size gauge and tests).
    pub fn fetched_len(&self) -> usize {
        self.fetched.lock().expect("not poisoned").len()
    }

    fn prepare(&self, id: u32, ty: EventType, schema_text: &str) -> Result<Entry, RegistryError> {
        let writer = Schema::parse_str(schema_text).map_err(ctx(id, ty))?;
        let reader = self.reader_schema(ty);
        SchemaCompatibility::can_read(&writer, reader).map_err(|e| {
            RegistryError::Incompatible {
                id,
                ty: ty.as_str(),
                reason: e.to_string(),
            }
        })?;
        // Leaked once per id: fetched ids are bounded by `capacity` plus what eviction returned
        // and a later record fetched again, which a registry's immutable ids keep rare.
        let writer = leak(writer);
        let plain = GenericDatumReader::builder(writer)
            .build()
            .map_err(ctx(id, ty))?;
        let resolving = GenericDatumReader::builder(writer)
            .reader_schema(reader)
            .build()
            .map_err(ctx(id, ty))?;
        Ok(Entry {
            ty,
            plain,
            resolving: Some(resolving),
        })
    }

    /// The schema this build reads and writes `ty` with.
    pub fn reader_schema(&self, ty: EventType) -> &'static Schema {
        self.builtin[&ty].0
    }

    pub(super) fn writer(&self, ty: EventType) -> &GenericDatumWriter<'static> {
        &self.builtin[&ty].1
    }

    /// The built-in reader of `ty`, for bare datums.
    pub(super) fn bare(&self, ty: EventType) -> &Entry {
        &self.bare[&ty]
    }

    pub(super) fn entry(&self, id: u32) -> Option<Arc<Entry>> {
        self.by_id.read().expect("not poisoned").get(&id).cloned()
    }

    /// Why a fetched id was refused, if it was.
    pub(super) fn refusal(&self, id: u32) -> Option<String> {
        self.refused.read().expect("not poisoned").get(&id).cloned()
    }
}
