//! The shipped data sets as replay streams: counts against `data/README.md`, time order, product
//! events before first interactions, the cold-start split, errors on malformed files, and one
//! replay onto librdkafka's in-process mock cluster (no broker needed).

use flate2::write::GzEncoder;
use flate2::Compression;
use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::time::Duration;
use warmstart::data::{beauty, data_dir, gift_cards, instruments, taobao, DataError, StreamEvent};
use warmstart::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use warmstart::replay::{replay, split_new_items, ReplayOptions};

fn behaviors(stream: &[StreamEvent]) -> Vec<&BehaviorEvent> {
    stream
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Behavior(b) => Some(b),
            _ => None,
        })
        .collect()
}

fn products(stream: &[StreamEvent]) -> Vec<&ProductEvent> {
    stream
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Product(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn ts(e: &StreamEvent) -> i64 {
    match e {
        StreamEvent::Behavior(b) => b.ts,
        StreamEvent::Product(p) => p.ts,
    }
}

/// Time order, one product event per item placed right before the item's first interaction and
/// stamped with its time, no product event without an interaction, unique event ids.
fn check_stream(stream: &[StreamEvent]) {
    assert!(!stream.is_empty());
    for w in stream.windows(2) {
        assert!(ts(&w[0]) <= ts(&w[1]), "time goes back: {w:?}");
    }
    let mut announced = HashSet::new();
    let mut interacted = HashSet::new();
    let mut ids = HashSet::new();
    for (i, e) in stream.iter().enumerate() {
        match e {
            StreamEvent::Product(p) => {
                assert!(
                    announced.insert(p.item_id.as_str()),
                    "second product event for {}",
                    p.item_id
                );
                match stream.get(i + 1) {
                    Some(StreamEvent::Behavior(b)) => {
                        assert_eq!(
                            b.item_id, p.item_id,
                            "product {} not followed by its first interaction",
                            p.item_id
                        );
                        assert_eq!(b.ts, p.ts);
                    }
                    other => panic!("product {} followed by {other:?}", p.item_id),
                }
                assert!(!p.title.is_empty());
                assert!(!p.category.is_empty());
            }
            StreamEvent::Behavior(b) => {
                assert!(
                    announced.contains(b.item_id.as_str()),
                    "{} has no earlier product event",
                    b.item_id
                );
                interacted.insert(b.item_id.as_str());
                assert!(
                    ids.insert(b.event_id.as_str()),
                    "duplicate id {}",
                    b.event_id
                );
                assert!(!b.user_id.is_empty());
            }
        }
    }
    assert_eq!(announced, interacted);
}

/// A limited load is the prefix of the full one that ends with its `n`-th interaction.
fn check_prefix(full: &[StreamEvent], limited: &[StreamEvent], n: usize) {
    assert_eq!(behaviors(limited).len(), n);
    assert!(matches!(limited.last(), Some(StreamEvent::Behavior(_))));
    assert_eq!(limited, &full[..limited.len()]);
}

fn ratings(stream: &[StreamEvent]) -> [usize; 5] {
    let mut r = [0; 5];
    for b in behaviors(stream) {
        let v = b.rating.expect("every review has a rating");
        r[(v - 1) as usize] += 1;
    }
    r
}

#[test]
fn beauty_stream() {
    let dir = data_dir().join("beauty-5core");
    let stream = beauty::load(&dir, Some(3000)).unwrap();
    check_stream(&stream);
    assert_eq!(behaviors(&stream).len(), 3000);
    assert!(behaviors(&stream)
        .iter()
        .all(|b| b.kind == BehaviorKind::Review));
}

#[test]
fn instruments_stream() {
    let dir = data_dir().join("musical-instruments-5core");
    let full = instruments::load(&dir, None).unwrap();
    check_stream(&full);
    let b = behaviors(&full);
    assert_eq!(b.len(), 10_261);
    assert_eq!(ratings(&full), [217, 250, 772, 2_084, 6_938]);
    assert_eq!(products(&full).len(), 900);
    assert_eq!(
        b.iter().map(|b| &b.user_id).collect::<HashSet<_>>().len(),
        1_429
    );
    assert!(b.iter().all(|b| b.kind == BehaviorKind::Review));
    assert_eq!(b.iter().filter(|b| b.review_text.is_none()).count(), 7);
    // 2004-2014, day resolution.
    let (first, last) = (ts(&full[0]), ts(full.last().unwrap()));
    assert_eq!((first, last), (1_095_465_600_000, 1_405_987_200_000));
    assert!(b.iter().all(|b| b.ts % 86_400_000 == 0));
    for p in products(&full) {
        assert_eq!(p.title, p.item_id);
        assert_eq!(p.category, ["Musical Instruments"]);
    }
    // Quoted fields survive: the first record's text has commas, the reviewer name had quotes.
    let r0 = b.iter().find(|b| b.event_id == "instruments-0").unwrap();
    assert_eq!(r0.user_id, "A2IBPI20UZIR0U");
    assert_eq!(r0.item_id, "1384719342");
    assert_eq!(r0.rating, Some(5));
    assert!(r0
        .review_text
        .as_deref()
        .unwrap()
        .starts_with("Not much to write about here, but it does exactly"));
    // Ties keep file order.
    let index = |b: &BehaviorEvent| -> usize { b.event_id[12..].parse().unwrap() };
    for w in b.windows(2) {
        if w[0].ts == w[1].ts {
            assert!(index(w[0]) < index(w[1]));
        }
    }

    let limited = instruments::load(&dir, Some(500)).unwrap();
    check_stream(&limited);
    check_prefix(&full, &limited, 500);
}

#[test]
fn taobao_stream() {
    let dir = data_dir().join("taobao-userbehavior-sample");
    let (full, report) = taobao::load_with_report(&dir, None).unwrap();
    assert_eq!(
        report,
        taobao::TaobaoReport {
            rows: 84_287,
            views: 75_693,
            carts: 4_494,
            purchases: 1_749,
            fav_skipped: 2_351,
            out_of_window: 35,
        }
    );
    check_stream(&full);
    let b = behaviors(&full);
    let count = |k| b.iter().filter(|b| b.kind == k).count();
    assert_eq!(count(BehaviorKind::View), 75_693);
    assert_eq!(count(BehaviorKind::Cart), 4_494);
    assert_eq!(count(BehaviorKind::Purchase), 1_749);
    assert_eq!(count(BehaviorKind::Review), 0);
    assert_eq!(b.len(), 75_693 + 4_494 + 1_749);
    assert_eq!(
        b.iter().map(|b| &b.user_id).collect::<HashSet<_>>().len(),
        814
    );
    // 55,233 items in the file, 1,207 of which only ever appear in `fav` rows.
    assert_eq!(products(&full).len(), 54_026);
    // The out-of-window rows are kept, and sort to the front.
    let (lo, hi) = (taobao::WINDOW.0 * 1000, taobao::WINDOW.1 * 1000);
    let outside: Vec<_> = b.iter().filter(|b| b.ts < lo || b.ts >= hi).collect();
    assert_eq!(outside.len(), 35, "all 35 are pv rows");
    assert_eq!(ts(&full[0]), 1_505_117_799_000);
    // Event ids are file rows; the first data row is user 1 viewing item 2268318.
    let r0 = b.iter().find(|b| b.event_id == "taobao-0").unwrap();
    assert_eq!(
        (r0.user_id.as_str(), r0.item_id.as_str(), r0.kind, r0.ts),
        ("1", "2268318", BehaviorKind::View, 1_511_544_070_000)
    );
    let p = products(&full)
        .into_iter()
        .find(|p| p.item_id == "2268318")
        .unwrap();
    assert_eq!(p.title, "item 2268318");
    assert_eq!(p.category, ["2520377"]);

    let (limited, report2) = taobao::load_with_report(&dir, Some(2_000)).unwrap();
    assert_eq!(report2, report, "the report covers the whole file");
    check_stream(&limited);
    check_prefix(&full, &limited, 2_000);
    assert_eq!(taobao::load(&dir, Some(2_000)).unwrap(), limited);
}

#[test]
fn gift_cards_stream() {
    let dir = data_dir().join("gift-cards-5core");
    let full = gift_cards::load(&dir, None).unwrap();
    check_stream(&full);
    let b = behaviors(&full);
    assert_eq!(b.len(), 2_972);
    assert_eq!(
        b.iter().map(|b| &b.user_id).collect::<HashSet<_>>().len(),
        458
    );
    assert_eq!(ratings(&full), [22, 11, 33, 154, 2_752]);
    assert_eq!(b.iter().filter(|b| b.review_text.is_none()).count(), 6);
    let p = products(&full);
    assert_eq!(p.len(), 148);
    // Every reviewed item has metadata: a real title, decoded and trimmed.
    for p in &p {
        assert_ne!(p.title, p.item_id);
        assert_eq!(p.title, p.title.trim());
        assert!(
            !p.title.contains("&amp;") && !p.title.contains("&#39;"),
            "{}",
            p.title
        );
        assert!(p.category.iter().all(|c| c == "Gift Cards"));
        if let Some(price) = p.price {
            assert!(price > 0.0 && price < 10_000.0);
        }
    }
    // 41 reviewed items have an empty price in the source; the rest are plain "$x.yz".
    assert_eq!(p.iter().filter(|p| p.price.is_some()).count(), 107);
    assert_eq!(p.iter().filter(|p| p.description.is_some()).count(), 145);
    assert!(p.iter().filter(|p| p.brand.is_some()).count() >= 100);
    let by_id: HashMap<_, _> = p.iter().map(|p| (p.item_id.as_str(), *p)).collect();
    let noodles = by_id
        .values()
        .find(|p| p.title == "Noodles & Company Gift Card")
        .expect("entities decoded");
    assert!(noodles.ts > 0);

    let limited = gift_cards::load(&dir, Some(300)).unwrap();
    check_stream(&limited);
    check_prefix(&full, &limited, 300);
}

#[test]
fn new_item_split() {
    let dir = data_dir().join("gift-cards-5core");
    let stream = gift_cards::load(&dir, None).unwrap();
    let items: HashSet<String> = products(&stream)
        .iter()
        .map(|p| p.item_id.clone())
        .collect();
    let a = split_new_items(&stream, 0.2, 7);
    assert_eq!(a, split_new_items(&stream, 0.2, 7), "same seed, same split");
    assert_eq!(a.len(), 30); // round(0.2 * 148) = 29.6
    assert!(a.is_subset(&items));
    assert_ne!(a, split_new_items(&stream, 0.2, 8));
    // Independent of stream order: reversed, the same set.
    let reversed: Vec<StreamEvent> = stream.iter().rev().cloned().collect();
    assert_eq!(a, split_new_items(&reversed, 0.2, 7));
    assert!(split_new_items(&stream, 0.0, 7).is_empty());
    assert_eq!(split_new_items(&stream, 1.0, 7), items);
    assert!(split_new_items(&stream, f64::NAN, 7).is_empty());
    assert!(split_new_items(&[], 0.5, 7).is_empty());

    let taobao = taobao::load(&data_dir().join("taobao-userbehavior-sample"), Some(5_000)).unwrap();
    let n = products(&taobao).len();
    let s = split_new_items(&taobao, 0.1, 42);
    assert_eq!(s.len(), ((n as f64) * 0.1).round() as usize);
}

fn gz(dir: &Path, name: &str, text: &str) {
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(text.as_bytes()).unwrap();
    std::fs::write(dir.join(name), e.finish().unwrap()).unwrap();
}

fn format_line(r: Result<Vec<StreamEvent>, DataError>) -> (String, usize) {
    match r {
        Err(DataError::Format { path, line, reason }) => {
            eprintln!("format error: {reason}");
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                line,
            )
        }
        other => panic!("expected a format error, got {other:?}"),
    }
}

#[test]
fn malformed_files_are_errors_with_a_line() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let header = "reviewerID,asin,reviewerName,helpful,reviewText,overall,summary,unixReviewTime,reviewTime\r\n";
    let good = "A1,B1,\"x, \"\"y\"\"\",\"[0, 0]\",\"text, with\nnewline\",5.0,s,1393545600,\"02 28, 2014\"\r\n";

    // A quoted field spanning lines is fine, and the text keeps its comma and newline.
    gz(d, instruments::FILE, &format!("{header}{good}"));
    let s = instruments::load(d, None).unwrap();
    assert_eq!(
        behaviors(&s)[0].review_text.as_deref(),
        Some("text, with\nnewline")
    );
    // A bad rating on the record that starts on line 4 (the previous record spans lines 2-3).
    gz(
        d,
        instruments::FILE,
        &format!("{header}{good}A2,B2,n,\"[0, 0]\",t,4.5,s,1393545600,d\r\n"),
    );
    assert_eq!(
        format_line(instruments::load(d, None)),
        (instruments::FILE.into(), 4)
    );
    gz(
        d,
        instruments::FILE,
        &format!("{header}A2,B2,n,x,t,5.0,s,notatime,d\r\n"),
    );
    assert_eq!(
        format_line(instruments::load(d, None)),
        (instruments::FILE.into(), 2)
    );
    gz(
        d,
        instruments::FILE,
        &format!("{header}{good}A2,B2,too,few\r\n"),
    );
    assert_eq!(
        format_line(instruments::load(d, None)),
        (instruments::FILE.into(), 4)
    );
    // The same with LF line ends, and with invalid UTF-8 on line 4.
    let lf = |s: &str| s.replace("\r\n", "\n");
    gz(
        d,
        instruments::FILE,
        &lf(&format!("{header}{good}A2,B2,n,x,t,0.0,s,1,d\r\n")),
    );
    assert_eq!(
        format_line(instruments::load(d, None)),
        (instruments::FILE.into(), 4)
    );
    let mut bytes = lf(&format!("{header}{good}")).into_bytes();
    bytes.extend_from_slice(b"A2,B2,\xff\xfe,x,t,5.0,s,1,d\n");
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(&bytes).unwrap();
    std::fs::write(d.join(instruments::FILE), e.finish().unwrap()).unwrap();
    assert_eq!(
        format_line(instruments::load(d, None)),
        (instruments::FILE.into(), 4)
    );
    gz(d, instruments::FILE, "reviewerID,asin\r\nA,B\r\n");
    assert_eq!(
        format_line(instruments::load(d, None)),
        (instruments::FILE.into(), 1)
    );

    let th = "user_id,item_id,category_id,behavior_type,timestamp\n";
    gz(
        d,
        taobao::FILE,
        &format!("{th}1,2,3,pv,1511544070\n1,2,3,like,1511544071\n"),
    );
    assert_eq!(format_line(taobao::load(d, None)), (taobao::FILE.into(), 3));
    gz(d, taobao::FILE, &format!("{th}1,2,3,pv\n"));
    assert_eq!(format_line(taobao::load(d, None)), (taobao::FILE.into(), 2));
    gz(d, taobao::FILE, &format!("{th}1,2,3,pv,soon\n"));
    assert_eq!(format_line(taobao::load(d, None)), (taobao::FILE.into(), 2));
    gz(d, taobao::FILE, "a,b,c\n");
    assert_eq!(format_line(taobao::load(d, None)), (taobao::FILE.into(), 1));
    gz(
        d,
        taobao::FILE,
        &format!("{th}1,2,3,fav,1511544070\n1,2,3,buy,1511544071\n"),
    );
    let (s, r) = taobao::load_with_report(d, None).unwrap();
    assert_eq!(
        (
            r.fav_skipped,
            r.purchases,
            behaviors(&s)[0].event_id.as_str()
        ),
        (1, 1, "taobao-1")
    );

    let review =
        r#"{"overall": 5.0, "reviewerID": "U", "asin": "A", "unixReviewTime": 1529193600}"#;
    let meta = r#"{"asin": "A", "title": "T &amp; Co", "price": "$1,250.00", "category": []}"#;
    gz(d, gift_cards::META, &format!("{meta}\n"));
    gz(d, gift_cards::REVIEWS, &format!("{review}\n\n{review}\n"));
    let s = gift_cards::load(d, None).unwrap();
    let p = products(&s)[0];
    assert_eq!(
        (p.title.as_str(), p.price, p.category.clone()),
        ("T & Co", Some(1250.0), vec!["Gift Cards".to_owned()])
    );
    assert_eq!(behaviors(&s)[1].event_id, "gift-cards-2");
    gz(
        d,
        gift_cards::REVIEWS,
        &format!("{review}\n{{\"overall\": 5.0,\n"),
    );
    assert_eq!(
        format_line(gift_cards::load(d, None)),
        (gift_cards::REVIEWS.into(), 2)
    );
    gz(
        d,
        gift_cards::REVIEWS,
        &format!("{review}\n{}\n", review.replace("5.0", "0.0")),
    );
    assert_eq!(
        format_line(gift_cards::load(d, None)),
        (gift_cards::REVIEWS.into(), 2)
    );
    gz(
        d,
        gift_cards::REVIEWS,
        r#"{"overall": 5.0, "asin": "A", "unixReviewTime": 1}"#,
    );
    assert_eq!(
        format_line(gift_cards::load(d, None)),
        (gift_cards::REVIEWS.into(), 1)
    );
    gz(d, gift_cards::REVIEWS, &format!("{review}\n"));
    gz(d, gift_cards::META, &format!("{meta}\n{{\"asin\": 3}}\n"));
    assert_eq!(
        format_line(gift_cards::load(d, None)),
        (gift_cards::META.into(), 2)
    );

    // A truncated gzip stream is an I/O error; a missing file too.
    let mut e = GzEncoder::new(Vec::new(), Compression::fast());
    e.write_all(format!("{th}{}", "1,2,3,pv,1511544070\n".repeat(1000)).as_bytes())
        .unwrap();
    let bytes = e.finish().unwrap();
    std::fs::write(d.join(taobao::FILE), &bytes[..bytes.len() / 2]).unwrap();
    let r = taobao::load(d, None);
    assert!(matches!(r, Err(DataError::Io { .. })), "{r:?}");
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        gift_cards::load(empty.path(), None),
        Err(DataError::Io { .. })
    ));
}

/// The replay on librdkafka's in-process mock cluster: every event arrives once, on its topic,
/// with its key, in stream order; pacing stretches the run; bad options are errors.
#[tokio::test]
async fn replay_onto_mock_cluster() {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::Message;
    use rdkafka::{ClientConfig, Offset, TopicPartitionList};
    use warmstart::kafka::mock::EmbeddedKafka;

    let kafka = EmbeddedKafka::start().unwrap();
    kafka.create_topic("behavior", 1).unwrap();
    kafka.create_topic("products", 1).unwrap();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", kafka.bootstrap_servers());

    let stream = gift_cards::load(&data_dir().join("gift-cards-5core"), None).unwrap();
    let opts = ReplayOptions {
        speed: None,
        limit: Some(400),
        new_item_fraction: 0.25,
        seed: 3,
    };
    let summary = replay(&stream, "behavior", "products", &config, &opts)
        .await
        .unwrap();
    assert_eq!(summary.behavior_events, 400);
    let sent = &stream[..summary.behavior_events + summary.product_events];
    assert_eq!(products(sent).len(), summary.product_events);
    assert_eq!(summary.new_items, split_new_items(sent, 0.25, 3).len());
    assert_eq!(summary.new_item_ids.len(), summary.new_items);
    assert_eq!(
        summary.behavior_events_on_new_items,
        behaviors(sent)
            .iter()
            .filter(|b| summary.new_item_ids.contains(&b.item_id))
            .count()
    );

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.bootstrap_servers())
        .set("group.id", "replay-test")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("behavior", 0, Offset::Beginning)
        .unwrap();
    tpl.add_partition_offset("products", 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&tpl).unwrap();
    let (mut got_b, mut got_p) = (Vec::new(), Vec::new());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got_b.len() + got_p.len() < sent.len() && std::time::Instant::now() < deadline {
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.unwrap();
            let key = String::from_utf8(m.key().unwrap().to_vec()).unwrap();
            let payload = m.payload().unwrap();
            if m.topic() == "behavior" {
                let b: BehaviorEvent = serde_json::from_slice(payload).unwrap();
                assert_eq!(key, b.user_id);
                got_b.push(b);
            } else {
                let p: ProductEvent = serde_json::from_slice(payload).unwrap();
                assert_eq!(key, p.item_id);
                got_p.push(p);
            }
        }
    }
    let want_b: Vec<BehaviorEvent> = behaviors(sent).into_iter().cloned().collect();
    let want_p: Vec<ProductEvent> = products(sent).into_iter().cloned().collect();
    assert_eq!(got_b, want_b);
    assert_eq!(got_p, want_p);

    // Paced: 20 behaviour events whose recorded span is replayed in about 300 ms.
    let paced = ReplayOptions {
        limit: Some(20),
        ..ReplayOptions::default()
    };
    let cut = &stream[..stream
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, StreamEvent::Behavior(_)))
        .nth(19)
        .unwrap()
        .0
        + 1];
    let span_ms = (ts(cut.last().unwrap()) - ts(&cut[0])) as f64;
    assert!(span_ms > 0.0);
    let speed = span_ms / 300.0;
    let s = replay(
        &stream,
        "behavior",
        "products",
        &config,
        &ReplayOptions {
            speed: Some(speed),
            ..paced.clone()
        },
    )
    .await
    .unwrap();
    assert_eq!(s.behavior_events, 20);
    assert!(s.elapsed >= Duration::from_millis(290), "{:?}", s.elapsed);
    assert!(s.elapsed < Duration::from_secs(20), "{:?}", s.elapsed);

    for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        let o = ReplayOptions {
            speed: Some(bad),
            ..paced.clone()
        };
        assert!(replay(&stream, "behavior", "products", &config, &o)
            .await
            .is_err());
    }
    let o = ReplayOptions {
        new_item_fraction: 1.5,
        ..paced
    };
    assert!(replay(&stream, "behavior", "products", &config, &o)
        .await
        .is_err());
}
