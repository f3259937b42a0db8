//! Alibaba Tianchi UserBehavior, first 3 MB (see `data/README.md`), as a time-ordered stream with
//! each item's `ProductEvent` just before its first interaction.
//!
//! Why this set: it is the only shipped one with typed implicit feedback (views, carts,
//! purchases) at second resolution, the kind of traffic the cold-start pipeline sees before any
//! review exists. Mapping: `pv` -> `view`, `cart` -> `cart`, `buy` -> `purchase`. `fav` (a
//! bookmark) has no kind in [`BehaviorKind`] and is not a cart: those rows are skipped and counted
//! in [`TaobaoReport::fav_skipped`] (2,351 in the shipped file) rather than mislabelled.
//!
//! Ids are anonymised integers: the product event's title is `item <id>` and its category the
//! one-level path `[category_id]`, taken from the item's first interaction in time order (one item
//! in the file appears under two categories). `event_id = taobao-<row index>`, the 0-based data row
//! in the file (header excluded, `fav` rows included), so ids do not depend on `limit`.
//!
//! The 35 timestamps outside the official 2017-11-25..2017-12-03 window (a known quirk of the
//! source; the earliest is 2017-09-11) are kept as recorded: they sort to the front of the stream,
//! and a paced replay will wait through their gap to the rest (about 70 days of recorded time).

use super::assemble::{assemble, open_gz};
use super::{DataError, StreamEvent};
use crate::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::Path;

pub const FILE: &str = "UserBehavior_head.csv.gz";
/// The official window of the data set, [start, end) in Unix seconds: 2017-11-25 00:00 to
/// 2017-12-04 00:00 China time (UTC+8), i.e. the days 2017-11-25..2017-12-03 as published.
pub const WINDOW: (i64, i64) = (1_511_539_200, 1_512_316_800);

/// What the file held, over all its rows (before `limit`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaobaoReport {
    pub rows: usize,
    pub views: usize,
    pub carts: usize,
    pub purchases: usize,
    /// `fav` rows, not turned into events.
    pub fav_skipped: usize,
    /// Rows (of any type) with a timestamp outside [`WINDOW`]; kept.
    pub out_of_window: usize,
}

/// The first `limit` interactions in time order (all with `None`), with product events.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<Vec<StreamEvent>, DataError> {
    load_with_report(dir, limit).map(|(stream, _)| stream)
}

/// [`load`], plus the counts of the whole file.
pub fn load_with_report(
    dir: &Path,
    limit: Option<usize>,
) -> Result<(Vec<StreamEvent>, TaobaoReport), DataError> {
    let path = dir.join(FILE);
    let mut report = TaobaoReport::default();
    let mut rows = Vec::new();
    for (i, line) in open_gz(&path)?.lines().enumerate() {
        let line = line.map_err(|source| DataError::Io {
            path: path.clone(),
            source,
        })?;
        let bad = |reason: String| DataError::Format {
            path: path.clone(),
            line: i + 1,
            reason,
        };
        let line = line.strip_suffix('\r').unwrap_or(&line);
        if i == 0 {
            if line != "user_id,item_id,category_id,behavior_type,timestamp" {
                return Err(bad(format!("unexpected header {line:?}")));
            }
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        let [user, item, category, behavior, ts] = f[..] else {
            return Err(bad(format!("expected 5 columns, found {}", f.len())));
        };
        if user.is_empty() || item.is_empty() || category.is_empty() {
            return Err(bad("empty user_id, item_id or category_id".into()));
        }
        let secs: i64 = ts
            .parse()
            .map_err(|_| bad(format!("timestamp {ts:?} is not a number")))?;
        let ts = secs
            .checked_mul(1000)
            .ok_or_else(|| bad(format!("timestamp {secs} is out of range")))?;
        let row = i - 1;
        report.rows += 1;
        if !(WINDOW.0..WINDOW.1).contains(&secs) {
            report.out_of_window += 1;
        }
        let kind = match behavior {
            "pv" => {
                report.views += 1;
                BehaviorKind::View
            }
            "cart" => {
                report.carts += 1;
                BehaviorKind::Cart
            }
            "buy" => {
                report.purchases += 1;
                BehaviorKind::Purchase
            }
            "fav" => {
                report.fav_skipped += 1;
                continue;
            }
            other => return Err(bad(format!("unknown behavior_type {other:?}"))),
        };
        rows.push((
            BehaviorEvent {
                event_id: format!("taobao-{row}"),
                user_id: user.to_owned(),
                item_id: item.to_owned(),
                kind,
                ts,
                session_id: None,
                rating: None,
                review_text: None,
            },
            category.to_owned(),
        ));
    }
    let stream = assemble(rows, limit, |b, category| ProductEvent {
        item_id: b.item_id.clone(),
        ts: b.ts,
        title: format!("item {}", b.item_id),
        category: vec![category.clone()],
        brand: None,
        price: None,
        description: None,
        attributes: BTreeMap::new(),
    });
    Ok((stream, report))
}
