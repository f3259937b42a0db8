//! Amazon-2018 Gift Cards 5-core reviews with product metadata (see `data/README.md`), as a
//! time-ordered stream with each item's `ProductEvent` just before its first review.
//!
//! Why this set: it is the only shipped one with full catalogue metadata (title, category, brand,
//! price, description), i.e. product events as rich as a real catalogue feed sends them.
//!
//! Reviews (`reviews.json.gz`, JSON lines) become `review` events exactly as in
//! [`super::instruments`]: `overall` as the rating (whole number 1-5), `reviewText` as the text
//! (`None` when missing or empty; 6 reviews have only a `summary`, which the event has no field
//! for), `ts` the review day in milliseconds, `event_id = gift-cards-<line index>` (0-based, in
//! file order). Seven reviewer/item pairs have more than one review; all are kept.
//!
//! Metadata (`meta.json.gz`, 1,547 items) gives product events only for reviewed items (148).
//! The source's strings carry HTML entities (`&amp;`, `&#39;`) and stray spaces: they are decoded
//! and trimmed. `price` is kept only when it is a plain `$x.yz` amount (thousands commas allowed);
//! empty strings, ranges and the scraped CSS/HTML that some rows hold give `None`. An empty
//! category falls back to `["Gift Cards"]` (2 reviewed items), a missing title to the ASIN, and the
//! description lines are joined with newlines. Reviewed items without metadata (none in the
//! shipped file) get that fallback too.

use super::assemble::{assemble, open_gz, rating};
use super::{DataError, StreamEvent};
use crate::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::BufRead;
use std::path::Path;

pub const REVIEWS: &str = "reviews.json.gz";
pub const META: &str = "meta.json.gz";
pub const CATEGORY: &str = "Gift Cards";

#[derive(Deserialize)]
struct Review {
    overall: f64,
    #[serde(rename = "reviewerID")]
    reviewer_id: String,
    asin: String,
    #[serde(rename = "unixReviewTime")]
    unix_review_time: i64,
    #[serde(rename = "reviewText", default)]
    review_text: Option<String>,
}

#[derive(Deserialize)]
struct Meta {
    asin: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    category: Vec<String>,
    #[serde(default)]
    brand: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    description: Vec<String>,
}

/// Non-blank lines of a gzipped JSON-lines file, parsed, with their 1-based line numbers.
fn json_lines<T: serde::de::DeserializeOwned>(
    path: &Path,
    mut each: impl FnMut(usize, T) -> Result<(), DataError>,
) -> Result<(), DataError> {
    for (i, line) in open_gz(path)?.lines().enumerate() {
        let line = line.map_err(|source| DataError::Io {
            path: path.to_owned(),
            source,
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let value = serde_json::from_str(&line).map_err(|e| DataError::Format {
            path: path.to_owned(),
            line: i + 1,
            reason: e.to_string(),
        })?;
        each(i + 1, value)?;
    }
    Ok(())
}

/// Every review of an Amazon-2018 JSON-lines review file, in file order, with event ids
/// `<prefix>-<line index>`; shared with [`super::all_beauty`], the same format.
pub(super) fn read_reviews(
    reviews_path: &Path,
    prefix: &str,
) -> Result<Vec<(BehaviorEvent, ())>, DataError> {
    let mut rows = Vec::new();
    json_lines(reviews_path, |line, r: Review| {
        let bad = |reason: String| DataError::Format {
            path: reviews_path.to_owned(),
            line,
            reason,
        };
        if r.reviewer_id.is_empty() || r.asin.is_empty() {
            return Err(bad("empty reviewerID or asin".into()));
        }
        let rating = rating(r.overall)
            .ok_or_else(|| bad(format!("overall {} is not a rating 1-5", r.overall)))?;
        let ts = r.unix_review_time.checked_mul(1000).ok_or_else(|| {
            bad(format!(
                "unixReviewTime {} is out of range",
                r.unix_review_time
            ))
        })?;
        rows.push((
            BehaviorEvent {
                event_id: format!("{prefix}-{}", line - 1),
                user_id: r.reviewer_id,
                item_id: r.asin,
                kind: BehaviorKind::Review,
                ts,
                session_id: None,
                rating: Some(rating),
                review_text: r.review_text.filter(|t| !t.is_empty()),
            },
            (),
        ));
        Ok(())
    })?;
    Ok(rows)
}

/// The first `limit` reviews in time order (all with `None`), with product events.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<Vec<StreamEvent>, DataError> {
    let rows = read_reviews(&dir.join(REVIEWS), "gift-cards")?;
    let reviewed: HashSet<&str> = rows.iter().map(|(b, _)| b.item_id.as_str()).collect();
    let meta_path = dir.join(META);
    let mut meta: HashMap<String, Meta> = HashMap::new();
    json_lines(&meta_path, |_, m: Meta| {
        if reviewed.contains(m.asin.as_str()) {
            meta.entry(m.asin.clone()).or_insert(m);
        }
        Ok(())
    })?;

    Ok(assemble(rows, limit, |b, _| {
        product(&b.item_id, b.ts, meta.get(&b.item_id))
    }))
}

fn product(asin: &str, ts: i64, meta: Option<&Meta>) -> ProductEvent {
    let clean = |s: &str| Some(unescape_html(s.trim())).filter(|s| !s.is_empty());
    let description = meta.and_then(|m| {
        let lines: Vec<String> = m.description.iter().filter_map(|d| clean(d)).collect();
        (!lines.is_empty()).then(|| lines.join("\n"))
    });
    let category: Vec<String> = meta
        .map(|m| m.category.iter().filter_map(|c| clean(c)).collect())
        .unwrap_or_default();
    ProductEvent {
        item_id: asin.to_owned(),
        ts,
        title: meta
            .and_then(|m| clean(&m.title))
            .unwrap_or_else(|| asin.to_owned()),
        category: if category.is_empty() {
            vec![CATEGORY.to_owned()]
        } else {
            category
        },
        brand: meta.and_then(|m| clean(&m.brand)),
        price: meta.and_then(|m| parse_price(&m.price)),
        description,
        attributes: BTreeMap::new(),
    }
}

/// `$25.00`, `$1,250.00`, `$5` or `$7.5` -> the amount; anything else (empty, ranges such as
/// `$10.00 - $50.00`, scraped markup) -> `None`.
pub fn parse_price(s: &str) -> Option<f64> {
    let amount = s.trim().strip_prefix('$')?;
    let (whole, cents) = match amount.split_once('.') {
        Some((w, c)) => (w, Some(c)),
        None => (amount, None),
    };
    if let Some(c) = cents {
        if c.is_empty() || c.len() > 2 || !c.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
    }
    let groups: Vec<&str> = whole.split(',').collect();
    let grouped_ok = groups.iter().enumerate().all(|(i, g)| {
        !g.is_empty()
            && g.bytes().all(|b| b.is_ascii_digit())
            && (groups.len() == 1 || if i == 0 { g.len() <= 3 } else { g.len() == 3 })
    });
    if !grouped_ok {
        return None;
    }
    let digits: String = groups.concat();
    let text = match cents {
        Some(c) => format!("{digits}.{c}"),
        None => digits,
    };
    text.parse().ok()
}

/// Decodes the HTML entities the Amazon metadata carries: `&amp; &lt; &gt; &quot; &apos;`,
/// `&#NNN;` and `&#xHH;`. Anything else is left as written.
pub fn unescape_html(s: &str) -> String {
    if !s.contains('&') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let decoded = rest.find(';').filter(|&end| end <= 10).and_then(|end| {
            let name = &rest[1..end];
            let c = match name {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                _ => {
                    let code = if let Some(hex) =
                        name.strip_prefix("#x").or_else(|| name.strip_prefix("#X"))
                    {
                        u32::from_str_radix(hex, 16).ok()
                    } else if let Some(dec) = name.strip_prefix('#') {
                        dec.parse().ok()
                    } else {
                        None
                    };
                    code.and_then(char::from_u32)
                }
            };
            c.map(|c| (c, end))
        });
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &rest[end + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices() {
        assert_eq!(parse_price("$25.00"), Some(25.0));
        assert_eq!(parse_price("$1,250.00"), Some(1250.0));
        assert_eq!(parse_price("$5"), Some(5.0));
        assert_eq!(parse_price(""), None);
        assert_eq!(parse_price("$10.00 - $50.00"), None);
        assert_eq!(parse_price("$1,25.00"), None);
        assert_eq!(parse_price("$.50"), None);
        assert_eq!(parse_price("$25."), None);
        assert_eq!(parse_price(".a-box-inner{background-color:#fff}"), None);
    }

    #[test]
    fn entities() {
        assert_eq!(unescape_html("Noodles &amp; Company"), "Noodles & Company");
        assert_eq!(unescape_html("Papa John&#39;s"), "Papa John's");
        assert_eq!(unescape_html("it&#x2019;s"), "it\u{2019}s");
        assert_eq!(unescape_html("AT&T & co;"), "AT&T & co;");
        assert_eq!(unescape_html("&#xD800;"), "&#xD800;");
        assert_eq!(unescape_html("trailing &"), "trailing &");
    }
}
