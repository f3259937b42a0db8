//! `warmstart train behavior`: trains the cold-start behaviour GAN on a catalogue (Amazon Beauty
//! by default) and writes a
//! checkpoint folder that the generation stage loads:
//!
//! - `generator.safetensors`: the generator's weights (f16);
//! - `discriminator.safetensors`: the discriminator's (f16), the generation stage's quality gate;
//! - `users.safetensors` + `users.txt.gz`: the recommender user vectors and ids that synthetic
//!   users are drawn from (f16, one id per line, same order);
//! - `sequence.json`: view / cart / purchase probabilities and gaps fitted on Taobao;
//! - `card.json`: data files and checksums, config, seed, device, metrics, version;
//! - `curve.png`: the training curve;
//! - `resume.safetensors`: f32 weights, optimizer moments and epochs done, which `--resume`
//!   continues from exactly (not committed; see `crate::optim`).
//!
//! Items are split as in the cold-start protocol (80% warm, seed 42): the GAN trains on warm
//! items only, and its metric is measured on the cold ones, which it never saw: the recall of
//! their real users among the 200 users it ranks first, against the content tower's vectors.

use super::behavior::{BehaviorGan, EpochLoss, GanConfig, TrainData};
use super::sequence::SequenceModel;
use crate::artifact::card::{data_file, ModelCard, Run};
use crate::data::{taobao, Catalog};
use crate::optim::{ResumeFile, RESUME_FILE};
use crate::plot::{self, Series};
use crate::recommend::features::{hashed, Sparse};
use crate::recommend::hybrid::ItemVector;
use crate::recommend::offline::{Config, HybridMf, Split};
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

pub const NAME: &str = "behavior-gan";

/// The files of the checkpoint folder.
const FILES: [&str; 6] = [
    "generator.safetensors",
    "discriminator.safetensors",
    "users.safetensors",
    "users.txt.gz",
    "sequence.json",
    "curve.png",
];

#[derive(Debug, Clone, serde::Serialize)]
pub struct TrainBehavior {
    pub out: PathBuf,
    pub gan: GanConfig,
    /// Epochs of the recommender MF whose vectors the GAN learns to produce.
    pub mf_epochs: usize,
    /// Continue from the checkpoint in `out` (exactly when its resume file is there).
    pub resume: bool,
}

pub use crate::artifact::error::{io, TrainError};

/// Recall of each cold item's real users among the `k` users its vector scores highest,
/// averaged over cold items with at least one user.
pub fn user_recall(
    users: &[f32],
    dim: usize,
    vectors: &[f32],
    cold: &[u32],
    truth: &[Vec<u32>],
    k: usize,
) -> f64 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (c, &item) in cold.iter().enumerate() {
        let real = &truth[item as usize];
        if real.is_empty() {
            continue;
        }
        let v = &vectors[c * dim..(c + 1) * dim];
        let scores: Vec<f32> = users
            .chunks_exact(dim)
            .map(|u| crate::recommend::bpr::dot(u, v))
            .collect();
        let top = crate::recommend::rank::top_k(&scores, k, |_| true, &[]);
        let hits = top.iter().filter(|u| real.contains(u)).count();
        sum += hits as f64 / real.len() as f64;
        n += 1;
    }
    sum / n.max(1) as f64
}

fn write_users(dir: &Path, ids: &[String], vectors: &[f32], dim: usize) -> Result<(), TrainError> {
    let t = Tensor::from_slice(vectors)
        .reshape([ids.len() as i64, dim as i64])
        .to_kind(Kind::Half);
    Tensor::write_safetensors(&[("users", t)], dir.join("users.safetensors"))?;
    let path = dir.join("users.txt.gz");
    let file = std::fs::File::create(&path).map_err(io(&path))?;
    let mut gz = flate2::write::GzEncoder::new(file, flate2::Compression::best());
    for id in ids {
        writeln!(gz, "{id}").map_err(io(&path))?;
    }
    gz.finish().map_err(io(&path))?;
    Ok(())
}

/// The GAN to train: fresh, or with `--resume` the checkpoint in `opts.out`, exactly when its
/// resume file is there; also the checkpoint's card and curve.
fn start(
    opts: &TrainBehavior,
    device: tch::Device,
) -> Result<(BehaviorGan, Option<ModelCard>, Vec<EpochLoss>), TrainError> {
    let mut gan = BehaviorGan::new(opts.gan.clone(), device);
    if !opts.resume {
        return Ok((gan, None, Vec::new()));
    }
    let out = &opts.out;
    gan.load(&out.join("generator.safetensors"))?;
    let discriminator = out.join("discriminator.safetensors");
    if discriminator.exists() {
        crate::artifact::checkpoint::load(&gan.dvars, &discriminator)?;
    }
    let card = ModelCard::read(&out.join("card.json"))?;
    let curve: Vec<EpochLoss> = serde_json::from_value(card.run.curve.clone()).unwrap_or_default();
    gan.epochs_done = curve.len();
    if let Some(file) = ResumeFile::read_or_warn(&out.join(RESUME_FILE))? {
        gan.restore(file)?;
    }
    Ok((gan, Some(card), curve))
}

/// Trains on `catalog` (its kinds and gaps too, when it has views, carts and purchases; else
/// those of the Taobao sample).
pub fn train(
    opts: &TrainBehavior,
    catalog: &Catalog,
    progress: bool,
) -> Result<ModelCard, TrainError> {
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(io(out))?;
    // The checkpoint first, so that a bad one fails before minutes of MF training.
    let device = crate::torch::device();
    let (generator, discriminator) = (
        out.join("generator.safetensors"),
        out.join("discriminator.safetensors"),
    );
    let resume = out.join(RESUME_FILE);
    let (mut gan, previous, mut curve) = start(opts, device)?;
    let taobao_dir = crate::data::data_dir().join("taobao-userbehavior-sample");
    let config = Config {
        epochs: opts.mf_epochs,
        seed: opts.gan.seed,
        bpr: crate::recommend::bpr::BprConfig {
            dim: opts.gan.dim as usize,
            regularization: 0.005,
            ..Default::default()
        },
        ..Default::default()
    };
    let split = Split::new(catalog, config.cold_fraction, config.seed);
    let mf = HybridMf::fit(&split, &config, ItemVector::Fallback, progress);
    let features: Vec<Sparse> = split.features.iter().map(|f| hashed(f)).collect();
    let warm: Vec<u32> = (0..split.n_items as u32)
        .filter(|&i| !split.cold[i as usize])
        .collect();
    let cold: Vec<u32> = (0..split.n_items as u32)
        .filter(|&i| split.cold[i as usize])
        .collect();
    let new = gan.train(
        &TrainData {
            users: &mf.users,
            items: &mf.item_vectors,
            features: &features,
            pairs: &split.train,
            warm: &warm,
        },
        progress,
    );
    curve.extend(new);
    // Before the f16 saves, which round the weights in memory.
    gan.resume_file(&resume).write()?;
    gan.save(&generator)?;
    crate::artifact::checkpoint::save_f16(&gan.dvars, &discriminator)?;

    // Held-out quality: the cold items' real users (all their pairs, never trained on).
    let mut truth = vec![Vec::new(); split.n_items];
    for &(u, i) in split.cold_val.iter().chain(&split.cold_test) {
        truth[i as usize].push(u);
    }
    let dim = opts.gan.dim as usize;
    let cold_features: Vec<&Sparse> = cold.iter().map(|&i| &features[i as usize]).collect();
    let generated = gan.generate(&cold_features);
    let tower: Vec<f32> = cold
        .iter()
        .flat_map(|&i| mf.item_vectors[i as usize * dim..(i as usize + 1) * dim].to_vec())
        .collect();
    let gan_recall = user_recall(&mf.users, dim, &generated, &cold, &truth, 200);
    let tower_recall = user_recall(&mf.users, dim, &tower, &cold, &truth, 200);

    // The split numbers users in the catalogue's index order, so its ids line up with the rows.
    write_users(out, catalog.users(), &mf.users, dim)?;
    let kinds = catalog.fields().kinds;
    let typed = ["view", "cart", "purchase"]
        .iter()
        .all(|k| kinds.get(k).is_some_and(|n| *n > 0));
    let (sequence, sequence_source) = if typed {
        (SequenceModel::fit(&catalog.stream()), catalog.name.clone())
    } else {
        (
            SequenceModel::fit(&taobao::load(&taobao_dir, None)?),
            "Taobao UserBehavior sample".to_owned(),
        )
    };
    let seq_path = out.join("sequence.json");
    std::fs::write(
        &seq_path,
        serde_json::to_string_pretty(&sequence).expect("serialises"),
    )
    .map_err(io(&seq_path))?;

    let points = |f: fn(&EpochLoss) -> f64| -> Vec<(f64, f64)> {
        curve.iter().map(|l| (l.epoch as f64, f(l))).collect()
    };
    plot::lines(
        &out.join("curve.png"),
        &format!("behaviour GAN training ({}, warm items)", catalog.name),
        "epoch",
        "mean loss",
        &[
            Series {
                name: "discriminator",
                points: points(|l| l.discriminator),
            },
            Series {
                name: "generator, adversarial",
                points: points(|l| l.adversarial),
            },
            Series {
                name: "generator, ranking (BPR)",
                points: points(|l| l.ranking),
            },
        ],
    )?;

    let mut data_files = catalog
        .report
        .files
        .iter()
        .map(|f| data_file(f))
        .collect::<Result<Vec<_>, _>>()?;
    if !typed {
        data_files.push(data_file(&taobao_dir.join(taobao::FILE))?);
    }
    let card = ModelCard::issue(
        out,
        &generator,
        NAME,
        Run {
            dataset: format!(
                "{} (items {:.0}/{:.0} warm/cold, seed {}); {sequence_source} for kinds and gaps",
                catalog.name,
                100.0 * (1.0 - config.cold_fraction),
                100.0 * config.cold_fraction,
                config.seed,
            ),
            data_files,
            seed: opts.gan.seed,
            device: crate::torch::device_name(device),
            config: serde_json::json!({ "gan": opts.gan, "mf_epochs": opts.mf_epochs, "mf": config.bpr }),
            metrics: serde_json::json!({
                "cold_items": cold.len(),
                "user_recall_at_200_generated": gan_recall,
                "user_recall_at_200_content_tower": tower_recall,
                "sequence": sequence,
            }),
            curve: serde_json::to_value(&curve).expect("serialises"),
            files: FILES.map(String::from).into(),
            resumed_from: previous.map(|c| c.version),
        },
    )?;
    Ok(card)
}
