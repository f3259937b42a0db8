//! What reading a catalogue found: the rows it skipped (counted, never silently), and which
//! content fields the items and interactions carry, so that a user sees what the content
//! features are made of before any work starts.

use super::Catalog;
use crate::events::{BehaviorEvent, ProductEvent};
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Report {
    pub files: Vec<PathBuf>,
    pub empty_rows: usize,
    /// Interaction rows identical to an earlier one in everything but their event id; dropped.
    pub duplicate_interactions: usize,
    /// Item rows whose id an earlier row had; the first is kept.
    pub duplicate_items: usize,
    /// Items with a row but no interaction: kept (they are rankable), absent from the stream.
    pub items_without_interactions: usize,
    /// Items that interactions name but no row describes (formats where rows are optional):
    /// added without content.
    pub items_without_rows: usize,
    /// The format has no times: `ts` is the position in the user's sequence.
    pub positional_time: bool,
}

/// How many items and interactions carry each field.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Fields {
    pub titles: usize,
    pub brands: usize,
    pub categories: usize,
    pub descriptions: usize,
    /// Attribute name -> items with it.
    pub attributes: BTreeMap<String, usize>,
    /// Kind -> interactions of it.
    pub kinds: BTreeMap<&'static str, usize>,
    pub ratings: usize,
    pub review_texts: usize,
}

impl Fields {
    pub fn of(items: &[ProductEvent], interactions: &[BehaviorEvent]) -> Fields {
        let mut f = Fields::default();
        for p in items {
            f.titles += usize::from(!p.title.trim().is_empty() && p.title != p.item_id);
            f.brands += usize::from(p.brand.is_some());
            f.categories += usize::from(!p.category.is_empty());
            f.descriptions += usize::from(p.description.is_some());
            for k in p.attributes.keys() {
                *f.attributes.entry(k.clone()).or_default() += 1;
            }
        }
        for b in interactions {
            *f.kinds.entry(b.kind.as_str()).or_default() += 1;
            f.ratings += usize::from(b.rating.is_some());
            f.review_texts += usize::from(b.review_text.is_some());
        }
        f
    }

    /// The content fields that the features are built from, e.g. `title (12101 items),
    /// categories (12101), attributes: attribute_ids (12101)`.
    pub fn content(&self) -> String {
        let mut parts = Vec::new();
        for (name, n) in [
            ("title", self.titles),
            ("brand", self.brands),
            ("categories", self.categories),
            ("description", self.descriptions),
        ] {
            if n > 0 {
                parts.push(format!("{name} ({n})"));
            }
        }
        if !self.attributes.is_empty() {
            let a: Vec<String> = self
                .attributes
                .iter()
                .map(|(k, n)| format!("{k} ({n})"))
                .collect();
            parts.push(format!("attributes {}", a.join(", ")));
        }
        if parts.is_empty() {
            "none (content-based models will score every item alike)".into()
        } else {
            parts.join(", ")
        }
    }
}

fn day(ts_ms: i64) -> String {
    let (y, m, d) = crate::events::time::civil_date(ts_ms);
    format!("{y:04}-{m:02}-{d:02}")
}

pub(super) fn summary(c: &Catalog) -> String {
    let f = c.fields();
    let r = &c.report;
    let (first, last) = (
        c.interactions().first().map_or(0, |b| b.ts),
        c.interactions().last().map_or(0, |b| b.ts),
    );
    let span = if r.positional_time {
        format!("positions 0..{last} in each user's sequence; the format has no times")
    } else {
        format!("{} .. {}", day(first), day(last))
    };
    let kinds: Vec<String> = f.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let mut s = format!(
        "catalogue {}: {} users, {} items, {} interactions ({span})\n",
        c.name,
        c.users().len(),
        c.items().len(),
        c.interactions().len(),
    );
    s += &format!("  content: {}\n", f.content());
    s += &format!(
        "  interactions: {}; {} with a rating, {} with review text\n",
        kinds.join(", "),
        f.ratings,
        f.review_texts
    );
    s += &format!(
        "  rows skipped or merged: {} empty, {} duplicate interactions (dropped), {} duplicate items (first kept); {} items without interactions\n",
        r.empty_rows, r.duplicate_interactions, r.duplicate_items, r.items_without_interactions
    );
    if r.items_without_rows > 0 {
        s += &format!(
            "  {} items have interactions but no row: they have no content\n",
            r.items_without_rows
        );
    }
    if !r.files.is_empty() {
        let files: Vec<String> = r.files.iter().map(|p| p.display().to_string()).collect();
        s += &format!("  files: {}\n", files.join(", "));
    }
    if !r.positional_time && last > 0 && last < 100_000_000_000 {
        // 1973 in milliseconds: almost surely seconds, which would squeeze every gap 1000-fold.
        s += "  warning: the latest timestamp is before 1973 in milliseconds; are they seconds?\n";
    }
    s
}
