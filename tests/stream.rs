//! The streaming warm-start evaluation (`warmstart eval stream`) on a small synthetic shop:
//! new items are those first seen in the window, each of their first real interactions is
//! measured once, the transfer generator writes synthetic events only for real earlier shoppers,
//! and a run is deterministic.

use std::collections::{BTreeMap, HashSet};
use warmstart::data::{Catalog, StreamEvent};
use warmstart::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use warmstart::recommend::online::{Online, OnlineConfig};
use warmstart::warmup::{run, StreamConfig, Variant};

/// 8 product lines of 12 items; 240 users, each loyal to one line. Items 0..8 of each line are
/// on sale from the start, items 8..12 launch late; each item's buyers are users of its line.
fn shop() -> Catalog {
    let mut s = Vec::new();
    let mut ts = 0;
    let mut event = 0;
    let mut launched = HashSet::new();
    let mut buy = |s: &mut Vec<StreamEvent>, u: usize, i: usize, ts: i64| {
        if launched.insert(i) {
            s.push(StreamEvent::Product(ProductEvent {
                item_id: format!("i{i}"),
                ts,
                title: format!("line{} thing {}", i % 8, i),
                category: vec!["Shop".into()],
                brand: Some(format!("brand{}", i % 8)),
                price: None,
                description: None,
                attributes: BTreeMap::new(),
            }));
        }
        event += 1;
        s.push(StreamEvent::Behavior(BehaviorEvent {
            event_id: format!("e{event}"),
            user_id: format!("u{u}"),
            item_id: format!("i{i}"),
            kind: BehaviorKind::Purchase,
            ts,
            session_id: None,
            rating: None,
            review_text: None,
        }));
    };
    // Warm-up: each user buys 5 of the 8 early items of their line.
    for round in 0..5 {
        for u in 0..240 {
            ts += 1000;
            let line = u % 8;
            buy(&mut s, u, line + 8 * ((u / 8 + round * 3) % 8), ts);
        }
    }
    // Later: the new items, each bought by 6 users of its line, among older purchases.
    for slot in 8..12 {
        for line in 0..8 {
            for n in 0..6 {
                ts += 1000;
                let u = line + 8 * ((slot * 5 + n * 7) % 30);
                buy(&mut s, u, line + 8 * slot, ts);
                ts += 1000;
                buy(&mut s, (u + 8) % 240, line + 8 * ((slot + n) % 8), ts);
            }
        }
    }
    Catalog::from_stream("shop", s)
}

fn config() -> StreamConfig {
    StreamConfig {
        window: 0.3,
        fit_epochs: 3,
        ..Default::default()
    }
}

#[test]
fn new_items_and_their_first_shoppers_are_measured_once() {
    let c = shop();
    let report = run(&c, &config(), &[Variant::None, Variant::Transfer], false).unwrap();
    assert_eq!(report.new_items, 32, "items 8..12 of each line");
    assert_eq!(
        report.warmup_events + report.window_events,
        c.interactions().len()
    );
    for row in &report.rows {
        assert_eq!(row.by_k.len(), 5);
        // Each new item has 6 distinct real buyers: its first 5 are each measured once.
        for m in &row.by_k {
            assert_eq!(m.events, 32, "{}", row.label);
            assert!((0.0..=1.0).contains(&m.hr20) && m.ndcg20 <= m.hr20);
        }
        assert_eq!(row.first_k.events, 5 * 32);
        assert!(row.warm.events > 0);
    }
    let (none, transfer) = (&report.rows[0], &report.rows[1]);
    assert_eq!(none.synthetic_events, 0);
    let users = config().transfer.users;
    assert!(transfer.synthetic_events > 0 && transfer.synthetic_events <= 32 * users);
    // The same seed, the same figures.
    let again = run(&c, &config(), &[Variant::Transfer], false).unwrap();
    let strip = |r: &warmstart::warmup::Row| {
        let mut v = serde_json::to_value(r).unwrap();
        v.as_object_mut().unwrap().remove("wall_s");
        v
    };
    assert_eq!(strip(&again.rows[0]), strip(transfer));
}

/// The GAN row retrains the behaviour GAN on the warm-up alone: its user table holds only users
/// seen before the window, and its card names the warm-up as its data.
#[test]
fn the_gan_variant_is_retrained_on_the_warm_up_only() {
    let c = shop();
    let dir = tempfile::tempdir().unwrap();
    let config = StreamConfig {
        gan_epochs: 2,
        gan_dir: dir.path().to_owned(),
        ..config()
    };
    let report = run(&c, &config, &[Variant::Gan], false).unwrap();
    let row = &report.rows[0];
    assert!(row.synthetic_events > 0, "the GAN wrote no events");
    assert_eq!(row.first_k.events, 5 * 32);
    let warm_users: std::collections::HashSet<&str> = c.interactions()[..report.warmup_events]
        .iter()
        .map(|b| b.user_id.as_str())
        .collect();
    let file = std::fs::File::open(dir.path().join("users.txt.gz")).unwrap();
    let table: Vec<String> =
        std::io::BufRead::lines(std::io::BufReader::new(flate2::read::GzDecoder::new(file)))
            .collect::<Result<_, _>>()
            .unwrap();
    assert!(!table.is_empty());
    assert!(
        table.iter().all(|u| warm_users.contains(u.as_str())),
        "a user from the window is in the GAN's table"
    );
    let card = std::fs::read_to_string(dir.path().join("card.json")).unwrap();
    assert!(card.contains("warm-up of the stream evaluation"), "{card}");
}

#[test]
fn rank_of_agrees_with_recommend() {
    let c = shop();
    let mut model = Online::new(OnlineConfig::default());
    for e in c.stream() {
        match e {
            StreamEvent::Product(p) => {
                model.apply_product(&p);
            }
            StreamEvent::Behavior(b) => {
                model.apply(&warmstart::events::EnrichedEvent::real(b, 1.0));
            }
        }
    }
    for u in ["u0", "u17", "u239"] {
        let top = model.recommend(u, 40);
        for (p, (item, _)) in top.iter().enumerate() {
            assert_eq!(model.rank_of(u, item), Some(p + 1), "{u} {item}");
        }
        let own = c.interactions().iter().find(|b| b.user_id == u).unwrap();
        assert_eq!(model.rank_of(u, &own.item_id), None, "the user's own item");
    }
    assert_eq!(model.rank_of("nobody", "i0"), None);
}
