//! Generative models trained on real data with libtorch (`tch`), on CUDA when present.
//!
//! - [`behavior`]: the cold-start behaviour generator (content -> collaborative vector -> users).

pub mod behavior;
