//! The behaviour GAN as a generator of the stream evaluation. The committed checkpoint was
//! trained on a random item split of the whole catalogue, window included, so it would know the
//! future; this one is retrained on the warm-up alone (its MF, its user table and its GAN), into
//! `gan_dir`, and then drawn from with the generation stage's own model code and its default
//! settings (pool, temperature, the per-user exposure cap), as the stage would for a launch.

use crate::data::Catalog;
use crate::events::{BehaviorKind, ProductEvent};
use crate::gan::behavior::GanConfig;
use crate::gan::train_behavior::{self, TrainBehavior, TrainError};
use crate::generate::behavior::BehaviorModel;
use crate::generate::GenerateError;
use crate::recommend::exposure::Exposure;
use crate::recommend::features::{hashed, named_features};
use crate::topology::generation::GenerationConfig;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum GanError {
    #[error("training the behaviour GAN on the warm-up: {0}")]
    Train(#[from] TrainError),
    #[error("loading the retrained behaviour GAN: {0}")]
    Load(#[from] GenerateError),
    /// Not the GAN's, but the same run's: the review variant's models.
    #[error("loading the review models for the review variant: {0}")]
    Reviews(GenerateError),
}

pub struct GanGenerator {
    model: BehaviorModel,
    exposure: Exposure,
    stage: GenerationConfig,
    users: usize,
    rng: StdRng,
    pub version: String,
}

impl GanGenerator {
    /// Trains on the first `at` interactions of `catalog` (and only their items) into `dir`.
    pub fn train(
        catalog: &Catalog,
        at: usize,
        dir: &Path,
        epochs: usize,
        users: usize,
        seed: u64,
        progress: bool,
    ) -> Result<GanGenerator, GanError> {
        let warm = Catalog::from_stream(
            &format!("{} (warm-up of the stream evaluation)", catalog.name),
            catalog.stream_prefix(Some(at)),
        );
        let opts = TrainBehavior {
            out: dir.to_owned(),
            gan: GanConfig {
                epochs,
                seed,
                ..GanConfig::default()
            },
            mf_epochs: 40,
            resume: false,
        };
        train_behavior::train(&opts, &warm, progress)?;
        let model = BehaviorModel::load(dir, crate::torch::device())?;
        let stage = GenerationConfig::default();
        let exposure = Exposure::new(
            model.users(),
            stage.user_max_new_items,
            stage.user_window_ms,
        );
        Ok(GanGenerator {
            version: model.version.clone(),
            model,
            exposure,
            stage,
            users,
            rng: StdRng::seed_from_u64(seed),
        })
    }

    /// Synthetic users for the new product `p`, each with its view (and maybe cart and
    /// purchase) and their times, as the stage draws them.
    pub fn events_for(&mut self, p: &ProductEvent) -> Vec<(String, BehaviorKind, i64)> {
        let f = hashed(&named_features(p));
        let draws = self.model.draw(
            &[&f],
            &[p.ts],
            &mut self.exposure,
            self.users,
            self.stage.user_pool,
            self.stage.user_temperature,
            &mut self.rng,
        );
        draws
            .into_iter()
            .flat_map(|d| d.users)
            .flat_map(|u| {
                u.events
                    .into_iter()
                    .map(move |(kind, ts)| (u.user_id.clone(), kind, ts))
            })
            .collect()
    }
}
