//! A catalogue: users, items with their content, and time-stamped interactions. It is what every
//! evaluation, trainer and `replay` reads, whatever the files it came from: the shipped data sets
//! (`data::beauty` and the others) are sources of catalogues, like a user's own files in the
//! documented TSV format ([`tsv`]) or the S3-Rec benchmark format ([`s3rec`]); [`open`] picks the
//! reader for a folder.
//!
//! Two orders matter, and they are kept apart:
//! - the **index order** of users and items (the order in which they first appear in the source
//!   files) numbers them for the offline protocols, so that two encodings of one catalogue (for
//!   example Beauty as vendored and its S3-Rec form) number them alike and get the same splits;
//! - the **time order** of interactions (stable: ties keep the source's order, or the source's
//!   own tie-break) is what the streams and the time-based protocols replay.

mod builder;
pub mod format;
mod report;
pub mod s3rec;
pub mod tsv;

pub use builder::Builder;
pub use format::{detect, open, CatalogFormat};
pub use report::{Fields, Report};

use super::StreamEvent;
use crate::events::{BehaviorEvent, ProductEvent};
use std::collections::{HashMap, HashSet};

#[derive(Debug, Clone)]
pub struct Catalog {
    /// What the output calls it, e.g. `Amazon Beauty 5-core` or the folder's name.
    pub name: String,
    /// The files it was read from and what was counted while reading them.
    pub report: Report,
    users: Vec<String>,
    /// In index order; `ts` is the item's first interaction (0 for an item without any).
    items: Vec<ProductEvent>,
    /// In time order.
    interactions: Vec<BehaviorEvent>,
}

impl Catalog {
    /// A catalogue from a time-ordered stream in which each item's product event comes before
    /// its interactions (what the loaders built on `data::assemble` produce): items in the order
    /// of their product events (a repeated one is counted, the first kept), users in order of
    /// first appearance.
    pub fn from_stream(name: &str, stream: Vec<StreamEvent>) -> Catalog {
        let mut users = Vec::new();
        let mut seen = HashSet::new();
        let mut items = Vec::new();
        let mut item_ids = HashSet::new();
        let mut report = Report::default();
        let mut interactions = Vec::new();
        for e in stream {
            match e {
                StreamEvent::Product(p) => {
                    if item_ids.insert(p.item_id.clone()) {
                        items.push(p);
                    } else {
                        report.duplicate_items += 1;
                    }
                }
                StreamEvent::Behavior(b) => {
                    if seen.insert(b.user_id.clone()) {
                        users.push(b.user_id.clone());
                    }
                    interactions.push(b);
                }
            }
        }
        Catalog {
            name: name.to_owned(),
            report,
            users,
            items,
            interactions,
        }
    }

    /// User ids in index order.
    pub fn users(&self) -> &[String] {
        &self.users
    }

    /// Items in index order.
    pub fn items(&self) -> &[ProductEvent] {
        &self.items
    }

    /// Interactions in time order.
    pub fn interactions(&self) -> &[BehaviorEvent] {
        &self.interactions
    }

    /// The whole catalogue as a stream (see [`Catalog::stream_prefix`]).
    pub fn stream(&self) -> Vec<StreamEvent> {
        self.stream_prefix(None)
    }

    /// The first `limit` interactions in time order, each item's product event (stamped with the
    /// time of its first interaction) right before that interaction. Items that no interaction
    /// of the prefix names are not in the stream.
    pub fn stream_prefix(&self, limit: Option<usize>) -> Vec<StreamEvent> {
        let n = limit.map_or(self.interactions.len(), |l| l.min(self.interactions.len()));
        let by_id: HashMap<&str, &ProductEvent> =
            self.items.iter().map(|p| (p.item_id.as_str(), p)).collect();
        let mut emitted = HashSet::new();
        let mut out = Vec::with_capacity(n + self.items.len().min(n));
        for b in &self.interactions[..n] {
            if emitted.insert(b.item_id.as_str()) {
                if let Some(p) = by_id.get(b.item_id.as_str()) {
                    let mut p = (*p).clone();
                    p.ts = b.ts;
                    out.push(StreamEvent::Product(p));
                }
            }
            out.push(StreamEvent::Behavior(b.clone()));
        }
        out
    }

    /// The same catalogue with every item's content rewritten by `f` (for example, reduced to
    /// the fields another format has).
    pub fn map_items(mut self, f: impl FnMut(&mut ProductEvent)) -> Catalog {
        self.items.iter_mut().for_each(f);
        self
    }

    /// Which content fields and interaction fields the catalogue has, with counts.
    pub fn fields(&self) -> Fields {
        Fields::of(&self.items, &self.interactions)
    }

    /// What the commands print before any work: sizes, time span, fields found, and what was
    /// counted while reading.
    pub fn summary(&self) -> String {
        report::summary(self)
    }
}
