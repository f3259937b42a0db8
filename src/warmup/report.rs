//! The stream evaluation's table (text) and warm-up curve (PNG: HR@20 against the new item's
//! k-th real interaction, one line per variant).

use super::{StreamReport, K};
use crate::plot::{self, PlotError, Series};
use std::path::Path;

pub fn render(r: &StreamReport) -> String {
    let first_k = r.config.first_k;
    let mut s = format!(
        "{}: {} warm-up interactions, {} in the window, {} new items\n{}\n\n",
        r.catalog, r.warmup_events, r.window_events, r.new_items, r.protocol
    );
    s += &format!("{:<50} |", "variant");
    for k in 1..=first_k {
        s += &format!(" HR@{K} k={k}");
    }
    s += &format!(
        " | first {first_k}: HR@{K} NDCG@{K} vs none | warm: HR@{K} NDCG@{K} vs none | synthetic, guessed\n"
    );
    let base = r.rows.first();
    for row in &r.rows {
        s += &format!("{:<50} |", row.label);
        for m in &row.by_k {
            s += &format!(" {:>9.4}", m.hr20);
        }
        let ratio = |a: f64, b: Option<f64>| b.filter(|b| *b > 0.0).map_or(f64::NAN, |b| a / b);
        s += &format!(
            " |         {:.4} {:.4} {:>5.2}x |   {:.4} {:.4} {:>+5.1}% | {}, {:.1}%\n",
            row.first_k.hr20,
            row.first_k.ndcg20,
            ratio(row.first_k.hr20, base.map(|b| b.first_k.hr20)),
            row.warm.hr20,
            row.warm.ndcg20,
            (ratio(row.warm.hr20, base.map(|b| b.warm.hr20)) - 1.0) * 100.0,
            row.synthetic_events,
            row.generated_recall * 100.0
        );
    }
    s += &format!(
        "(events per k: {}; median full rank of the new item at k = 1: {})\n",
        base.map_or(String::new(), |b| b
            .by_k
            .iter()
            .map(|m| m.events.to_string())
            .collect::<Vec<_>>()
            .join(", ")),
        r.rows
            .iter()
            .map(|row| format!(
                "{} {}",
                row.variant.name(),
                row.by_k
                    .first()
                    .and_then(|m| m.median_rank)
                    .map_or("-".into(), |x| x.to_string())
            ))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s
}

pub fn plot(path: &Path, r: &StreamReport) -> Result<(), PlotError> {
    let series: Vec<Series> = r
        .rows
        .iter()
        .map(|row| Series {
            name: &row.label,
            points: row
                .by_k
                .iter()
                .enumerate()
                .map(|(k, m)| ((k + 1) as f64, m.hr20))
                .collect(),
        })
        .collect();
    plot::lines(
        path,
        &format!("warm-up of new items, {}", r.catalog),
        "the new item's k-th real interaction",
        &format!("HR@{K} (item in that shopper's top {K} before it)"),
        &series,
    )
}
