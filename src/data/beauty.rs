//! Amazon Beauty 5-core (see `data/README.md`): interactions and item metadata as a time-ordered
//! stream, with each item's `ProductEvent` just before its first interaction.

use super::{DataError, StreamEvent};
use crate::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use flate2::read::GzDecoder;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

struct Item {
    title: String,
    attributes: String,
}

fn lines(path: &Path) -> Result<impl Iterator<Item = (usize, std::io::Result<String>)>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(BufReader::new(GzDecoder::new(file))
        .lines()
        .enumerate()
        .skip(1))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_owned(),
        source,
    }
}

fn load_items(path: &Path) -> Result<HashMap<String, Item>, DataError> {
    let mut items = HashMap::new();
    for (i, line) in lines(path)? {
        let line = line.map_err(io(path))?;
        let mut f = line.split('\t');
        let (_, Some(asin), title, attrs) = (f.next(), f.next(), f.next(), f.next()) else {
            return Err(DataError::Format {
                path: path.to_owned(),
                line: i + 1,
                reason: "fewer than 2 columns".into(),
            });
        };
        items.insert(
            asin.to_owned(),
            Item {
                title: title.unwrap_or("").to_owned(),
                attributes: attrs.unwrap_or("").to_owned(),
            },
        );
    }
    Ok(items)
}

/// The first `limit` interactions in time order (all with `None`), with product events.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<Vec<StreamEvent>, DataError> {
    let items = load_items(&dir.join("items.tsv.gz"))?;
    let path: PathBuf = dir.join("interactions.tsv.gz");
    let mut rows = Vec::new();
    for (i, line) in lines(&path)? {
        let line = line.map_err(io(&path))?;
        let f: Vec<&str> = line.split('\t').collect();
        let bad = |reason: &str| DataError::Format {
            path: path.clone(),
            line: i + 1,
            reason: reason.into(),
        };
        if f.len() != 6 {
            return Err(bad("expected 6 columns"));
        }
        let ts: i64 = f[4].parse().map_err(|_| bad("unix_ts is not a number"))?;
        let seq: u32 = f[5].parse().map_err(|_| bad("seq_pos is not a number"))?;
        rows.push((ts, f[0].to_owned(), seq, f[1].to_owned(), f[3].to_owned()));
    }
    // Same-day reviews keep each user's order: sort by (day, user, position).
    rows.sort_by(|a, b| (a.0, &a.1, a.2).cmp(&(b.0, &b.1, b.2)));
    if let Some(n) = limit {
        rows.truncate(n);
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(rows.len() * 2);
    for (ts, user_idx, seq, reviewer, asin) in rows {
        let ts_ms = ts * 1000;
        if seen.insert(asin.clone()) {
            let item = items.get(&asin);
            let mut attributes = BTreeMap::new();
            if let Some(item) = item.filter(|i| !i.attributes.is_empty()) {
                attributes.insert("attribute_ids".to_owned(), item.attributes.clone());
            }
            out.push(StreamEvent::Product(ProductEvent {
                item_id: asin.clone(),
                ts: ts_ms,
                title: item
                    .map(|i| i.title.clone())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| asin.clone()),
                category: vec!["Beauty".to_owned()],
                brand: None,
                price: None,
                description: None,
                attributes,
            }));
        }
        out.push(StreamEvent::Behavior(BehaviorEvent {
            event_id: format!("beauty-{user_idx}-{seq}"),
            user_id: reviewer,
            item_id: asin,
            kind: BehaviorKind::Review,
            ts: ts_ms,
            session_id: None,
            rating: None,
            review_text: None,
        }));
    }
    Ok(out)
}
