//! Synthetic reviews for new products: the conditional review generator, the conditions a
//! product maps to, the rating distribution ratings are drawn from, and the gates.
//!
//! A product's department and class are looked up in the generator's condition vocabularies,
//! from its `department` / `class` attributes or any element of its category path. Those
//! vocabularies are the model's declared domain (the categories it was trained on): a product
//! that matches neither (a Beauty product for the clothing model) is outside it and gets no
//! review, counted as `out_of_domain`, rather than text about another kind of product.

use super::config::GenerationConfig;
use super::gates::ReviewGates;
use super::GenerateError;
use crate::events::ProductEvent;
use crate::text::eval_reviews::{self, Loaded};
use crate::text::generator::Condition;
use crate::text::train_reviews::splits;
use rand::rngs::StdRng;
use rand::Rng;
use tch::Device;

pub struct ReviewModel {
    pub name: String,
    pub version: String,
    model: Loaded,
    /// Rating counts (1-5) per class index; index 0 holds the whole training corpus.
    ratings: Vec<[u32; 5]>,
    pub gates: ReviewGates,
    device: Device,
}

fn find(vocab: &[String], candidates: &[&str]) -> i64 {
    candidates
        .iter()
        .filter(|c| !c.is_empty())
        .find_map(|c| {
            vocab
                .iter()
                .position(|v| !v.is_empty() && v.eq_ignore_ascii_case(c))
        })
        .unwrap_or(0) as i64
}

impl ReviewModel {
    /// Loads the checkpoint in `dir`, then fits the gates on its training corpus (the one its
    /// card names, training split: the memorisation gate must index the text this model saw)
    /// and on samples of the model itself.
    pub fn load(
        dir: &std::path::Path,
        config: &GenerationConfig,
        device: Device,
    ) -> Result<Self, GenerateError> {
        let model = eval_reviews::load(dir, device)?;
        let corpus = crate::text::corpus::ReviewCorpus::of_card(&model.card).load()?;
        let [train, _, _] = splits(&corpus);
        let mut ratings = vec![[0u32; 5]; model.conditions.classes.len().max(1)];
        for r in &train {
            let c = model.conditions.of(r);
            let k = (r.rating as usize).clamp(1, 5) - 1;
            ratings[0][k] += 1;
            if c.class > 0 {
                ratings[c.class as usize][k] += 1;
            }
        }
        // The discriminator's synthetic side: samples for the training reviews' own conditions.
        tch::manual_seed(config.seed as i64);
        let n = config.gates.discriminator_samples;
        let conds: Vec<Condition> = train
            .iter()
            .step_by((train.len() / n).max(1))
            .take(n)
            .map(|r| model.conditions.of(r))
            .collect();
        let mut synthetic = Vec::with_capacity(conds.len());
        for chunk in conds.chunks(256) {
            for ids in model
                .generator
                .sample(chunk, &model.tokenizer, config.temperature, device)
            {
                synthetic.push(model.tokenizer.decode(&ids));
            }
        }
        let training: Vec<(&str, u8)> = train.iter().map(|r| (r.text.as_str(), r.rating)).collect();
        let gates = ReviewGates::fit(&config.gates, &training, &synthetic, config.seed);
        Ok(ReviewModel {
            name: model.card.name.clone(),
            version: model.card.version.clone(),
            model,
            ratings,
            gates,
            device,
        })
    }

    /// The declared domain: the departments and classes the model was trained on.
    pub fn domain(&self) -> Vec<&str> {
        let c = &self.model.conditions;
        c.departments
            .iter()
            .chain(&c.classes)
            .map(String::as_str)
            .filter(|d| !d.is_empty())
            .fold(Vec::new(), |mut v, d| {
                if !v.contains(&d) {
                    v.push(d);
                }
                v
            })
    }

    /// Whether `p` is in the model's domain: its department or class is one the model knows.
    pub fn covers(&self, p: &ProductEvent) -> bool {
        let c = self.condition(p);
        c.department > 0 || c.class > 0
    }

    /// The generator's condition for `p`, without the rating.
    pub fn condition(&self, p: &ProductEvent) -> Condition {
        let c = &self.model.conditions;
        let attr = |k: &str| p.attributes.get(k).map(String::as_str).unwrap_or("");
        let mut dep: Vec<&str> = vec![attr("department")];
        dep.extend(p.category.iter().map(String::as_str));
        let mut class: Vec<&str> = vec![attr("class")];
        class.extend(p.category.iter().map(String::as_str));
        Condition {
            rating: 5,
            department: find(&c.departments, &dep),
            class: find(&c.classes, &class),
        }
    }

    /// A rating from the real distribution of the condition's class (the whole corpus's for an
    /// unknown class).
    pub fn draw_rating(&self, c: &Condition, rng: &mut StdRng) -> u8 {
        let counts = match self.ratings.get(c.class as usize) {
            Some(k) if c.class > 0 && k.iter().sum::<u32>() > 0 => k,
            _ => &self.ratings[0],
        };
        let total: u32 = counts.iter().sum();
        let mut x = rng.random_range(0..total.max(1));
        for (k, &n) in counts.iter().enumerate() {
            if x < n {
                return k as u8 + 1;
            }
            x -= n;
        }
        5
    }

    /// Samples one review per condition in one batched pass, at `temperature`.
    pub fn sample(&self, conds: &[Condition], temperature: f64) -> Vec<String> {
        let m = &self.model;
        m.generator
            .sample(conds, &m.tokenizer, temperature, self.device)
            .iter()
            .map(|ids| m.tokenizer.decode(ids).trim().to_owned())
            .collect()
    }
}
