//! The cold-start protocol of GAR (Chen et al., SIGIR 2022) and ALDI (Huang et al., SIGIR 2023),
//! on Amazon Beauty 5-core:
//!
//! - items split 80/20 into warm and cold (seed 42);
//! - warm items' interactions split 80/10/10 into train, validation and test;
//! - cold items' interactions split 50/50 into validation and test (none is trained on);
//! - full ranking with the user's training pairs excluded, Precision, Recall and NDCG at 20 in
//!   three settings: cold (rank cold items, cold test pairs), warm (warm items, warm test pairs)
//!   and hybrid (all items, both test sets).
//!
//! Every model scores all items for a user once; the settings filter that vector.

use super::metrics::{self, TopK};
use crate::recommend::features::{Sparse, Tfidf, BUCKETS};
use crate::recommend::rank;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::HashSet;

pub use crate::recommend::offline::{Config, Factorised, HybridMf, MfTower, Split};

pub const K: usize = 20;

/// A model under evaluation: scores of every item for one user.
pub trait Scorer {
    fn name(&self) -> &str;
    fn scores(&self, user: u32, out: &mut [f32]);
}

pub struct Random {
    pub seed: u64,
}

impl Scorer for Random {
    fn name(&self) -> &str {
        "random"
    }
    fn scores(&self, user: u32, out: &mut [f32]) {
        let mut rng = StdRng::seed_from_u64(self.seed ^ user as u64);
        out.iter_mut().for_each(|s| *s = rng.random());
    }
}

pub struct Popularity {
    pub counts: Vec<f32>,
}

impl Popularity {
    pub fn fit(split: &Split) -> Self {
        let mut counts = vec![0.0; split.n_items];
        for &(_, i) in &split.train {
            counts[i as usize] += 1.0;
        }
        Popularity { counts }
    }
}

impl Scorer for Popularity {
    fn name(&self) -> &str {
        "popularity"
    }
    fn scores(&self, _user: u32, out: &mut [f32]) {
        out.copy_from_slice(&self.counts);
    }
}

/// Content-KNN: an item's score is the cosine of its TF-IDF content vector with the sum of the
/// vectors of the user's training items (the mean similarity to the history, up to a factor).
pub struct ContentKnn {
    pub(super) vectors: Vec<Sparse>,
    pub(super) train: Vec<Vec<u32>>,
}

impl ContentKnn {
    pub fn fit(split: &Split) -> Self {
        let tfidf = Tfidf::fit(&split.features);
        ContentKnn {
            vectors: split.features.iter().map(|f| tfidf.vector(f)).collect(),
            train: split.train_by_user(),
        }
    }
}

impl Scorer for ContentKnn {
    fn name(&self) -> &str {
        "content-KNN"
    }
    fn scores(&self, user: u32, out: &mut [f32]) {
        let mut profile = vec![0.0f32; BUCKETS];
        for &i in &self.train[user as usize] {
            for &(b, w) in &self.vectors[i as usize] {
                profile[b as usize] += w;
            }
        }
        for (s, v) in out.iter_mut().zip(&self.vectors) {
            *s = v.iter().map(|&(b, w)| w * profile[b as usize]).sum();
        }
    }
}

impl Scorer for Factorised {
    fn name(&self) -> &str {
        self.name
    }
    fn scores(&self, user: u32, out: &mut [f32]) {
        let d = self.dim;
        let u = &self.users[user as usize * d..(user as usize + 1) * d];
        for (i, s) in out.iter_mut().enumerate() {
            *s = crate::recommend::bpr::dot(u, &self.item_vectors[i * d..(i + 1) * d])
                + self.item_bias[i];
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub model: String,
    pub cold: TopK,
    pub warm: TopK,
    pub hybrid: TopK,
}

fn by_user(pairs: &[(u32, u32)], n_users: usize) -> Vec<HashSet<u32>> {
    let mut by = vec![HashSet::new(); n_users];
    for &(u, i) in pairs {
        by[u as usize].insert(i);
    }
    by
}

/// Sets each weight of `grid` on `model` (through `set`), evaluates it on the validation pairs and
/// leaves the weight with the best `score` of its row set. Returns the validation row of every
/// candidate. Weights are chosen on validation pairs only, never on the test pairs.
pub fn tune_on_validation<S: Scorer>(
    split: &Split,
    model: &mut S,
    grid: &[f32],
    set: impl Fn(&mut S, f32),
    score: impl Fn(&Row) -> f64,
) -> Vec<(f32, Row)> {
    let mut tried = Vec::new();
    for &w in grid {
        set(model, w);
        tried.push((w, validate(split, model)));
    }
    let best = tried
        .iter()
        .max_by(|a, b| score(&a.1).total_cmp(&score(&b.1)))
        .map(|t| t.0)
        .unwrap_or(0.0);
    set(model, best);
    tried
}

/// Evaluates `model` in the three settings on the test pairs.
pub fn evaluate(split: &Split, model: &dyn Scorer, progress: bool) -> Row {
    evaluate_on(split, model, &split.cold_test, &split.warm_test, progress)
}

/// Evaluates `model` in the three settings on the validation pairs (for choosing settings).
pub fn validate(split: &Split, model: &dyn Scorer) -> Row {
    evaluate_on(split, model, &split.cold_val, &split.warm_val, false)
}

fn evaluate_on(
    split: &Split,
    model: &dyn Scorer,
    cold_pairs: &[(u32, u32)],
    warm_pairs: &[(u32, u32)],
    progress: bool,
) -> Row {
    let train = split.train_by_user();
    let cold_test = by_user(cold_pairs, split.n_users);
    let warm_test = by_user(warm_pairs, split.n_users);
    let mut scores = vec![0.0f32; split.n_items];
    let (mut c, mut w, mut h) = (Vec::new(), Vec::new(), Vec::new());
    let bar = crate::observe::progress::bar(
        progress,
        split.n_users as u64,
        "{msg:>20} {bar:30} {pos}/{len} users",
    );
    bar.set_message(model.name().to_owned());
    for u in 0..split.n_users {
        bar.inc(1);
        if cold_test[u].is_empty() && warm_test[u].is_empty() {
            continue;
        }
        model.scores(u as u32, &mut scores);
        let excl = &train[u];
        if !cold_test[u].is_empty() {
            let top = rank::top_k(&scores, K, |i| split.cold[i as usize], excl);
            c.push(metrics::top_k(&top, &cold_test[u], K));
        }
        if !warm_test[u].is_empty() {
            let top = rank::top_k(&scores, K, |i| !split.cold[i as usize], excl);
            w.push(metrics::top_k(&top, &warm_test[u], K));
        }
        let all: HashSet<u32> = cold_test[u].union(&warm_test[u]).copied().collect();
        let top = rank::top_k(&scores, K, |_| true, excl);
        h.push(metrics::top_k(&top, &all, K));
    }
    bar.finish_and_clear();
    Row {
        model: model.name().to_owned(),
        cold: metrics::mean(&c),
        warm: metrics::mean(&w),
        hybrid: metrics::mean(&h),
    }
}

/// The table as text, one row per model.
pub fn render(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<46} | {:^26} | {:^26} | {:^26}\n{:<46} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8} | {:>8} {:>8} {:>8}\n",
        "", "cold", "warm", "hybrid", "model", "P@20", "R@20", "NDCG@20", "P@20", "R@20", "NDCG@20", "P@20", "R@20", "NDCG@20"
    );
    for r in rows {
        s += &format!(
            "{:<46} | {:>8.4} {:>8.4} {:>8.4} | {:>8.4} {:>8.4} {:>8.4} | {:>8.4} {:>8.4} {:>8.4}\n",
            r.model,
            r.cold.precision,
            r.cold.recall,
            r.cold.ndcg,
            r.warm.precision,
            r.warm.recall,
            r.warm.ndcg,
            r.hybrid.precision,
            r.hybrid.recall,
            r.hybrid.ndcg
        );
    }
    s
}
