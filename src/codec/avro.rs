//! Avro datums, bare or in the Confluent wire format.

use super::registry::SchemaRegistry;
use super::EncodeError;
use crate::events::EventType;
use crate::reject::{RejectCode, Rejection};
use serde::de::DeserializeOwned;
use serde::Serialize;

const MAGIC: u8 = 0;
const HEADER_LEN: usize = 5;

pub fn encode_datum<T: Serialize>(
    registry: &SchemaRegistry,
    ty: EventType,
    value: &T,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    registry
        .writer(ty)
        .write_ser(out, value)
        .map(|_| ())
        .map_err(|e| EncodeError::Avro(ty.as_str(), e))
}

/// A bare datum written with the built-in schema of `ty`.
pub fn decode_datum<T: DeserializeOwned>(
    registry: &SchemaRegistry,
    ty: EventType,
    bytes: &[u8],
) -> Result<T, Rejection> {
    read_plain(&registry.bare(ty).plain, bytes)
}

/// Confluent framing: magic byte, schema id, datum written with that schema.
pub fn decode_wire<T: DeserializeOwned>(
    registry: &SchemaRegistry,
    ty: EventType,
    bytes: &[u8],
) -> Result<T, Rejection> {
    if bytes.len() < HEADER_LEN {
        return Err(Rejection::new(
            RejectCode::AvroDecode,
            format!(
                "{} bytes is shorter than the 5-byte wire-format header",
                bytes.len()
            ),
        ));
    }
    if bytes[0] != MAGIC {
        return Err(Rejection::new(
            RejectCode::BadMagicByte,
            format!(
                "first byte is {:#04x}, the wire format needs 0x00",
                bytes[0]
            ),
        ));
    }
    let id = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let entry = registry
        .entry(id)
        .ok_or_else(|| match registry.refusal(id) {
            Some(reason) => Rejection::new(RejectCode::IncompatibleSchema, reason),
            None => Rejection::new(
                RejectCode::UnknownSchemaId,
                format!("schema id {id} is not registered"),
            ),
        })?;
    if entry.ty != ty {
        return Err(Rejection::new(
            RejectCode::SchemaMismatch,
            format!(
                "schema id {id} is a {} schema, this topic carries {}",
                entry.ty.as_str(),
                ty.as_str()
            ),
        ));
    }
    let datum = &bytes[HEADER_LEN..];
    match &entry.resolving {
        None => read_plain(&entry.plain, datum),
        Some(reader) => {
            let mut cursor = datum;
            let value = reader.read_value(&mut cursor).map_err(avro_error)?;
            ensure_consumed(cursor)?;
            apache_avro::from_value(&value).map_err(avro_error)
        }
    }
}

fn read_plain<T: DeserializeOwned>(
    reader: &apache_avro::reader::datum::GenericDatumReader<'static>,
    datum: &[u8],
) -> Result<T, Rejection> {
    let mut cursor = datum;
    let value = reader.read_deser(&mut cursor).map_err(avro_error)?;
    ensure_consumed(cursor)?;
    Ok(value)
}

/// A datum has no length prefix, so trailing bytes are the only sign of a record written with a
/// different schema than the one claimed.
fn ensure_consumed(rest: &[u8]) -> Result<(), Rejection> {
    if rest.is_empty() {
        Ok(())
    } else {
        Err(Rejection::new(
            RejectCode::AvroDecode,
            format!("{} trailing bytes after the datum", rest.len()),
        ))
    }
}

fn avro_error(e: apache_avro::Error) -> Rejection {
    Rejection::new(RejectCode::AvroDecode, e.to_string())
}
