//! The content tower: a linear map from hashed content features into the item factor space,
//! fitted by SGD to reproduce the factors of warm items. A cold item's vector is the tower's
//! output for its features; the mean warm bias stands in for its bias.

use super::features::{Sparse, BUCKETS};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Tower {
    pub dim: usize,
    /// BUCKETS x dim, row-major.
    pub weights: Vec<f32>,
    pub bias: f32,
}

impl Tower {
    pub fn new(dim: usize) -> Self {
        Tower {
            dim,
            weights: vec![0.0; BUCKETS * dim],
            bias: 0.0,
        }
    }

    pub fn embed(&self, x: &Sparse) -> Vec<f32> {
        let mut out = vec![0.0; self.dim];
        for &(b, w) in x {
            let row = &self.weights[b as usize * self.dim..(b as usize + 1) * self.dim];
            out.iter_mut().zip(row).for_each(|(o, r)| *o += w * r);
        }
        out
    }

    /// Fits the map to (features, target vector) pairs; returns the mean squared error of the
    /// last epoch.
    pub fn fit(
        &mut self,
        data: &[(&Sparse, &[f32])],
        epochs: usize,
        lr: f32,
        reg: f32,
        rng: &mut StdRng,
    ) -> f32 {
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut mse = 0.0;
        for _ in 0..epochs {
            order.shuffle(rng);
            mse = 0.0;
            for &n in &order {
                let (x, target) = data[n];
                let pred = self.embed(x);
                let err: Vec<f32> = pred.iter().zip(target.iter()).map(|(p, t)| p - t).collect();
                mse += err.iter().map(|e| e * e).sum::<f32>() / self.dim as f32;
                for &(b, w) in x.iter() {
                    let row = &mut self.weights[b as usize * self.dim..(b as usize + 1) * self.dim];
                    row.iter_mut()
                        .zip(&err)
                        .for_each(|(r, e)| *r -= lr * (e * w + reg * *r));
                }
            }
            mse /= data.len().max(1) as f32;
        }
        mse
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn fitting_lowers_the_error_and_generalises_through_shared_features() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut t = Tower::new(2);
        let h = std::f32::consts::FRAC_1_SQRT_2;
        let a: Sparse = vec![(1, h), (2, h)];
        let b: Sparse = vec![(1, h), (3, h)];
        let (ta, tb) = ([1.0f32, 0.0], [1.0f32, 0.5]);
        let data = [(&a, &ta[..]), (&b, &tb[..])];
        let first = t.fit(&data, 1, 0.5, 0.0, &mut rng);
        let last = t.fit(&data, 200, 0.5, 0.0, &mut rng);
        assert!(last < first * 0.01, "{first} -> {last}");
        // An unseen item sharing feature 1 lands near the first coordinate both share.
        let c = t.embed(&vec![(1, 1.0)]);
        assert!(c[0] > 0.5, "{c:?}");
    }
}
