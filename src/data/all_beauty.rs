//! Amazon-2018 "All Beauty" 5-core reviews (see `data/README.md`): the only real beauty-domain
//! review text here, read for the beauty review model's corpus.
//!
//! The reviews are in the Gift Cards file's format and are read the same way
//! ([`super::gift_cards`]): `event_id = all-beauty-<line index>`. The set has no product metadata,
//! and only 12 of its 85 items are in the Beauty 5-core, so a product event carries the ASIN as
//! its title and `Beauty` as its one category: a model trained on it declares the domain
//! `Beauty`, which every Beauty 5-core product's category path starts with.

use super::assemble::assemble;
use super::{DataError, StreamEvent};
use crate::events::ProductEvent;
use std::path::Path;

pub const FILE: &str = "reviews.json.gz";
pub const CATEGORY: &str = "Beauty";

/// The first `limit` reviews in time order (all with `None`), with product events.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<Vec<StreamEvent>, DataError> {
    let rows = super::gift_cards::read_reviews(&dir.join(FILE), "all-beauty")?;
    Ok(assemble(rows, limit, |b, _| ProductEvent {
        category: vec![CATEGORY.to_owned()],
        ..ProductEvent::titled(&b.item_id, &b.item_id)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_review_is_read_with_its_rating() {
        let events = load(&crate::data::data_dir().join("all-beauty-5core"), None).unwrap();
        let reviews: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                StreamEvent::Behavior(b) => Some(b),
                StreamEvent::Product(_) => None,
            })
            .collect();
        // data/README.md: 5,269 reviews (5,264 with text), 85 items; 4,649 five stars.
        assert_eq!(reviews.len(), 5_269);
        assert_eq!(
            reviews.iter().filter(|b| b.review_text.is_some()).count(),
            5_264
        );
        assert_eq!(
            reviews.iter().filter(|b| b.rating == Some(5)).count(),
            4_649
        );
        assert_eq!(events.len() - reviews.len(), 85);
    }
}
