use serde::{Deserialize, Serialize};

/// An input record the pipeline could not accept (`schemas/dead_letter.avsc`).
///
/// It keeps the original key and payload bytes untouched, so that a fixed pipeline can replay the
/// dead-letter topic; the source coordinates say where the record came from.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct DeadLetter {
    pub reason_code: String,
    pub reason_message: String,
    pub stage: String,
    pub source_topic: String,
    pub source_partition: i32,
    pub source_offset: i64,
    #[serde(default, with = "crate::events::serde_bytes::bytes_opt")]
    pub key: Option<Vec<u8>>,
    /// The original payload, cut to a configured size so that a huge bad record cannot make a
    /// dead letter the broker refuses (which would stop the partition for good).
    #[serde(with = "crate::events::serde_bytes::bytes")]
    pub payload: Vec<u8>,
    /// Size of the original payload.
    pub payload_size: i64,
    pub ts: i64,
}
