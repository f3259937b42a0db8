//! JSON decoding with rejection codes taken from serde's error categories.

use crate::reject::{RejectCode, Rejection};
use serde::de::DeserializeOwned;

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Rejection> {
    // Checked first so that bad UTF-8 gets its own code instead of a generic syntax error.
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(Rejection::new(
            RejectCode::InvalidUtf8,
            format!("payload is not UTF-8: {e}"),
        ));
    }
    serde_json::from_slice(bytes).map_err(classify)
}

/// Maps a serde_json error onto a code. serde's data errors carry their category only in the
/// message, whose wording ("missing field", "unknown variant", "invalid type") is stable serde API.
fn classify(e: serde_json::Error) -> Rejection {
    use serde_json::error::Category;
    let message = e.to_string();
    let code = match e.classify() {
        Category::Syntax | Category::Eof | Category::Io => RejectCode::MalformedJson,
        Category::Data => {
            if message.starts_with("missing field") {
                RejectCode::MissingField
            } else if message.starts_with("unknown variant") {
                RejectCode::UnknownEnum
            } else if message.starts_with("invalid value") {
                RejectCode::InvalidValue
            } else {
                RejectCode::WrongType
            }
        }
    };
    Rejection::new(code, message)
}
