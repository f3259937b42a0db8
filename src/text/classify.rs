//! A bag-of-words logistic-regression classifier (words and word pairs hashed into 2^18 buckets,
//! multinomial, SGD): the judge of generated reviews. It is deliberately simple and fast, so that
//! two fresh judges can be trained in every evaluation:
//!
//! - a rating classifier trained on real training reviews, asked whether a generated review reads
//!   like the rating it was conditioned on (rating consistency);
//! - a real-vs-synthetic classifier trained on half of a mix of held-out real and generated
//!   reviews and tested on the other half (0.5 means indistinguishable; lower is better).

use super::metrics::words;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;

const BUCKETS: usize = 1 << 18;

fn bucket(s: &str, salt: u64) -> u32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for &b in s.as_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % BUCKETS as u64) as u32
}

/// Binary unigram and bigram features, L2-normalised.
pub fn features(text: &str) -> Vec<(u32, f32)> {
    let w = words(text);
    let mut f: Vec<u32> = w.iter().map(|x| bucket(x, 1)).collect();
    f.extend(
        w.windows(2)
            .map(|p| bucket(&format!("{} {}", p[0], p[1]), 2)),
    );
    f.sort_unstable();
    f.dedup();
    let v = 1.0 / (f.len().max(1) as f32).sqrt();
    f.into_iter().map(|b| (b, v)).collect()
}

pub struct BowClassifier {
    classes: usize,
    weights: Vec<f32>,
    bias: Vec<f32>,
}

impl BowClassifier {
    fn logits(&self, x: &[(u32, f32)]) -> Vec<f32> {
        let mut z = self.bias.clone();
        for &(b, v) in x {
            let row = &self.weights[b as usize * self.classes..(b as usize + 1) * self.classes];
            z.iter_mut().zip(row).for_each(|(z, w)| *z += v * w);
        }
        z
    }

    pub fn fit(texts: &[&str], labels: &[usize], classes: usize, epochs: usize, seed: u64) -> Self {
        let xs: Vec<Vec<(u32, f32)>> = texts.iter().map(|t| features(t)).collect();
        let mut m = BowClassifier {
            classes,
            weights: vec![0.0; BUCKETS * classes],
            bias: vec![0.0; classes],
        };
        let mut order: Vec<usize> = (0..xs.len()).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        let lr = 0.5;
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            for &n in &order {
                let z = m.logits(&xs[n]);
                let max = z.iter().copied().fold(f32::MIN, f32::max);
                let e: Vec<f32> = z.iter().map(|v| (v - max).exp()).collect();
                let sum: f32 = e.iter().sum();
                // Gradient of the cross-entropy: softmax minus the one-hot label.
                let g: Vec<f32> = e
                    .iter()
                    .enumerate()
                    .map(|(k, p)| p / sum - if k == labels[n] { 1.0 } else { 0.0 })
                    .collect();
                for &(b, v) in &xs[n] {
                    let row = &mut m.weights[b as usize * classes..(b as usize + 1) * classes];
                    row.iter_mut().zip(&g).for_each(|(w, g)| *w -= lr * g * v);
                }
                m.bias
                    .iter_mut()
                    .zip(&g)
                    .for_each(|(b, g)| *b -= lr * 0.1 * g);
            }
        }
        m
    }

    /// Class probabilities (softmax of the logits).
    pub fn proba(&self, text: &str) -> Vec<f32> {
        let z = self.logits(&features(text));
        let max = z.iter().copied().fold(f32::MIN, f32::max);
        let e: Vec<f32> = z.iter().map(|v| (v - max).exp()).collect();
        let sum: f32 = e.iter().sum();
        e.into_iter().map(|v| v / sum).collect()
    }

    pub fn predict(&self, text: &str) -> usize {
        let z = self.logits(&features(text));
        (0..self.classes)
            .max_by(|&a, &b| z[a].total_cmp(&z[b]))
            .unwrap_or(0)
    }
}

/// Accuracy of a fresh real-vs-synthetic classifier: trained on a random half of the mix,
/// tested on the other half.
pub fn real_vs_synthetic(real: &[&str], synthetic: &[&str], seed: u64) -> f64 {
    let mut mix: Vec<(&str, usize)> = real
        .iter()
        .map(|t| (*t, 0))
        .chain(synthetic.iter().map(|t| (*t, 1)))
        .collect();
    mix.shuffle(&mut StdRng::seed_from_u64(seed));
    let (train, test) = mix.split_at(mix.len() / 2);
    let texts: Vec<&str> = train.iter().map(|t| t.0).collect();
    let labels: Vec<usize> = train.iter().map(|t| t.1).collect();
    let c = BowClassifier::fit(&texts, &labels, 2, 5, seed);
    let right = test.iter().filter(|(t, l)| c.predict(t) == *l).count();
    right as f64 / test.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_separable_classes_and_cannot_separate_identical_ones() {
        let pos = [
            "love it, perfect fit",
            "great dress, love the color",
            "perfect, love",
        ];
        let neg = [
            "awful, ripped after one wash",
            "poor quality, returned it",
            "awful fit",
        ];
        let texts: Vec<&str> = pos.iter().chain(&neg).copied().collect();
        let labels = [1, 1, 1, 0, 0, 0];
        let c = BowClassifier::fit(&texts, &labels, 2, 20, 1);
        assert_eq!(c.predict("love the fit"), 1);
        assert_eq!(c.predict("awful quality"), 0);
        let a: Vec<String> = (0..200)
            .map(|i| format!("review number {} is fine", i % 7))
            .collect();
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let acc = real_vs_synthetic(&a, &a, 3);
        assert!((0.3..0.7).contains(&acc), "{acc}");
        let b: Vec<String> = (0..200).map(|i| format!("zzz qqq {}", i % 5)).collect();
        let b: Vec<&str> = b.iter().map(String::as_str).collect();
        assert!(real_vs_synthetic(&a, &b, 3) > 0.95);
    }
}
