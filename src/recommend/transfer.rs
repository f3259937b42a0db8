//! The transfer generator: synthetic first shoppers for a new product, drawn from the real,
//! recent shoppers of its nearest content neighbours. It is the nearest-neighbour form of what
//! the behaviour GAN should learn (content mapped to who buys), with no training. It beat the GAN
//! on the stream evaluation (`eval stream`), so it is the generation stage's default source.
//!
//! It learns from the stream: every real interaction adds its user to the item's recent shoppers
//! (the last [`TransferConfig::recent`] distinct ones), every product adds its content to an
//! inverted index. A new product's neighbours are the items with the highest cosine of hashed
//! content features that have shoppers. The stream evaluation and the cold-start table feed it in
//! process; the generation stage feeds it from its topics (`generate::shoppers`). It lives with
//! the models, below the evaluations and the services, so that all three run the same code.

use super::exposure::Exposure;
use crate::events::ProductEvent;
use crate::recommend::features::{hashed, named_features, Sparse};
use crate::recommend::splitmix::SplitMix64;
use rand::Rng;
use serde::Deserialize;
use std::collections::{HashMap, VecDeque};

/// The transfer generator's settings, `[generation.transfer]` in a topology. A new product's synthetic shoppers are drawn
/// from the real, recent shoppers of its nearest content neighbours; the same settings drive the
/// stream evaluation's `transfer` row, so what is measured is what the stage runs.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    /// Content neighbours whose shoppers are drawn from.
    pub neighbours: usize,
    /// While the nearest `neighbours` have fewer than `users` distinct shoppers between them,
    /// further neighbours are added in order of similarity, up to this many in all (a value not
    /// above `neighbours` means no widening, the default).
    pub max_neighbours: usize,
    /// Recent distinct shoppers kept per item.
    pub recent: usize,
    /// Synthetic shoppers per new product (one view each, at the product's time).
    pub users: usize,
    /// Weigh shared content features by their inverse document frequency (squared, as in a
    /// TF-IDF cosine) when choosing neighbours, so that a shared brand counts for more than the
    /// shared top category every product has.
    pub idf: bool,
    /// A user is drawn for at most this many new products per `window_ms` of event time (0: no
    /// cap). Heavy shoppers are among the recent shoppers of most neighbourhoods.
    pub max_per_user: u32,
    pub window_ms: u64,
    /// At start the stage reads the enriched and accepted-products topics from the beginning to
    /// rebuild the shoppers it draws from, up to where they ended then, before it takes a new
    /// product; after this long it goes on with what it has (and says so in the log; 0: no
    /// wait, the index fills as it reads).
    pub restore_timeout_ms: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            neighbours: 5,
            max_neighbours: 5,
            recent: 50,
            // Chosen on the validation period (`eval stream --validation`): 10, 40, 80 and 160
            // users gave 1.08x, 1.20x, 1.26x and 1.26x no synthesis there.
            users: 80,
            idf: false,
            // On the validation period a cap of 2 (or 1) new products per user per hour moved the
            // new items' figure by 0.01x and warm items' not at all (docs/benchmarks.md): no cap.
            max_per_user: 0,
            window_ms: 3_600_000,
            restore_timeout_ms: 120_000,
        }
    }
}

impl TransferConfig {
    /// The first invalid field, by its name under `generation.transfer`, and why.
    pub fn invalid_field(&self) -> Option<(&'static str, &'static str)> {
        if self.neighbours == 0 {
            return Some(("neighbours", "must be at least 1"));
        }
        if self.recent == 0 {
            return Some(("recent", "must be at least 1"));
        }
        if self.neighbours > 10_000 || self.max_neighbours > 10_000 {
            return Some(("neighbours", "at most 10000 (with max_neighbours)"));
        }
        if self.recent > 100_000 {
            return Some(("recent", "at most 100000"));
        }
        if !(1..=1000).contains(&self.users) {
            return Some(("users", "must be 1 to 1000"));
        }
        if self.max_per_user > 0 && self.window_ms == 0 {
            return Some(("window_ms", "must be at least 1 when max_per_user is set"));
        }
        None
    }
}

pub struct Transfer {
    config: TransferConfig,
    index: HashMap<String, u32>,
    vectors: Vec<Sparse>,
    /// Bucket -> items with it and their weight.
    postings: HashMap<u32, Vec<(u32, f32)>>,
    /// Per item: (event time, user), oldest first.
    shoppers: Vec<VecDeque<(i64, String)>>,
    user_index: HashMap<String, u32>,
    exposure: Exposure,
}

impl Transfer {
    pub fn new(config: TransferConfig) -> Transfer {
        Transfer {
            config: config.clone(),
            index: HashMap::new(),
            vectors: Vec::new(),
            postings: HashMap::new(),
            shoppers: Vec::new(),
            user_index: HashMap::new(),
            exposure: Exposure::new(0, config.max_per_user, config.window_ms),
        }
    }

    /// Users it has seen, and items (with content or shoppers).
    pub fn users(&self) -> usize {
        self.user_index.len()
    }

    pub fn items(&self) -> usize {
        self.vectors.len()
    }

    fn item(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.vectors.len() as u32;
        self.index.insert(id.to_owned(), i);
        self.vectors.push(Vec::new());
        self.shoppers.push(VecDeque::new());
        i
    }

    /// A product's content; the first one of an item counts.
    pub fn product(&mut self, p: &ProductEvent) {
        self.content(&p.item_id, &named_features(p));
    }

    /// An item's named content features (as [`named_features`] writes them); the first counts.
    pub fn content(&mut self, id: &str, features: &[String]) {
        let i = self.item(id);
        if !self.vectors[i as usize].is_empty() {
            return;
        }
        let v = hashed(features);
        for &(b, w) in &v {
            self.postings.entry(b).or_default().push((i, w));
        }
        self.vectors[i as usize] = v;
    }

    /// A real interaction at event time `ts`: `user` becomes one of `item`'s most recent
    /// shoppers. Recent by event time, not arrival: the stage reads an item's interactions from
    /// several partitions in no fixed order, and a restore must keep the same shoppers whatever
    /// the order (among equal times, the later arrival counts as more recent).
    pub fn interaction(&mut self, user: &str, item: &str, ts: i64) {
        if !self.user_index.contains_key(user) {
            let n = self.user_index.len() as u32;
            self.user_index.insert(user.to_owned(), n);
            self.exposure.grow(n as usize + 1);
        }
        let i = self.item(item) as usize;
        let recent = &mut self.shoppers[i];
        if let Some(pos) = recent.iter().position(|(_, u)| u == user) {
            if recent[pos].0 > ts {
                return;
            }
            recent.remove(pos);
        }
        let at = recent.partition_point(|(t, _)| *t <= ts);
        if at == 0 && recent.len() >= self.config.recent {
            return;
        }
        recent.insert(at, (ts, user.to_owned()));
        if recent.len() > self.config.recent {
            recent.pop_front();
        }
    }

    /// The `limit` items with shoppers most similar to `me`, most similar first, with their
    /// similarity. Every item sharing a bucket is a candidate (the category every product has
    /// makes that most of the catalogue), so only the top `limit` are sorted, not all of them.
    fn nearest(&self, me: u32, limit: usize) -> Vec<(u32, f32)> {
        let mut acc: HashMap<u32, f32> = HashMap::new();
        for &(b, w) in &self.vectors[me as usize] {
            let postings = self.postings.get(&b).map_or(&[][..], |v| v);
            let idf = if self.config.idf {
                let n = self.vectors.len().max(1) as f32;
                ((n / postings.len().max(1) as f32).ln() + 1.0).powi(2)
            } else {
                1.0
            };
            for &(j, wj) in postings {
                if j != me && !self.shoppers[j as usize].is_empty() {
                    *acc.entry(j).or_default() += w * wj * idf;
                }
            }
        }
        let mut near: Vec<(u32, f32)> = acc.into_iter().collect();
        // A total order (ties by index), so the selected top is the sorted list's prefix.
        let order = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
        if limit == 0 {
            return Vec::new();
        }
        if near.len() > limit {
            near.select_nth_unstable_by(limit - 1, order);
            near.truncate(limit);
        }
        near.sort_unstable_by(order);
        near
    }

    /// The `n` nearest items with shoppers of the item `id` (whose content must have been added),
    /// most similar first, with their similarity.
    pub fn neighbours(&self, id: &str, n: usize) -> Vec<(String, f32)> {
        let Some(&me) = self.index.get(id) else {
            return Vec::new();
        };
        let names: HashMap<u32, &str> = self.index.iter().map(|(k, &v)| (v, k.as_str())).collect();
        self.nearest(me, n)
            .into_iter()
            .map(|(j, cos)| (names[&j].to_owned(), cos))
            .collect()
    }

    /// Up to `users` distinct synthetic shoppers for the new product `p` (whose content must
    /// have been added), drawn without replacement with probability proportional to the summed
    /// cosine of the neighbours they shopped, most recent shoppers first among equals; users at
    /// their exposure cap are passed over.
    pub fn shoppers_for(&mut self, p: &ProductEvent, rng: &mut SplitMix64) -> Vec<String> {
        self.shoppers_of(&p.item_id, p.ts, rng)
    }

    /// As [`Transfer::shoppers_for`], for the item `id` launched at `ts`.
    pub fn shoppers_of(&mut self, id: &str, ts: i64, rng: &mut SplitMix64) -> Vec<String> {
        let Some(&me) = self.index.get(id) else {
            return Vec::new();
        };
        let widest = self.config.max_neighbours.max(self.config.neighbours);
        let near = self.nearest(me, widest);
        let mut weight: Vec<(String, f32)> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        let capped = self.config.max_per_user > 0;
        let (exposure, index) = (&self.exposure, &self.user_index);
        let allowed = |u: &str| !capped || index.get(u).is_none_or(|&i| exposure.allows(i, ts));
        // The nearest `neighbours`, then further ones while they have fewer than `users` distinct
        // shoppers between them, up to `max_neighbours`.
        for (n, &(j, cos)) in near.iter().enumerate() {
            if n >= widest || (n >= self.config.neighbours && weight.len() >= self.config.users) {
                break;
            }
            for (_, u) in self.shoppers[j as usize].iter().rev() {
                if !allowed(u) {
                    continue;
                }
                match at.get(u.as_str()) {
                    Some(&k) => weight[k].1 += cos,
                    None => {
                        at.insert(u, weight.len());
                        weight.push((u.clone(), cos));
                    }
                }
            }
        }
        let mut out = Vec::new();
        while out.len() < self.config.users && !weight.is_empty() {
            let total: f32 = weight.iter().map(|w| w.1).sum();
            let mut x = rng.random::<f32>() * total;
            let mut k = weight.len() - 1;
            for (n, w) in weight.iter().enumerate() {
                if x < w.1 {
                    k = n;
                    break;
                }
                x -= w.1;
            }
            out.push(weight.remove(k).0);
        }
        if capped {
            for u in &out {
                if let Some(&i) = self.user_index.get(u) {
                    self.exposure.add(i, ts);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(id: &str, title: &str) -> ProductEvent {
        ProductEvent::titled(id, title)
    }

    #[test]
    fn shoppers_come_from_the_content_neighbours() {
        let mut t = Transfer::new(TransferConfig {
            neighbours: 1,
            recent: 2,
            users: 5,
            idf: false,
            max_per_user: 0,
            window_ms: 1,
            max_neighbours: 1,
            ..TransferConfig::default()
        });
        t.product(&product("rose", "rose face oil"));
        t.product(&product("drill", "cordless power drill"));
        for (n, u) in ["a", "b", "c"].into_iter().enumerate() {
            t.interaction(u, "rose", n as i64);
        }
        t.interaction("z", "drill", 0);
        let new = product("rose2", "rose face serum");
        t.product(&new);
        let mut rng = SplitMix64::new(1);
        let mut got = t.shoppers_for(&new, &mut rng);
        got.sort();
        // Only the nearest neighbour's two most recent shoppers.
        assert_eq!(got, ["b", "c"]);
    }

    #[test]
    fn the_recent_shoppers_are_the_latest_by_event_time_whatever_the_arrival_order() {
        let config = TransferConfig {
            recent: 2,
            ..TransferConfig::default()
        };
        let (mut early, mut late) = (Transfer::new(config.clone()), Transfer::new(config));
        let events = [("a", 1), ("b", 2), ("c", 3), ("b", 4)];
        for (u, ts) in events {
            early.interaction(u, "i", ts);
        }
        for (u, ts) in events.into_iter().rev() {
            late.interaction(u, "i", ts);
        }
        let names = |t: &Transfer| -> Vec<String> {
            t.shoppers[0].iter().map(|(_, u)| u.clone()).collect()
        };
        assert_eq!(names(&early), ["c", "b"]);
        assert_eq!(names(&late), names(&early));
    }
}
