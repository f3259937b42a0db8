//! The one error type of the training and evaluation commands of the generators: every variant
//! names the file or the data it failed on.

use super::card::CardError;
use super::checkpoint::CheckpointError;
use crate::data::DataError;
use crate::optim::ResumeError;
use crate::plot::PlotError;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Resume(#[from] ResumeError),
    #[error(transparent)]
    Card(#[from] CardError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    /// The review models' tokenizer (a type of `text`, which sits above this module).
    #[error(transparent)]
    Tokenizer(Box<dyn std::error::Error + Send + Sync>),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("{0}")]
    Torch(#[from] tch::TchError),
}

/// Maps an I/O error on `path` into a `TrainError` that names it.
pub fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |source| TrainError::Io {
        path: path.to_owned(),
        source,
    }
}
