//! Builds a [`Catalog`] from rows in source order. Every reader goes through it, so that
//! duplicates are found, counted and reported the same way, and users and items are numbered
//! by first appearance whatever the format.

use super::{Catalog, Report};
use crate::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use std::cmp::Ordering;
use std::collections::hash_map::{DefaultHasher, Entry};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;

pub struct Builder {
    name: String,
    report: Report,
    items: Vec<ProductEvent>,
    item_index: HashMap<String, usize>,
    /// Source order.
    interactions: Vec<BehaviorEvent>,
    /// A hash of each kept interaction's content (all but its event id) and the first row with
    /// it; a hit is compared in full, so a collision never drops a row.
    rows: HashMap<u64, usize>,
}

/// What makes two interactions the same row: everything but the event id.
type Content<'a> = (
    &'a str,
    &'a str,
    BehaviorKind,
    i64,
    &'a Option<String>,
    Option<i32>,
    &'a Option<String>,
);

fn content(b: &BehaviorEvent) -> Content<'_> {
    (
        &b.user_id,
        &b.item_id,
        b.kind,
        b.ts,
        &b.session_id,
        b.rating,
        &b.review_text,
    )
}

fn content_hash(b: &BehaviorEvent) -> u64 {
    let mut h = DefaultHasher::new();
    content(b).hash(&mut h);
    h.finish()
}

impl Builder {
    pub fn new(name: &str) -> Builder {
        Builder {
            name: name.to_owned(),
            report: Report::default(),
            items: Vec::new(),
            item_index: HashMap::new(),
            interactions: Vec::new(),
            rows: HashMap::new(),
        }
    }

    /// Records a file the catalogue is read from (for the summary and model cards).
    pub fn file(&mut self, path: &Path) {
        self.report.files.push(path.to_owned());
    }

    /// A blank line: skipped, and counted.
    pub fn empty_row(&mut self) {
        self.report.empty_rows += 1;
    }

    /// Marks the catalogue's timestamps as positions in each user's sequence (a format without
    /// times), which the summary says.
    pub fn positional_time(&mut self) {
        self.report.positional_time = true;
    }

    /// Adds an item; a second row for the same id is counted and the first one kept. Returns
    /// whether it was added.
    pub fn item(&mut self, p: ProductEvent) -> bool {
        match self.item_index.entry(p.item_id.clone()) {
            Entry::Occupied(_) => {
                self.report.duplicate_items += 1;
                false
            }
            Entry::Vacant(v) => {
                v.insert(self.items.len());
                self.items.push(p);
                true
            }
        }
    }

    pub fn has_item(&self, id: &str) -> bool {
        self.item_index.contains_key(id)
    }

    /// Adds an interaction; one identical to an earlier one in everything but its event id is
    /// counted and dropped. Returns whether it was added. Readers whose format requires a row
    /// per item check [`Builder::has_item`] first and fail; for the others an item without a
    /// row gets a bare one (its id, no content), counted in the report.
    pub fn interaction(&mut self, b: BehaviorEvent) -> bool {
        if !self.has_item(&b.item_id) {
            self.item(ProductEvent::titled(&b.item_id, ""));
            self.report.items_without_rows += 1;
        }
        match self.rows.entry(content_hash(&b)) {
            Entry::Occupied(first) => {
                if content(&self.interactions[*first.get()]) == content(&b) {
                    self.report.duplicate_interactions += 1;
                    return false;
                }
            }
            Entry::Vacant(v) => {
                v.insert(self.interactions.len());
            }
        }
        self.interactions.push(b);
        true
    }

    /// The catalogue, interactions sorted by time with ties in source order.
    pub fn finish(self) -> Catalog {
        self.finish_with(|_, _| Ordering::Equal)
    }

    /// As [`Builder::finish`], with `tie` ordering same-time interactions by their source
    /// positions (a stable sort: what `tie` leaves equal keeps the source order).
    pub fn finish_with(self, tie: impl Fn(usize, usize) -> Ordering) -> Catalog {
        let Builder {
            name,
            mut report,
            items,
            item_index,
            interactions,
            rows: _,
        } = self;
        // Index order: users and items by first appearance in the source's interactions, then
        // the items no interaction names, in the order of their rows.
        let mut users = Vec::new();
        let mut user_seen = std::collections::HashSet::new();
        let mut item_order = Vec::with_capacity(items.len());
        let mut item_used = vec![false; items.len()];
        let mut first_ts = vec![0i64; items.len()];
        for b in &interactions {
            if user_seen.insert(b.user_id.as_str()) {
                users.push(b.user_id.clone());
            }
            let i = item_index[&b.item_id];
            if !item_used[i] {
                item_used[i] = true;
                item_order.push(i);
                first_ts[i] = b.ts;
            }
            first_ts[i] = first_ts[i].min(b.ts);
        }
        report.items_without_interactions = item_used.iter().filter(|u| !**u).count();
        item_order.extend((0..items.len()).filter(|&i| !item_used[i]));
        let mut slots: Vec<Option<ProductEvent>> = items.into_iter().map(Some).collect();
        let items = item_order
            .into_iter()
            .map(|i| {
                let mut p = slots[i].take().expect("each item once");
                p.ts = first_ts[i];
                p
            })
            .collect();
        let mut order: Vec<usize> = (0..interactions.len()).collect();
        order.sort_by(|&a, &b| {
            interactions[a]
                .ts
                .cmp(&interactions[b].ts)
                .then_with(|| tie(a, b))
        });
        let mut slots: Vec<Option<BehaviorEvent>> = interactions.into_iter().map(Some).collect();
        let interactions = order
            .into_iter()
            .map(|i| slots[i].take().expect("each interaction once"))
            .collect();
        Catalog {
            name,
            report,
            users,
            items,
            interactions,
        }
    }
}
