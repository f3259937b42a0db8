//! The cold-start protocol's splits and the evaluation loop on a small synthetic catalogue.

use std::collections::{BTreeMap, HashSet};
use warmstart::data::{Catalog, StreamEvent};
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

fn catalog() -> Catalog {
    Catalog::from_stream("test", stream())
}

#[test]
fn the_split_follows_the_protocol() {
    let split = Split::new(&catalog(), 0.2, 42);
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
    let again = Split::new(&catalog(), 0.2, 42);
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
    let split = Split::new(&catalog(), 0.2, 42);
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
        // The content match on top, weighted on validation: the tuner keeps the weight that is
        // best on the validation pairs, checked against models built apart at each weight.
        let grid = [0.0, 4.0, 16.0, 1e6];
        let mut with = WithContent::new(&split, fitted.clone(), 0.0);
        with.tune(&split, &grid);
        let apart: Vec<(f32, f64)> = grid
            .iter()
            .map(|&beta| {
                let m = WithContent::new(&split, fitted.clone(), beta);
                (beta, validate(&split, &m).hybrid.ndcg)
            })
            .collect();
        let best = apart
            .iter()
            .cloned()
            .fold((f32::NAN, f64::MIN), |a, b| if b.1 > a.1 { b } else { a });
        assert!(
            apart.iter().any(|a| a.1 != best.1),
            "{mode:?}: every weight scores the same, the check could not fail: {apart:?}"
        );
        assert_eq!(
            with.beta, best.0,
            "{mode:?}: tuner chose {}, validation {apart:?}",
            with.beta
        );
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
fn prequential_scores_only_the_tail() {
    let r =
        warmstart::eval::prequential::evaluate(&stream(), Default::default(), 0.9, 2, 1.0, false);
    // 1,200 interactions, the last 120 after the cut; none repeats a user's item here.
    assert_eq!(r.events, 120);
    assert!((0.0..=1.0).contains(&r.hr10) && r.ndcg10 <= r.hr10);
}

#[test]
fn prequential_learns_from_each_scored_event() {
    use warmstart::events::EnrichedEvent;
    use warmstart::recommend::online::Online;
    // The history, then a product launched after it that 40 of its shoppers buy one after
    // another: only a model that learns from each scored event sees it become popular.
    let mut s = stream();
    let history = s.len();
    s.push(StreamEvent::Product(ProductEvent {
        item_id: "hot".into(),
        ts: 2,
        title: "a new product".into(),
        category: vec!["Beauty".into()],
        brand: Some("newbrand".into()),
        price: None,
        description: None,
        attributes: BTreeMap::new(),
    }));
    let shopper = |n: usize| BehaviorEvent {
        event_id: format!("hot-{n}"),
        user_id: format!("u{}", n * 5),
        item_id: "hot".into(),
        kind: BehaviorKind::Purchase,
        ts: 3 + n as i64,
        session_id: None,
        rating: None,
        review_text: None,
    };
    for n in 0..40 {
        s.push(StreamEvent::Behavior(shopper(n)));
    }
    // The cut falls on the first of the 40 (1,200 behaviour events before them, 1,240 in all).
    let learned = warmstart::eval::prequential::evaluate(
        &s,
        Default::default(),
        1200.5 / 1240.0,
        2,
        1.0,
        false,
    );
    assert_eq!(learned.events, 40);

    // The same model scoring the same 40 events without learning from them.
    let mut frozen = Online::new(Default::default());
    for e in &s[..=history] {
        if let StreamEvent::Product(p) = e {
            frozen.apply_product(p);
        }
    }
    for _ in 0..2 {
        for e in &s[..history] {
            if let StreamEvent::Behavior(b) = e {
                frozen.apply(&EnrichedEvent::real(b.clone(), 1.0));
            }
        }
    }
    let frozen_hits = (0..40)
        .filter(|&n| {
            frozen
                .recommend(&format!("u{}", n * 5), 10)
                .iter()
                .any(|(i, _)| i == "hot")
        })
        .count() as f64
        / 40.0;
    assert!(
        learned.hr10 >= frozen_hits + 0.1,
        "prequential HR@10 {:.3}, without learning {frozen_hits:.3}",
        learned.hr10
    );
}
