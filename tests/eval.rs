//! The cold-start protocol's splits and the evaluation loop on a small synthetic catalogue.

use std::collections::{BTreeMap, HashSet};
use warmstart::data::StreamEvent;
use warmstart::eval::coldstart::*;
use warmstart::eval::weighted::WithContent;
use warmstart::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use warmstart::recommend::hybrid::ItemVector;

/// 50 items in 5 brands; 200 users who each buy 6 items of one brand.
fn stream() -> Vec<StreamEvent> {
    let mut s = Vec::new();
    for i in 0..50 {
        s.push(StreamEvent::Product(ProductEvent {
            item_id: format!("i{i}"),
            ts: 0,
            title: format!("brand{} product {i}", i % 5),
            category: vec!["Beauty".into()],
            brand: Some(format!("brand{}", i % 5)),
            price: None,
            description: None,
            attributes: BTreeMap::new(),
        }));
    }
    for u in 0..200 {
        for k in 0..6 {
            let item = (u % 5) + 5 * ((u / 5 + k * 3) % 10);
            s.push(StreamEvent::Behavior(BehaviorEvent {
                event_id: format!("{u}-{k}"),
                user_id: format!("u{u}"),
                item_id: format!("i{item}"),
                kind: BehaviorKind::Purchase,
                ts: 1,
                session_id: None,
                rating: None,
                review_text: None,
            }));
        }
    }
    s
}

#[test]
fn the_split_follows_the_protocol() {
    let split = Split::new(&stream(), 0.2, 42);
    assert_eq!((split.n_users, split.n_items), (200, 50));
    assert_eq!(
        split.cold.iter().filter(|c| **c).count(),
        10,
        "20% of items are cold"
    );
    let warm_total = split.train.len() + split.warm_val.len() + split.warm_test.len();
    assert_eq!(split.train.len(), warm_total * 8 / 10);
    assert_eq!(
        split.warm_val.len(),
        warm_total * 9 / 10 - warm_total * 8 / 10
    );
    assert!(split
        .train
        .iter()
        .chain(&split.warm_test)
        .all(|&(_, i)| !split.cold[i as usize]));
    assert!(split
        .cold_test
        .iter()
        .chain(&split.cold_val)
        .all(|&(_, i)| split.cold[i as usize]));
    assert!((split.cold_val.len() as i64 - split.cold_test.len() as i64).abs() <= 1);
    let again = Split::new(&stream(), 0.2, 42);
    assert_eq!(split.train, again.train, "deterministic for a seed");
    let all: HashSet<_> = split
        .train
        .iter()
        .chain(&split.warm_test)
        .chain(&split.cold_test)
        .collect();
    assert_eq!(
        all.len(),
        split.train.len() + split.warm_test.len() + split.cold_test.len(),
        "disjoint"
    );
}

#[test]
fn content_models_beat_random_on_a_catalogue_with_a_brand_signal() {
    let split = Split::new(&stream(), 0.2, 42);
    let random = evaluate(&split, &Random { seed: 1 }, false);
    let knn = evaluate(&split, &ContentKnn::fit(&split), false);
    // 10 cold items and K = 20: recall is 1 for everyone, the order is what NDCG measures.
    assert!(
        knn.cold.ndcg > random.cold.ndcg + 0.2,
        "knn {:?} random {:?}",
        knn.cold,
        random.cold
    );
    assert!(
        knn.warm.ndcg > random.warm.ndcg,
        "knn {:?} random {:?}",
        knn.warm,
        random.warm
    );
    let config = Config {
        epochs: 30,
        ..Default::default()
    };
    for mode in [ItemVector::Additive, ItemVector::Fallback] {
        let fitted = HybridMf::fit(&split, &config, mode, false);
        let hybrid = evaluate(&split, &fitted, false);
        assert!(
            hybrid.cold.ndcg > random.cold.ndcg,
            "{mode:?} {:?} random {:?}",
            hybrid.cold,
            random.cold
        );
        assert!(hybrid.warm.ndcg > random.warm.ndcg, "{mode:?}");
        // The content match on top, weighted on validation, is no worse there than either part.
        let mut with = WithContent::new(&split, fitted, 0.0);
        let tried = with.tune(&split, &[0.0, 4.0, 16.0, 1e6]);
        let best = tried
            .iter()
            .find(|t| t.0 == with.beta)
            .unwrap()
            .1
            .hybrid
            .ndcg;
        assert!(tried.iter().all(|t| t.1.hybrid.ndcg <= best), "{mode:?}");
    }
}

#[test]
fn leave_one_out_holds_out_each_users_last_item() {
    let s = stream();
    let (train, test) = warmstart::eval::sequential::split(&s);
    assert_eq!(test.len(), 200, "every user has 6 events");
    assert_eq!(train.len(), 200 * 5);
    let (user, item) = &test.iter().find(|(u, _)| u == "u7").unwrap();
    assert_eq!(
        (user.as_str(), item.as_str()),
        ("u7", "i32"),
        "u7's sixth purchase: item 2 + 5 * ((1 + 15) % 10) = 32"
    );
    assert!(!train
        .iter()
        .any(|b| b.user_id == "u7" && b.event_id == "7-5"));
}

#[test]
fn prequential_scores_only_the_tail_and_learns_from_it() {
    let r =
        warmstart::eval::prequential::evaluate(&stream(), Default::default(), 0.9, 2, 1.0, false);
    // 1,200 interactions, the last 120 after the cut; none repeats a user's item here.
    assert_eq!(r.events, 120);
    assert!((0.0..=1.0).contains(&r.hr10) && r.ndcg10 <= r.hr10);
}
