//! Online (prequential) evaluation, the protocol of eALS (He et al., SIGIR 2016): sort the
//! interactions by time, fit on the first 90%, then for each later interaction first predict
//! (rank the item among all items the user does not have yet) and then learn from it. HR@10 and
//! NDCG@10 over the stream measure the model as it would have served, event by event.

use super::metrics::hit_ndcg;
use crate::data::StreamEvent;
use crate::events::EnrichedEvent;
use crate::recommend::online::{Online, OnlineConfig};

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PrequentialResult {
    /// Interactions scored (those after the cut with an item new to the user).
    pub events: usize,
    pub hr10: f64,
    pub ndcg10: f64,
}

/// `fit_epochs` passes over the first `fit_fraction` of the interactions, then predict-then-update
/// over the rest. Interactions with an item the user already has are learnt from, not scored.
pub fn evaluate(
    stream: &[StreamEvent],
    config: OnlineConfig,
    fit_fraction: f64,
    fit_epochs: usize,
    weight: f64,
    progress: bool,
) -> PrequentialResult {
    let behavior: Vec<&crate::events::BehaviorEvent> = stream
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Behavior(b) => Some(b),
            _ => None,
        })
        .collect();
    let cut = (behavior.len() as f64 * fit_fraction) as usize;
    let cut_ts = behavior.get(cut).map_or(i64::MAX, |b| b.ts);
    let mut model = Online::new(config);
    // Products known before the cut enter first; later ones when the stream reaches them.
    for e in stream {
        if let StreamEvent::Product(p) = e {
            if p.ts < cut_ts {
                model.apply_product(p);
            }
        }
    }
    let bar = crate::observe::progress::bar(
        progress,
        (fit_epochs * cut + behavior.len() - cut) as u64,
        "prequential {bar:30} {pos}/{len}",
    );
    for _ in 0..fit_epochs {
        for b in &behavior[..cut] {
            model.apply(&EnrichedEvent::real((*b).clone(), weight));
            bar.inc(1);
        }
    }
    let mut r = PrequentialResult::default();
    let mut later_products = stream.iter().filter_map(|e| match e {
        StreamEvent::Product(p) if p.ts >= cut_ts => Some(p),
        _ => None,
    });
    let mut next_product = later_products.next();
    for b in &behavior[cut..] {
        while let Some(p) = next_product.filter(|p| p.ts <= b.ts) {
            model.apply_product(p);
            next_product = later_products.next();
        }
        if !model.has(&b.user_id, &b.item_id) {
            let ranked = model.recommend(&b.user_id, 10);
            let idx: Vec<u32> = ranked
                .iter()
                .map(|(i, _)| if *i == b.item_id { 1 } else { 0 })
                .collect();
            let (h, n) = hit_ndcg(&idx, 1, 10);
            r.hr10 += h;
            r.ndcg10 += n;
            r.events += 1;
        }
        model.apply(&EnrichedEvent::real((*b).clone(), weight));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let n = r.events.max(1) as f64;
    r.hr10 /= n;
    r.ndcg10 /= n;
    r
}
