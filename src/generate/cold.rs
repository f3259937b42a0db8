//! Products that are still cold after their first generation.
//!
//! A new product gets synthetic reviews and behaviour once, when it arrives. If real shoppers do
//! not follow within `interval_ms`, its synthetic evidence is all the recommender has, and one
//! draw of a few users is a thin base: the stage then generates for it again, up to `max_rounds`
//! more times, until it has `min_real_interactions` real interactions (counted from the real
//! events on the enriched topic). The catalogue holds only such products, at most
//! `max_products` of them: when full, the one tracked longest is forgotten (and counted).
//!
//! Pure bookkeeping, with the clock passed in, so that the service decides when and the tests
//! need no timers.

use crate::events::ProductEvent;
use std::collections::{BTreeMap, HashMap};

pub use crate::topology::generation::TopUpConfig;

struct Entry {
    product: ProductEvent,
    real: u32,
    rounds: u32,
    /// Its key in the schedule.
    due: (i64, u64),
}

#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Left the catalogue with enough real interactions.
    pub warmed: u64,
    /// Left it after its last round.
    pub exhausted: u64,
    /// Forgotten because the catalogue was full.
    pub evicted: u64,
}

pub struct ColdCatalogue {
    config: TopUpConfig,
    items: HashMap<String, Entry>,
    /// (due time, insertion number) -> item: the next due is the first key.
    schedule: BTreeMap<(i64, u64), String>,
    next: u64,
    pub counts: Counts,
}

impl ColdCatalogue {
    pub fn new(config: TopUpConfig) -> Self {
        ColdCatalogue {
            config,
            items: HashMap::new(),
            schedule: BTreeMap::new(),
            next: 0,
            counts: Counts::default(),
        }
    }

    /// What happened since the last call.
    pub fn take_counts(&mut self) -> Counts {
        std::mem::take(&mut self.counts)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn key(&mut self, at: i64) -> (i64, u64) {
        self.next += 1;
        (at, self.next)
    }

    /// A product was just generated for the first time: it is due again in `interval_ms`. A
    /// product already tracked (the same item published again) keeps its count and rounds.
    pub fn track(&mut self, product: &ProductEvent, now_ms: i64) {
        if self.items.contains_key(&product.item_id) {
            return;
        }
        if self.items.len() >= self.config.max_products {
            if let Some((_, oldest)) = self.schedule.pop_first() {
                self.items.remove(&oldest);
                self.counts.evicted += 1;
            }
        }
        let due = self.key(now_ms + self.config.interval_ms as i64);
        self.schedule.insert(due, product.item_id.clone());
        self.items.insert(
            product.item_id.clone(),
            Entry {
                product: product.clone(),
                real: 0,
                rounds: 0,
                due,
            },
        );
    }

    /// A real interaction with `item`; at `min_real_interactions` the item is warm and leaves.
    pub fn real_interaction(&mut self, item: &str) {
        let Some(e) = self.items.get_mut(item) else {
            return;
        };
        e.real += 1;
        if e.real >= self.config.min_real_interactions {
            let due = e.due;
            self.items.remove(item);
            self.schedule.remove(&due);
            self.counts.warmed += 1;
        }
    }

    /// Up to `limit` products due at `now_ms`, each counted as one more round and scheduled again
    /// (or, after its last round, forgotten).
    pub fn due(&mut self, now_ms: i64, limit: usize) -> Vec<ProductEvent> {
        let mut out = Vec::new();
        while out.len() < limit {
            let Some(entry) = self.schedule.first_entry() else {
                break;
            };
            if entry.key().0 > now_ms {
                break;
            }
            let item = entry.remove();
            let next = self.key(now_ms + self.config.interval_ms as i64);
            let Some(e) = self.items.get_mut(&item) else {
                continue;
            };
            e.rounds += 1;
            out.push(e.product.clone());
            if e.rounds >= self.config.max_rounds {
                self.items.remove(&item);
                self.counts.exhausted += 1;
            } else {
                e.due = next;
                self.schedule.insert(next, item);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str) -> ProductEvent {
        ProductEvent {
            item_id: id.into(),
            ts: 0,
            title: format!("product {id}"),
            category: vec![],
            brand: None,
            price: None,
            description: None,
            attributes: Default::default(),
        }
    }

    fn catalogue(max_products: usize) -> ColdCatalogue {
        ColdCatalogue::new(TopUpConfig {
            min_real_interactions: 2,
            interval_ms: 1000,
            max_rounds: 2,
            max_products,
        })
    }

    fn ids(v: Vec<ProductEvent>) -> Vec<String> {
        v.into_iter().map(|p| p.item_id).collect()
    }

    #[test]
    fn a_product_without_real_interactions_comes_back_every_interval_until_its_last_round() {
        let mut c = catalogue(10);
        c.track(&product("a"), 0);
        assert!(c.due(999, 10).is_empty(), "not due before its interval");
        assert_eq!(ids(c.due(1000, 10)), ["a"]);
        assert!(c.due(1999, 10).is_empty());
        assert_eq!(ids(c.due(2000, 10)), ["a"]);
        assert!(c.due(100_000, 10).is_empty(), "two rounds at most");
        assert_eq!(c.counts.exhausted, 1);
        assert!(c.is_empty());
    }

    #[test]
    fn enough_real_interactions_take_a_product_out() {
        let mut c = catalogue(10);
        c.track(&product("a"), 0);
        c.track(&product("b"), 0);
        c.real_interaction("a");
        c.real_interaction("unknown");
        assert_eq!(
            ids(c.due(1000, 10)),
            ["a", "b"],
            "one real interaction is not enough"
        );
        c.real_interaction("a");
        assert_eq!(ids(c.due(2000, 10)), ["b"]);
        assert_eq!(c.counts.warmed, 1);
    }

    #[test]
    fn due_products_come_oldest_first_and_the_limit_holds_the_rest_back() {
        let mut c = catalogue(10);
        for (i, id) in ["a", "b", "c"].into_iter().enumerate() {
            c.track(&product(id), i as i64);
        }
        assert_eq!(ids(c.due(5000, 2)), ["a", "b"]);
        assert_eq!(ids(c.due(5000, 2)), ["c"], "held back, not lost");
    }

    #[test]
    fn a_full_catalogue_forgets_the_longest_tracked_and_counts_it() {
        let mut c = catalogue(2);
        c.track(&product("a"), 0);
        c.track(&product("b"), 1);
        c.track(&product("a"), 2);
        assert_eq!(c.len(), 2, "tracking again is not a new entry");
        c.track(&product("c"), 3);
        assert_eq!(c.len(), 2);
        assert_eq!(c.counts.evicted, 1);
        assert_eq!(ids(c.due(10_000, 10)), ["b", "c"]);
    }

    #[test]
    fn config_errors_name_the_field() {
        let bad = TopUpConfig {
            interval_ms: 5,
            ..TopUpConfig::default()
        };
        assert_eq!(bad.invalid_field().unwrap().0, "interval_ms");
        assert!(TopUpConfig::default().invalid_field().is_none());
    }
}
