//! Catalogues ([`catalog`]: the abstraction every evaluation, trainer and replay reads, and the
//! documented formats a user's own data comes in) and the loaders of the real data sets shipped
//! under `data/`, which are sources of catalogues like any other.

pub mod all_beauty;
pub mod assemble;
pub mod beauty;
pub mod catalog;
pub mod clothing;
mod csv_gz;
pub mod gift_cards;
pub mod instruments;
pub mod malformed;
pub mod taobao;

use crate::events::{BehaviorEvent, ProductEvent};

pub use catalog::Catalog;

/// One element of a replayed stream, in time order.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent {
    Behavior(BehaviorEvent),
    Product(ProductEvent),
}

impl StreamEvent {
    /// The product, for `filter_map` over a stream.
    pub fn as_product(&self) -> Option<&ProductEvent> {
        match self {
            StreamEvent::Product(p) => Some(p),
            StreamEvent::Behavior(_) => None,
        }
    }
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
    /// A catalogue file's value that cannot be read: the file, the line (1-based, the header
    /// is line 1) and the column.
    #[error("{path} line {line}, field `{field}`: {reason}")]
    Field {
        path: std::path::PathBuf,
        line: usize,
        field: String,
        reason: String,
    },
    #[error("{dir}: {reason}")]
    NotACatalog {
        dir: std::path::PathBuf,
        reason: String,
    },
}

/// The repo's `data/` folder: next to the binary's crate root when run from a checkout,
/// or `WARMSTART_DATA` when set.
pub fn data_dir() -> std::path::PathBuf {
    repo_dir("WARMSTART_DATA", "data")
}

/// `$var` when set; else the folder of the checkout this binary was built from, when it still
/// exists; else `name` under the working directory (a binary copied to another machine, or built
/// in another checkout that shares the target folder).
pub fn repo_dir(var: &str, name: &str) -> std::path::PathBuf {
    if let Some(dir) = std::env::var_os(var) {
        return dir.into();
    }
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    if built.is_dir() {
        built
    } else {
        std::path::PathBuf::from(name)
    }
}
