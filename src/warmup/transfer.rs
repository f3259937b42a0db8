//! The transfer generator: synthetic first shoppers for a new product, drawn from the real,
//! recent shoppers of its nearest content neighbours. It is the nearest-neighbour form of what
//! the behaviour GAN should learn (content mapped to who buys), with no training, and the
//! baseline any learned generator has to beat on the stream metric.
//!
//! It learns from the stream as the services do: every real interaction adds its user to the
//! item's recent shoppers (the last [`TransferConfig::recent`] distinct ones), every product
//! adds its content to an inverted index. A new product's neighbours are the items with the
//! highest cosine of hashed content features that have shoppers.

use crate::events::ProductEvent;
use crate::generate::exposure::Exposure;
use crate::recommend::features::{hashed, named_features, Sparse};
use crate::recommend::splitmix::SplitMix64;
use rand::Rng;
use std::collections::{HashMap, VecDeque};

#[derive(Debug, Clone, serde::Serialize)]
pub struct TransferConfig {
    /// Content neighbours whose shoppers are drawn from.
    pub neighbours: usize,
    /// Recent distinct shoppers kept per item.
    pub recent: usize,
    /// Synthetic shoppers per new product.
    pub users: usize,
    /// Weigh shared content features by their inverse document frequency (squared, as in a
    /// TF-IDF cosine) when choosing neighbours, so that a shared brand counts for more than the
    /// shared top category every product has.
    pub idf: bool,
    /// A user is drawn for at most this many new products per `window_ms` of event time (the
    /// generation stage's exposure cap; 0: no cap). Heavy shoppers are among the recent shoppers
    /// of most neighbourhoods; uncapped, they are drawn for a new product every day.
    pub max_per_user: u32,
    pub window_ms: u64,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            neighbours: 5,
            recent: 50,
            // Chosen on the validation period (`eval stream --validation`): 10, 40, 80 and 160
            // users gave 1.08x, 1.20x, 1.26x and 1.26x no synthesis there.
            users: 80,
            idf: false,
            max_per_user: 0,
            window_ms: 3_600_000,
        }
    }
}

pub struct Transfer {
    config: TransferConfig,
    index: HashMap<String, u32>,
    vectors: Vec<Sparse>,
    /// Bucket -> items with it and their weight.
    postings: HashMap<u32, Vec<(u32, f32)>>,
    shoppers: Vec<VecDeque<String>>,
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
        let i = self.item(&p.item_id);
        if !self.vectors[i as usize].is_empty() {
            return;
        }
        let v = hashed(&named_features(p));
        for &(b, w) in &v {
            self.postings.entry(b).or_default().push((i, w));
        }
        self.vectors[i as usize] = v;
    }

    /// A real interaction: `user` becomes one of `item`'s most recent shoppers.
    pub fn interaction(&mut self, user: &str, item: &str) {
        if !self.user_index.contains_key(user) {
            let n = self.user_index.len() as u32;
            self.user_index.insert(user.to_owned(), n);
            self.exposure.grow(n as usize + 1);
        }
        let i = self.item(item) as usize;
        let recent = &mut self.shoppers[i];
        if let Some(pos) = recent.iter().position(|u| u == user) {
            recent.remove(pos);
        }
        recent.push_back(user.to_owned());
        if recent.len() > self.config.recent {
            recent.pop_front();
        }
    }

    /// Up to `users` distinct synthetic shoppers for the new product `p` (whose content must
    /// have been added), drawn without replacement with probability proportional to the summed
    /// cosine of the neighbours they shopped, most recent shoppers first among equals; users at
    /// their exposure cap are passed over.
    pub fn shoppers_for(&mut self, p: &ProductEvent, rng: &mut SplitMix64) -> Vec<String> {
        let Some(&me) = self.index.get(&p.item_id) else {
            return Vec::new();
        };
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
        near.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        near.truncate(self.config.neighbours);
        let mut weight: Vec<(String, f32)> = Vec::new();
        let mut at: HashMap<&str, usize> = HashMap::new();
        let capped = self.config.max_per_user > 0;
        let (exposure, index) = (&self.exposure, &self.user_index);
        let allowed = |u: &str| !capped || index.get(u).is_none_or(|&i| exposure.allows(i, p.ts));
        for &(j, cos) in &near {
            for u in self.shoppers[j as usize].iter().rev() {
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
                    self.exposure.add(i, p.ts);
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
        });
        t.product(&product("rose", "rose face oil"));
        t.product(&product("drill", "cordless power drill"));
        for u in ["a", "b", "c"] {
            t.interaction(u, "rose");
        }
        t.interaction("z", "drill");
        let new = product("rose2", "rose face serum");
        t.product(&new);
        let mut rng = SplitMix64::new(1);
        let mut got = t.shoppers_for(&new, &mut rng);
        got.sort();
        // Only the nearest neighbour's two most recent shoppers.
        assert_eq!(got, ["b", "c"]);
    }
}
