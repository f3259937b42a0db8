//! Text: the review corpus's tokenizer, the conditional review generator, and the metrics that
//! judge generated text.
//!
//! - [`corpus`]: which reviews it learns from (clothing, the main one, or musical instruments).
//! - [`tokenizer`]: byte-level BPE trained on the training split (`tokenizers` crate).
//! - [`generator`]: the GRU generator conditioned on rating, department and class.
//! - [`train_reviews`]: `warmstart train reviews`, vocabulary + MLE training + checkpoint folder.
//! - [`adversarial`]: the adversarial stage (relativistic GAN over Gumbel-softmax rollouts).
//! - [`classify`]: bag-of-words judges (rating consistency, real vs synthetic).
//! - [`eval_reviews`]: `warmstart eval reviews`, BLEU / Self-BLEU / distinct / NLL / copies over temperature.
//! - [`metrics`]: BLEU and Self-BLEU (Texygen protocol), distinct-n, copied-run detection.

pub mod adversarial;
pub mod classify;
pub mod corpus;
pub mod eval_reviews;
pub mod generator;
pub mod metrics;
pub mod tokenizer;
pub mod train_reviews;
