//! The catalogue a command reads (`--catalog DIR`, or a shipped data set), with its summary
//! printed before any work, so that a wrong folder or format shows before minutes of training.

use super::args::{CatalogArgs, Dataset};
use crate::data::{self, Catalog};

/// The catalogue of `--catalog`, or the vendored Amazon Beauty 5-core.
pub fn open(args: &CatalogArgs) -> anyhow::Result<Catalog> {
    let catalog = match &args.catalog {
        Some(dir) => data::catalog::open(dir, args.catalog_format)?,
        None => data::beauty::catalog(&data::data_dir().join("beauty-5core"))?,
    };
    eprint!("{}", catalog.summary());
    Ok(catalog)
}

/// `replay`'s source: `--catalog`, else `--dataset` (Beauty when neither is given).
pub fn open_for_replay(dataset: Option<Dataset>, args: &CatalogArgs) -> anyhow::Result<Catalog> {
    let dir = data::data_dir();
    let from = |name: &str, stream: Vec<data::StreamEvent>| Catalog::from_stream(name, stream);
    let catalog = match (dataset, &args.catalog) {
        (_, Some(_)) | (None | Some(Dataset::Beauty), None) => return open(args),
        (Some(Dataset::Instruments), None) => from(
            "Amazon Musical Instruments 5-core",
            data::instruments::load(&dir.join("musical-instruments-5core"), None)?,
        ),
        (Some(Dataset::Taobao), None) => from(
            "Taobao UserBehavior sample",
            data::taobao::load(&dir.join("taobao-userbehavior-sample"), None)?,
        ),
        (Some(Dataset::GiftCards), None) => from(
            "Amazon Gift Cards 5-core",
            data::gift_cards::load(&dir.join("gift-cards-5core"), None)?,
        ),
    };
    eprint!("{}", catalog.summary());
    Ok(catalog)
}
