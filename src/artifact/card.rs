//! The model card written next to every checkpoint: what the model was trained on (files and
//! their SHA-256), how (config, seed, device), what it measured, and its version, so that any
//! synthetic record can be traced to the exact model and data that produced it.

use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DataFile {
    pub path: String,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ModelCard {
    pub name: String,
    /// `<name>-<date>-<first 8 hex digits of the weights' SHA-256>`: changes whenever the
    /// weights do, so a synthetic record's `model_version` names one set of weights.
    pub version: String,
    pub warmstart_version: String,
    #[serde(flatten)]
    pub run: Run,
}

/// What a trainer knows about its run; `ModelCard::issue` adds the version and writes the card.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Run {
    pub dataset: String,
    pub data_files: Vec<DataFile>,
    pub seed: u64,
    pub device: String,
    pub config: serde_json::Value,
    pub metrics: serde_json::Value,
    pub curve: serde_json::Value,
    pub files: Vec<String>,
    /// Set when training continued from an earlier checkpoint.
    pub resumed_from: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a model card: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

pub fn sha256_file(path: &Path) -> Result<(String, u64), CardError> {
    let bytes = std::fs::read(path).map_err(|source| CardError::Io {
        path: path.to_owned(),
        source,
    })?;
    let digest = Sha256::digest(&bytes);
    let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok((hex, bytes.len() as u64))
}

/// A data file's checksum, named relative to the data folder (`data/`), not this machine's path.
pub fn data_file(path: &Path) -> Result<DataFile, CardError> {
    let (sha256, bytes) = sha256_file(path)?;
    // Shipped files relative to the repo (`data/...`), a user's catalogue as given.
    let data = crate::data::data_dir();
    let path = match path.strip_prefix(&data) {
        Ok(name) => Path::new("data").join(name),
        Err(_) => path.to_owned(),
    };
    Ok(DataFile {
        path: path.display().to_string(),
        sha256,
        bytes,
    })
}

impl ModelCard {
    /// The card of the checkpoint folder `dir` whose weights are in `weights`: versioned by
    /// the weights' checksum and written to `dir/card.json`.
    pub fn issue(dir: &Path, weights: &Path, name: &str, run: Run) -> Result<Self, CardError> {
        let (sha, _) = sha256_file(weights)?;
        let card = ModelCard {
            name: name.into(),
            version: format!("{name}-{}-{}", today(), &sha[..8]),
            warmstart_version: env!("CARGO_PKG_VERSION").into(),
            run,
        };
        card.write(&dir.join("card.json"))?;
        Ok(card)
    }

    pub fn write(&self, path: &Path) -> Result<(), CardError> {
        let text = serde_json::to_string_pretty(self).expect("a card serialises");
        std::fs::write(path, text + "\n").map_err(|source| CardError::Io {
            path: path.to_owned(),
            source,
        })
    }

    pub fn read(path: &Path) -> Result<Self, CardError> {
        let text = std::fs::read_to_string(path).map_err(|source| CardError::Io {
            path: path.to_owned(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| CardError::Json {
            path: path.to_owned(),
            source,
        })
    }
}

/// Today's date (UTC) as YYYYMMDD, from the system clock (civil-from-days, Hinnant).
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = crate::events::time::civil_date(secs * 1000);
    format!("{y:04}{m:02}{d:02}")
}
