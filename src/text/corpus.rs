//! Which review corpus a generator learns from. The clothing reviews are the main one (their
//! products have a department and a class to condition on); Amazon's Musical Instruments 5-core
//! is the second, to see how the same recipe does on another shop's language, where a product
//! has no attributes beyond its category, so only the rating conditions the text. Amazon's All
//! Beauty 5-core is the third and the one that matters for the Beauty catalogue: the only beauty
//! text here (5,264 reviews, 88% five stars), so a Beauty product gets beauty text, not clothing
//! text; it too has no product attributes, so only the rating conditions it.
//!
//! Both become the same [`Corpus`] of [`Review`]s, split by product with the same stable hash.

use crate::artifact::card::ModelCard;
use crate::data::clothing::{self, Corpus, Review};
use crate::data::{all_beauty, instruments, DataError, StreamEvent};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewCorpus {
    #[default]
    Clothing,
    Instruments,
    Beauty,
}

impl ReviewCorpus {
    /// Its folder under `data/`.
    pub fn dir(self) -> PathBuf {
        crate::data::data_dir().join(match self {
            ReviewCorpus::Clothing => "clothing-reviews",
            ReviewCorpus::Instruments => "musical-instruments-5core",
            ReviewCorpus::Beauty => "all-beauty-5core",
        })
    }

    /// The file the reviews are read from (its checksum goes on the model card).
    pub fn file(self) -> PathBuf {
        self.dir().join(match self {
            ReviewCorpus::Clothing => clothing::FILE,
            ReviewCorpus::Instruments => instruments::FILE,
            ReviewCorpus::Beauty => all_beauty::FILE,
        })
    }

    /// What the model card and the plots call it.
    pub fn describe(self) -> &'static str {
        match self {
            ReviewCorpus::Clothing => {
                "Women's E-Commerce Clothing Reviews (CC0), split 80/10/10 by product"
            }
            ReviewCorpus::Instruments => {
                "Amazon Musical Instruments 5-core reviews (2014), split 80/10/10 by product"
            }
            ReviewCorpus::Beauty => {
                "Amazon All Beauty 5-core reviews (2018), split 80/10/10 by product"
            }
        }
    }

    pub fn short_name(self) -> &'static str {
        match self {
            ReviewCorpus::Clothing => "clothing reviews",
            ReviewCorpus::Instruments => "musical instruments reviews",
            ReviewCorpus::Beauty => "beauty reviews",
        }
    }

    /// A generator's training corpus, from its card (an adversarial stage's card carries its
    /// MLE model's training config); a card from before there was a choice: the clothing reviews.
    pub fn of_card(card: &ModelCard) -> ReviewCorpus {
        serde_json::from_value(card.run.config["training"]["corpus"].clone()).unwrap_or_default()
    }

    pub fn load(self) -> Result<Corpus, DataError> {
        match self {
            ReviewCorpus::Clothing => clothing::load(&self.dir()),
            ReviewCorpus::Instruments => {
                one_category(instruments::load(&self.dir(), None)?, instruments::CATEGORY)
            }
            ReviewCorpus::Beauty => {
                one_category(all_beauty::load(&self.dir(), None)?, all_beauty::CATEGORY)
            }
        }
    }
}

impl std::str::FromStr for ReviewCorpus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "clothing" => Ok(ReviewCorpus::Clothing),
            "instruments" => Ok(ReviewCorpus::Instruments),
            "beauty" => Ok(ReviewCorpus::Beauty),
            other => Err(format!(
                "unknown corpus {other:?} (expected `clothing`, `instruments` or `beauty`)"
            )),
        }
    }
}

/// Reviews of a set whose products have no attributes beyond one category, as generator
/// examples: the category is both department and class (the model's declared domain), so the
/// class-matched BLEU references are all held-out reviews.
fn one_category(events: Vec<StreamEvent>, category: &str) -> Result<Corpus, DataError> {
    let mut corpus = Corpus::default();
    for e in events {
        let StreamEvent::Behavior(b) = e else {
            continue;
        };
        let (Some(text), Some(rating)) = (b.review_text, b.rating) else {
            corpus.without_text += 1;
            continue;
        };
        corpus.reviews.push(Review {
            product: b.item_id,
            title: String::new(),
            text,
            rating: rating.clamp(1, 5) as u8,
            division: category.to_owned(),
            department: category.to_owned(),
            class: category.to_owned(),
        });
    }
    Ok(corpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_instruments_corpus_is_every_review_with_text_and_its_rating() {
        let c = ReviewCorpus::Instruments.load().unwrap();
        // data/README.md: 10,261 reviews, 7 of them without text.
        assert_eq!(c.reviews.len() + c.without_text, 10_261);
        assert_eq!(c.without_text, 7);
        assert!(c.reviews.iter().all(|r| (1..=5).contains(&r.rating)));
        let five = c.reviews.iter().filter(|r| r.rating == 5).count();
        assert!(five > c.reviews.len() / 2, "5 stars dominate: {five}");
        assert_eq!(
            "instruments".parse::<ReviewCorpus>(),
            Ok(ReviewCorpus::Instruments)
        );
        assert_eq!("beauty".parse::<ReviewCorpus>(), Ok(ReviewCorpus::Beauty));
        assert!("shoes"
            .parse::<ReviewCorpus>()
            .unwrap_err()
            .contains("shoes"));
    }
}
