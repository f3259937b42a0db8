//! Generative models trained on real data with libtorch (`tch`), on CUDA when present.
//!
//! - [`behavior`]: the cold-start behaviour generator (content -> collaborative vector -> users).
//! - [`checkpoint`]: f16 safetensors of a `VarStore`, checked on load.
//! - [`card`]: the model card (data checksums, config, metrics, version) beside each checkpoint.
//! - [`train_behavior`]: `warmstart train behavior`, the checkpoint folder the generation stage loads.
//! - [`sequence`]: view / cart / purchase probabilities and time gaps of real typed traffic.

pub mod behavior;
pub mod card;
pub mod checkpoint;
pub mod error;
pub mod sequence;
pub mod train_behavior;
