//! The GAN-augmented row of the cold-start table: "online MF + synthetic behaviour from the GAN".
//!
//! 1. Train the online MF on the training pairs (warm items only, as the protocol says).
//! 2. Train the behaviour GAN on its user and warm item vectors and the items' content.
//! 3. For each cold item, generate its vector from content and draw plausible users by score:
//!    as many as a warm item has training interactions (the median).
//! 4. Train the online MF again on the training pairs plus these synthetic pairs, so cold items
//!    get collaborative vectors from synthetic evidence, as they would in the live service.
//! 5. Or, as GAR intends generated evidence to be used: BPR steps on the synthetic pairs that move
//!    only the cold items' vectors (starting from the generated ones), the users' vectors and the
//!    warm items' staying as real data made them. Retraining everything lets synthetic pairs pull
//!    users towards items they never chose, which costs the warm items (the "seesaw").
//!
//! The test pairs are never seen; the synthetic pairs join training only, not the exclusions.
//!
//! [`fit_transfer`] makes the same two rows with the generation stage's default generator, the
//! transfer generator (`recommend::transfer`) with its default settings, in place of the GAN:
//! each cold item's synthetic users are drawn from the training shoppers of its nearest warm
//! items by content.

use super::coldstart::{Config, Factorised, HybridMf, Split};
use crate::gan::behavior::{sample_users, BehaviorGan, EpochLoss, GanConfig, TrainData};
use crate::recommend::features::{hashed, Sparse};
use crate::recommend::hybrid::ItemVector;
use crate::recommend::splitmix::SplitMix64;
use crate::recommend::transfer::{Transfer, TransferConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;

pub struct Augmented {
    pub model: Factorised,
    /// The first MF with the cold items' vectors replaced by the generated ones (GAR's use).
    pub generated: Factorised,
    /// `generated`, its cold items' vectors then trained on the synthetic pairs alone (step 5).
    pub item_side: Factorised,
    pub gan_curve: Vec<EpochLoss>,
    pub synthetic_pairs: usize,
    pub per_item: usize,
}

pub fn fit(split: &Split, config: &Config, gan: GanConfig, progress: bool) -> Augmented {
    let base = HybridMf::fit(split, config, ItemVector::Fallback, progress);
    let features: Vec<Sparse> = split.features.iter().map(|f| hashed(f)).collect();
    let warm: Vec<u32> = (0..split.n_items as u32)
        .filter(|&i| !split.cold[i as usize])
        .collect();
    let mut model = BehaviorGan::new(
        GanConfig {
            dim: config.bpr.dim as i64,
            ..gan
        },
        crate::torch::device(),
    );
    let gan_curve = model.train(
        &TrainData {
            users: &base.users,
            items: &base.item_vectors,
            features: &features,
            pairs: &split.train,
            warm: &warm,
        },
        progress,
    );
    let mut counts = vec![0usize; split.n_items];
    split
        .train
        .iter()
        .for_each(|&(_, i)| counts[i as usize] += 1);
    let mut warm_counts: Vec<usize> = warm.iter().map(|&i| counts[i as usize]).collect();
    warm_counts.sort_unstable();
    let per_item = warm_counts.get(warm_counts.len() / 2).copied().unwrap_or(1);

    let cold: Vec<u32> = (0..split.n_items as u32)
        .filter(|&i| split.cold[i as usize])
        .collect();
    let cold_features: Vec<&Sparse> = cold.iter().map(|&i| &features[i as usize]).collect();
    let generated = model.generate(&cold_features);
    let dim = config.bpr.dim;
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut synthetic = Vec::new();
    for (k, &item) in cold.iter().enumerate() {
        let v = &generated[k * dim..(k + 1) * dim];
        for u in sample_users(&base.users, dim, v, per_item, 200, 1.0, &mut rng) {
            synthetic.push((u, item));
        }
    }
    let mut with_generated = base.clone();
    with_generated.name = "online MF, GAN vectors for cold";
    for (k, &item) in cold.iter().enumerate() {
        with_generated.item_vectors[item as usize * dim..(item as usize + 1) * dim]
            .copy_from_slice(&generated[k * dim..(k + 1) * dim]);
    }
    let mut item_side = with_generated.clone();
    item_side.name = "online MF, GAN behaviour, cold only";
    train_cold_items(&mut item_side, split, &synthetic, config, &mut rng);
    let mut augmented = split.clone();
    augmented.train.extend_from_slice(&synthetic);
    let mut model = HybridMf::fit(&augmented, config, ItemVector::Fallback, progress);
    model.name = "online MF + GAN behaviour";
    Augmented {
        model,
        generated: with_generated,
        item_side,
        gan_curve,
        synthetic_pairs: synthetic.len(),
        per_item,
    }
}

/// The transfer generator's rows: "cold only" (the online MF, its cold items' vectors then trained
/// on the synthetic pairs alone) and the online MF retrained on real plus synthetic pairs; and how
/// many synthetic pairs there were.
pub fn fit_transfer(split: &Split, config: &Config, progress: bool) -> ([Factorised; 2], usize) {
    let base = HybridMf::fit(split, config, ItemVector::Fallback, progress);
    let mut transfer = Transfer::new(TransferConfig::default());
    for i in 0..split.n_items {
        if !split.cold[i] {
            transfer.content(&i.to_string(), &split.features[i]);
        }
    }
    // The training pairs carry no time: their order stands for it.
    for (n, &(u, i)) in split.train.iter().enumerate() {
        transfer.interaction(&u.to_string(), &i.to_string(), n as i64);
    }
    let mut rng = SplitMix64::new(config.seed);
    let mut synthetic = Vec::new();
    for i in (0..split.n_items).filter(|&i| split.cold[i]) {
        let id = i.to_string();
        transfer.content(&id, &split.features[i]);
        for u in transfer.shoppers_of(&id, 0, &mut rng) {
            let u: u32 = u.parse().expect("users are numbered here");
            synthetic.push((u, i as u32));
        }
    }
    let mut item_side = base.clone();
    item_side.name = "online MF, transfer behaviour, cold only";
    let mut step_rng = StdRng::seed_from_u64(config.seed);
    train_cold_items(&mut item_side, split, &synthetic, config, &mut step_rng);
    let mut augmented = split.clone();
    augmented.train.extend_from_slice(&synthetic);
    let mut model = HybridMf::fit(&augmented, config, ItemVector::Fallback, progress);
    model.name = "online MF + transfer behaviour";
    ([item_side, model], synthetic.len())
}

/// Epochs over the synthetic pairs in [`train_cold_items`]: a cold item has `per_item` of them.
const ITEM_SIDE_EPOCHS: usize = 10;

/// BPR steps on `synthetic` (user, cold item) pairs against warm negatives for the same user,
/// updating the cold item's vector only: its score for its synthetic users rises above the warm
/// items', on the scale of the real model, while nothing else moves.
fn train_cold_items(
    m: &mut Factorised,
    split: &Split,
    synthetic: &[(u32, u32)],
    config: &Config,
    rng: &mut StdRng,
) {
    use rand::seq::SliceRandom;
    use rand::Rng;
    let dim = m.dim;
    let (lr, reg) = (config.bpr.learning_rate, config.bpr.regularization);
    let warm: Vec<usize> = (0..split.n_items).filter(|&i| !split.cold[i]).collect();
    let mut pairs = synthetic.to_vec();
    for _ in 0..ITEM_SIDE_EPOCHS {
        pairs.shuffle(rng);
        for &(u, i) in &pairs {
            let (u, i) = (u as usize, i as usize);
            let j = warm[rng.random_range(0..warm.len())];
            let user = &m.users[u * dim..(u + 1) * dim];
            let dot = |item: usize| -> f32 {
                let v = &m.item_vectors[item * dim..(item + 1) * dim];
                user.iter().zip(v).map(|(a, b)| a * b).sum::<f32>() + m.item_bias[item]
            };
            let x = dot(i) - dot(j);
            let g = 1.0 / (1.0 + x.exp()); // d/dx of ln(sigmoid(x))
            let v = &mut m.item_vectors[i * dim..(i + 1) * dim];
            for (vk, uk) in v.iter_mut().zip(user) {
                *vk += lr * (g * uk - reg * *vk);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_pairs_move_only_the_cold_items_towards_their_users() {
        // 4 users, items 0-2 warm, item 3 cold; users 0 and 1 are the cold item's synthetic users.
        let dim = 2;
        let split = Split {
            n_users: 4,
            n_items: 4,
            cold: vec![false, false, false, true],
            train: vec![(0, 0), (1, 1), (2, 2), (3, 0)],
            warm_test: vec![],
            cold_test: vec![],
            warm_val: vec![],
            cold_val: vec![],
            features: vec![vec![]; 4],
        };
        let base = Factorised {
            name: "t",
            dim,
            users: vec![1.0, 0.2, 0.9, 0.1, -1.0, 0.3, 0.0, -1.0],
            item_vectors: vec![0.5, 0.5, 0.1, -0.4, -0.6, 0.2, 0.0, 0.0],
            item_bias: vec![0.0; 4],
            curve: vec![],
        };
        let mut m = base.clone();
        let config = Config::default();
        let mut rng = StdRng::seed_from_u64(3);
        train_cold_items(&mut m, &split, &[(0, 3), (1, 3)], &config, &mut rng);
        assert_eq!(m.users, base.users, "users never move");
        assert_eq!(
            m.item_vectors[..6],
            base.item_vectors[..6],
            "warm items never move"
        );
        let score =
            |u: usize| m.users[u * 2] * m.item_vectors[6] + m.users[u * 2 + 1] * m.item_vectors[7];
        assert!(
            score(0) > 0.1 && score(1) > 0.1,
            "{} {}",
            score(0),
            score(1)
        );
        assert!(
            score(2) < 0.0,
            "a user unlike its synthetic users: {}",
            score(2)
        );
    }
}
