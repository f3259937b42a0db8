//! Generative models trained on real data with libtorch (`tch`), on CUDA when present.
//!
//! - [`behavior`]: the cold-start behaviour generator (content -> collaborative vector -> users).
//! - [`train_behavior`]: `warmstart train behavior`, the checkpoint folder the generation stage loads.
//! - [`sequence`]: view / cart / purchase probabilities and time gaps of real typed traffic.
//!
//! Checkpoints, model cards and the training error live in `artifact`, which the review models
//! share.

pub mod behavior;
pub mod sequence;
pub mod train_behavior;
