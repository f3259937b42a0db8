//! `--catalog DIR`: which reader a folder needs, from the files in it (or as the user says).

use super::{s3rec, tsv, Catalog};
use crate::data::DataError;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CatalogFormat {
    /// `interactions.tsv[.gz]` + `items.tsv[.gz]` with named columns (the README's format).
    Tsv,
    /// `<name>.txt[.gz]` sequences + `<name>_item2attributes.json[.gz]`.
    S3rec,
    /// The vendored Amazon Beauty 5-core layout (`data/README.md`).
    AmazonBeauty,
}

/// The header of the vendored Beauty interactions, which tells that layout from the TSV format
/// (both name their files `interactions.tsv.gz` and `items.tsv.gz`).
const BEAUTY_HEADER: &str = "user_idx\treviewer_id\titem_idx\tasin\tunix_ts\tseq_pos";

pub fn detect(dir: &Path) -> Result<CatalogFormat, DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotACatalog {
            dir: dir.to_owned(),
            reason: "not a folder".into(),
        });
    }
    if let Ok(path) = tsv::find(dir, tsv::INTERACTIONS) {
        let header = tsv::text_lines(&path)?.next().transpose()?;
        return Ok(if header.as_deref() == Some(BEAUTY_HEADER) {
            CatalogFormat::AmazonBeauty
        } else {
            CatalogFormat::Tsv
        });
    }
    match s3rec::find(dir) {
        Ok(_) => Ok(CatalogFormat::S3rec),
        Err(e) => Err(DataError::NotACatalog {
            dir: dir.to_owned(),
            reason: format!(
                "no catalogue found: expected interactions.tsv[.gz] and items.tsv[.gz] (see the README), \
                 or an S3-Rec <name>.txt with <name>_item2attributes.json ({e})"
            ),
        }),
    }
}

/// The catalogue in `dir`, in `format` or the one [`detect`] finds.
pub fn open(dir: &Path, format: Option<CatalogFormat>) -> Result<Catalog, DataError> {
    let format = match format {
        Some(f) => f,
        None => detect(dir)?,
    };
    match format {
        CatalogFormat::Tsv => tsv::load(dir),
        CatalogFormat::S3rec => s3rec::load(dir),
        CatalogFormat::AmazonBeauty => crate::data::beauty::catalog(dir),
    }
}
