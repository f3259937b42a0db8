//! What training writes and the services load: f16 checkpoints and the model card beside them,
//! shared by every generator (behaviour GAN, review models) so that none depends on another to
//! save or load its weights.
//!
//! - [`checkpoint`]: f16 safetensors of a `VarStore`, checked on load.
//! - [`card`]: the model card (data checksums, config, metrics, version) beside each checkpoint.
//! - [`error`]: the one error type of the training and evaluation commands.

pub mod card;
pub mod checkpoint;
pub mod error;
