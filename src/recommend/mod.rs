//! The recommender's models. Index-based (dense u32 ids) so that training, evaluation and the
//! online service share one implementation; the service maps string ids onto indices.
//!
//! - [`bpr`]: matrix factorisation for implicit feedback, learned by per-event SGD on the BPR
//!   loss (Rendle et al., UAI 2009), so the same update serves batch training and online learning.
//! - [`features`]: a product's content (title tokens, categories, brand, attributes) as a hashed
//!   sparse vector, computed from a `ProductEvent` so that a brand-new item has one at once.
//! - [`content`]: the content match (TF-IDF cosine of an item with the user's history), added to
//!   the factor score with a weight chosen on validation.
//! - [`tower`]: the content tower, a linear map from content features into the item space, so a
//!   cold item gets a collaborative vector before its first interaction.

pub mod bpr;
pub mod content;
pub mod exposure;
pub mod features;
pub mod hybrid;
pub mod offline;
pub mod online;
pub mod rank;
pub mod snapshot;
pub mod splitmix;
pub mod tower;
pub mod transfer;
