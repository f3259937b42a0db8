//! Text: the review corpus's tokenizer, the conditional review generator, and the metrics that
//! judge generated text.
//!
//! - [`tokenizer`]: byte-level BPE trained on the training split (`tokenizers` crate).
//! - [`metrics`]: BLEU and Self-BLEU (Texygen protocol), distinct-n, copied-run detection.

pub mod metrics;
pub mod tokenizer;
