//! The recommender's full scoring rule in the cold-start evaluation: a factorised model plus
//! `beta` times the content match (see `recommend::content`), with `beta` chosen on the
//! validation split, never on the test split.

use super::coldstart::{tune_on_validation, Factorised, Row, Scorer, Split};
use crate::recommend::content::{ContentMatch, Profile};
use crate::recommend::features::hashed;
use std::cell::RefCell;

/// The content weights tried on validation.
pub const BETA_GRID: [f32; 7] = [0.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0];

pub struct WithContent {
    name: String,
    base: Factorised,
    content: ContentMatch,
    train: Vec<Vec<u32>>,
    pub beta: f32,
    profile: RefCell<Profile>,
}

impl WithContent {
    pub fn new(split: &Split, base: Factorised, beta: f32) -> Self {
        let mut content = ContentMatch::default();
        for f in &split.features {
            content.add_item(&hashed(f));
        }
        content.refresh();
        WithContent {
            name: format!("{} + content", base.name),
            base,
            content,
            train: split.train_by_user(),
            beta,
            profile: RefCell::new(Profile::default()),
        }
    }

    /// Tries each `beta` of `grid` on the validation pairs and keeps the one with the best hybrid
    /// NDCG@20 (the setting a live service is in: new and old items ranked together). Returns
    /// the validation row of every candidate.
    pub fn tune(&mut self, split: &Split, grid: &[f32]) -> Vec<(f32, Row)> {
        tune_on_validation(
            split,
            self,
            grid,
            |m, beta| m.beta = beta,
            |r| r.hybrid.ndcg,
        )
    }
}

impl Scorer for WithContent {
    fn name(&self) -> &str {
        &self.name
    }

    fn scores(&self, user: u32, out: &mut [f32]) {
        self.base.scores(user, out);
        let mut profile = self.profile.borrow_mut();
        self.content
            .profile(self.train[user as usize].iter().copied(), &mut profile);
        self.content.add_scores(&profile, self.beta, out);
    }
}
