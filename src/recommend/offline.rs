//! Offline fitting of the recommender's factorised models on the cold-start item split.
//!
//! The split and the fitted models live here, below the evaluations and the behaviour GAN's
//! trainer that both use them, so that training a shipped model does not depend on how the
//! evaluation protocol scores it. The split itself is the GAR/ALDI protocol's (see
//! `eval::coldstart`): items 80/20 warm/cold, warm pairs 80/10/10 train/validation/test, cold
//! pairs 50/50 validation/test.

use super::bpr::{Bpr, BprConfig};
use super::features::{hashed, named_features, Sparse};
use super::hybrid::{Hybrid, ItemVector};
use super::tower::Tower;
use crate::data::Catalog;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashMap;

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
    /// The split of `catalog`, users and items numbered in its index order (so two encodings
    /// of one catalogue get one split).
    pub fn new(catalog: &Catalog, cold_fraction: f64, seed: u64) -> Self {
        let users: HashMap<&str, u32> = catalog
            .users()
            .iter()
            .enumerate()
            .map(|(u, id)| (id.as_str(), u as u32))
            .collect();
        let items: HashMap<&str, u32> = catalog
            .items()
            .iter()
            .enumerate()
            .map(|(i, p)| (p.item_id.as_str(), i as u32))
            .collect();
        let features: Vec<Vec<String>> = catalog.items().iter().map(named_features).collect();
        // Every interaction of a catalogue read from files names a known item; one built from a
        // stream may not, and such pairs have no item to rank.
        let mut pairs: Vec<(u32, u32)> = catalog
            .interactions()
            .iter()
            .filter_map(|b| {
                Some((
                    *users.get(b.user_id.as_str())?,
                    *items.get(b.item_id.as_str())?,
                ))
            })
            .collect();
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

/// `epochs` passes of BPR steps over the shuffled training pairs, negatives drawn from the warm
/// items; `observe(u, i, warm, seen, rng)` makes one step and returns its loss. Returns the
/// training curve (mean loss per epoch) and the warm item list.
pub fn train_epochs(
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
    pub fn with_cold_bias(mut self, split: &Split, warm: &[u32]) -> Self {
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
