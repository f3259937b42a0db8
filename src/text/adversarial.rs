//! The adversarial stage of the review generator (RelGAN-style, Nie et al., ICLR 2019): starting
//! from the maximum-likelihood generator, a conditional discriminator learns to tell real
//! reviews from Gumbel-softmax rollouts for the same conditions, with the relativistic standard
//! loss; the generator learns to fool it, with the MLE loss kept as a regulariser (weight
//! `mle_weight`) so that a short CPU run cannot collapse the language model.
//!
//! `warmstart train reviews-gan --from models/reviews` writes a checkpoint folder of the same
//! layout (tokenizer and conditions copied), so `warmstart eval reviews` compares the two, plus
//! `resume.safetensors` (f32 generator and discriminator, both optimizers, steps done): with
//! `--resume` training continues from `--out` instead, exactly when that file is there.

use super::corpus::ReviewCorpus;
use super::eval_reviews::{load, Loaded};
use super::generator::Condition;
use super::train_reviews::{splits, ReviewsError, FILES};
use crate::artifact::card::{data_file, ModelCard, Run};
use crate::artifact::checkpoint;
use crate::optim::{seed_unit, Adam, Current, ResumeFile, RESUME_FILE};
use crate::plot;
use rand::Rng;
use std::path::PathBuf;
use tch::nn::{self, Module, RNN};
use tch::{Kind, Tensor};

pub const NAME: &str = "review-gan";

#[derive(Debug, Clone, serde::Serialize)]
pub struct AdversarialConfig {
    pub from: PathBuf,
    pub out: PathBuf,
    pub steps: usize,
    pub batch: usize,
    /// Pieces per rollout (and per real review seen by the discriminator).
    pub len: i64,
    pub tau: f64,
    pub learning_rate: f64,
    pub mle_weight: f64,
    pub seed: u64,
    /// Continue the adversarial training in `out` for `steps` more steps (`from` is not read).
    pub resume: bool,
}

impl Default for AdversarialConfig {
    fn default() -> Self {
        AdversarialConfig {
            from: "models/reviews".into(),
            out: "models/reviews-gan".into(),
            steps: 300,
            batch: 32,
            len: 48,
            tau: 1.0,
            learning_rate: 1e-4,
            mle_weight: 1.0,
            seed: 42,
            resume: false,
        }
    }
}

/// Reads a (soft) one-hot piece sequence with its conditions; returns one logit per review.
struct Discriminator {
    embed: nn::Linear,
    gru: nn::GRU,
    rating: nn::Embedding,
    class: nn::Embedding,
    out: nn::Linear,
}

impl Discriminator {
    fn new(p: &nn::Path, vocab: i64, classes: i64) -> Self {
        let (e, h) = (64, 128);
        let no_bias = nn::LinearConfig {
            bias: false,
            ..Default::default()
        };
        Discriminator {
            embed: nn::linear(p / "embed", vocab, e, no_bias),
            gru: nn::gru(
                p / "gru",
                e,
                h,
                nn::RNNConfig {
                    batch_first: true,
                    ..Default::default()
                },
            ),
            rating: nn::embedding(p / "rating", 5, h, Default::default()),
            class: nn::embedding(p / "class", classes, h, Default::default()),
            out: nn::linear(p / "out", 2 * h, 1, Default::default()),
        }
    }

    fn forward(&self, y: &Tensor, conds: &[Condition]) -> Tensor {
        let device = y.device();
        let (_, state) = self
            .gru
            .seq_init(&self.embed.forward(y), &self.gru.zero_state(y.size()[0]));
        let h = state.0.squeeze_dim(0);
        let r: Vec<i64> = conds.iter().map(|c| c.rating as i64 - 1).collect();
        let k: Vec<i64> = conds.iter().map(|c| c.class).collect();
        let c = self.rating.forward(&Tensor::from_slice(&r).to(device))
            + self.class.forward(&Tensor::from_slice(&k).to(device));
        self.out.forward(&Tensor::cat(&[h, c], 1)).squeeze_dim(1)
    }
}

/// Steps an adversarial checkpoint has done: `metrics.steps` in cards written since `--resume`
/// exists, the steps of their one run (`config.adversarial.steps`) in older ones.
fn steps_done(card: &ModelCard) -> usize {
    let steps = card.run.metrics["steps"].as_u64();
    steps
        .or(card.run.config["adversarial"]["steps"].as_u64())
        .unwrap_or(0) as usize
}

pub fn train(config: &AdversarialConfig, progress: bool) -> Result<ModelCard, ReviewsError> {
    let device = crate::torch::device();
    tch::manual_seed(config.seed as i64);
    let source = if config.resume {
        &config.out
    } else {
        &config.from
    };
    let Loaded {
        card: base,
        tokenizer: tok,
        conditions: cond,
        generator: g,
        vars: g_vars,
    } = load(source, device)?;
    let corpus_kind = ReviewCorpus::of_card(&base);
    let corpus = corpus_kind.load()?;
    let [train_set, _, _] = splits(&corpus);
    let encoded: Vec<Vec<u32>> = train_set.iter().map(|r| tok.encode(&r.text)).collect();
    let vocab = g.config.vocab;

    let d_vars = nn::VarStore::new(device);
    let d = Discriminator::new(
        &d_vars.root().sub("discriminator"),
        vocab,
        cond.classes.len() as i64,
    );
    let mut g_opt = Adam::new(&g_vars, config.learning_rate);
    let mut d_opt = Adam::new(&d_vars, config.learning_rate);
    let resume = config.out.join(RESUME_FILE);
    let (mut curve, done) = if config.resume {
        let curve = base.run.curve.as_array().cloned().unwrap_or_default();
        (curve, steps_done(&base))
    } else {
        (Vec::new(), 0)
    };
    let (mut dl, mut gl, mut ml) = (0.0, 0.0, 0.0);
    if config.resume {
        if let Some(mut file) = ResumeFile::read_or_warn(&resume)? {
            file.restore("generator", &g_vars, &mut g_opt, Current::F16Checkpoint)?;
            // The discriminator has no f16 checkpoint: this file is its only copy.
            file.restore("discriminator", &d_vars, &mut d_opt, Current::Fresh)?;
            file.expect_counter("steps", done as u64, "the model card")?;
            if let [d, g, m] = file.values("sums", 3)?[..] {
                (dl, gl, ml) = (d, g, m);
            }
            file.finish()?;
        }
    }
    let bar = crate::observe::progress::bar(
        progress,
        config.steps as u64,
        "review GAN {bar:30} {pos}/{len} steps  {msg}",
    );
    for step in done + 1..=done + config.steps {
        // Batches and Gumbel noise of step k depend on (seed, k) only, so a resumed run draws
        // what an uninterrupted one would have.
        let mut rng = seed_unit(config.seed, step as u64 - 1);
        let idx: Vec<usize> = (0..config.batch)
            .map(|_| rng.random_range(0..train_set.len()))
            .collect();
        let conds: Vec<Condition> = idx.iter().map(|&i| cond.of(train_set[i])).collect();
        let seqs: Vec<&[u32]> = idx.iter().map(|&i| encoded[i].as_slice()).collect();
        let (input, target) = g.batch(&seqs, &tok, device);
        // Real reviews as one-hot pieces, cut or padded to the rollout length.
        let t = target.size()[1];
        let real_ids = if t >= config.len {
            target.narrow(1, 0, config.len)
        } else {
            Tensor::cat(
                &[
                    target.shallow_clone(),
                    Tensor::full(
                        [config.batch as i64, config.len - t],
                        tok.pad as i64,
                        (Kind::Int64, device),
                    ),
                ],
                1,
            )
        };
        let real = real_ids.one_hot(vocab).to_kind(Kind::Float);

        let fake = g.gumbel_rollout(&conds, tok.bos, config.len, config.tau, device);
        let d_loss = -(d.forward(&real, &conds) - d.forward(&fake.detach(), &conds))
            .sigmoid()
            .clamp(1e-7, 1.0)
            .log()
            .mean(Kind::Float);
        d_opt.backward_step_clip(&d_loss, 5.0);

        let adv = -(d.forward(&fake, &conds) - d.forward(&real, &conds))
            .sigmoid()
            .clamp(1e-7, 1.0)
            .log()
            .mean(Kind::Float);
        let mle = g.nll(&conds, &input, &target, tok.pad);
        let g_loss = &adv + &mle * config.mle_weight;
        g_opt.backward_step_clip(&g_loss, 1.0);

        dl += d_loss.double_value(&[]);
        gl += adv.double_value(&[]);
        ml += mle.double_value(&[]);
        if step % 25 == 0 {
            let n = 25.0;
            curve.push(serde_json::json!({
                "step": step, "discriminator": dl / n, "generator_adversarial": gl / n, "mle_nll": ml / n
            }));
            bar.set_message(format!("D {:.3} G {:.3} NLL {:.3}", dl / n, gl / n, ml / n));
            (dl, gl, ml) = (0.0, 0.0, 0.0);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();

    let out = &config.out;
    std::fs::create_dir_all(out).map_err(crate::artifact::error::io(out))?;
    if !config.resume {
        for f in ["tokenizer.json", "conditions.json"] {
            std::fs::copy(config.from.join(f), out.join(f))
                .map_err(crate::artifact::error::io(out))?;
        }
    }
    let steps = done + config.steps;
    // Before the f16 save, which rounds the generator in memory.
    let mut file = ResumeFile::new(&resume);
    file.add("generator", &g_vars, &g_opt);
    file.add("discriminator", &d_vars, &d_opt);
    file.set_counter("steps", steps as u64);
    file.set_values("sums", &[dl, gl, ml]);
    file.write()?;
    let weights = out.join("generator.safetensors");
    checkpoint::save_f16(&g_vars, &weights)?;
    // The curve has a point per 25 steps; a shorter run has nothing to draw.
    if curve.is_empty() {
        tracing::warn!(steps, "fewer than 25 steps: no curve.png");
    } else {
        plot::json_curve(
            &out.join("curve.png"),
            "review generator, adversarial stage (relativistic loss + MLE)",
            "step",
            "mean loss over 25 steps",
            &curve,
            &[
                ("discriminator", "discriminator"),
                ("generator_adversarial", "generator, adversarial"),
                ("mle_nll", "generator, MLE NLL"),
            ],
        )?;
    }
    let initialised_from = if config.resume {
        base.run.metrics["initialised_from"].clone()
    } else {
        base.version.clone().into()
    };
    let card = ModelCard::issue(
        out,
        &weights,
        NAME,
        Run {
            dataset: base.run.dataset.clone(),
            data_files: vec![data_file(&corpus_kind.file())?],
            seed: config.seed,
            device: crate::torch::device_name(device),
            config: serde_json::json!({
                "adversarial": config,
                "generator": base.run.config["generator"],
                "training": base.run.config["training"],
            }),
            metrics: serde_json::json!({ "initialised_from": initialised_from, "steps": steps }),
            curve: serde_json::Value::Array(curve),
            files: FILES.map(String::from).into(),
            resumed_from: config.resume.then(|| base.version.clone()),
        },
    )?;
    Ok(card)
}
