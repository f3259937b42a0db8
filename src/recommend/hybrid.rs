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
        i
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
        if cold {
            out.fill(0.0);
        } else {
            out.copy_from_slice(self.items.row(i));
        }
        let dim = self.config.dim;
        for &(b, w) in &self.features[i] {
            let row = &self.tower[b as usize * dim..(b as usize + 1) * dim];
            out.iter_mut().zip(row).for_each(|(o, r)| *o += w * r);
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
        {
            let ur = self.users.row_mut(u);
            for f in 0..dim {
                ur[f] += lr * (g * (vi[f] - vj[f]) - reg * uu[f]);
            }
        }
        for (item, sign, is_cold) in [(i, 1.0f32, cold[0]), (j, -1.0f32, cold[1])] {
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
    pub fn observe(
        &mut self,
        u: usize,
        i: usize,
        weight: f32,
        negatives: &[u32],
        seen: impl Fn(u32) -> bool,
        rng: &mut impl Rng,
    ) -> f32 {
        let j = sample_negative(i, negatives, seen, rng);
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
