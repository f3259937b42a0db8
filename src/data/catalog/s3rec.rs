//! The S3-Rec benchmark format (Zhou et al., CIKM 2020; also ICLRec and most sequential
//! recommendation papers on Beauty, Sports, Toys and Yelp): `<name>.txt`, one line per user,
//! `user item item …` in time order, and `<name>_item2attributes.json`, an object from item id to
//! a list of attribute ids. Either file may be gzipped.
//!
//! The format has no titles and no times. Content is the attributes (as `attribute_ids`, the
//! convention of the vendored Beauty items); an interaction's `ts` is its position in its user's
//! sequence, so each user's order is kept and the time order interleaves users by position. The
//! interactions are reviews (these sets are 5-core review data).

use super::tsv::text_lines;
use super::{Builder, Catalog};
use crate::data::DataError;
use crate::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ATTRIBUTES_SUFFIX: &str = "_item2attributes.json";

/// The `(sequences, attributes)` files of an S3-Rec folder, if it has exactly one pair.
pub fn find(dir: &Path) -> Result<(PathBuf, PathBuf), DataError> {
    let not = |reason: String| DataError::NotACatalog {
        dir: dir.to_owned(),
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|source| DataError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut pairs = Vec::new();
    for e in entries.flatten() {
        let file = e.file_name().to_string_lossy().into_owned();
        let base = file.strip_suffix(".gz").unwrap_or(&file);
        let Some(stem) = base.strip_suffix(ATTRIBUTES_SUFFIX) else {
            continue;
        };
        let plain = dir.join(format!("{stem}.txt"));
        let gz = dir.join(format!("{stem}.txt.gz"));
        let sequences = if plain.is_file() { plain } else { gz };
        if !sequences.is_file() {
            return Err(not(format!(
                "{file} has no sequence file beside it ({stem}.txt or {stem}.txt.gz)"
            )));
        }
        pairs.push((sequences, e.path()));
    }
    match pairs.len() {
        1 => Ok(pairs.remove(0)),
        0 => Err(not(format!("no <name>{ATTRIBUTES_SUFFIX}[.gz] file"))),
        n => Err(not(format!("{n} S3-Rec data sets in one folder; keep one"))),
    }
}

fn read_attributes(path: &Path) -> Result<BTreeMap<String, String>, DataError> {
    let mut text = String::new();
    for line in text_lines(path)? {
        text += &line?;
        text.push('\n');
    }
    let bad = |reason: String| DataError::Format {
        path: path.to_owned(),
        line: 1,
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let serde_json::Value::Object(map) = value else {
        return Err(bad(
            "expected an object from item id to attribute ids".into()
        ));
    };
    let mut out = BTreeMap::new();
    for (item, ids) in map {
        let ids = ids
            .as_array()
            .and_then(|a| {
                a.iter()
                    .map(|v| v.as_u64().map(|n| n.to_string()))
                    .collect::<Option<Vec<_>>>()
            })
            .ok_or_else(|| {
                bad(format!(
                    "item `{item}`: expected a list of whole attribute ids"
                ))
            })?;
        out.insert(item, ids.join(" "));
    }
    Ok(out)
}

pub fn load(dir: &Path) -> Result<Catalog, DataError> {
    let (sequences, attributes_path) = find(dir)?;
    let attributes = read_attributes(&attributes_path)?;
    let name = sequences
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let name = name
        .trim_end_matches(".gz")
        .trim_end_matches(".txt")
        .to_owned();
    let mut b = Builder::new(&format!("{name} (S3-Rec format)"));
    b.file(&sequences);
    b.file(&attributes_path);
    b.positional_time();
    for (i, line) in text_lines(&sequences)?.enumerate() {
        let (line, no) = (line?, i + 1);
        let mut ids = line.split_whitespace();
        let Some(user) = ids.next() else {
            b.empty_row();
            continue;
        };
        for (pos, item) in ids.enumerate() {
            if !b.has_item(item) {
                let mut attrs = BTreeMap::new();
                if let Some(a) = attributes.get(item).filter(|a| !a.is_empty()) {
                    attrs.insert("attribute_ids".to_owned(), a.clone());
                }
                b.item(ProductEvent {
                    item_id: item.to_owned(),
                    ts: 0,
                    title: String::new(),
                    category: Vec::new(),
                    brand: None,
                    price: None,
                    description: None,
                    attributes: attrs,
                });
            }
            b.interaction(BehaviorEvent {
                event_id: format!("{name}-{no}-{pos}"),
                user_id: user.to_owned(),
                item_id: item.to_owned(),
                kind: BehaviorKind::Review,
                ts: pos as i64,
                session_id: None,
                rating: None,
                review_text: None,
            });
        }
    }
    Ok(b.finish())
}
