//! The GAN-augmented row of the cold-start table: "online MF + synthetic behaviour from the GAN".
//!
//! 1. Train the online MF on the training pairs (warm items only, as the protocol says).
//! 2. Train the behaviour GAN on its user and warm item vectors and the items' content.
//! 3. For each cold item, generate its vector from content and draw plausible users by score:
//!    as many as a warm item has training interactions (the median).
//! 4. Train the online MF again on the training pairs plus these synthetic pairs, so cold items
//!    get collaborative vectors from synthetic evidence, as they would in the live service.
//!
//! The test pairs are never seen; the synthetic pairs join training only, not the exclusions.

use super::coldstart::{Config, Factorised, HybridMf, Split};
use crate::gan::behavior::{sample_users, BehaviorGan, EpochLoss, GanConfig, TrainData};
use crate::recommend::features::{hashed, Sparse};
use crate::recommend::hybrid::ItemVector;
use rand::rngs::StdRng;
use rand::SeedableRng;

pub struct Augmented {
    pub model: Factorised,
    /// The first MF with the cold items' vectors replaced by the generated ones (GAR's use).
    pub generated: Factorised,
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
    let mut augmented = split.clone();
    augmented.train.extend_from_slice(&synthetic);
    let mut model = HybridMf::fit(&augmented, config, ItemVector::Fallback, progress);
    model.name = "online MF + GAN behaviour";
    Augmented {
        model,
        generated: with_generated,
        gan_curve,
        synthetic_pairs: synthetic.len(),
        per_item,
    }
}
