//! The quality and privacy gates every generated review passes before it is emitted.
//!
//! Synthetic reviews are training signal, never content shown as real, but they still must not
//! leak training text, repeat themselves, read as obviously machine-made, or contradict the rating
//! they carry. Each check is cheap (hash lookups and two bag-of-words dot products), so the gates
//! run on every record, on the inference thread, right after sampling:
//!
//! 1. `too_short`: fewer than `min_words` words;
//! 2. `memorised`: any `copy_run`-word run of a training review (the index of every run of the
//!    training corpus is built at start-up; the same definition as `warmstart eval reviews`);
//! 3. `duplicate`: the same text emitted recently (a bounded window of hashes);
//! 4. `discriminator`: a real-vs-synthetic classifier, fitted at model load on training reviews
//!    against this model's own samples, is too sure the text is synthetic;
//! 5. `rating`: a rating classifier trained on real reviews reads a rating too far from the one
//!    the review was written for.

use super::config::GateConfig;
use crate::text::classify::BowClassifier;
use crate::text::metrics::{words, RunIndex};
use std::collections::{HashSet, VecDeque};

/// Why a record was rejected; the label of the rejection counter.
pub type Reason = &'static str;

pub const REVIEW_REASONS: [Reason; 5] = [
    "too_short",
    "memorised",
    "duplicate",
    "discriminator",
    "rating",
];

/// The scores a review passed with, recorded in its provenance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReviewScores {
    /// The discriminator's probability that the text is synthetic.
    pub p_synthetic: f64,
    /// The rating the rating classifier reads in the text.
    pub rating_read: u8,
}

/// Texts emitted recently, as hashes, forgetting the oldest beyond `window`.
struct Recent {
    window: usize,
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Recent {
    fn contains(&self, h: u64) -> bool {
        self.set.contains(&h)
    }

    fn insert(&mut self, h: u64) {
        if self.window == 0 || !self.set.insert(h) {
            return;
        }
        self.order.push_back(h);
        if self.order.len() > self.window {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }
}

pub struct ReviewGates {
    config: GateConfig,
    copies: RunIndex,
    rating: BowClassifier,
    discriminator: BowClassifier,
    recent: Recent,
}

/// The duplicate check's key: the words without punctuation, so that "Love it!" repeats
/// "love it".
fn text_hash(w: &[String]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let words: Vec<&String> = w
        .iter()
        .filter(|t| t.chars().any(char::is_alphanumeric))
        .collect();
    BuildHasherDefault::<DefaultHasher>::default().hash_one(words)
}

impl ReviewGates {
    /// `training` is the generator's training corpus as (text, rating 1-5); `synthetic` are
    /// samples of the generator that the discriminator learns to tell from real text.
    pub fn fit(
        config: &GateConfig,
        training: &[(&str, u8)],
        synthetic: &[String],
        seed: u64,
    ) -> Self {
        let tokens: Vec<Vec<String>> = training.iter().map(|(t, _)| words(t)).collect();
        let copies = RunIndex::new(&tokens, config.copy_run);
        let texts: Vec<&str> = training.iter().map(|(t, _)| *t).collect();
        let labels: Vec<usize> = training
            .iter()
            .map(|(_, r)| (*r as usize).clamp(1, 5) - 1)
            .collect();
        let rating = BowClassifier::fit(&texts, &labels, 5, 3, seed);
        // As many real texts as synthetic ones, so that the classes are balanced.
        let step = (texts.len() / synthetic.len().max(1)).max(1);
        let mut mix: Vec<&str> = texts
            .iter()
            .step_by(step)
            .take(synthetic.len())
            .copied()
            .collect();
        let mut mix_labels = vec![0; mix.len()];
        mix.extend(synthetic.iter().map(String::as_str));
        mix_labels.resize(mix.len(), 1);
        let discriminator = BowClassifier::fit(&mix, &mix_labels, 2, 5, seed);
        ReviewGates {
            config: config.clone(),
            copies,
            rating,
            discriminator,
            recent: Recent {
                window: config.duplicate_window,
                set: HashSet::new(),
                order: VecDeque::new(),
            },
        }
    }

    /// Whether `text` contains a training run: the same test as the gate's, for tests and audits.
    pub fn copies_training_text(&self, text: &str) -> bool {
        self.copies.copies(&words(text))
    }

    /// Checks a review written for `rating`; a passing text is remembered for the duplicate check.
    pub fn check(&mut self, text: &str, rating: u8) -> Result<ReviewScores, Reason> {
        let w = words(text);
        if w.len() < self.config.min_words {
            return Err("too_short");
        }
        if self.copies.copies(&w) {
            return Err("memorised");
        }
        let h = text_hash(&w);
        if self.recent.contains(h) {
            return Err("duplicate");
        }
        let p_synthetic = self.discriminator.proba(text)[1] as f64;
        if p_synthetic > self.config.max_discriminator_score {
            return Err("discriminator");
        }
        let rating_read = self.rating.predict(text) as u8 + 1;
        if rating_read.abs_diff(rating) > self.config.max_rating_gap {
            return Err("rating");
        }
        self.recent.insert(h);
        Ok(ReviewScores {
            p_synthetic,
            rating_read,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(config: GateConfig) -> ReviewGates {
        let training = [
            (
                "i love this dress the fabric is soft and the fit is perfect for me",
                5,
            ),
            (
                "love love love it, great colour and it fits true to size",
                5,
            ),
            (
                "awful quality, it ripped after one wash and i returned it",
                1,
            ),
            ("terrible fit, way too small and the zipper broke", 1),
            ("it is ok, nothing special but fine for the price", 3),
        ];
        let synthetic = vec!["zzz qqq xxx".to_string(), "qqq zzz www vvv".to_string()];
        ReviewGates::fit(&config, &training, &synthetic, 7)
    }

    #[test]
    fn each_gate_rejects_with_its_reason() {
        let mut g = gates(GateConfig {
            max_rating_gap: 1,
            // Judges fitted on five reviews are not sure of much.
            max_discriminator_score: 0.6,
            ..Default::default()
        });
        assert_eq!(g.check("nice", 5), Err("too_short"));
        // 8 consecutive words of the first training review, inside new text.
        assert_eq!(
            g.check("well i love this dress the fabric is soft and then some", 5),
            Err("memorised")
        );
        assert!(g.copies_training_text("the fabric is soft and the fit is perfect"));
        let ok = g
            .check("great colour, soft fabric, love the fit", 5)
            .unwrap();
        assert!(ok.rating_read >= 4, "{ok:?}");
        assert_eq!(
            g.check("Great colour soft fabric love the fit!", 5),
            Err("duplicate")
        );
        assert_eq!(g.check("zzz qqq xxx www vvv zzz", 5), Err("discriminator"));
        assert_eq!(
            g.check("awful quality, ripped and returned, terrible", 5),
            Err("rating")
        );
    }

    #[test]
    fn the_duplicate_window_is_bounded() {
        let mut g = gates(GateConfig {
            duplicate_window: 2,
            max_rating_gap: 4,
            ..Default::default()
        });
        let texts = [
            "soft fabric love the colour",
            "fits well love the colour",
            "soft and warm love it",
        ];
        for t in texts {
            assert!(g.check(t, 5).is_ok(), "{t}");
        }
        assert_eq!(g.recent.set.len(), 2);
        // The first was forgotten, the last is remembered.
        assert!(g.check(texts[0], 5).is_ok());
        assert_eq!(g.check(texts[0], 5), Err("duplicate"));
    }
}
