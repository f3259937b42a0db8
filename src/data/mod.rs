//! Loaders for the real data sets shipped under `data/`, as streams of events.

pub mod beauty;
pub mod clothing;
mod csv_gz;
pub mod gift_cards;
pub mod instruments;
pub mod malformed;
pub mod replay;
pub mod taobao;

use crate::events::{BehaviorEvent, ProductEvent};

/// One element of a replayed stream, in time order.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Behavior(BehaviorEvent),
    Product(ProductEvent),
}

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} line {line}: {reason}")]
    Format {
        path: std::path::PathBuf,
        line: usize,
        reason: String,
    },
}

/// The repo's `data/` folder: next to the binary's crate root when run from a checkout,
/// or `WARMSTART_DATA` when set.
pub fn data_dir() -> std::path::PathBuf {
    std::env::var_os("WARMSTART_DATA")
        .map(Into::into)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data"))
}
