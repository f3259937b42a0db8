//! `warmstart eval reviews`: the review generator on the held-out split (products it never saw).
//!
//! For `samples` held-out reviews (a seeded draw), the generator writes one review with the same
//! conditions at each sampling temperature; then, per temperature:
//! - BLEU-2..4 against the held-out reviews of the same class (Texygen protocol, smoothing 1);
//! - Self-BLEU-2..4 over the generated set (diversity; lower is more diverse), distinct-1/2;
//! - the share of generated reviews containing an 8-word run of a training review (memorisation;
//!   the generation stage drops those, this is the rate before the filter);
//!
//! - rating consistency: a rating classifier trained on real training reviews, asked whether each
//!   generated review reads as its conditioned rating;
//! - real-vs-synthetic: a fresh classifier's accuracy at telling generated from real held-out
//!   reviews (0.5: indistinguishable), beside the same classifier on two draws of real reviews;
//!
//! plus the held-out NLL per BPE piece. The quality-diversity curve (BLEU-4 against Self-BLEU-4
//! over temperature, "Language GANs Falling Short", Caccia et al., ICLR 2020) is drawn as a PNG.

use super::classify::{real_vs_synthetic, BowClassifier};
use super::corpus::ReviewCorpus;
use super::generator::{Condition, GeneratorConfig, ReviewGenerator};
use super::metrics::{distinct, self_bleu_orders, words, References, RunIndex};
use super::tokenizer::ReviewTokenizer;
use super::train_reviews::{held_out_nll, read_json, splits, Conditions, ReviewsError};
use crate::artifact::card::ModelCard;
use crate::artifact::checkpoint;
use crate::data::clothing::Review;
use crate::plot::{self, Series};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashMap;
use std::path::Path;
use tch::nn;

pub const TEMPERATURES: [f64; 5] = [0.6, 0.8, 1.0, 1.2, 1.4];

#[derive(Debug, Clone, serde::Serialize)]
pub struct Point {
    pub temperature: f64,
    /// BLEU-2, -3, -4.
    pub bleu: [f64; 3],
    /// Self-BLEU-2, -3, -4.
    pub self_bleu: [f64; 3],
    pub distinct1: f64,
    pub distinct2: f64,
    pub copied_8_words: f64,
    pub mean_words: f64,
    /// Share of generated reviews the rating classifier puts at their conditioned rating, and
    /// within one star of it.
    pub rating_agreement: f64,
    pub rating_within_one: f64,
    /// Accuracy of a fresh classifier separating these reviews from real held-out ones.
    pub real_vs_synthetic: f64,
    /// Three generated examples with their conditions, for reading.
    pub examples: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub model: String,
    pub samples: usize,
    pub test_reviews: usize,
    pub test_nll: f64,
    /// The rating classifier's accuracy on the real held-out reviews (the ceiling for agreement).
    pub rating_classifier_on_real: f64,
    pub real_vs_real: f64,
    pub points: Vec<Point>,
}

/// A loaded review generator checkpoint folder.
pub struct Loaded {
    pub card: ModelCard,
    pub tokenizer: ReviewTokenizer,
    pub conditions: Conditions,
    pub generator: ReviewGenerator,
    pub vars: nn::VarStore,
}

pub fn load(dir: &Path, device: tch::Device) -> Result<Loaded, ReviewsError> {
    let card = ModelCard::read(&dir.join("card.json"))?;
    let config: GeneratorConfig = serde_json::from_value(card.run.config["generator"].clone())
        .map_err(|e| ReviewsError::File {
            path: dir.join("card.json"),
            reason: format!("config.generator: {e}"),
        })?;
    let tokenizer = ReviewTokenizer::load(&dir.join("tokenizer.json"))?;
    let conditions: Conditions = read_json(&dir.join("conditions.json"))?;
    let vars = nn::VarStore::new(device);
    let generator = ReviewGenerator::new(&vars.root().sub("generator"), config);
    checkpoint::load(&vars, &dir.join("generator.safetensors"))?;
    Ok(Loaded {
        card,
        tokenizer,
        conditions,
        generator,
        vars,
    })
}

pub fn evaluate(
    dir: &Path,
    samples: usize,
    seed: u64,
    progress: bool,
) -> Result<Report, ReviewsError> {
    let device = crate::torch::device();
    tch::manual_seed(seed as i64);
    let m = load(dir, device)?;
    // The corpus the model learnt from, held out by product the same way.
    let corpus = ReviewCorpus::of_card(&m.card).load()?;
    let [train, _, test] = splits(&corpus);
    let test_enc: Vec<Vec<u32>> = test.iter().map(|r| m.tokenizer.encode(&r.text)).collect();
    let test_nll = held_out_nll(
        &m.generator,
        &m.tokenizer,
        &m.conditions,
        &test,
        &test_enc,
        device,
    );

    let train_words: Vec<Vec<String>> = train.iter().map(|r| words(&r.text)).collect();
    let copies = RunIndex::new(&train_words, 8);
    let mut by_class: HashMap<&str, Vec<Vec<String>>> = HashMap::new();
    for r in &test {
        by_class.entry(&r.class).or_default().push(words(&r.text));
    }
    let refs: HashMap<&str, References> = by_class
        .iter()
        .map(|(c, texts)| (*c, References::new(texts, 4)))
        .collect();

    let judge = BowClassifier::fit(
        &train.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
        &train
            .iter()
            .map(|r| r.rating as usize - 1)
            .collect::<Vec<_>>(),
        5,
        3,
        seed,
    );
    let rating_accuracy = |texts: &[&str], ratings: &[u8]| -> (f64, f64) {
        let (mut exact, mut near) = (0, 0);
        for (t, &r) in texts.iter().zip(ratings) {
            let p = judge.predict(t) as i32 + 1;
            exact += (p == r as i32) as usize;
            near += ((p - r as i32).abs() <= 1) as usize;
        }
        let n = texts.len().max(1) as f64;
        (exact as f64 / n, near as f64 / n)
    };
    let mut chosen: Vec<&Review> = test.clone();
    chosen.shuffle(&mut StdRng::seed_from_u64(seed));
    // A second draw of real reviews, for the real-vs-real control of the separating classifier.
    let control: Vec<&str> = chosen[samples.min(chosen.len())..]
        .iter()
        .take(samples)
        .map(|r| r.text.as_str())
        .collect();
    chosen.truncate(samples);
    let real: Vec<&str> = chosen.iter().map(|r| r.text.as_str()).collect();
    let ratings: Vec<u8> = chosen.iter().map(|r| r.rating).collect();
    let rating_classifier_on_real = rating_accuracy(&real, &ratings).0;
    let real_vs_real = real_vs_synthetic(&real, &control, seed);
    let conds: Vec<Condition> = chosen.iter().map(|r| m.conditions.of(r)).collect();

    let bar = crate::observe::progress::bar(
        progress,
        TEMPERATURES.len() as u64,
        "eval reviews {bar:30} {pos}/{len} temperatures",
    );
    let mut points = Vec::new();
    for &t in &TEMPERATURES {
        let mut texts = Vec::with_capacity(conds.len());
        for chunk in conds.chunks(128) {
            for ids in m.generator.sample(chunk, &m.tokenizer, t, device) {
                texts.push(m.tokenizer.decode(&ids));
            }
        }
        let toks: Vec<Vec<String>> = texts.iter().map(|s| words(s)).collect();
        let mut bleu = [0.0; 3];
        for (h, r) in toks.iter().zip(&chosen) {
            for (k, n) in (2..=4).enumerate() {
                bleu[k] += refs[r.class.as_str()].sentence_bleu(h, n);
            }
        }
        bleu.iter_mut().for_each(|b| *b /= toks.len().max(1) as f64);
        let sb = self_bleu_orders(&toks, &[2, 3, 4]);
        let copied = toks.iter().filter(|w| copies.copies(w)).count();
        let generated: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (rating_agreement, rating_within_one) = rating_accuracy(&generated, &ratings);
        points.push(Point {
            temperature: t,
            bleu,
            self_bleu: [sb[0], sb[1], sb[2]],
            distinct1: distinct(&toks, 1),
            distinct2: distinct(&toks, 2),
            copied_8_words: copied as f64 / toks.len().max(1) as f64,
            mean_words: toks.iter().map(Vec::len).sum::<usize>() as f64 / toks.len().max(1) as f64,
            rating_agreement,
            rating_within_one,
            real_vs_synthetic: real_vs_synthetic(&real, &generated, seed),
            examples: texts
                .iter()
                .zip(&chosen)
                .take(3)
                .map(|(s, r)| format!("[{} stars, {} / {}] {s}", r.rating, r.department, r.class))
                .collect(),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Report {
        model: m.card.version,
        samples: conds.len(),
        test_reviews: test.len(),
        test_nll,
        rating_classifier_on_real,
        real_vs_real,
        points,
    })
}

/// The quality-diversity curves of several models (BLEU-4 against Self-BLEU-4 over temperature).
pub fn plot_curves(path: &Path, reports: &[Report]) -> Result<(), ReviewsError> {
    let series: Vec<Series> = reports
        .iter()
        .map(|r| Series {
            name: &r.model,
            points: r
                .points
                .iter()
                .map(|p| (p.self_bleu[2], p.bleu[2]))
                .collect(),
        })
        .collect();
    plot::lines(
        path,
        "quality vs diversity, temperatures 0.6 to 1.4 (held-out products)",
        "Self-BLEU-4 (lower: more diverse)",
        "BLEU-4 against same-class held-out reviews",
        &series,
    )?;
    Ok(())
}

/// The report as a table.
pub fn render(r: &Report) -> String {
    let mut s = format!(
        "{} on {} held-out reviews (products never seen), {} generated per temperature\n\
         test NLL per piece {:.3}; rating classifier on real held-out reviews {:.3}; \
         real-vs-real control of the separating classifier {:.3}\n",
        r.model, r.test_reviews, r.samples, r.test_nll, r.rating_classifier_on_real, r.real_vs_real
    );
    s += &format!(
        "{:>5} | {:>6} {:>6} {:>6} | {:>6} {:>6} {:>6} | {:>6} {:>6} | {:>7} | {:>6} {:>6} | {:>6} | {:>5}\n",
        "temp", "BLEU2", "BLEU3", "BLEU4", "SBLEU2", "SBLEU3", "SBLEU4", "dist1", "dist2", "copied8",
        "rating", "+-1", "r-vs-s", "words"
    );
    for p in &r.points {
        s += &format!(
            "{:>5.2} | {:>6.3} {:>6.3} {:>6.3} | {:>6.3} {:>6.3} {:>6.3} | {:>6.3} {:>6.3} | {:>7.3} | {:>6.3} {:>6.3} | {:>6.3} | {:>5.1}\n",
            p.temperature,
            p.bleu[0],
            p.bleu[1],
            p.bleu[2],
            p.self_bleu[0],
            p.self_bleu[1],
            p.self_bleu[2],
            p.distinct1,
            p.distinct2,
            p.copied_8_words,
            p.rating_agreement,
            p.rating_within_one,
            p.real_vs_synthetic,
            p.mean_words
        );
    }
    s
}
