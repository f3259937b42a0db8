//! Sequential next-item recommendation, leave-one-out with full ranking (the S3-Rec / ICLRec
//! protocol on Beauty): each user's last interaction is the test item, the one before it the
//! validation item, the rest is training; the model ranks all items but those in the user's
//! history, and HR and NDCG at 10 and 20 are averaged over users.
//!
//! The model is the online recommender itself, trained by replaying the training events in
//! `epochs` passes, so these figures describe what the service serves.

use super::metrics::hit_ndcg;
use crate::data::StreamEvent;
use crate::events::{BehaviorEvent, EnrichedEvent};
use crate::recommend::online::{Online, OnlineConfig};
use std::collections::HashMap;

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct LooResult {
    pub users: usize,
    pub hr10: f64,
    pub ndcg10: f64,
    pub hr20: f64,
    pub ndcg20: f64,
}

/// Splits each user's time-ordered behaviour into (history, test item); the stream must be in
/// time order. Users with fewer than 3 events are skipped (nothing to validate on).
pub fn split(stream: &[StreamEvent]) -> (Vec<&BehaviorEvent>, Vec<(String, String)>) {
    let mut by_user: HashMap<&str, Vec<&BehaviorEvent>> = HashMap::new();
    for e in stream {
        if let StreamEvent::Behavior(b) = e {
            by_user.entry(&b.user_id).or_default().push(b);
        }
    }
    let mut train = Vec::new();
    let mut test = Vec::new();
    let mut users: Vec<_> = by_user.into_iter().collect();
    users.sort_by(|a, b| a.0.cmp(b.0));
    for (user, events) in users {
        if events.len() < 3 {
            continue;
        }
        let (history, last) = events.split_at(events.len() - 1);
        // Validation (the second-last) is trained on for the test, as in the published protocol.
        train.extend_from_slice(history);
        test.push((user.to_owned(), last[0].item_id.clone()));
    }
    train.sort_by_key(|b| b.ts);
    (train, test)
}

pub fn evaluate(
    stream: &[StreamEvent],
    config: OnlineConfig,
    epochs: usize,
    weight: f64,
    progress: bool,
) -> LooResult {
    let (train, test) = split(stream);
    let mut model = Online::new(config);
    for e in stream {
        if let StreamEvent::Product(p) = e {
            model.apply_product(p);
        }
    }
    let bar = crate::observe::progress::bar(
        progress,
        (epochs * train.len() + test.len()) as u64,
        "leave-one-out {bar:30} {pos}/{len}",
    );
    for _ in 0..epochs {
        for b in &train {
            model.apply(&EnrichedEvent::real((*b).clone(), weight));
            bar.inc(1);
        }
    }
    let mut r = LooResult::default();
    for (user, target) in &test {
        let ranked: Vec<String> = model
            .recommend(user, 20)
            .into_iter()
            .map(|(i, _)| i)
            .collect();
        let idx: Vec<u32> = ranked
            .iter()
            .map(|i| if i == target { 1 } else { 0 })
            .collect();
        let (h10, n10) = hit_ndcg(&idx, 1, 10);
        let (h20, n20) = hit_ndcg(&idx, 1, 20);
        r.hr10 += h10;
        r.ndcg10 += n10;
        r.hr20 += h20;
        r.ndcg20 += n20;
        r.users += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let n = r.users.max(1) as f64;
    r.hr10 /= n;
    r.ndcg10 /= n;
    r.hr20 /= n;
    r.ndcg20 /= n;
    r
}
