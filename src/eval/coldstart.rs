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
use super::rank;
use crate::data::StreamEvent;
use crate::recommend::bpr::{Bpr, BprConfig};
use crate::recommend::features::{hashed, named_features, Sparse, Tfidf, BUCKETS};
use crate::recommend::hybrid::{Hybrid, ItemVector};
use crate::recommend::tower::Tower;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};

pub const K: usize = 20;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Config {
    pub seed: u64,
    pub cold_fraction: f64,
    pub bpr: BprConfig,
    pub epochs: usize,
    pub tower_epochs: usize,
    /// DropoutNet-style item dropout of the hybrid model.
    pub item_dropout: f32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 42,
            cold_fraction: 0.2,
            bpr: BprConfig::default(),
            epochs: 40,
            tower_epochs: 30,
            item_dropout: 0.5,
        }
    }
}

/// The data set in index space with the protocol's splits.
#[derive(Clone)]
pub struct Split {
    pub n_users: usize,
    pub n_items: usize,
    pub cold: Vec<bool>,
    pub train: Vec<(u32, u32)>,
    pub warm_test: Vec<(u32, u32)>,
    pub cold_test: Vec<(u32, u32)>,
    pub warm_val: Vec<(u32, u32)>,
    pub cold_val: Vec<(u32, u32)>,
    /// Content feature names of each item.
    pub features: Vec<Vec<String>>,
}

impl Split {
    pub fn new(stream: &[StreamEvent], cold_fraction: f64, seed: u64) -> Self {
        let mut users: HashMap<&str, u32> = HashMap::new();
        let mut items: HashMap<&str, u32> = HashMap::new();
        let mut features = Vec::new();
        let mut pairs = Vec::new();
        for e in stream {
            match e {
                StreamEvent::Product(p) => {
                    if !items.contains_key(p.item_id.as_str()) {
                        items.insert(&p.item_id, features.len() as u32);
                        features.push(named_features(p));
                    }
                }
                StreamEvent::Behavior(b) => {
                    let n = users.len() as u32;
                    let u = *users.entry(&b.user_id).or_insert(n);
                    if let Some(&i) = items.get(b.item_id.as_str()) {
                        pairs.push((u, i));
                    }
                }
            }
        }
        pairs.sort_unstable();
        pairs.dedup();
        let n_items = features.len();
        let mut rng = StdRng::seed_from_u64(seed);
        let mut order: Vec<u32> = (0..n_items as u32).collect();
        order.shuffle(&mut rng);
        let mut cold = vec![false; n_items];
        for &i in &order[..(n_items as f64 * cold_fraction).round() as usize] {
            cold[i as usize] = true;
        }
        let (mut warm_pairs, mut cold_pairs): (Vec<_>, Vec<_>) =
            pairs.into_iter().partition(|&(_, i)| !cold[i as usize]);
        warm_pairs.shuffle(&mut rng);
        cold_pairs.shuffle(&mut rng);
        let (a, b) = (warm_pairs.len() * 8 / 10, warm_pairs.len() * 9 / 10);
        let half = cold_pairs.len() / 2;
        Split {
            n_users: users.len(),
            n_items,
            cold,
            train: warm_pairs[..a].to_vec(),
            warm_val: warm_pairs[a..b].to_vec(),
            warm_test: warm_pairs[b..].to_vec(),
            cold_val: cold_pairs[..half].to_vec(),
            cold_test: cold_pairs[half..].to_vec(),
            features,
        }
    }

    /// Each user's training items, sorted.
    pub fn train_by_user(&self) -> Vec<Vec<u32>> {
        let mut by = vec![Vec::new(); self.n_users];
        for &(u, i) in &self.train {
            by[u as usize].push(i);
        }
        by.iter_mut().for_each(|v| v.sort_unstable());
        by
    }
}

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

/// `epochs` passes of BPR steps over the shuffled training pairs, negatives drawn from the warm
/// items; `observe(u, i, warm, seen, rng)` makes one step and returns its loss. Returns the
/// training curve (mean loss per epoch) and the warm item list.
fn train_epochs(
    split: &Split,
    epochs: usize,
    label: &str,
    progress: bool,
    rng: &mut StdRng,
    mut observe: impl FnMut(usize, usize, &[u32], &[u32], &mut StdRng) -> f32,
) -> (Vec<(usize, f32)>, Vec<u32>) {
    let train_by_user = split.train_by_user();
    let warm: Vec<u32> = (0..split.n_items as u32)
        .filter(|&i| !split.cold[i as usize])
        .collect();
    let mut pairs = split.train.clone();
    let bar = crate::observe::progress::bar(
        progress,
        epochs as u64,
        &format!("{label} {{bar:30}} {{pos}}/{{len}} epochs  loss {{msg}}"),
    );
    let mut curve = Vec::new();
    for epoch in 0..epochs {
        pairs.shuffle(rng);
        let mut loss = 0.0;
        for &(u, i) in &pairs {
            loss += observe(
                u as usize,
                i as usize,
                &warm,
                &train_by_user[u as usize],
                rng,
            );
        }
        let mean = loss / pairs.len().max(1) as f32;
        curve.push((epoch + 1, mean));
        bar.set_message(format!("{mean:.4}"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    (curve, warm)
}

/// A factorised model ready to score: user factors, one vector and bias per item.
#[derive(Clone)]
pub struct Factorised {
    pub name: &'static str,
    pub dim: usize,
    pub users: Vec<f32>,
    pub item_vectors: Vec<f32>,
    pub item_bias: Vec<f32>,
    /// Mean training loss per epoch.
    pub curve: Vec<(usize, f32)>,
}

impl Factorised {
    /// Cold items were never trained on, so their bias is the warm items' mean, not the initial 0.
    fn with_cold_bias(mut self, split: &Split, warm: &[u32]) -> Self {
        let warm_bias = warm
            .iter()
            .map(|&i| self.item_bias[i as usize])
            .sum::<f32>()
            / warm.len().max(1) as f32;
        for (b, cold) in self.item_bias.iter_mut().zip(&split.cold) {
            if *cold {
                *b = warm_bias;
            }
        }
        self
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

/// BPR matrix factorisation for warm items, the content tower (fitted afterwards to the warm
/// items' vectors) for cold ones.
pub struct MfTower;

impl MfTower {
    pub fn fit(split: &Split, config: &Config, progress: bool) -> Factorised {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut bpr = Bpr::new(config.bpr.clone());
        bpr.ensure(split.n_users, split.n_items, &mut rng);
        let (curve, warm) = train_epochs(
            split,
            config.epochs,
            "MF",
            progress,
            &mut rng,
            |u, i, warm, seen, rng| {
                bpr.observe(u, i, 1.0, warm, |j| seen.binary_search(&j).is_ok(), rng)
            },
        );
        let xs: Vec<Sparse> = split.features.iter().map(|f| hashed(f)).collect();
        let targets: Vec<(&Sparse, &[f32])> = warm
            .iter()
            .map(|&i| (&xs[i as usize], bpr.items.row(i as usize)))
            .collect();
        let mut tower = Tower::new(config.bpr.dim);
        tower.fit(&targets, config.tower_epochs, 0.05, 1e-5, &mut rng);
        let dim = config.bpr.dim;
        let mut item_vectors = bpr.items.data.clone();
        for i in (0..split.n_items).filter(|&i| split.cold[i]) {
            item_vectors[i * dim..(i + 1) * dim].copy_from_slice(&tower.embed(&xs[i]));
        }
        Factorised {
            name: "MF + content tower",
            dim,
            users: bpr.users.data,
            item_vectors,
            item_bias: bpr.item_bias,
            curve,
        }
        .with_cold_bias(split, &warm)
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

/// The online recommender's model (`recommend::hybrid`), trained by BPR steps: in `Additive`
/// mode the item vector is own embedding + content tower (with item dropout), in `Fallback` mode
/// the content tower until the item's first interaction, its own embedding after.
pub struct HybridMf;

impl HybridMf {
    pub fn fit(split: &Split, config: &Config, mode: ItemVector, progress: bool) -> Factorised {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut m = Hybrid::new(config.bpr.clone());
        m.mode = mode;
        if mode == ItemVector::Additive {
            m.item_dropout = config.item_dropout;
        }
        m.init_tower(&mut rng);
        m.ensure_users(split.n_users, &mut rng);
        for f in &split.features {
            m.add_item(hashed(f));
        }
        let (curve, warm) = train_epochs(
            split,
            config.epochs,
            "online MF",
            progress,
            &mut rng,
            |u, i, warm, seen, rng| {
                m.observe(
                    u,
                    i,
                    1.0,
                    warm,
                    |j| seen.binary_search(&j).is_ok(),
                    rng,
                    false,
                )
            },
        );
        let dim = config.bpr.dim;
        let mut item_vectors = vec![0.0; split.n_items * dim];
        for i in 0..split.n_items {
            m.item_vector(i, &mut item_vectors[i * dim..(i + 1) * dim]);
        }
        Factorised {
            name: match mode {
                ItemVector::Additive => "hybrid MF (e_i + tower)",
                ItemVector::Fallback => "online MF (W x_i, then e_i)",
            },
            dim,
            users: m.users.data,
            item_vectors,
            item_bias: m.item_bias,
            curve,
        }
        .with_cold_bias(split, &warm)
    }
}
