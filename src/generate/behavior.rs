//! Synthetic cold-start behaviour for new products: the behaviour GAN's generator maps a
//! product's content to an item vector in the recommender's space (with noise, so that two draws
//! differ), users are drawn by score among the best-scoring ones, and each gets a short
//! view / cart / purchase sequence with kinds and gaps fitted on real data.
//!
//! Scoring every user is one [batch, dim] x [dim, users] product on the device, the pool is its
//! top-k there too, and only the pool comes back to the CPU. The GAN's discriminator scores each
//! drawn (user, item) pair: a set it finds implausible on average is drawn again from new noise.

use super::GenerateError;
use crate::artifact::card::ModelCard;
use crate::artifact::checkpoint;
use crate::events::BehaviorKind;
use crate::gan::behavior::{draw, Bag, Discriminator, GanConfig, Generator};
use crate::gan::sequence::SequenceModel;
use crate::recommend::exposure::Exposure;
use crate::recommend::features::Sparse;
use rand::rngs::StdRng;
use std::io::BufRead;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// One synthetic user's interactions with one product.
#[derive(Debug, Clone)]
pub struct UserSequence {
    /// The user's row in the model's user table.
    pub index: u32,
    pub user_id: String,
    /// The user's score for the generated item vector.
    pub score: f32,
    pub events: Vec<(BehaviorKind, i64)>,
}

/// A product's synthetic users, with the discriminator's mean probability that they are real.
#[derive(Debug, Clone)]
pub struct Draw {
    pub users: Vec<UserSequence>,
    pub plausibility: f64,
}

pub struct BehaviorModel {
    pub name: String,
    pub version: String,
    config: GanConfig,
    _vars: nn::VarStore,
    generator: Generator,
    _dvars: nn::VarStore,
    discriminator: Discriminator,
    /// [users, dim] on the device.
    users: Tensor,
    user_ids: Vec<String>,
    sequence: SequenceModel,
    device: Device,
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> GenerateError {
    GenerateError::File {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

impl BehaviorModel {
    pub fn load(dir: &Path, device: Device) -> Result<Self, GenerateError> {
        let card_path = dir.join("card.json");
        let card = ModelCard::read(&card_path)?;
        let config: GanConfig = serde_json::from_value(card.run.config["gan"].clone())
            .map_err(|e| file_error(&card_path, format!("config.gan: {e}")))?;
        let vars = nn::VarStore::new(device);
        let generator = Generator::new(&vars.root().sub("generator"), &config);
        checkpoint::load(&vars, &dir.join("generator.safetensors"))?;
        let dvars = nn::VarStore::new(device);
        let discriminator = Discriminator::new(&dvars.root().sub("discriminator"), &config);
        checkpoint::load(&dvars, &dir.join("discriminator.safetensors"))?;

        let users_path = dir.join("users.safetensors");
        let users = Tensor::read_safetensors(&users_path)
            .map_err(|e| file_error(&users_path, e))?
            .into_iter()
            .find(|(n, _)| n == "users")
            .ok_or_else(|| file_error(&users_path, "no tensor `users`"))?
            .1;
        if users.dim() != 2 || users.size()[1] != config.dim {
            return Err(file_error(
                &users_path,
                format!(
                    "shape {:?}, the config needs [_, {}]",
                    users.size(),
                    config.dim
                ),
            ));
        }
        let ids_path = dir.join("users.txt.gz");
        let file = std::fs::File::open(&ids_path).map_err(|e| file_error(&ids_path, e))?;
        let user_ids: Vec<String> = std::io::BufReader::new(flate2::read::GzDecoder::new(file))
            .lines()
            .collect::<Result<_, _>>()
            .map_err(|e| file_error(&ids_path, e))?;
        if user_ids.len() as i64 != users.size()[0] {
            return Err(file_error(
                &ids_path,
                format!(
                    "{} ids for {} user vectors",
                    user_ids.len(),
                    users.size()[0]
                ),
            ));
        }
        let seq_path = dir.join("sequence.json");
        let text = std::fs::read_to_string(&seq_path).map_err(|e| file_error(&seq_path, e))?;
        let sequence: SequenceModel =
            serde_json::from_str(&text).map_err(|e| file_error(&seq_path, e))?;
        Ok(BehaviorModel {
            name: card.name,
            version: card.version,
            config,
            _vars: vars,
            generator,
            _dvars: dvars,
            discriminator,
            users: users.to_kind(Kind::Float).to(device),
            user_ids,
            sequence,
            device,
        })
    }

    pub fn users(&self) -> usize {
        self.user_ids.len()
    }

    /// Draws `n` users and their sequences for each item, in one pass over the batch; sequences
    /// start at the item's `start_ms`. Users `exposure` does not allow at that time are passed
    /// over, and every user drawn is counted there (also in a draw the discriminator then
    /// rejects: a conservative count), item by item, so that one batch cannot overdraw a user.
    #[allow(clippy::too_many_arguments)]
    pub fn draw(
        &self,
        features: &[&Sparse],
        start_ms: &[i64],
        exposure: &mut Exposure,
        n: usize,
        pool: usize,
        temperature: f32,
        rng: &mut StdRng,
    ) -> Vec<Draw> {
        if features.is_empty() {
            return Vec::new();
        }
        let _guard = tch::no_grad_guard();
        let b = features.len() as i64;
        let bag = Bag::new(features, self.config.buckets, self.device);
        let v = self
            .generator
            .forward(&bag, &self.generator.noise(b, self.device));
        let pool = pool.min(self.user_ids.len()).max(n) as i64;
        let (scores, idx) = v.matmul(&self.users.tr()).topk(pool, 1, true, true);
        let scores = Vec::<f32>::try_from(scores.to(Device::Cpu).flatten(0, -1)).expect("f32");
        let idx = Vec::<i64>::try_from(idx.to(Device::Cpu).flatten(0, -1)).expect("i64");
        let p = pool as usize;
        let mut picks: Vec<Vec<(u32, f32)>> = Vec::with_capacity(features.len());
        for (k, &start) in start_ms.iter().enumerate().take(features.len()) {
            let pooled = (k * p..(k + 1) * p).map(|j| (idx[j] as u32, scores[j]));
            let mut candidates: Vec<(u32, f32)> = pooled
                .clone()
                .filter(|&(u, _)| exposure.allows(u, start))
                .collect();
            // A pool used up by earlier products: rather users over their budget than none.
            if candidates.len() < n {
                candidates.extend(pooled.filter(|&(u, _)| !exposure.allows(u, start)));
                candidates.truncate(n);
            }
            let chosen = draw(&candidates, n, temperature, rng);
            for &u in &chosen {
                exposure.add(u, start);
            }
            picks.push(
                chosen
                    .into_iter()
                    .map(|u| (u, candidates.iter().find(|c| c.0 == u).map_or(0.0, |c| c.1)))
                    .collect(),
            );
        }
        // Discriminator over every drawn (user, item vector) pair of the batch at once.
        let (mut rows, mut users) = (Vec::new(), Vec::new());
        for (k, chosen) in picks.iter().enumerate() {
            for &(u, _) in chosen {
                rows.push(k as i64);
                users.push(u as i64);
            }
        }
        let rows_t = Tensor::from_slice(&rows).to(self.device);
        let users_t = Tensor::from_slice(&users).to(self.device);
        let probs = self
            .discriminator
            .forward(
                &self.users.index_select(0, &users_t),
                &v.index_select(0, &rows_t),
            )
            .sigmoid()
            .to(Device::Cpu);
        let probs = Vec::<f32>::try_from(probs).expect("f32");
        let mut mean = vec![(0.0f64, 0usize); features.len()];
        for (&r, &p) in rows.iter().zip(&probs) {
            mean[r as usize].0 += p as f64;
            mean[r as usize].1 += 1;
        }
        picks
            .into_iter()
            .enumerate()
            .map(|(k, chosen)| Draw {
                users: chosen
                    .into_iter()
                    .map(|(u, score)| UserSequence {
                        index: u,
                        user_id: self.user_ids[u as usize].clone(),
                        score,
                        events: self.sequence.sample(start_ms[k], rng),
                    })
                    .collect(),
                plausibility: mean[k].0 / mean[k].1.max(1) as f64,
            })
            .collect()
    }
}
