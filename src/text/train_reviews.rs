//! `warmstart train reviews`: the review generator's vocabulary and its maximum-likelihood
//! training on a review corpus's training split (by product; the clothing reviews by default), written as a checkpoint folder:
//! `tokenizer.json`, `conditions.json` (the department and class vocabularies), `generator.safetensors`
//! (f16), `card.json` and `curve.png` (training loss and held-out NLL per epoch), and
//! `resume.safetensors` (f32 weights, Adam's moments, epochs done: what `--resume` continues from
//! exactly; not committed).

use super::corpus::ReviewCorpus;
use super::generator::{Condition, GeneratorConfig, ReviewGenerator};
use super::tokenizer::ReviewTokenizer;
use crate::artifact::card::{data_file, ModelCard, Run};
use crate::artifact::checkpoint;
use crate::data::clothing::{self, Review, Split};
use crate::optim::{seed_for, Adam, Current, ResumeFile, RESUME_FILE};
use crate::plot;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use tch::nn;
use tch::Device;

pub const NAME: &str = "review-generator";

/// The files of a review generator's checkpoint folder (MLE or adversarial), besides `card.json`.
pub const FILES: [&str; 4] = [
    "tokenizer.json",
    "conditions.json",
    "generator.safetensors",
    "curve.png",
];

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TrainReviews {
    pub out: PathBuf,
    pub epochs: usize,
    pub vocab_size: usize,
    pub embed: i64,
    pub hidden: i64,
    pub max_len: i64,
    pub batch: usize,
    pub learning_rate: f64,
    pub seed: u64,
    pub resume: bool,
    /// Cards written before there was a choice have none: the clothing reviews.
    #[serde(default)]
    pub corpus: ReviewCorpus,
}

impl Default for TrainReviews {
    fn default() -> Self {
        TrainReviews {
            out: "models/reviews".into(),
            epochs: 8,
            vocab_size: 3000,
            embed: 128,
            hidden: 256,
            max_len: 64,
            batch: 64,
            learning_rate: 2e-3,
            seed: 42,
            resume: false,
            corpus: ReviewCorpus::Clothing,
        }
    }
}

/// The department and class vocabularies; index 0 is "unknown".
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Conditions {
    pub departments: Vec<String>,
    pub classes: Vec<String>,
}

impl Conditions {
    pub fn fit(reviews: &[&Review]) -> Self {
        let vocab = |f: fn(&Review) -> &str| {
            let mut v: Vec<String> = reviews.iter().map(|r| f(r).to_owned()).collect();
            v.sort();
            v.dedup();
            v.insert(0, String::new());
            v
        };
        Conditions {
            departments: vocab(|r| &r.department),
            classes: vocab(|r| &r.class),
        }
    }

    pub fn of(&self, r: &Review) -> Condition {
        let index = |v: &[String], x: &str| v.iter().position(|y| y == x).unwrap_or(0) as i64;
        Condition {
            rating: r.rating,
            department: index(&self.departments, &r.department),
            class: index(&self.classes, &r.class),
        }
    }
}

pub use crate::artifact::error::TrainError as ReviewsError;

pub fn write_json(path: &Path, v: &impl serde::Serialize) -> Result<(), ReviewsError> {
    std::fs::write(path, serde_json::to_string_pretty(v).expect("serialises")).map_err(|e| {
        ReviewsError::File {
            path: path.to_owned(),
            reason: e.to_string(),
        }
    })
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ReviewsError> {
    let fail = |reason: String| ReviewsError::File {
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| fail(e.to_string()))
}

/// The corpus split by product.
pub fn splits(corpus: &clothing::Corpus) -> [Vec<&Review>; 3] {
    let mut out = [Vec::new(), Vec::new(), Vec::new()];
    for r in &corpus.reviews {
        let k = match clothing::split_of(&r.product) {
            Split::Train => 0,
            Split::Validation => 1,
            Split::Test => 2,
        };
        out[k].push(r);
    }
    out
}

/// The generator as configured by `opts` for `vocab` pieces and `conditions`.
pub fn generator_config(opts: &TrainReviews, vocab: usize, c: &Conditions) -> GeneratorConfig {
    GeneratorConfig {
        vocab: vocab as i64,
        departments: c.departments.len() as i64,
        classes: c.classes.len() as i64,
        embed: opts.embed,
        hidden: opts.hidden,
        max_len: opts.max_len,
    }
}

/// Mean per-piece NLL of `reviews` under `g`, in batches.
pub fn held_out_nll(
    g: &ReviewGenerator,
    tok: &ReviewTokenizer,
    cond: &Conditions,
    reviews: &[&Review],
    encoded: &[Vec<u32>],
    device: Device,
) -> f64 {
    let _guard = tch::no_grad_guard();
    let (mut sum, mut n) = (0.0, 0.0);
    for (chunk, seqs) in reviews.chunks(256).zip(encoded.chunks(256)) {
        let conds: Vec<Condition> = chunk.iter().map(|r| cond.of(r)).collect();
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let (input, target) = g.batch(&refs, tok, device);
        let pieces = target
            .ne(tok.pad as i64)
            .sum(tch::Kind::Float)
            .double_value(&[]);
        sum += g.nll(&conds, &input, &target, tok.pad).double_value(&[]) * pieces;
        n += pieces;
    }
    sum / n.max(1.0)
}

pub fn train(opts: &TrainReviews, progress: bool) -> Result<ModelCard, ReviewsError> {
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(crate::artifact::error::io(out))?;
    let corpus = opts.corpus.load()?;
    let [train_set, val_set, _test] = splits(&corpus);
    let tok_path = out.join("tokenizer.json");
    let cond_path = out.join("conditions.json");
    let (tok, cond) = if opts.resume {
        (ReviewTokenizer::load(&tok_path)?, read_json(&cond_path)?)
    } else {
        let t = ReviewTokenizer::train(train_set.iter().map(|r| r.text.as_str()), opts.vocab_size)?;
        t.save(&tok_path)?;
        let c = Conditions::fit(&train_set);
        write_json(&cond_path, &c)?;
        (t, c)
    };
    let enc =
        |set: &[&Review]| -> Vec<Vec<u32>> { set.iter().map(|r| tok.encode(&r.text)).collect() };
    let (train_enc, val_enc) = (enc(&train_set), enc(&val_set));

    tch::manual_seed(opts.seed as i64);
    let device = crate::torch::device();
    let vars = nn::VarStore::new(device);
    let config = generator_config(opts, tok.vocab_size(), &cond);
    let g = ReviewGenerator::new(&vars.root().sub("generator"), config.clone());
    let weights = out.join("generator.safetensors");
    let resume = out.join(RESUME_FILE);
    let mut opt = Adam::new(&vars, opts.learning_rate);
    let previous = if opts.resume {
        checkpoint::load(&vars, &weights)?;
        Some(ModelCard::read(&out.join("card.json"))?)
    } else {
        None
    };
    let mut curve: Vec<serde_json::Value> = previous
        .as_ref()
        .and_then(|c| c.run.curve.as_array().cloned())
        .unwrap_or_default();
    let done = curve.len();
    if opts.resume {
        if let Some(mut file) = ResumeFile::read_or_warn(&resume)? {
            file.restore("generator", &vars, &mut opt, Current::F16Checkpoint)?;
            file.expect_counter("epochs", done as u64, "the model card")?;
            file.finish()?;
        }
    }
    let steps = train_set.len().div_ceil(opts.batch);
    let bar = crate::observe::progress::bar(
        progress,
        (opts.epochs * steps) as u64,
        "review generator (MLE) {bar:30} {pos}/{len} steps  {msg}",
    );
    for epoch in 1..=opts.epochs {
        // Epoch k's order depends on (seed, k) only, so a resumed run shuffles as an
        // uninterrupted one would have.
        let mut rng = StdRng::seed_from_u64(seed_for(opts.seed, (done + epoch - 1) as u64));
        let mut order: Vec<usize> = (0..train_set.len()).collect();
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for batch in order.chunks(opts.batch) {
            let conds: Vec<Condition> = batch.iter().map(|&i| cond.of(train_set[i])).collect();
            let seqs: Vec<&[u32]> = batch.iter().map(|&i| train_enc[i].as_slice()).collect();
            let (input, target) = g.batch(&seqs, &tok, device);
            let loss = g.nll(&conds, &input, &target, tok.pad);
            opt.backward_step_clip(&loss, 1.0);
            let l = loss.double_value(&[]);
            loss_sum += l;
            bar.set_message(format!("epoch {epoch} NLL {l:.3}"));
            bar.inc(1);
        }
        let val = held_out_nll(&g, &tok, &cond, &val_set, &val_enc, device);
        curve.push(serde_json::json!({
            "epoch": done + epoch,
            "train_nll": loss_sum / steps.max(1) as f64,
            "validation_nll": val,
        }));
    }
    bar.finish_and_clear();
    // Before the f16 save, which rounds the weights in memory.
    let mut file = ResumeFile::new(&resume);
    file.add("generator", &vars, &opt);
    file.set_counter("epochs", (done + opts.epochs) as u64);
    file.write()?;
    checkpoint::save_f16(&vars, &weights)?;
    let val_nll = held_out_nll(&g, &tok, &cond, &val_set, &val_enc, device);

    plot::json_curve(
        &out.join("curve.png"),
        &format!(
            "review generator, maximum likelihood ({})",
            opts.corpus.short_name()
        ),
        "epoch",
        "NLL per BPE piece",
        &curve,
        &[
            ("train_nll", "training"),
            ("validation_nll", "validation (unseen products)"),
        ],
    )?;
    let card = ModelCard::issue(
        out,
        &weights,
        NAME,
        Run {
            dataset: opts.corpus.describe().into(),
            data_files: vec![data_file(&opts.corpus.file())?],
            seed: opts.seed,
            device: crate::torch::device_name(device),
            config: serde_json::json!({ "training": opts, "generator": config }),
            metrics: serde_json::json!({
                "train_reviews": train_set.len(),
                "validation_reviews": val_set.len(),
                "validation_nll": val_nll,
                "vocab": tok.vocab_size(),
            }),
            curve: serde_json::Value::Array(curve),
            files: FILES.map(String::from).into(),
            resumed_from: previous.map(|c| c.version),
        },
    )?;
    Ok(card)
}
