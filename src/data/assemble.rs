//! The pieces of stream assembly that the loaders share, and the cold-start item split that
//! `replay` reports.

use super::{DataError, StreamEvent};
use crate::events::{BehaviorEvent, ProductEvent};
use flate2::read::GzDecoder;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashSet;
use std::io::BufReader;
use std::path::Path;

/// A gzip file opened for line or CSV reading.
pub(crate) fn open_gz(path: &Path) -> Result<BufReader<GzDecoder<std::fs::File>>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(BufReader::new(GzDecoder::new(file)))
}

/// Turns interactions (in source order, each with whatever its product event needs) into a
/// stream: a stable sort by timestamp (ties keep source order), the first `limit` interactions,
/// and each item's product event, built by `product` and stamped with the interaction's time,
/// right before its first interaction.
pub(crate) fn assemble<T>(
    mut rows: Vec<(BehaviorEvent, T)>,
    limit: Option<usize>,
    mut product: impl FnMut(&BehaviorEvent, &T) -> ProductEvent,
) -> Vec<StreamEvent> {
    rows.sort_by_key(|(b, _)| b.ts);
    if let Some(n) = limit {
        rows.truncate(n);
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(rows.len() * 2);
    for (b, extra) in rows {
        if !seen.contains(&b.item_id) {
            seen.insert(b.item_id.clone());
            let mut p = product(&b, &extra);
            p.item_id = b.item_id.clone();
            p.ts = b.ts;
            out.push(StreamEvent::Product(p));
        }
        out.push(StreamEvent::Behavior(b));
    }
    out
}

/// The rating of an Amazon review: `overall` must be a whole number from 1 to 5 (`5.0` is fine).
pub(crate) fn rating(overall: f64) -> Option<i32> {
    (overall.fract() == 0.0 && (1.0..=5.0).contains(&overall)).then_some(overall as i32)
}

/// `fraction` of the distinct item ids of `stream` (rounded to the nearest count; clamped to
/// 0..=1, NaN counts as 0), drawn with `StdRng::seed_from_u64(seed)`. The ids are sorted before
/// the draw, so the result depends only on the set of items and the seed, not on stream order.
pub fn split_new_items(stream: &[StreamEvent], fraction: f64, seed: u64) -> HashSet<String> {
    let mut ids: Vec<&str> = stream
        .iter()
        .map(|e| match e {
            StreamEvent::Behavior(b) => b.item_id.as_str(),
            StreamEvent::Product(p) => p.item_id.as_str(),
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    ids.sort_unstable();
    let fraction = if fraction.is_nan() {
        0.0
    } else {
        fraction.clamp(0.0, 1.0)
    };
    let k = ((ids.len() as f64) * fraction).round() as usize;
    let mut rng = StdRng::seed_from_u64(seed);
    let k = k.min(ids.len());
    let (chosen, _) = ids.partial_shuffle(&mut rng, k);
    chosen.iter().map(|s| (*s).to_owned()).collect()
}
