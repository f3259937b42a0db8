//! A cold-start reference without a learned model: content-KNN plus the collaborative signal
//! of each item's nearest warm items by content ("neighbours' co-occurrence").
//!
//! The behaviour GAN learns a map from content into the collaborative space; this is the
//! nearest-neighbour version of the same idea, with no training. An item's score for a user is
//!
//! `content(u, i) + lambda * sum over the k warm content neighbours j of i: cos(i, j) * cf(u, j)`
//!
//! where `content` is content-KNN's score (the TF-IDF match with the user's history) and `cf` is
//! item-based collaborative filtering on the warm training pairs (the user's own items count 1,
//! others their co-occurrence cosine with the user's items). It measures what plain collaborative
//! transfer from content adds on a data set: a yardstick for the generator, not a proven bound.

use super::coldstart::{tune_on_validation, ContentKnn, Row, Scorer, Split};
use crate::recommend::features::{Sparse, BUCKETS};
use std::collections::HashMap;

/// Content neighbours per item.
pub const NEIGHBOURS: usize = 5;
/// The collaborative weights tried on the validation pairs.
pub const LAMBDA_GRID: [f32; 5] = [0.0, 0.25, 0.5, 1.0, 2.0];

pub struct NeighbourTransfer {
    /// The content term, and the TF-IDF vectors and training histories the rest reads.
    content: ContentKnn,
    /// Each item's nearest warm items by content, with their cosine (itself excluded).
    neighbours: Vec<Vec<(u32, f32)>>,
    /// Co-occurrence cosine between warm items in the training pairs.
    cooccurrence: Vec<HashMap<u32, f32>>,
    pub lambda: f32,
}

impl NeighbourTransfer {
    pub fn fit(split: &Split) -> Self {
        let content = ContentKnn::fit(split);
        NeighbourTransfer {
            neighbours: content_neighbours(&content.vectors, &split.cold, NEIGHBOURS),
            cooccurrence: cooccurrence(&content.train, split.n_items),
            content,
            lambda: 1.0,
        }
    }

    /// Tries each weight of `grid` on the validation pairs and keeps the best cold NDCG@20 (the
    /// setting this reference is for). Returns the validation row of every candidate.
    pub fn tune(&mut self, split: &Split, grid: &[f32]) -> Vec<(f32, Row)> {
        tune_on_validation(split, self, grid, |m, l| m.lambda = l, |r| r.cold.ndcg)
    }
}

/// The `k` warm items with the highest cosine to each item, through an inverted index over
/// the warm items' buckets.
fn content_neighbours(vectors: &[Sparse], cold: &[bool], k: usize) -> Vec<Vec<(u32, f32)>> {
    let mut postings: Vec<Vec<(u32, f32)>> = vec![Vec::new(); BUCKETS];
    for (j, v) in vectors.iter().enumerate().filter(|(j, _)| !cold[*j]) {
        for &(b, w) in v {
            postings[b as usize].push((j as u32, w));
        }
    }
    let mut acc = vec![0.0f32; vectors.len()];
    let mut touched = Vec::new();
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| {
            for &(b, w) in v {
                for &(j, wj) in &postings[b as usize] {
                    if acc[j as usize] == 0.0 {
                        touched.push(j);
                    }
                    acc[j as usize] += w * wj;
                }
            }
            let mut near: Vec<(u32, f32)> = touched
                .drain(..)
                .filter(|&j| j as usize != i)
                .map(|j| (j, std::mem::take(&mut acc[j as usize])))
                .collect();
            acc[i] = 0.0;
            near.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            near.truncate(k);
            near
        })
        .collect()
}

/// `co(j, l) / sqrt(n_j * n_l)` over the users' training items (which are all warm).
fn cooccurrence(train: &[Vec<u32>], n_items: usize) -> Vec<HashMap<u32, f32>> {
    let mut counts = vec![0u32; n_items];
    let mut co: Vec<HashMap<u32, f32>> = vec![HashMap::new(); n_items];
    for items in train {
        for &j in items {
            counts[j as usize] += 1;
            for &l in items.iter().filter(|&&l| l != j) {
                *co[j as usize].entry(l).or_default() += 1.0;
            }
        }
    }
    for (j, row) in co.iter_mut().enumerate() {
        for (l, c) in row.iter_mut() {
            *c /= ((counts[j] * counts[*l as usize]) as f32).sqrt();
        }
    }
    co
}

impl Scorer for NeighbourTransfer {
    fn name(&self) -> &str {
        "content-KNN + neighbours' co-occurrence"
    }

    fn scores(&self, user: u32, out: &mut [f32]) {
        self.content.scores(user, out);
        let mut cf = vec![0.0f32; out.len()];
        for &j in &self.content.train[user as usize] {
            cf[j as usize] += 1.0;
            for (&l, &c) in &self.cooccurrence[j as usize] {
                cf[l as usize] += c;
            }
        }
        for (s, near) in out.iter_mut().zip(&self.neighbours) {
            let transfer: f32 = near.iter().map(|&(j, sim)| sim * cf[j as usize]).sum();
            *s += self.lambda * transfer;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbours_are_the_closest_warm_items_by_hand() {
        // Item 0 matches item 1 on one of two buckets (cos 0.5) and item 2 on both (cos 1);
        // item 3 would match best but is cold, and an item never lists itself.
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let vectors = vec![
            vec![(1, h), (2, h)],
            vec![(1, h), (3, h)],
            vec![(1, h), (2, h)],
            vec![(1, h), (2, h)],
        ];
        let cold = [false, false, false, true];
        let n = content_neighbours(&vectors, &cold, 2);
        assert_eq!(n[0].len(), 2);
        assert_eq!(n[0][0].0, 2);
        assert!((n[0][0].1 - 1.0).abs() < 1e-6);
        assert_eq!(n[0][1].0, 1);
        assert!((n[0][1].1 - 0.5).abs() < 1e-6);
        assert_eq!(n[3][0].0, 0, "a cold item's neighbours are warm");
    }

    #[test]
    fn cooccurrence_is_the_cosine_of_the_item_columns() {
        // Items 0 and 1 together for two users, item 0 alone for a third: 2 / sqrt(3 * 2).
        let train = vec![vec![0, 1], vec![0, 1], vec![0]];
        let co = cooccurrence(&train, 2);
        assert!((co[0][&1] - 2.0 / 6f32.sqrt()).abs() < 1e-6);
        assert_eq!(co[0][&1], co[1][&0]);
        assert!(!co[0].contains_key(&0));
    }
}
