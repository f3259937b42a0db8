//! Bring-your-own catalogue: a small catalogue in each format loads with the fields it has and
//! runs `eval coldstart` and `train behavior`; the S3-Rec form of Beauty gets the native
//! loader's split and table; bad files give errors that name the file, the line and the field,
//! and skipped rows are counted.

mod common;

use common::warmstart;
use std::path::{Path, PathBuf};
use warmstart::data::catalog::{self, s3rec, tsv, CatalogFormat};
use warmstart::data::{Catalog, DataError, StreamEvent};
use warmstart::eval::coldstart::{evaluate, Config, ContentKnn, MfTower, Popularity, Split};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/catalogs")
        .join(name)
}

#[test]
fn the_tsv_fixture_loads_with_every_field_it_has() {
    let c = catalog::open(&fixture("tsv"), None).unwrap();
    assert_eq!(
        catalog::detect(&fixture("tsv")).unwrap(),
        CatalogFormat::Tsv
    );
    assert_eq!((c.users().len(), c.items().len()), (180, 60));
    assert_eq!(c.interactions().len(), 180 * 7);
    let f = c.fields();
    assert_eq!((f.titles, f.brands, f.categories), (60, 60, 60));
    assert_eq!(f.attributes.len(), 3, "{:?}", f.attributes);
    assert!(f.attributes.values().all(|n| *n == 60));
    for k in ["view", "cart", "purchase", "review"] {
        assert!(f.kinds[k] > 0, "{k}: {:?}", f.kinds);
    }
    assert_eq!(f.ratings, f.kinds["review"]);
    assert!(f.review_texts > 0 && f.review_texts < f.ratings);
    assert!(
        c.interactions()
            .iter()
            .any(|b| b.review_text.as_deref() == Some("works well\tsmells nice")),
        "the \\t escape is undone"
    );
    assert!(c.interactions().windows(2).all(|w| w[0].ts <= w[1].ts));
    let p = &c.items()[0];
    assert_eq!(
        p.category,
        ["Beauty", "Skin Care", "Face"].map(String::from)
    );
    // The stream puts each product right before its first interaction, at that time.
    let stream = c.stream();
    assert_eq!(stream.len(), 60 + 180 * 7);
    let StreamEvent::Product(first) = &stream[0] else {
        panic!("stream starts with {:?}", stream[0])
    };
    let StreamEvent::Behavior(b) = &stream[1] else {
        panic!()
    };
    assert_eq!((&first.item_id, first.ts), (&b.item_id, b.ts));
    let summary = c.summary();
    assert!(
        summary.contains("180 users, 60 items, 1260 interactions"),
        "{summary}"
    );
    assert!(
        summary.contains("title (60), brand (60), categories (60)"),
        "{summary}"
    );
}

#[test]
fn the_s3rec_fixture_loads_as_attributes_and_positions() {
    let dir = fixture("s3rec");
    assert_eq!(catalog::detect(&dir).unwrap(), CatalogFormat::S3rec);
    let c = s3rec::load(&dir).unwrap();
    let t = tsv::load(&fixture("tsv")).unwrap();
    // The same shoppers' histories as the TSV fixture, without kinds, times or titles.
    assert_eq!(c.users().len(), 180);
    assert_eq!(c.interactions().len(), t.interactions().len());
    assert!(c.report.positional_time);
    let f = c.fields();
    assert_eq!((f.titles, f.brands, f.categories), (0, 0, 0));
    assert_eq!(f.attributes.keys().collect::<Vec<_>>(), ["attribute_ids"]);
    assert!(c.summary().contains("the format has no times"));
    // User 1's sequence is in order.
    let first: Vec<i64> = c
        .interactions()
        .iter()
        .filter(|b| b.user_id == "1")
        .map(|b| b.ts)
        .collect();
    assert_eq!(first, (0..7).collect::<Vec<i64>>());
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn eval_coldstart_and_train_behavior_run_on_both_formats() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, sequence_from) in [("tsv", "tsv (items"), ("s3rec", "Taobao")] {
        let dir = fixture(name);
        let dir = dir.to_str().unwrap();
        let json = tmp.path().join(format!("{name}.json"));
        let out = warmstart(&[
            "eval",
            "coldstart",
            "--catalog",
            dir,
            "--epochs",
            "3",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("180 users, 60 items, 1260 interactions"),
            "{err}"
        );
        assert!(err.contains("12 of 60 items cold"), "{err}");
        let table: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let rows = table["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 10, "{name}");
        // Ranked among all 60 items (only 12 are cold, so any model puts them all in a top 20).
        let ndcg = |model: &str| {
            rows.iter().find(|r| r["model"] == model).unwrap()["hybrid"]["ndcg"]
                .as_f64()
                .unwrap()
        };
        // Both fixtures' content names each item's brand, which its buyers mostly share.
        assert!(
            ndcg("content-KNN") > 2.0 * ndcg("random"),
            "{name}: content-KNN {} vs random {}",
            ndcg("content-KNN"),
            ndcg("random")
        );

        let model = tmp.path().join(format!("{name}-behavior"));
        let out = warmstart(&[
            "train",
            "behavior",
            "--catalog",
            dir,
            "--out",
            model.to_str().unwrap(),
            "--epochs",
            "1",
            "--mf-epochs",
            "2",
        ]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
        let card: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(model.join("card.json")).unwrap())
                .unwrap();
        let dataset = card["dataset"].as_str().unwrap();
        assert!(dataset.contains(sequence_from), "{name}: {dataset}");
        let files = card["data_files"].as_array().unwrap();
        assert!(
            files.iter().any(|f| f.to_string().contains(name)),
            "{name}: {files:?}"
        );
        let users = std::io::read_to_string(flate2::read::GzDecoder::new(
            std::fs::File::open(model.join("users.txt.gz")).unwrap(),
        ))
        .unwrap();
        assert_eq!(users.lines().count(), 180, "{name}");
    }
}

/// Beauty with its content reduced to what the S3-Rec files have (the attribute ids).
fn beauty_attributes_only() -> Catalog {
    warmstart::data::beauty::catalog(&warmstart::data::data_dir().join("beauty-5core"))
        .unwrap()
        .map_items(|p| {
            p.title.clear();
            p.category.clear();
            p.brand = None;
        })
}

fn s3rec_beauty() -> Catalog {
    catalog::open(
        &warmstart::data::data_dir().join("beauty-5core-s3rec"),
        None,
    )
    .unwrap()
}

fn assert_same_split(a: &Split, b: &Split) {
    assert_eq!((a.n_users, a.n_items), (b.n_users, b.n_items));
    assert_eq!(a.cold, b.cold);
    assert_eq!(a.train, b.train);
    assert_eq!(a.warm_val, b.warm_val);
    assert_eq!(a.warm_test, b.warm_test);
    assert_eq!(a.cold_val, b.cold_val);
    assert_eq!(a.cold_test, b.cold_test);
    assert_eq!(a.features, b.features);
}

#[test]
fn s3rec_beauty_gets_the_native_split_and_scores() {
    let (native, s3) = (beauty_attributes_only(), s3rec_beauty());
    assert_eq!(native.interactions().len(), s3.interactions().len());
    let config = Config {
        epochs: 1,
        tower_epochs: 1,
        ..Default::default()
    };
    let (a, b) = (
        Split::new(&native, config.cold_fraction, config.seed),
        Split::new(&s3, config.cold_fraction, config.seed),
    );
    assert_same_split(&a, &b);
    assert!(a
        .features
        .iter()
        .all(|f| f.iter().all(|n| n.starts_with("attr:"))));
    // Three models of the table, one of them trained: the same rows to the last bit.
    let rows = |s: &Split| {
        let pop = evaluate(s, &Popularity::fit(s), false);
        let knn = evaluate(s, &ContentKnn::fit(s), false);
        let mf = evaluate(s, &MfTower::fit(s, &config, false), false);
        serde_json::to_string(&[pop, knn, mf]).unwrap()
    };
    assert_eq!(rows(&a), rows(&b));
}

/// The whole default table on both (18 minutes on 2 cores, passed on 2026-12-01):
/// `cargo test --release --test catalog -- --ignored`.
#[test]
#[ignore]
fn s3rec_beauty_gets_the_native_cold_start_table() {
    let run = |c: &Catalog| {
        let t = warmstart::eval::table::run(c, Config::default(), 0, false, false);
        serde_json::to_string(&t.rows).unwrap()
    };
    assert_eq!(run(&beauty_attributes_only()), run(&s3rec_beauty()));
}

/// A TSV catalogue in a fresh folder.
fn write_catalog(items: &str, interactions: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("items.tsv"), items).unwrap();
    std::fs::write(dir.path().join("interactions.tsv"), interactions).unwrap();
    dir
}

const ITEMS: &str = "item\ttitle\tbrand\nA\tRose oil\tVerde\nB\tClay mask\tLumen\n";

fn error(items: &str, interactions: &str) -> (DataError, String) {
    let dir = write_catalog(items, interactions);
    let e = tsv::load(dir.path()).unwrap_err();
    let text = e.to_string();
    (e, text)
}

fn field_of(e: &DataError) -> (&Path, usize, &str) {
    match e {
        DataError::Field {
            path, line, field, ..
        } => (path.as_path(), *line, field.as_str()),
        other => panic!("not a field error: {other}"),
    }
}

#[test]
fn malformed_catalogue_files_name_the_file_line_and_field() {
    let head = "user\titem\tts\tkind\n";
    // A missing column in the header.
    let (e, text) = error(ITEMS, "user\titem\tkind\nu1\tA\tview\n");
    assert!(matches!(e, DataError::Format { line: 1, .. }), "{text}");
    assert!(
        text.contains("interactions.tsv") && text.contains("no `ts` column"),
        "{text}"
    );
    // A missing field in a row: the first column it lacks.
    let (e, text) = error(ITEMS, &format!("{head}u1\tA\t1000\tview\nu2\tB\t2000\n"));
    let (path, line, field) = field_of(&e);
    assert!(path.ends_with("interactions.tsv"), "{text}");
    assert_eq!((line, field), (3, "kind"), "{text}");
    // A row that stops before a required column.
    let (e, text) = error(ITEMS, &format!("{head}u1\tA\n"));
    assert_eq!((field_of(&e).1, field_of(&e).2), (2, "ts"), "{text}");
    // An unknown kind.
    let (e, text) = error(ITEMS, &format!("{head}u1\tA\t1000\tlike\n"));
    assert_eq!((field_of(&e).1, field_of(&e).2), (2, "kind"), "{text}");
    assert!(text.contains("unknown kind `like`"), "{text}");
    // A bad timestamp.
    let (e, text) = error(
        ITEMS,
        &format!("{head}u1\tA\t1000\tview\nu1\tB\t2024-01-05\tcart\n"),
    );
    assert_eq!((field_of(&e).1, field_of(&e).2), (3, "ts"), "{text}");
    assert!(text.contains("`2024-01-05` is not a time"), "{text}");
    // An interaction whose item has no row.
    let (e, text) = error(
        ITEMS,
        &format!("{head}u1\tA\t1000\tview\nu1\tZ\t2000\tview\n"),
    );
    assert_eq!((field_of(&e).1, field_of(&e).2), (3, "item"), "{text}");
    assert!(
        text.contains("`Z` has no row in") && text.contains("items.tsv"),
        "{text}"
    );
    // Bad attributes JSON in the items file.
    let (e, text) = error(
        "item\tattributes\nA\t{\"size\": \nB\t{}\n",
        &format!("{head}u1\tA\t1000\tview\n"),
    );
    let (path, line, field) = field_of(&e);
    assert!(path.ends_with("items.tsv"), "{text}");
    assert_eq!((line, field), (2, "attributes"), "{text}");
    // A rating out of range.
    let (e, text) = error(ITEMS, "user\titem\tts\trating\nu1\tA\t1000\t7\n");
    assert_eq!(field_of(&e).2, "rating", "{text}");
    // An unknown column.
    let (_, text) = error(ITEMS, "user\titem\tts\tkind\tcolour\nu1\tA\t1\tview\tred\n");
    assert!(text.contains("unknown column `colour`"), "{text}");
}

#[test]
fn the_readme_examples_load() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = |header: &str| {
        let start = readme.find(&format!("```\n{header}")).expect(header) + 4;
        readme[start..start + readme[start..].find("```").unwrap()].to_owned()
    };
    let dir = write_catalog(&block("item\ttitle"), &block("user\titem\tts"));
    let c = tsv::load(dir.path()).unwrap();
    assert_eq!(
        (c.users().len(), c.items().len(), c.interactions().len()),
        (2, 4, 4)
    );
    assert_eq!(c.report.items_without_interactions, 1);
    let review = c
        .interactions()
        .iter()
        .find(|b| b.rating.is_some())
        .unwrap();
    assert_eq!(
        review.review_text.as_deref(),
        Some("lovely texture, no scent")
    );
    assert_eq!(c.fields().attributes.len(), 3);
}

#[test]
fn empty_and_duplicate_rows_are_counted_not_silently_dropped() {
    let dir = write_catalog(
        &format!("{ITEMS}\nA\tRose oil again\tVerde\n"),
        "user\titem\tts\tkind\trating\n\
         u1\tA\t1000\tview\t\n\
         \n\
         u1\tA\t1000\tview\t\n\
         u2\tB\t500\treview\t4\n\
         u2\tB\t500\t\t4\n\
         \n\
         u1\tB\t3000\tpurchase\t\n",
    );
    let c = tsv::load(dir.path()).unwrap();
    assert_eq!(c.report.empty_rows, 3, "two in interactions, one in items");
    // The third row repeats the first; the fifth is the fourth (a rating alone is a review).
    assert_eq!(c.report.duplicate_interactions, 2);
    assert_eq!(c.report.duplicate_items, 1);
    assert_eq!(
        c.items()[0].title,
        "Rose oil",
        "the first row of an item is kept"
    );
    assert_eq!(c.interactions().len(), 3);
    // In time order, u2's review first.
    assert_eq!(c.interactions()[0].user_id, "u2");
    assert_eq!(c.interactions()[0].rating, Some(4));
    let s = c.summary();
    assert!(
        s.contains("3 empty, 2 duplicate interactions (dropped), 1 duplicate items (first kept)"),
        "{s}"
    );
}

#[test]
fn a_folder_without_a_catalogue_says_what_it_expected() {
    let dir = tempfile::tempdir().unwrap();
    let text = catalog::open(dir.path(), None).unwrap_err().to_string();
    assert!(
        text.contains("interactions.tsv") && text.contains("S3-Rec"),
        "{text}"
    );
    std::fs::write(dir.path().join("X_item2attributes.json"), "{\"1\": [1]}").unwrap();
    let text = catalog::open(dir.path(), None).unwrap_err().to_string();
    assert!(text.contains("X.txt"), "{text}");
    std::fs::write(dir.path().join("X.txt"), "1 1\n").unwrap();
    std::fs::write(dir.path().join("X_item2attributes.json"), "{\"1\": \"a\"}").unwrap();
    let text = catalog::open(dir.path(), None).unwrap_err().to_string();
    assert!(
        text.contains("X_item2attributes.json") && text.contains("item `1`"),
        "{text}"
    );
}

#[test]
fn the_cli_reports_a_bad_catalogue_and_fails() {
    let dir = write_catalog(
        ITEMS,
        "user\titem\tts\tkind\nu1\tA\t1000\tview\nu1\tB\tsoon\tview\n",
    );
    for args in [
        &["eval", "coldstart"][..],
        &["eval", "prequential"],
        &["eval", "sequential"],
    ] {
        let mut args = args.to_vec();
        args.extend(["--catalog", dir.path().to_str().unwrap()]);
        let out = warmstart(&args);
        assert!(!out.status.success(), "{args:?}");
        let err = stderr(&out);
        assert!(
            err.contains("interactions.tsv line 3, field `ts`: `soon` is not a time"),
            "{args:?}: {err}"
        );
    }
}

#[test]
fn an_interaction_without_an_item_row_gets_a_bare_item_not_a_panic() {
    let mut b = catalog::Builder::new("bare");
    b.interaction(warmstart::events::BehaviorEvent {
        event_id: "e1".into(),
        user_id: "u1".into(),
        item_id: "x".into(),
        kind: warmstart::events::BehaviorKind::View,
        ts: 5,
        session_id: None,
        rating: None,
        review_text: None,
    });
    let c = b.finish();
    assert_eq!(c.items().len(), 1);
    assert_eq!((c.items()[0].item_id.as_str(), c.items()[0].ts), ("x", 5));
    assert_eq!(c.report.items_without_rows, 1);
    assert!(c.summary().contains("1 items have interactions but no row"));
}
