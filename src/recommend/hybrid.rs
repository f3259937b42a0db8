//! Hybrid matrix factorisation (in the spirit of LightFM, Kula 2015): an item's vector is its own
//! learnt embedding plus the content tower's map of its features,
//!
//!     v_i = e_i + sum_f x_if W_f,
//!
//! learnt jointly with BPR steps. The tower is thus trained by every interaction, warm items share
//! strength through their features (which matters on sparse catalogues), and a brand-new item gets
//! v_i = W x_i, with e_i = 0, the moment its product event arrives.

use super::bpr::{dot, sample_negative, BprConfig, Factors};
use super::features::{Sparse, BUCKETS};
use rand::Rng;

/// How an item's vector combines its own embedding and its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum ItemVector {
    /// `v_i = e_i + W x_i` (LightFM): the tower is trained by every BPR step.
    #[default]
    Additive,
    /// `v_i = W x_i` until the item's first interaction, then `v_i = e_i`, starting from
    /// `W x_i` (warm start) and refined by BPR; the tower is regressed onto the warm items' `e_i`
    /// (one SGD step per interaction). Warm items then carry collaborative signal only, which
    /// complements the content match the recommender adds to the score instead of duplicating
    /// it (measured in the cold-start table).
    Fallback,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Hybrid {
    pub config: BprConfig,
    pub users: Factors,
    /// Item-specific embeddings e_i (start at zero: a new item is its content).
    pub items: Factors,
    pub item_bias: Vec<f32>,
    /// The content tower, BUCKETS x dim.
    pub tower: Vec<f32>,
    pub features: Vec<Sparse>,
    /// Learning rate of the tower relative to the embeddings.
    pub tower_lr_scale: f32,
    /// Probability that a training step sees an item as cold (content only, e_i dropped), as in
    /// DropoutNet (Volkovs et al., NeurIPS 2017): without it, cold items' content-only vectors
    /// score below warm items' and the hybrid setting collapses (GAR's "seesaw").
    pub item_dropout: f32,
    #[serde(default)]
    pub mode: ItemVector,
    /// Items with an own embedding (Fallback mode): those with at least one positive step.
    #[serde(default)]
    pub warm: Vec<bool>,
}

impl Hybrid {
    pub fn new(config: BprConfig) -> Self {
        let dim = config.dim;
        Hybrid {
            users: Factors::new(dim),
            items: Factors::new(dim),
            item_bias: Vec::new(),
            tower: vec![0.0; BUCKETS * dim],
            features: Vec::new(),
            tower_lr_scale: 1.0,
            item_dropout: 0.0,
            mode: ItemVector::Additive,
            warm: Vec::new(),
            config,
        }
    }

    pub fn ensure_users(&mut self, n: usize, rng: &mut impl Rng) {
        self.users.grow(n, self.config.init_std, rng);
    }

    /// Adds item `index` (must be the next index) with its content features.
    pub fn add_item(&mut self, features: Sparse) -> usize {
        let i = self.features.len();
        self.features.push(features);
        self.items
            .data
            .extend(std::iter::repeat_n(0.0, self.config.dim));
        self.item_bias.push(0.0);
        self.warm.push(false);
        i
    }

    /// Item `i`'s content features change (its text grew); its own embedding stays.
    pub fn set_features(&mut self, i: usize, features: Sparse) {
        self.features[i] = features;
    }

    /// Randomises the tower's initial weights (zero weights would leave new items at zero).
    pub fn init_tower(&mut self, rng: &mut impl Rng) {
        let b = self.config.init_std * 3f32.sqrt();
        self.tower
            .iter_mut()
            .for_each(|w| *w = rng.random_range(-b..b));
    }

    pub fn item_vector(&self, i: usize, out: &mut [f32]) {
        self.item_vector_opt(i, false, out)
    }

    /// The item's vector, content only when `cold`.
    fn item_vector_opt(&self, i: usize, cold: bool, out: &mut [f32]) {
        let content_only = cold || self.content_only(i);
        if content_only {
            out.fill(0.0);
        } else {
            out.copy_from_slice(self.items.row(i));
            if self.mode == ItemVector::Fallback {
                return;
            }
        }
        let dim = self.config.dim;
        for &(b, w) in &self.features[i] {
            let row = &self.tower[b as usize * dim..(b as usize + 1) * dim];
            out.iter_mut().zip(row).for_each(|(o, r)| *o += w * r);
        }
    }

    /// Whether item `i`'s vector is its content alone (no own embedding yet, in Fallback mode).
    fn content_only(&self, i: usize) -> bool {
        self.mode == ItemVector::Fallback && !self.warm[i]
    }

    /// Fallback mode, before a positive step on `i`: the item's own embedding starts from its
    /// content vector, so its first interaction refines rather than replaces what it had.
    fn warm_up(&mut self, i: usize) {
        if self.mode == ItemVector::Fallback && !self.warm[i] {
            let mut v = vec![0.0; self.config.dim];
            self.item_vector_opt(i, true, &mut v);
            self.items.row_mut(i).copy_from_slice(&v);
            self.warm[i] = true;
        }
    }

    /// Fallback mode: one SGD step of the tower's squared error against `e_i`.
    fn regress_tower(&mut self, i: usize) {
        let dim = self.config.dim;
        let mut pred = vec![0.0; dim];
        self.item_vector_opt(i, true, &mut pred);
        let target = self.items.row(i);
        pred.iter_mut().zip(target).for_each(|(p, t)| *p -= t);
        let (lr, reg) = (
            self.config.learning_rate * self.tower_lr_scale,
            self.config.regularization,
        );
        for k in 0..self.features[i].len() {
            let (b, w) = self.features[i][k];
            let row = &mut self.tower[b as usize * dim..(b as usize + 1) * dim];
            for f in 0..dim {
                row[f] -= lr * (pred[f] * w + reg * row[f]);
            }
        }
    }

    pub fn score(&self, u: usize, i: usize, scratch: &mut [f32]) -> f32 {
        self.item_vector(i, scratch);
        dot(self.users.row(u), scratch) + self.item_bias[i]
    }

    /// One BPR step for "u prefers i over j", scaled by `weight`; returns the loss before it.
    pub fn step(&mut self, u: usize, i: usize, j: usize, weight: f32) -> f32 {
        self.step_opt(u, i, j, weight, [false, false])
    }

    /// `cold[0]`, `cold[1]`: treat i, j as cold items (content only) in this step.
    fn step_opt(&mut self, u: usize, i: usize, j: usize, weight: f32, cold: [bool; 2]) -> f32 {
        self.step_sides(u, i, j, weight, cold, false)
    }

    /// One BPR step; with `item_only` only the positive item learns (its embedding or its
    /// features, and its bias): the user and the negative item stay where they were.
    fn step_sides(
        &mut self,
        u: usize,
        i: usize,
        j: usize,
        weight: f32,
        cold: [bool; 2],
        item_only: bool,
    ) -> f32 {
        let dim = self.config.dim;
        let (lr, reg) = (
            self.config.learning_rate * weight,
            self.config.regularization,
        );
        let mut vi = vec![0.0; dim];
        let mut vj = vec![0.0; dim];
        self.item_vector_opt(i, cold[0], &mut vi);
        self.item_vector_opt(j, cold[1], &mut vj);
        let uu = self.users.row(u).to_vec();
        let x = dot(&uu, &vi) - dot(&uu, &vj) + self.item_bias[i] - self.item_bias[j];
        let g = 1.0 / (1.0 + x.exp());
        if !item_only {
            let ur = self.users.row_mut(u);
            for f in 0..dim {
                ur[f] += lr * (g * (vi[f] - vj[f]) - reg * uu[f]);
            }
        }
        let fallback = self.mode == ItemVector::Fallback;
        let sides = [(i, 1.0f32, cold[0]), (j, -1.0f32, cold[1])];
        for &(item, sign, is_cold) in &sides[..if item_only { 1 } else { 2 }] {
            if fallback {
                // Content-only negatives teach the user, not the tower: the tower follows the
                // warm embeddings by regression.
                if !self.content_only(item) {
                    let er = self.items.row_mut(item);
                    for f in 0..dim {
                        er[f] += lr * (sign * g * uu[f] - reg * er[f]);
                    }
                    self.item_bias[item] += lr * (sign * g - reg * self.item_bias[item]);
                }
                continue;
            }
            if !is_cold {
                let er = self.items.row_mut(item);
                for f in 0..dim {
                    er[f] += lr * (sign * g * uu[f] - reg * er[f]);
                }
            }
            let tlr = lr * self.tower_lr_scale;
            for k in 0..self.features[item].len() {
                let (b, w) = self.features[item][k];
                let row = &mut self.tower[b as usize * dim..(b as usize + 1) * dim];
                for f in 0..dim {
                    row[f] += tlr * (sign * g * w * uu[f] - reg * row[f]);
                }
            }
            self.item_bias[item] += lr * (sign * g - reg * self.item_bias[item]);
        }
        (1.0 + (-x).exp()).ln()
    }

    /// One step for an observed interaction with a uniformly drawn negative from `negatives`
    /// that `seen` rejects up to eight times.
    // The arguments are one BPR step's inputs, passed straight through from the two callers
    // (the live recommender and the evaluation); a struct would be built only to be taken apart.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        u: usize,
        i: usize,
        weight: f32,
        negatives: &[u32],
        seen: impl Fn(u32) -> bool,
        rng: &mut impl Rng,
        item_only: bool,
    ) -> f32 {
        let j = sample_negative(i, negatives, seen, rng);
        if item_only {
            // Synthetic evidence: generated users are evidence about the new item, not about
            // the real users they were drawn as, so only the item moves towards them; in
            // Fallback mode the tower does not learn from it either. The cold-start table's
            // "GAN synthetic behaviour, cold items only" row measures this against moving all.
            self.warm_up(i);
            return self.step_sides(u, i, j as usize, weight, [false, false], true);
        }
        if self.mode == ItemVector::Fallback {
            self.warm_up(i);
            let loss = self.step_opt(u, i, j as usize, weight, [false, false]);
            self.regress_tower(i);
            return loss;
        }
        let p = self.item_dropout;
        let cold = [
            p > 0.0 && rng.random::<f32>() < p,
            p > 0.0 && rng.random::<f32>() < p,
        ];
        self.step_opt(u, i, j as usize, weight, cold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn a_new_item_inherits_what_its_features_learnt() {
        let mut rng = StdRng::seed_from_u64(5);
        let mut m = Hybrid::new(BprConfig {
            dim: 8,
            ..Default::default()
        });
        m.init_tower(&mut rng);
        m.ensure_users(1, &mut rng);
        let a = m.add_item(vec![(10, 1.0)]); // liked, feature 10
        let b = m.add_item(vec![(20, 1.0)]); // not liked, feature 20
        for _ in 0..300 {
            m.step(0, a, b, 1.0);
        }
        // Items never interacted with, sharing the features of a and of b.
        let like_a = m.add_item(vec![(10, 1.0)]);
        let like_b = m.add_item(vec![(20, 1.0)]);
        let mut s = vec![0.0; 8];
        assert!(m.score(0, like_a, &mut s) > m.score(0, like_b, &mut s));
    }
}
