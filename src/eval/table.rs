//! The cold-start table of `warmstart eval coldstart`: every model of the protocol fitted on the
//! same split, the content-match weight and the transfer weight chosen on validation, and the
//! rows on test.

use super::augmented;
use super::coldstart::{
    evaluate, render, Config, ContentKnn, HybridMf, MfTower, Popularity, Random, Row, Scorer, Split,
};
use super::transfer::{NeighbourTransfer, LAMBDA_GRID};
use super::weighted::{WithContent, BETA_GRID};
use crate::data::Catalog;
use crate::gan::behavior::GanConfig;
use crate::recommend::hybrid::ItemVector;

/// The table and how it was tuned, as `--json` writes it.
#[derive(Debug, serde::Serialize)]
pub struct Table {
    pub protocol: String,
    pub config: Config,
    pub rows: Vec<Row>,
    /// Every validation point of the weight searches.
    pub beta_tuning: Vec<serde_json::Value>,
}

impl Table {
    pub fn render(&self) -> String {
        render(&self.rows)
    }
}

/// Fits and evaluates every model on `catalog`. `gan_epochs` > 0 adds the three behaviour-GAN
/// rows, `transfer` the transfer generator's two. Progress, the split's sizes and the validation
/// points go to stderr.
pub fn run(
    catalog: &Catalog,
    config: Config,
    gan_epochs: usize,
    transfer_rows: bool,
    progress: bool,
) -> Table {
    let name = &catalog.name;
    let split = Split::new(catalog, config.cold_fraction, config.seed);
    eprintln!(
        "{name}: cold split (seed {}): {} of {} items cold; pairs: train {}, warm validation {}, warm test {}, cold validation {}, cold test {}",
        config.seed,
        split.cold.iter().filter(|c| **c).count(),
        split.n_items,
        split.train.len(),
        split.warm_val.len(),
        split.warm_test.len(),
        split.cold_val.len(),
        split.cold_test.len()
    );
    let mf = MfTower::fit(&split, &config, progress);
    let hybrid = HybridMf::fit(&split, &config, ItemVector::Additive, progress);
    let online = HybridMf::fit(&split, &config, ItemVector::Fallback, progress);
    let gan = (gan_epochs > 0).then(|| {
        let g = augmented::fit(
            &split,
            &config,
            GanConfig {
                epochs: gan_epochs,
                ..Default::default()
            },
            progress,
        );
        eprintln!(
            "behaviour GAN: {} synthetic pairs ({} per cold item); losses by epoch {:?}",
            g.synthetic_pairs, g.per_item, g.gan_curve
        );
        vec![g.generated, g.item_side, g.model]
    });
    let transferred = transfer_rows.then(|| {
        let (rows, pairs) = augmented::fit_transfer(&split, &config, progress);
        eprintln!("transfer generator: {pairs} synthetic pairs for the cold items");
        rows.to_vec()
    });
    let gan: Option<Vec<_>> = match (gan, transferred) {
        (None, None) => None,
        (g, t) => Some(g.into_iter().chain(t).flatten().collect()),
    };
    let mut tuning = Vec::new();
    let mut with_content = Vec::new();
    for base in [&mf, &hybrid, &online]
        .into_iter()
        .chain(gan.iter().flatten())
    {
        let mut m = WithContent::new(&split, base.clone(), 0.0);
        for (beta, row) in m.tune(&split, &BETA_GRID) {
            eprintln!(
                "validation {:<34} beta {beta:>5}: hybrid NDCG@20 {:.4}",
                m.name(),
                row.hybrid.ndcg
            );
            tuning.push(serde_json::json!({"model": m.name(), "beta": beta, "validation": row}));
        }
        with_content.push(m);
    }
    let mut transfer = NeighbourTransfer::fit(&split);
    for (lambda, row) in transfer.tune(&split, &LAMBDA_GRID) {
        eprintln!(
            "validation {:<34} lambda {lambda:>5}: cold NDCG@20 {:.4}",
            transfer.name(),
            row.cold.ndcg
        );
        tuning.push(
            serde_json::json!({"model": transfer.name(), "lambda": lambda, "validation": row}),
        );
    }
    let mut models: Vec<Box<dyn Scorer>> = vec![
        Box::new(Random { seed: config.seed }),
        Box::new(Popularity::fit(&split)),
        Box::new(ContentKnn::fit(&split)),
        Box::new(transfer),
        Box::new(mf),
        Box::new(hybrid),
        Box::new(online),
    ];
    for g in gan.into_iter().flatten() {
        models.push(Box::new(g));
    }
    models.extend(
        with_content
            .into_iter()
            .map(|m| Box::new(m) as Box<dyn Scorer>),
    );
    let rows = models
        .iter()
        .map(|m| evaluate(&split, m.as_ref(), progress))
        .collect();
    Table {
        protocol: format!("GAR/ALDI cold-start, {name}"),
        config,
        rows,
        beta_tuning: tuning,
    }
}
