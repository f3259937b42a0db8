//! The models of the generation stage and what one batch of new products becomes.
//!
//! [`Engine::generate`] takes a batch of products and returns, for each, its synthetic reviews and
//! behaviour with provenance. Each round samples every missing record of the whole batch in one
//! forward pass per model, runs the gates, and samples again only what the gates rejected, up to
//! `max_tries` rounds: rejections are counted by reason, and what is still missing after the last
//! round is reported as a shortfall, never padded with rejected records.
//!
//! Behaviour comes from the configured source: the transfer generator (the default; it draws
//! real shoppers of the product's content neighbours from the [`super::shoppers`] index the stage
//! keeps current) or the behaviour GAN.
//!
//! Randomness: libtorch's generator and the CPU-side RNG are re-seeded per batch from the config
//! seed and the batch number; that seed is recorded in every record's provenance, so a record can
//! be traced to the batch and model version that wrote it.

use super::behavior::BehaviorModel;
use super::config::GenerationConfig;
use super::reviews::ReviewModel;
use super::shoppers::Shared;
use super::GenerateError;
use crate::events::BehaviorKind;
use crate::events::{ProductEvent, SyntheticBehavior, SyntheticReview};
use crate::recommend::exposure::Exposure;
use crate::recommend::features::{hashed, named_features, Sparse};
use crate::recommend::splitmix::SplitMix64;
use crate::text::generator::Condition;
use crate::topology::generation::BehaviorSource;
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::BTreeMap;
use tch::Device;

/// Model names and versions, for provenance, metrics and the reload endpoint.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Versions {
    pub reviews: String,
    pub behavior: String,
}

/// What one product became.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    pub reviews: Vec<SyntheticReview>,
    pub behavior: Vec<SyntheticBehavior>,
    /// Rejected records by (kind, reason).
    pub rejected: BTreeMap<(&'static str, &'static str), u32>,
    /// Records not generated at all because no loaded model applies, by (kind, reason).
    pub skipped: BTreeMap<(&'static str, &'static str), u32>,
    /// Reviews still missing after the last round.
    pub missing_reviews: usize,
    /// No behaviour set passed the gate within `max_tries`.
    pub missing_behavior: bool,
}

/// Anything that turns a batch of products into generated records: the real [`Engine`], or a
/// stand-in in tests of the batching and backpressure logic.
pub trait Model {
    fn generate(&mut self, products: &[ProductEvent]) -> Vec<Generated>;
    fn versions(&self) -> Versions;
    fn device(&self) -> Device;
}

/// Where synthetic shoppers come from.
enum Source {
    Gan {
        model: Box<BehaviorModel>,
        /// Reset by a reload (a new engine): at worst a user takes `user_max_new_items` more
        /// products in the window of the reload.
        exposure: Exposure,
    },
    /// The index outlives the engine: a reload keeps the shoppers it has read.
    Transfer { shoppers: Shared, version: String },
    /// `users_per_product = 0`: no synthetic behaviour.
    Off,
}

pub struct Engine {
    config: GenerationConfig,
    /// Each with its declared domain; a product is written for by the first that covers it.
    reviews: Vec<ReviewModel>,
    behavior: Source,
    device: Device,
    batches: u64,
}

/// The transfer generator's model name, and a version that names its settings (provenance: the
/// records of two configurations are told apart).
pub const TRANSFER_MODEL: &str = "transfer";

pub fn transfer_version(config: &GenerationConfig) -> String {
    let t = &config.transfer;
    format!(
        "transfer-n{}{}-r{}-u{}{}{}",
        t.neighbours,
        if t.max_neighbours > t.neighbours {
            format!("-w{}", t.max_neighbours)
        } else {
            String::new()
        },
        t.recent,
        t.users,
        if t.idf { "-idf" } else { "" },
        if t.max_per_user > 0 {
            format!("-cap{}per{}ms", t.max_per_user, t.window_ms)
        } else {
            String::new()
        }
    )
}

/// The device the config asks for; `cuda` without a GPU is an error rather than a silent CPU.
pub fn choose_device(config: &GenerationConfig) -> Result<Device, GenerateError> {
    use super::config::DeviceChoice;
    match config.device {
        DeviceChoice::Auto => Ok(Device::cuda_if_available()),
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda if tch::Cuda::is_available() => Ok(Device::Cuda(0)),
        DeviceChoice::Cuda => Err(GenerateError::NoCuda),
    }
}

impl Engine {
    /// Loads the models; `shoppers` is the stage's index, which the transfer source (the
    /// default) needs and the GAN ignores.
    pub fn load(
        config: &GenerationConfig,
        shoppers: Option<Shared>,
    ) -> Result<Self, GenerateError> {
        let device = choose_device(config)?;
        if device == Device::Cpu {
            tch::set_num_threads(config.cpu_threads);
        }
        let mut reviews = Vec::new();
        for dir in config.reviews_dirs() {
            let model = ReviewModel::load(&dir, config, device)?;
            // The declaration operators need when a product gets no review (`out_of_domain`).
            tracing::info!(model = %model.version, domain = ?model.domain(), "review model's domain");
            reviews.push(model);
        }
        let behavior = match (config.behavior_source, shoppers) {
            _ if config.users_per_product == 0 => Source::Off,
            (BehaviorSource::Gan, _) => {
                let model = BehaviorModel::load(&config.behavior_dir(), device)?;
                let exposure = Exposure::new(
                    model.users(),
                    config.user_max_new_items,
                    config.user_window_ms,
                );
                Source::Gan {
                    model: Box::new(model),
                    exposure,
                }
            }
            (BehaviorSource::Transfer, Some(shoppers)) => Source::Transfer {
                shoppers,
                version: transfer_version(config),
            },
            (BehaviorSource::Transfer, None) => return Err(GenerateError::NoShopperIndex),
        };
        Ok(Engine {
            config: config.clone(),
            reviews,
            behavior,
            device,
            batches: 0,
        })
    }

    fn reviews_for(
        &mut self,
        products: &[ProductEvent],
        seed: i64,
        rng: &mut StdRng,
        out: &mut [Generated],
    ) {
        let per = self.config.reviews_per_product;
        // (product index, model index, condition with its drawn rating) of every review to write.
        let mut todo: Vec<(usize, usize, Condition)> = Vec::with_capacity(products.len() * per);
        for (k, p) in products.iter().enumerate() {
            // Text from another domain would be worse than none ("perfect denim!" for a face
            // cream): a product no loaded review model declares gets no review.
            let Some(m) = self.reviews.iter().position(|r| r.covers(p)) else {
                *out[k]
                    .skipped
                    .entry(("review", "out_of_domain"))
                    .or_default() += per as u32;
                continue;
            };
            let model = &self.reviews[m];
            let base = model.condition(p);
            for _ in 0..per {
                let rating = model.draw_rating(&base, rng);
                todo.push((k, m, Condition { rating, ..base }));
            }
        }
        for _ in 0..self.config.max_tries {
            if todo.is_empty() {
                break;
            }
            let mut again = Vec::new();
            for (m, model) in self.reviews.iter_mut().enumerate() {
                let mine: Vec<(usize, Condition)> = todo
                    .iter()
                    .filter(|t| t.1 == m)
                    .map(|t| (t.0, t.2))
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let conds: Vec<Condition> = mine.iter().map(|t| t.1).collect();
                let texts = model.sample(&conds, self.config.temperature);
                for ((k, c), text) in mine.into_iter().zip(texts) {
                    match model.gates.check(&text, c.rating) {
                        Ok(scores) => {
                            let p = &products[k];
                            let n = out[k].reviews.len();
                            out[k].reviews.push(SyntheticReview {
                                event_id: format!("{}-{}-r{n}", p.item_id, model.version),
                                item_id: p.item_id.clone(),
                                ts: p.ts,
                                rating: c.rating as i32,
                                text,
                                synthetic: true,
                                model_name: model.name.clone(),
                                model_version: model.version.clone(),
                                seed,
                                scores: BTreeMap::from([
                                    ("discriminator_p_synthetic".into(), scores.p_synthetic),
                                    ("rating_read".into(), scores.rating_read as f64),
                                ]),
                            });
                        }
                        Err(reason) => {
                            *out[k].rejected.entry(("review", reason)).or_default() += 1;
                            again.push((k, m, c));
                        }
                    }
                }
            }
            todo = again;
        }
        for (k, _, _) in todo {
            out[k].missing_reviews += 1;
        }
    }

    /// Transfer: each product's users are real recent shoppers of its content neighbours, one
    /// view each at the product's time (what `eval stream` measured). A product whose neighbours
    /// have no shoppers yet gets none, counted as skipped.
    fn transfer_for(&self, products: &[ProductEvent], seed: i64, out: &mut [Generated]) {
        let Source::Transfer { shoppers, version } = &self.behavior else {
            return;
        };
        let mut rng = SplitMix64::new(seed as u64);
        let wanted = self.config.transfer.users as u32;
        for (k, p) in products.iter().enumerate() {
            // Locked per product: the feed applies the topics between two draws.
            let users = {
                let mut index = shoppers.lock().unwrap_or_else(|p| p.into_inner());
                // The index may not have read this product from its topic yet.
                index.product(p);
                index.shoppers_for(p, &mut rng)
            };
            if users.is_empty() {
                *out[k]
                    .skipped
                    .entry(("behavior", "no_neighbour_shoppers"))
                    .or_default() += wanted;
                out[k].missing_behavior = true;
                continue;
            }
            for (n, user_id) in users.into_iter().enumerate() {
                out[k].behavior.push(SyntheticBehavior {
                    event_id: format!("{}-{version}-u{n}-view", p.item_id),
                    user_id,
                    item_id: p.item_id.clone(),
                    kind: BehaviorKind::View,
                    ts: p.ts,
                    synthetic: true,
                    model_name: TRANSFER_MODEL.into(),
                    model_version: version.clone(),
                    seed,
                    scores: BTreeMap::from([("draw_order".into(), n as f64)]),
                });
            }
        }
    }

    fn behavior_for(
        &mut self,
        products: &[ProductEvent],
        seed: i64,
        rng: &mut StdRng,
        out: &mut [Generated],
    ) {
        let Source::Gan { model, exposure } = &mut self.behavior else {
            return;
        };
        let features: Vec<Sparse> = products
            .iter()
            .map(|p| hashed(&named_features(p)))
            .collect();
        let mut todo: Vec<usize> = (0..products.len()).collect();
        for _ in 0..self.config.max_tries {
            if todo.is_empty() {
                break;
            }
            let f: Vec<&Sparse> = todo.iter().map(|&k| &features[k]).collect();
            let starts: Vec<i64> = todo.iter().map(|&k| products[k].ts).collect();
            let draws = model.draw(
                &f,
                &starts,
                exposure,
                self.config.users_per_product,
                self.config.user_pool,
                self.config.user_temperature,
                rng,
            );
            let mut again = Vec::new();
            for (k, d) in todo.into_iter().zip(draws) {
                if d.plausibility < self.config.gates.min_behavior_score {
                    *out[k]
                        .rejected
                        .entry(("behavior", "discriminator"))
                        .or_default() += 1;
                    again.push(k);
                    continue;
                }
                let p = &products[k];
                for (n, u) in d.users.iter().enumerate() {
                    for (kind, ts) in &u.events {
                        out[k].behavior.push(SyntheticBehavior {
                            event_id: format!(
                                "{}-{}-u{n}-{}",
                                p.item_id,
                                model.version,
                                kind.as_str()
                            ),
                            user_id: u.user_id.clone(),
                            item_id: p.item_id.clone(),
                            kind: *kind,
                            ts: *ts,
                            synthetic: true,
                            model_name: model.name.clone(),
                            model_version: model.version.clone(),
                            seed,
                            scores: BTreeMap::from([
                                ("discriminator_p_real".into(), d.plausibility),
                                ("user_score".into(), u.score as f64),
                            ]),
                        });
                    }
                }
            }
            todo = again;
        }
        for k in todo {
            out[k].missing_behavior = true;
        }
    }
}

impl Model for Engine {
    fn generate(&mut self, products: &[ProductEvent]) -> Vec<Generated> {
        self.batches += 1;
        let seed =
            (self.config.seed ^ self.batches.wrapping_mul(0x9e37_79b9_7f4a_7c15)) as i64 & i64::MAX;
        tch::manual_seed(seed);
        let mut rng = StdRng::seed_from_u64(seed as u64);
        let mut out = vec![Generated::default(); products.len()];
        if self.config.reviews_per_product > 0 {
            self.reviews_for(products, seed, &mut rng, &mut out);
        }
        match self.behavior {
            Source::Transfer { .. } => self.transfer_for(products, seed, &mut out),
            Source::Gan { .. } => self.behavior_for(products, seed, &mut rng, &mut out),
            Source::Off => {}
        }
        out
    }

    fn versions(&self) -> Versions {
        Versions {
            reviews: self
                .reviews
                .iter()
                .map(|r| r.version.as_str())
                .collect::<Vec<_>>()
                .join("+"),
            behavior: match &self.behavior {
                Source::Gan { model, .. } => model.version.clone(),
                Source::Transfer { version, .. } => version.clone(),
                Source::Off => "none".into(),
            },
        }
    }

    fn device(&self) -> Device {
        self.device
    }
}
