//! `warmstart replay --catalog DIR` on the real broker: a user's catalogue in the TSV format is
//! published as it would be replayed in production, every interaction once and each item's
//! product event, with its content, before its first interaction.

mod common;

use common::{read_all, require_broker, wait_for_count, warmstart, Topics};
use std::time::Duration;
use warmstart::events::{BehaviorEvent, ProductEvent};

#[test]
fn replay_publishes_a_catalogue_folder() {
    require_broker();
    let topics = Topics::new("catalog-replay");
    let dir = tempfile::tempdir().unwrap();
    let topology = topics.write_topology(dir.path());
    let catalog = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/catalogs/tsv");
    let out = warmstart(&[
        "replay",
        "--catalog",
        catalog,
        "--topology",
        topology.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("180 users, 60 items, 1260 interactions"),
        "{err}"
    );
    assert_eq!(
        wait_for_count(&topics.behavior, 1260, Duration::from_secs(30)),
        1260
    );
    assert_eq!(
        wait_for_count(&topics.products, 60, Duration::from_secs(30)),
        60
    );
    let products: Vec<ProductEvent> = read_all(&topics.products)
        .iter()
        .map(|r| serde_json::from_slice(&r.payload).unwrap())
        .collect();
    assert!(products
        .iter()
        .all(|p| p.brand.is_some() && p.category.len() >= 2 && p.attributes.len() == 3));
    let reviews = read_all(&topics.behavior)
        .iter()
        .map(|r| serde_json::from_slice::<BehaviorEvent>(&r.payload).unwrap())
        .filter(|b| b.review_text.is_some())
        .count();
    assert!(reviews > 0, "review text travels with the events");
    // Without --catalog or --dataset, replay reads Beauty; both together are refused.
    let out = warmstart(&["replay", "--dataset", "taobao", "--catalog", catalog]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}
