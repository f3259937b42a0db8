//! Matrix factorisation for implicit feedback, learned by SGD on the BPR pairwise loss.
//!
//! Each interaction (u, i, weight) is one step: sample an item j the user has not interacted
//! with, and push the score of i above that of j. Batch training is epochs of the same steps, so
//! the online service and the offline evaluation run one code path, and an event updates the model
//! in O(k) without retraining.

use rand::Rng;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BprConfig {
    pub dim: usize,
    pub learning_rate: f32,
    pub regularization: f32,
    /// Standard deviation of the initial factors.
    pub init_std: f32,
}

impl Default for BprConfig {
    fn default() -> Self {
        BprConfig {
            dim: 64,
            learning_rate: 0.05,
            regularization: 0.002,
            init_std: 0.1,
        }
    }
}

/// Row-major factor matrix that grows by one row per new user or item.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Factors {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Factors {
    pub fn new(dim: usize) -> Self {
        Factors {
            dim,
            data: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.dim.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [f32] {
        &mut self.data[i * self.dim..(i + 1) * self.dim]
    }

    /// Adds rows of small random values up to `n` rows.
    pub fn grow(&mut self, n: usize, std: f32, rng: &mut impl Rng) {
        while self.len() < n {
            for _ in 0..self.dim {
                // Uniform with the requested standard deviation: sqrt(3) * std bounds.
                let b = std * 3f32.sqrt();
                self.data.push(rng.random_range(-b..b));
            }
        }
    }
}

/// Dot product with eight independent partial sums: a single running f32 sum is a dependency
/// chain the compiler may not reorder, so it would neither vectorise nor pipeline. Scoring every
/// item for a request is this function 12,000 times.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    let mut acc = [0.0f32; 8];
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Bpr {
    pub config: BprConfig,
    pub users: Factors,
    pub items: Factors,
    pub item_bias: Vec<f32>,
}

impl Bpr {
    pub fn new(config: BprConfig) -> Self {
        let dim = config.dim;
        Bpr {
            config,
            users: Factors::new(dim),
            items: Factors::new(dim),
            item_bias: Vec::new(),
        }
    }

    /// Makes room for user and item indices below the given counts.
    pub fn ensure(&mut self, users: usize, items: usize, rng: &mut impl Rng) {
        self.users.grow(users, self.config.init_std, rng);
        self.items.grow(items, self.config.init_std, rng);
        self.item_bias.resize(self.items.len(), 0.0);
    }

    pub fn score(&self, u: usize, i: usize) -> f32 {
        dot(self.users.row(u), self.items.row(i)) + self.item_bias[i]
    }

    /// One SGD step on the BPR loss for "u prefers i over j", scaled by `weight`.
    /// Returns the loss before the step, -ln sigmoid(x_uij).
    pub fn step(&mut self, u: usize, i: usize, j: usize, weight: f32) -> f32 {
        let (lr, reg) = (
            self.config.learning_rate * weight,
            self.config.regularization,
        );
        let x = self.score(u, i) - self.score(u, j);
        let g = 1.0 / (1.0 + x.exp()); // sigmoid(-x): the gradient's size
        let dim = self.config.dim;
        for f in 0..dim {
            let uf = self.users.data[u * dim + f];
            let vi = self.items.data[i * dim + f];
            let vj = self.items.data[j * dim + f];
            self.users.data[u * dim + f] += lr * (g * (vi - vj) - reg * uf);
            self.items.data[i * dim + f] += lr * (g * uf - reg * vi);
            self.items.data[j * dim + f] += lr * (-g * uf - reg * vj);
        }
        self.item_bias[i] += lr * (g - reg * self.item_bias[i]);
        self.item_bias[j] += lr * (-g - reg * self.item_bias[j]);
        (1.0 + (-x).exp()).ln()
    }

    /// One step for an observed interaction, with a negative drawn uniformly from
    /// `negatives` (resampled while it is in `seen`).
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
        self.step(u, i, j as usize, weight)
    }
}

/// A negative item for positive `i`: drawn uniformly from `negatives`, redrawn up to eight times
/// while it is `i` or `seen`. The cap keeps a step O(1) for heavy users; a rare seen negative
/// only weakens one step.
pub fn sample_negative(
    i: usize,
    negatives: &[u32],
    seen: impl Fn(u32) -> bool,
    rng: &mut impl Rng,
) -> u32 {
    let mut j = negatives[rng.random_range(0..negatives.len())];
    for _ in 0..8 {
        if !seen(j) && j as usize != i {
            break;
        }
        j = negatives[rng.random_range(0..negatives.len())];
    }
    j
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn steps_lower_the_loss_and_rank_the_positive_first() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut m = Bpr::new(BprConfig {
            dim: 8,
            ..Default::default()
        });
        m.ensure(1, 5, &mut rng);
        let first = m.step(0, 2, 4, 1.0);
        let mut last = first;
        for _ in 0..200 {
            for j in [0, 1, 3, 4] {
                last = m.step(0, 2, j, 1.0);
            }
        }
        assert!(last < first, "loss {first} -> {last}");
        let best = (0..5)
            .max_by(|&a, &b| m.score(0, a).total_cmp(&m.score(0, b)))
            .unwrap();
        assert_eq!(best, 2);
    }
}
