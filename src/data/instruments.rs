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

use super::assemble::{assemble, rating};
use super::csv_gz::CsvGz;
use super::{DataError, StreamEvent};
use crate::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use std::collections::BTreeMap;
use std::path::Path;

pub const FILE: &str = "reviews.csv.gz";
pub const CATEGORY: &str = "Musical Instruments";

/// The first `limit` reviews in time order (all with `None`), with product events.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<Vec<StreamEvent>, DataError> {
    let file = CsvGz::open(dir.join(FILE))?;
    let (mut reader, [c_user, c_item, c_text, c_overall, c_time]) = file.reader([
        "reviewerID",
        "asin",
        "reviewText",
        "overall",
        "unixReviewTime",
    ])?;

    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut index = 0usize;
    while reader.read_record(&mut record).map_err(|e| file.error(e))? {
        // The line is counted only on error: counting per record would be quadratic.
        let bad = |reason: String| file.bad(&record, reason);
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
