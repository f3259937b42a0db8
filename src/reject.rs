//! Why a record was rejected. Every rejection becomes a dead letter whose `reason_code` is one of
//! these codes, so that alerts and replays can match on a stable, machine-readable string.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectCode {
    /// Payload larger than the topology's `max_payload_bytes`.
    PayloadTooLarge,
    /// JSON input that is not valid UTF-8.
    InvalidUtf8,
    /// Not JSON at all, or cut short.
    MalformedJson,
    /// A required field is absent.
    MissingField,
    /// A field holds a value of the wrong type.
    WrongType,
    /// An enum field (for example `kind`) holds an unknown symbol.
    UnknownEnum,
    /// Well-typed but out of range: an empty id, a rating outside 1-5, a negative price.
    InvalidValue,
    /// Avro bytes that do not decode with the schema (truncated, corrupt, trailing bytes).
    AvroDecode,
    /// Confluent wire format without the leading zero byte.
    BadMagicByte,
    /// Confluent wire format naming a schema id the registry does not know.
    UnknownSchemaId,
    /// A schema id that is known but belongs to another event type than the topic carries.
    SchemaMismatch,
    /// A writer schema from the schema registry that this build's reader schema cannot read.
    IncompatibleSchema,
    /// Timestamp further in the future than the topology's `max_future_skew_ms`.
    FutureTimestamp,
}

impl RejectCode {
    pub const ALL: [RejectCode; 13] = [
        RejectCode::PayloadTooLarge,
        RejectCode::InvalidUtf8,
        RejectCode::MalformedJson,
        RejectCode::MissingField,
        RejectCode::WrongType,
        RejectCode::UnknownEnum,
        RejectCode::InvalidValue,
        RejectCode::AvroDecode,
        RejectCode::BadMagicByte,
        RejectCode::UnknownSchemaId,
        RejectCode::SchemaMismatch,
        RejectCode::IncompatibleSchema,
        RejectCode::FutureTimestamp,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectCode::PayloadTooLarge => "payload_too_large",
            RejectCode::InvalidUtf8 => "invalid_utf8",
            RejectCode::MalformedJson => "malformed_json",
            RejectCode::MissingField => "missing_field",
            RejectCode::WrongType => "wrong_type",
            RejectCode::UnknownEnum => "unknown_enum",
            RejectCode::InvalidValue => "invalid_value",
            RejectCode::AvroDecode => "avro_decode",
            RejectCode::BadMagicByte => "bad_magic_byte",
            RejectCode::UnknownSchemaId => "unknown_schema_id",
            RejectCode::SchemaMismatch => "schema_mismatch",
            RejectCode::IncompatibleSchema => "incompatible_schema",
            RejectCode::FutureTimestamp => "future_timestamp",
        }
    }
}

impl fmt::Display for RejectCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected record: the code plus a message for humans.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct Rejection {
    pub code: RejectCode,
    pub message: String,
}

impl Rejection {
    pub fn new(code: RejectCode, message: impl Into<String>) -> Self {
        Rejection {
            code,
            message: message.into(),
        }
    }
}
