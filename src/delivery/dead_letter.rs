//! Dead letters, built in one place: whichever service refuses a record, its dead letter carries
//! the same fields, the same payload cap (`runtime.dead_letter_max_payload_bytes`) and the same
//! `warmstart.reason` header.

use crate::events::DeadLetter;
use crate::reject::Rejection;

/// Where a refused record came from: enough to find it again, and its original bytes.
pub struct Source<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub payload: &'a [u8],
}

impl<'a> Source<'a> {
    pub fn of(m: &'a impl rdkafka::Message) -> Self {
        Source {
            topic: m.topic(),
            partition: m.partition(),
            offset: m.offset(),
            key: m.key(),
            payload: m.payload().unwrap_or_default(),
        }
    }
}

/// Builds dead letters with the configured payload cap.
#[derive(Debug, Clone, Copy)]
pub struct DeadLetters {
    pub max_payload: usize,
}

impl DeadLetters {
    /// The dead letter of `source`, refused by `stage` for `rejection`, dated `now_ms`.
    pub fn build(
        &self,
        source: &Source<'_>,
        stage: &str,
        rejection: Rejection,
        now_ms: i64,
    ) -> DeadLetter {
        let p = source.payload;
        DeadLetter {
            reason_code: rejection.code.as_str().to_owned(),
            reason_message: rejection.message,
            stage: stage.to_owned(),
            source_topic: source.topic.to_owned(),
            source_partition: source.partition,
            source_offset: source.offset,
            key: source.key.map(<[u8]>::to_vec),
            payload: p[..p.len().min(self.max_payload)].to_vec(),
            payload_size: p.len() as i64,
            ts: now_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reject::RejectCode;

    #[test]
    fn the_payload_is_capped_but_its_size_kept() {
        let payload = vec![7u8; 100];
        let source = Source {
            topic: "in",
            partition: 2,
            offset: 9,
            key: Some(b"k"),
            payload: &payload,
        };
        let dl = DeadLetters { max_payload: 10 }.build(
            &source,
            "decode",
            Rejection::new(RejectCode::MalformedJson, "bad"),
            5,
        );
        assert_eq!(dl.payload.len(), 10);
        assert_eq!(dl.payload_size, 100);
        assert_eq!(
            (
                dl.source_topic.as_str(),
                dl.source_partition,
                dl.source_offset
            ),
            ("in", 2, 9)
        );
        assert_eq!(dl.reason_code, "malformed_json");
        assert_eq!(dl.key.as_deref(), Some(&b"k"[..]));
    }
}
