//! The cold-start behaviour generator: a conditional GAN in the spirit of GAR (Chen et al.,
//! SIGIR 2022) and LARA (Sun et al., WSDM 2020) that maps a product's content into the
//! recommender's collaborative space.
//!
//! - The generator reads the hashed content features (a learnt embedding bag) and noise, and
//!   writes an item vector.
//! - The discriminator sees (user vector, item vector) pairs of real interactions and tells the
//!   warm item's learnt vector from the generated one, so the generator must produce vectors that
//!   interact with the item's real users the way learnt vectors do, not merely resemble them.
//! - A BPR ranking term makes the generated vector of an item the user took score above that of a
//!   random item, which is what the recommender will use it for.
//!
//! The user vectors and warm item vectors come from the trained recommender and stay fixed: the
//! generator learns to speak the recommender's language. From a generated vector, `sample_users`
//! draws plausible users for a new product by score; those become its synthetic behaviour.

use crate::optim::{seed_unit, Adam, Current, ResumeError, ResumeFile};
use crate::recommend::features::Sparse;
use rand::Rng;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GanConfig {
    /// The recommender's factor dimension.
    pub dim: i64,
    pub hidden: i64,
    pub noise: i64,
    pub epochs: usize,
    pub batch: usize,
    pub learning_rate: f64,
    /// Weight of the ranking term against the adversarial one.
    pub rank_weight: f64,
    /// Weight of the squared distance to the item's learnt vector (a distillation term that
    /// anchors the generator in the recommender's space; 0 leaves it to the adversarial game).
    #[serde(default)]
    pub align_weight: f64,
    pub seed: u64,
    /// Content buckets the generator reads: the recommender's hashed features folded modulo this
    /// (2^13 keeps the committed checkpoint small; collisions are rare among one item's features).
    pub buckets: i64,
}

impl Default for GanConfig {
    fn default() -> Self {
        GanConfig {
            dim: 64,
            hidden: 128,
            noise: 16,
            epochs: 10,
            batch: 1024,
            learning_rate: 1e-3,
            rank_weight: 1.0,
            align_weight: 1.0,
            seed: 42,
            buckets: 1 << 13,
        }
    }
}

pub use crate::artifact::checkpoint::CheckpointError;

/// Content features of a batch of items as an embedding bag: feature buckets, their weights, and
/// the row of the batch each belongs to.
pub struct Bag {
    buckets: Tensor,
    weights: Tensor,
    rows: Tensor,
    len: i64,
}

impl Bag {
    pub fn new(items: &[&Sparse], buckets: i64, device: Device) -> Self {
        let (mut b, mut w, mut r) = (Vec::new(), Vec::new(), Vec::new());
        for (row, x) in items.iter().enumerate() {
            for &(bucket, weight) in x.iter() {
                b.push(bucket as i64 % buckets);
                w.push(weight);
                r.push(row as i64);
            }
        }
        Bag {
            buckets: Tensor::from_slice(&b).to(device),
            weights: Tensor::from_slice(&w).to(device),
            rows: Tensor::from_slice(&r).to(device),
            len: items.len() as i64,
        }
    }
}

pub struct Generator {
    bag: Tensor,
    hidden: nn::Linear,
    out: nn::Linear,
    noise: i64,
}

impl Generator {
    pub fn new(p: &nn::Path, c: &GanConfig) -> Self {
        Generator {
            bag: p.randn("bag", &[c.buckets, c.hidden], 0.0, 0.1),
            hidden: nn::linear(
                p / "hidden",
                c.hidden + c.noise,
                c.hidden,
                Default::default(),
            ),
            out: nn::linear(p / "out", c.hidden, c.dim, Default::default()),
            noise: c.noise,
        }
    }

    /// Item vectors for the bag's items; `noise` is [len, noise] (zeros for the mean vector).
    pub fn forward(&self, x: &Bag, noise: &Tensor) -> Tensor {
        let rows = self.bag.index_select(0, &x.buckets) * x.weights.unsqueeze(1);
        let h = Tensor::zeros(
            [x.len, self.bag.size()[1]],
            (Kind::Float, self.bag.device()),
        )
        .index_add(0, &x.rows, &rows)
        .relu();
        let h = self
            .hidden
            .forward(&Tensor::cat(&[h, noise.shallow_clone()], 1))
            .relu();
        self.out.forward(&h)
    }

    pub fn noise(&self, n: i64, device: Device) -> Tensor {
        Tensor::randn([n, self.noise], (Kind::Float, device))
    }
}

pub struct Discriminator {
    l1: nn::Linear,
    l2: nn::Linear,
}

impl Discriminator {
    pub fn new(p: &nn::Path, c: &GanConfig) -> Self {
        Discriminator {
            l1: nn::linear(p / "l1", 3 * c.dim, c.hidden, Default::default()),
            l2: nn::linear(p / "l2", c.hidden, 1, Default::default()),
        }
    }

    /// Logit that (user, item) is a real interaction with a learnt item vector.
    pub fn forward(&self, users: &Tensor, items: &Tensor) -> Tensor {
        let x = Tensor::cat(&[users, items, &(users * items)], 1);
        self.l2
            .forward(&self.l1.forward(&x).leaky_relu())
            .squeeze_dim(1)
    }
}

/// What training sees: fixed user and warm item vectors, every item's content, and the
/// interactions (user, warm item).
pub struct TrainData<'a> {
    pub users: &'a [f32],
    pub items: &'a [f32],
    pub features: &'a [Sparse],
    pub pairs: &'a [(u32, u32)],
    pub warm: &'a [u32],
}

/// Mean losses of one epoch.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct EpochLoss {
    pub epoch: usize,
    pub discriminator: f64,
    pub adversarial: f64,
    pub ranking: f64,
}

pub struct BehaviorGan {
    pub config: GanConfig,
    pub vars: nn::VarStore,
    pub generator: Generator,
    pub discriminator: Discriminator,
    pub dvars: nn::VarStore,
    /// The optimizers live with the model, so that a resume file can carry their moments.
    pub g_opt: Adam,
    pub d_opt: Adam,
    /// Epochs trained so far, over all runs: epoch k draws its batches and noise from
    /// `seed_unit(seed, k)`, so a resumed run draws what an uninterrupted one would have.
    pub epochs_done: usize,
}

impl BehaviorGan {
    pub fn new(config: GanConfig, device: Device) -> Self {
        tch::manual_seed(config.seed as i64);
        let vars = nn::VarStore::new(device);
        let generator = Generator::new(&vars.root().sub("generator"), &config);
        let dvars = nn::VarStore::new(device);
        let discriminator = Discriminator::new(&dvars.root().sub("discriminator"), &config);
        BehaviorGan {
            g_opt: Adam::new(&vars, config.learning_rate),
            d_opt: Adam::new(&dvars, config.learning_rate),
            config,
            vars,
            generator,
            discriminator,
            dvars,
            epochs_done: 0,
        }
    }

    fn rows(data: &[f32], dim: i64, idx: &[u32], device: Device) -> Tensor {
        let d = dim as usize;
        let mut v = Vec::with_capacity(idx.len() * d);
        for &i in idx {
            v.extend_from_slice(&data[i as usize * d..(i as usize + 1) * d]);
        }
        Tensor::from_slice(&v)
            .reshape([idx.len() as i64, dim])
            .to(device)
    }

    /// Trains generator and discriminator in alternation for `config.epochs` more epochs;
    /// returns their loss curve (epochs numbered over all runs).
    pub fn train(&mut self, data: &TrainData, progress: bool) -> Vec<EpochLoss> {
        let c = self.config.clone();
        let device = self.vars.device();
        let steps = data.pairs.len().div_ceil(c.batch);
        let bar = crate::observe::progress::bar(
            progress,
            (c.epochs * steps) as u64,
            "behaviour GAN {bar:30} {pos}/{len} steps  {msg}",
        );
        let mut curve = Vec::new();
        for _ in 0..c.epochs {
            let mut rng = seed_unit(c.seed, self.epochs_done as u64);
            self.epochs_done += 1;
            let (mut dl, mut al, mut rl) = (0.0, 0.0, 0.0);
            for _ in 0..steps {
                let batch: Vec<(u32, u32)> = (0..c.batch)
                    .map(|_| data.pairs[rng.random_range(0..data.pairs.len())])
                    .collect();
                let us: Vec<u32> = batch.iter().map(|p| p.0).collect();
                let is: Vec<u32> = batch.iter().map(|p| p.1).collect();
                let js: Vec<u32> = (0..c.batch)
                    .map(|_| data.warm[rng.random_range(0..data.warm.len())])
                    .collect();
                let n_users = (data.users.len() / c.dim as usize) as u32;
                let others: Vec<u32> = (0..c.batch).map(|_| rng.random_range(0..n_users)).collect();
                let u = Self::rows(data.users, c.dim, &us, device);
                let u_other = Self::rows(data.users, c.dim, &others, device);
                let e = Self::rows(data.items, c.dim, &is, device);
                let fi: Vec<&Sparse> = is.iter().map(|&i| &data.features[i as usize]).collect();
                let fj: Vec<&Sparse> = js.iter().map(|&j| &data.features[j as usize]).collect();
                let (bi, bj) = (
                    Bag::new(&fi, c.buckets, device),
                    Bag::new(&fj, c.buckets, device),
                );
                let n = c.batch as i64;
                // Discriminator: learnt vectors of real interactions against generated ones.
                let gi = self
                    .generator
                    .forward(&bi, &self.generator.noise(n, device));
                let d = &self.discriminator;
                let d_loss = bce(&d.forward(&u, &e), 1.0) + bce(&d.forward(&u, &gi.detach()), 0.0);
                self.d_opt.backward_step(&d_loss);

                // Generator: fool the discriminator, and rank the user's item above a random one.
                let gj = self
                    .generator
                    .forward(&bj, &self.generator.noise(n, device));
                let adversarial = bce(&self.discriminator.forward(&u, &gi), 1.0);
                // Both directions: the user ranks the item above a random item (what the
                // recommender needs) and the item ranks its user above a random user (what
                // drawing synthetic users by score needs).
                let margin = (&u * (&gi - &gj)).sum_dim_intlist(1, false, Kind::Float);
                let user_margin = ((&u - &u_other) * &gi).sum_dim_intlist(1, false, Kind::Float);
                let ranking = ((-margin).softplus().mean(Kind::Float)
                    + (-user_margin).softplus().mean(Kind::Float))
                    * 0.5;
                let align = (&gi - &e)
                    .square()
                    .sum_dim_intlist(1, false, Kind::Float)
                    .mean(Kind::Float);
                let g_loss = &adversarial + &ranking * c.rank_weight + &align * c.align_weight;
                self.g_opt.backward_step(&g_loss);

                dl += d_loss.double_value(&[]);
                al += adversarial.double_value(&[]);
                rl += ranking.double_value(&[]);
                bar.inc(1);
            }
            let s = steps.max(1) as f64;
            let loss = EpochLoss {
                epoch: self.epochs_done,
                discriminator: dl / s,
                adversarial: al / s,
                ranking: rl / s,
            };
            bar.set_message(format!(
                "D {:.3} adv {:.3} rank {:.3}",
                loss.discriminator, loss.adversarial, loss.ranking
            ));
            curve.push(loss);
        }
        bar.finish_and_clear();
        curve
    }

    /// Writes the generator's weights (the discriminator is a training aid only); see
    /// `checkpoint::save_f16`.
    pub fn save(&mut self, path: &std::path::Path) -> Result<(), CheckpointError> {
        crate::artifact::checkpoint::save_f16(&self.vars, path)
    }

    /// Loads generator weights saved by `save` for the same config.
    pub fn load(&mut self, path: &std::path::Path) -> Result<(), CheckpointError> {
        crate::artifact::checkpoint::load(&self.vars, path)
    }

    /// The exact training state (f32 weights of both networks, both optimizers, epochs done),
    /// to be written before `save` rounds the weights to f16.
    pub fn resume_file(&self, path: &std::path::Path) -> ResumeFile {
        let mut file = ResumeFile::new(path);
        file.add("generator", &self.vars, &self.g_opt);
        file.add("discriminator", &self.dvars, &self.d_opt);
        file.set_counter("epochs", self.epochs_done as u64);
        file
    }

    /// Continues from `file` (see `resume_file`) once both networks' f16 checkpoints are
    /// loaded and `epochs_done` says how many epochs their model card records.
    pub fn restore(&mut self, mut file: ResumeFile) -> Result<(), ResumeError> {
        let f16 = Current::F16Checkpoint;
        file.restore("generator", &self.vars, &mut self.g_opt, f16)?;
        file.restore("discriminator", &self.dvars, &mut self.d_opt, f16)?;
        file.expect_counter("epochs", self.epochs_done as u64, "the model card")?;
        file.finish()
    }

    /// The generated vector of each item (mean over noise: noise set to zero).
    pub fn generate(&self, features: &[&Sparse]) -> Vec<f32> {
        let device = self.vars.device();
        let _guard = tch::no_grad_guard();
        let mut out = Vec::with_capacity(features.len() * self.config.dim as usize);
        for chunk in features.chunks(4096) {
            let bag = Bag::new(chunk, self.config.buckets, device);
            let z = Tensor::zeros(
                [chunk.len() as i64, self.config.noise],
                (Kind::Float, device),
            );
            let v = self
                .generator
                .forward(&bag, &z)
                .to(Device::Cpu)
                .flatten(0, -1);
            out.extend(Vec::<f32>::try_from(v).expect("f32 tensor"));
        }
        out
    }
}

/// Mean binary cross-entropy of `logits` against the constant label `target`.
fn bce(logits: &Tensor, target: f64) -> Tensor {
    logits.binary_cross_entropy_with_logits::<Tensor>(
        &logits.full_like(target),
        None,
        None,
        tch::Reduction::Mean,
    )
}

/// `n` distinct users for an item with generated vector `item`, drawn without replacement with
/// probability proportional to exp(score / temperature) among the `pool` highest-scoring users:
/// plausible users, not always the same top few.
pub fn sample_users(
    users: &[f32],
    dim: usize,
    item: &[f32],
    n: usize,
    pool: usize,
    temperature: f32,
    rng: &mut impl Rng,
) -> Vec<u32> {
    let scores: Vec<f32> = users
        .chunks_exact(dim)
        .map(|u| crate::recommend::bpr::dot(u, item))
        .collect();
    let top = crate::recommend::rank::top_k(&scores, pool, |_| true, &[]);
    let pool: Vec<(u32, f32)> = top.iter().map(|&u| (u, scores[u as usize])).collect();
    draw(&pool, n, temperature, rng)
}

/// `n` distinct entries of `pool` (user, score), sorted by descending score, drawn without
/// replacement with probability proportional to exp(score / temperature).
pub fn draw(pool: &[(u32, f32)], n: usize, temperature: f32, rng: &mut impl Rng) -> Vec<u32> {
    let mut left = pool.to_vec();
    let mut out = Vec::with_capacity(n);
    while out.len() < n && !left.is_empty() {
        let max = left.iter().map(|p| p.1).fold(f32::MIN, f32::max);
        let w: Vec<f32> = left
            .iter()
            .map(|&(_, s)| ((s - max) / temperature).exp())
            .collect();
        let total: f32 = w.iter().sum();
        let mut x = rng.random::<f32>() * total;
        let mut pick = left.len() - 1;
        for (k, wk) in w.iter().enumerate() {
            if x < *wk {
                pick = k;
                break;
            }
            x -= wk;
        }
        out.push(left.remove(pick).0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    /// 40 users, 20 items; user u likes the items of its group (u % 4 == i % 4), and an item's
    /// only feature is its group, so content predicts behaviour.
    struct Toy {
        users: Vec<f32>,
        items: Vec<f32>,
        features: Vec<Sparse>,
        pairs: Vec<(u32, u32)>,
        warm: Vec<u32>,
    }

    impl Toy {
        fn data(&self) -> TrainData<'_> {
            TrainData {
                users: &self.users,
                items: &self.items,
                features: &self.features,
                pairs: &self.pairs,
                warm: &self.warm,
            }
        }
    }

    fn toy() -> Toy {
        let dim = 8;
        let mut users = vec![0.0; 40 * dim];
        let mut items = vec![0.0; 20 * dim];
        for u in 0..40 {
            users[u * dim + u % 4] = 1.0;
        }
        for i in 0..20 {
            items[i * dim + i % 4] = 1.0;
        }
        let features = (0..20).map(|i| vec![(100 + (i % 4) as u32, 1.0)]).collect();
        let pairs = (0..40u32)
            .flat_map(|u| {
                (0..20u32)
                    .filter(move |i| i % 4 == u % 4)
                    .map(move |i| (u, i))
            })
            .collect();
        Toy {
            users,
            items,
            features,
            pairs,
            warm: (0..20).collect(),
        }
    }

    fn tiny(epochs: usize) -> GanConfig {
        GanConfig {
            dim: 8,
            hidden: 16,
            noise: 2,
            epochs,
            batch: 16,
            learning_rate: 1e-2,
            rank_weight: 1.0,
            align_weight: 0.0,
            seed: 7,
            buckets: 256,
        }
    }

    #[test]
    fn training_lowers_the_ranking_loss_and_generated_vectors_rank_the_right_users() {
        let _rng = crate::torch::rng_lock();
        let toy = toy();
        let data = toy.data();
        let mut gan = BehaviorGan::new(tiny(40), Device::Cpu);
        let curve = gan.train(&data, false);
        assert!(
            curve.last().unwrap().ranking < curve[0].ranking * 0.85,
            "{curve:?}"
        );
        // A new item of group 2: its sampled users are mostly group 2 users.
        let v = gan.generate(&[&vec![(102, 1.0)]]);
        let mut rng = StdRng::seed_from_u64(1);
        let picked = sample_users(&toy.users, 8, &v, 5, 10, 0.5, &mut rng);
        assert_eq!(picked.len(), 5);
        let right = picked.iter().filter(|&&u| u % 4 == 2).count();
        assert!(right >= 4, "{picked:?} for {v:?}");
    }

    #[test]
    fn a_saved_generator_loads_to_identical_outputs_and_a_bad_file_is_named() {
        let _rng = crate::torch::rng_lock();
        let toy = toy();
        let mut gan = BehaviorGan::new(tiny(2), Device::Cpu);
        gan.train(&toy.data(), false);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("behavior.safetensors");
        gan.save(&path).unwrap();
        assert!(
            std::fs::metadata(&path).unwrap().len() < 40_000,
            "f16 weights"
        );
        let mut other = BehaviorGan::new(
            GanConfig {
                seed: 99,
                ..tiny(2)
            },
            Device::Cpu,
        );
        let x: Vec<&Sparse> = toy.features.iter().collect();
        assert_ne!(other.generate(&x), gan.generate(&x));
        other.load(&path).unwrap();
        assert_eq!(other.generate(&x), gan.generate(&x));

        let bad = dir.path().join("corrupt.safetensors");
        std::fs::write(&bad, b"not a checkpoint").unwrap();
        let err = other.load(&bad).unwrap_err().to_string();
        assert!(err.contains("corrupt.safetensors"), "{err}");
        let mut wider = BehaviorGan::new(
            GanConfig {
                hidden: 32,
                ..tiny(2)
            },
            Device::Cpu,
        );
        let err = wider.load(&path).unwrap_err().to_string();
        assert!(err.contains("behavior.safetensors"), "{err}");
    }

    #[test]
    fn two_epochs_straight_equal_one_epoch_a_resume_file_and_one_more() {
        let _rng = crate::torch::rng_lock();
        tch::set_num_threads(1);
        let toy = toy();
        let data = toy.data();
        let mut straight = BehaviorGan::new(tiny(2), Device::Cpu);
        straight.train(&data, false);

        let dir = tempfile::tempdir().unwrap();
        let (g, d, resume) = (
            dir.path().join("generator.safetensors"),
            dir.path().join("discriminator.safetensors"),
            dir.path().join("resume.safetensors"),
        );
        let mut first = BehaviorGan::new(tiny(1), Device::Cpu);
        first.train(&data, false);
        first.resume_file(&resume).write().unwrap();
        first.save(&g).unwrap();
        crate::artifact::checkpoint::save_f16(&first.dvars, &d).unwrap();

        // A new process's view: the f16 checkpoints, then the resume file if used.
        let resumed = |file: Option<&std::path::Path>| {
            let mut gan = BehaviorGan::new(tiny(1), Device::Cpu);
            gan.load(&g).unwrap();
            crate::artifact::checkpoint::load(&gan.dvars, &d).unwrap();
            gan.epochs_done = 1;
            if let Some(f) = file {
                gan.restore(ResumeFile::read(f).unwrap()).unwrap();
            }
            assert_eq!(gan.train(&data, false)[0].epoch, 2);
            gan
        };
        let weights = |gan: &BehaviorGan| {
            let mut w = crate::optim::weights(&gan.vars);
            w.extend(crate::optim::weights(&gan.dvars));
            w
        };
        let exact = resumed(Some(&resume));
        assert_eq!(exact.g_opt.steps(), straight.g_opt.steps());
        assert!(weights(&exact) == weights(&straight), "resumed run differs");
        // From the f16 weights with fresh moments the run is another one: the test can fail.
        assert!(weights(&resumed(None)) != weights(&straight));
    }
}
