//! Amazon-2014 Musical Instruments 5-core reviews (see `data/README.md`) as a time-ordered stream,
//! with each item's `ProductEvent` just before its first review.
//!
//! Why the `csv` crate: the file is RFC 4180 CSV with CRLF line ends whose review text and reviewer
//! names contain commas and doubled quotes (and could contain newlines), so splitting lines on
//! commas would cut records apart. The file has no product metadata: the product event carries
//! the ASIN as its title and the data set's name as its category.
//!
//! Each record becomes a `review` with the `overall` rating (a whole number 1-5, else a format
//! error), the review text (`None` when empty; 7 reviews have none), `ts` the review day in
//! milliseconds, and `event_id = instruments-<record index>` (0-based, header excluded, in file
//! order), so ids do not depend on `limit`.

use super::replay::{assemble, open_gz, rating};
use super::{DataError, StreamEvent};
use crate::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

pub const FILE: &str = "reviews.csv.gz";
pub const CATEGORY: &str = "Musical Instruments";

/// The 1-based line on which the record at byte `pos` starts. The csv crate's own line count is
/// one short after a CRLF (it stops at the `\r` and counts the `\n` as part of the next record),
/// so this counts in the text itself, skipping the line ends a record position may point at.
pub(crate) fn line_at(text: &[u8], pos: u64) -> usize {
    let pos = (pos as usize).min(text.len());
    let start = text[pos..]
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .map_or(text.len(), |skip| pos + skip);
    1 + text[..start].iter().filter(|&&b| b == b'\n').count()
}

pub(crate) fn csv_error(path: &Path, text: &[u8], e: csv::Error) -> DataError {
    let line = e.position().map_or(0, |p| line_at(text, p.byte()));
    // Our own wording: the crate's message carries its own (CRLF-shifted) line number.
    let reason = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("expected {expected_len} fields, found {len}"),
        csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}", err.field() + 1),
        _ => e.to_string(),
    };
    match e.into_kind() {
        csv::ErrorKind::Io(source) => DataError::Io {
            path: path.to_owned(),
            source,
        },
        _ => DataError::Format {
            path: path.to_owned(),
            line,
            reason,
        },
    }
}

/// The first `limit` reviews in time order (all with `None`), with product events.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<Vec<StreamEvent>, DataError> {
    let path = dir.join(FILE);
    // Read whole (about 7 MB) so that error positions can be turned into true line numbers.
    let mut text = Vec::new();
    open_gz(&path)?
        .read_to_end(&mut text)
        .map_err(|source| DataError::Io {
            path: path.clone(),
            source,
        })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(&text[..]);
    let headers = reader
        .headers()
        .map_err(|e| csv_error(&path, &text, e))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::Format {
                path: path.clone(),
                line: 1,
                reason: format!("no column {name:?} in the header"),
            })
    };
    let (c_user, c_item, c_text, c_overall, c_time) = (
        column("reviewerID")?,
        column("asin")?,
        column("reviewText")?,
        column("overall")?,
        column("unixReviewTime")?,
    );

    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut index = 0usize;
    while reader
        .read_record(&mut record)
        .map_err(|e| csv_error(&path, &text, e))?
    {
        let pos = record.position().map_or(0, |p| p.byte());
        // Counted only on error: counting per record would be quadratic.
        let bad = |reason: String| DataError::Format {
            path: path.clone(),
            line: line_at(&text, pos),
            reason,
        };
        let field = |c: usize| record.get(c).unwrap_or("");
        let (user, item) = (field(c_user), field(c_item));
        if user.is_empty() || item.is_empty() {
            return Err(bad("empty reviewerID or asin".into()));
        }
        let overall: f64 = field(c_overall)
            .parse()
            .map_err(|_| bad(format!("overall {:?} is not a number", field(c_overall))))?;
        let rating =
            rating(overall).ok_or_else(|| bad(format!("overall {overall} is not a rating 1-5")))?;
        let ts = field(c_time)
            .parse::<i64>()
            .ok()
            .and_then(|s| s.checked_mul(1000))
            .ok_or_else(|| {
                bad(format!(
                    "unixReviewTime {:?} is not a time in seconds",
                    field(c_time)
                ))
            })?;
        let text = field(c_text);
        rows.push((
            BehaviorEvent {
                event_id: format!("instruments-{index}"),
                user_id: user.to_owned(),
                item_id: item.to_owned(),
                kind: BehaviorKind::Review,
                ts,
                session_id: None,
                rating: Some(rating),
                review_text: (!text.is_empty()).then(|| text.to_owned()),
            },
            (),
        ));
        index += 1;
    }
    Ok(assemble(rows, limit, |b, _| ProductEvent {
        item_id: b.item_id.clone(),
        ts: b.ts,
        title: b.item_id.clone(),
        category: vec![CATEGORY.to_owned()],
        brand: None,
        price: None,
        description: None,
        attributes: BTreeMap::new(),
    }))
}
