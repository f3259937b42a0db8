//! The generation stage on the real broker: new products (Amazon Beauty's newest items) in,
//! synthetic reviews and behaviour out, through the pipeline, the stage and the recommender as
//! separate processes; then backpressure under a slow model, and a model reload mid-stream.

mod common;

use common::*;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;
use warmstart::codec::{Codec, Format, SchemaRegistry};
use warmstart::data::{beauty, clothing, StreamEvent};
use warmstart::events::{
    BehaviorKind, DeadLetter, EnrichedEvent, EventType, Origin, ProductEvent, SyntheticBehavior,
    SyntheticReview,
};
use warmstart::text::corpus::ReviewCorpus;
use warmstart::text::metrics::{words, RunIndex};

fn card_version(dir: &str) -> (String, String) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(dir)
        .join("card.json");
    let card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    (
        card["name"].as_str().unwrap().to_owned(),
        card["version"].as_str().unwrap().to_owned(),
    )
}

/// Every 8-word run of a review generator's training corpus (its training split).
fn training_runs(corpus: ReviewCorpus) -> RunIndex {
    let corpus = corpus.load().unwrap();
    let [train, _, _] = warmstart::text::train_reviews::splits(&corpus);
    let texts: Vec<Vec<String>> = train.iter().map(|r| words(&r.text)).collect();
    RunIndex::new(&texts, 8)
}

/// `warmstart generate` alone, its HTTP endpoints on `addr`.
fn spawn_stage(topology: &std::path::Path, addr: &str) -> Proc {
    spawn_stage_slowed(topology, addr, 0)
}

/// The stage with the slow-model test hook: every batch takes `delay_ms` longer.
fn spawn_stage_slowed(topology: &std::path::Path, addr: &str, delay_ms: u64) -> Proc {
    spawn_warmstart(
        &[
            "generate",
            "--topology",
            topology.to_str().unwrap(),
            "--http-listen",
            addr,
        ],
        &[("WARMSTART_TEST_BATCH_DELAY_MS", &delay_ms.to_string())],
    )
}

/// `n` products of the review model's domain, launched at `ts`: clothing products with the
/// department and class of the clothing corpus (Beauty products have neither, so they get no
/// review: no loaded review model declares their domain).
fn clothing_products(n: usize, ts: i64) -> Vec<ProductEvent> {
    let corpus = clothing::load(&warmstart::data::data_dir().join("clothing-reviews")).unwrap();
    let mut seen = HashSet::new();
    corpus
        .reviews
        .iter()
        .filter(|r| !r.department.is_empty() && !r.class.is_empty() && seen.insert(&r.product))
        .take(n)
        .map(|r| {
            let mut p = ProductEvent::titled(
                &format!("clothing-{}", r.product),
                &format!("{} ({})", r.class, r.department),
            );
            p.ts = ts;
            p.category = vec!["Clothing".into(), r.department.clone(), r.class.clone()];
            p.attributes
                .insert("department".into(), r.department.clone());
            p.attributes.insert("class".into(), r.class.clone());
            p
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_products_get_gated_synthetic_data_with_provenance_and_become_recommendable() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("gen");
    topics.create().await;
    let topology = topics.write_topology_with(
        dir.path(),
        Some("behavior_source = \"gan\"\nmax_batch = 16\nmax_wait_ms = 20\nmax_product_age_ms = 86400000\n[generation.gates]\ndiscriminator_samples = 256"),
    );
    let pipeline_addr = format!("127.0.0.1:{}", free_port());
    let _pipeline = spawn_pipeline(&topology, &pipeline_addr);
    let rec_addr = format!("127.0.0.1:{}", free_port());
    let _recommender = spawn_recommender(&topology, &format!("{}-rec", topics.group), &rec_addr);

    // Real behaviour on warm items, then the 50 newest items of Beauty as new products (none of
    // their interactions is published), then malformed product events.
    let stream = beauty::load(&warmstart::data::data_dir().join("beauty-5core"), None).unwrap();
    let all_products: Vec<&ProductEvent> =
        stream.iter().filter_map(StreamEvent::as_product).collect();
    // New products are launched now; the replayed catalogue is years old and the stage skips it
    // (max_product_age_ms).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let new: Vec<ProductEvent> = all_products[all_products.len() - 40..]
        .iter()
        .map(|p| ProductEvent {
            ts: now,
            ..(*p).clone()
        })
        .collect();
    let beauty_ids: HashSet<&str> = new.iter().map(|p| p.item_id.as_str()).collect();
    // And 10 products of the clothing model's domain, and 10 of no loaded model's.
    let mut dressed = clothing_products(10, now);
    let clothing_ids: HashSet<String> = dressed.iter().map(|p| p.item_id.clone()).collect();
    dressed.extend((0..10).map(|i| ProductEvent {
        ts: now,
        category: vec!["Gift Cards".into()],
        ..ProductEvent::titled(&format!("gift-card-{i}"), "Amazon.com eGift Card")
    }));
    let new_ids: HashSet<&str> = new
        .iter()
        .chain(&dressed)
        .map(|p| p.item_id.as_str())
        .collect();
    let json = Codec::new(Format::Json, std::sync::Arc::new(SchemaRegistry::builtin()));
    let mut records = Vec::new();
    let mut real = Vec::new();
    for e in &stream {
        match e {
            StreamEvent::Product(p) if !new_ids.contains(p.item_id.as_str()) => records.push((
                topics.products.clone(),
                p.item_id.clone().into_bytes(),
                json.encode_to_vec(EventType::Product, p).unwrap(),
            )),
            StreamEvent::Behavior(b)
                if !new_ids.contains(b.item_id.as_str()) && real.len() < 20_000 =>
            {
                records.push((
                    topics.behavior.clone(),
                    b.user_id.clone().into_bytes(),
                    json.encode_to_vec(EventType::Behavior, b).unwrap(),
                ));
                real.push(b.clone());
            }
            _ => {}
        }
    }
    publish(&records);
    let warm_products = records.iter().filter(|r| r.0 == topics.products).count() as f64;
    let mut records: Vec<_> = new
        .iter()
        .chain(&dressed)
        .map(|p| {
            (
                topics.products.clone(),
                p.item_id.clone().into_bytes(),
                json.encode_to_vec(EventType::Product, p).unwrap(),
            )
        })
        .collect();
    for bad in [
        &b"{\"item_id\": \"broken\", \"title\": "[..],
        &b"{\"item_id\": \"no-title\", \"ts\": 1, \"category\": []}"[..],
    ] {
        records.push((topics.products.clone(), b"bad".to_vec(), bad.to_vec()));
    }
    publish(&records);

    let total = wait_for_metric(
        &pipeline_addr,
        "warmstart_generation_products_total",
        warm_products + 60.0,
        Duration::from_secs(240),
    );
    assert_eq!(
        total,
        warm_products + 60.0,
        "every accepted product reached the stage once"
    );
    let skipped = metric(
        &pipeline_addr,
        "warmstart_generation_products_total{outcome=\"skipped_old\"}",
    );
    assert_eq!(
        skipped, warm_products,
        "the years-old catalogue is not generated for"
    );
    assert!(
        wait_for_group(
            &format!("{}-generation", topics.group),
            &topics.accepted,
            Duration::from_secs(60)
        ),
        "the stage committed every accepted product"
    );
    assert!(wait_for_group(
        &topics.group,
        &topics.behavior,
        Duration::from_secs(120)
    ));

    // Synthetic reviews: each product gets text of its own domain (beauty text for Beauty,
    // clothing text for clothing) or none; flagged, with provenance, through the gates, no
    // training text of the model that wrote it.
    assert_eq!(
        metric(
            &pipeline_addr,
            "warmstart_generation_skipped_total{kind=\"review\",reason=\"out_of_domain\"}"
        ),
        10.0 * 3.0,
        "the 10 gift cards are in no loaded model's domain (3 reviews each skipped)"
    );
    let clothing_model = card_version("models/reviews");
    let beauty_model = card_version("models/reviews-beauty");
    let reviews: Vec<SyntheticReview> = parse(&topics.synthetic_reviews);
    let (clothing_runs, beauty_runs) = (
        training_runs(ReviewCorpus::Clothing),
        training_runs(ReviewCorpus::Beauty),
    );
    let mut per_item: HashMap<&str, usize> = HashMap::new();
    for r in &reviews {
        let (model, runs) = if clothing_ids.contains(&r.item_id) {
            (&clothing_model, &clothing_runs)
        } else if beauty_ids.contains(r.item_id.as_str()) {
            (&beauty_model, &beauty_runs)
        } else {
            panic!(
                "review for an item outside every model's domain {}",
                r.item_id
            )
        };
        assert!(r.synthetic);
        assert_eq!((&r.model_name, &r.model_version), (&model.0, &model.1));
        assert!((1..=5).contains(&r.rating));
        let p = r.scores["discriminator_p_synthetic"];
        assert!((0.0..=0.98).contains(&p), "discriminator gate: {p}");
        let read = r.scores["rating_read"];
        assert!(
            (read - r.rating as f64).abs() <= 2.0,
            "rating gate: {read} for {}",
            r.rating
        );
        assert!(words(&r.text).len() >= 4, "{:?}", r.text);
        assert!(
            !runs.copies(&words(&r.text)),
            "copies an 8-word training run: {:?}",
            r.text
        );
        *per_item.entry(&r.item_id).or_default() += 1;
    }
    assert_eq!(
        per_item.len(),
        50,
        "every new product of a model's domain has synthetic reviews"
    );
    assert!(per_item.values().all(|&n| n <= 3));
    let texts: HashSet<&str> = reviews.iter().map(|r| r.text.as_str()).collect();
    assert_eq!(texts.len(), reviews.len(), "no duplicate texts");

    // Synthetic behaviour: each user starts with a view; flagged, with the behaviour model.
    let (behavior_model, behavior_version) = card_version("models/behavior");
    let behavior: Vec<SyntheticBehavior> = parse(&topics.synthetic_behavior);
    let mut users_of: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    let mut first: HashMap<(&str, &str), (i64, BehaviorKind)> = HashMap::new();
    for b in &behavior {
        assert!(b.synthetic && new_ids.contains(b.item_id.as_str()));
        assert_eq!(
            (&b.model_name, &b.model_version),
            (&behavior_model, &behavior_version)
        );
        assert!(b.scores["discriminator_p_real"] >= 0.05);
        users_of.entry(&b.item_id).or_default().insert(&b.user_id);
        let f = first
            .entry((&b.item_id, &b.user_id))
            .or_insert((b.ts, b.kind));
        if b.ts < f.0 {
            *f = (b.ts, b.kind);
        }
    }
    assert_eq!(users_of.len(), 60, "every new product has synthetic users");
    assert!(users_of.values().all(|u| u.len() == 10), "10 users each");
    assert!(first.values().all(|f| f.1 == BehaviorKind::View));

    // The recommender's topic: every real event exactly once and untouched, plus one synthetic
    // enriched event per synthetic behaviour event.
    let enriched: Vec<EnrichedEvent> = parse(&topics.enriched);
    let (synthetic, passed): (Vec<_>, Vec<_>) =
        enriched.iter().partition(|e| e.origin == Origin::Synthetic);
    assert_eq!(synthetic.len(), behavior.len());
    assert!(synthetic
        .iter()
        .all(|e| e.synthetic && e.model_version.as_deref() == Some(behavior_version.as_str())));
    assert_eq!(
        passed.len(),
        real.len(),
        "real events complete, none doubled"
    );
    let by_id: HashMap<&str, &EnrichedEvent> =
        passed.iter().map(|e| (e.event_id.as_str(), *e)).collect();
    for b in &real {
        let e = by_id[b.event_id.as_str()];
        assert_eq!(
            *e,
            EnrichedEvent::real(b.clone(), 3.0),
            "real event changed"
        );
    }

    // Malformed product events: dead letters from the pipeline's decode stage.
    let dead: Vec<DeadLetter> = parse(&topics.dlq);
    let codes: BTreeSet<&str> = dead.iter().map(|d| d.reason_code.as_str()).collect();
    assert_eq!(dead.len(), 2, "{dead:?}");
    assert!(
        codes.contains("malformed_json") && codes.contains("missing_field"),
        "{codes:?}"
    );

    // The recommender serves every new item, and ranks it high for its generated users far more
    // often than for real users the generator did not pick.
    let mut unserved: Vec<&str> = new.iter().map(|p| p.item_id.as_str()).collect();
    let served = poll_until(Duration::from_secs(60), || {
        unserved.retain(|item| {
            !http_get_ok(&rec_addr, &format!("/v1/items/{item}/similar?k=5"))
                .is_some_and(|b| b.contains("\"items\""))
        });
        unserved.is_empty().then_some(())
    });
    assert!(served.is_some(), "never served by /similar: {unserved:?}");
    let applied = wait_for_metric(
        &rec_addr,
        "warmstart_recommender_events_applied_total",
        enriched.len() as f64,
        Duration::from_secs(60),
    );
    assert_eq!(
        applied,
        enriched.len() as f64,
        "the recommender applied every enriched event"
    );
    let in_top = |user: &str, item: &str| {
        let (status, body) = http_get(&rec_addr, &format!("/v1/recommendations/{user}?k=20"));
        assert_eq!(status, 200);
        body.contains(&format!("\"{item}\""))
    };
    let control: Vec<&str> = real
        .iter()
        .step_by(997)
        .take(10)
        .map(|b| b.user_id.as_str())
        .collect();
    let (mut generated_hits, mut control_hits) = (0, 0);
    for p in &new {
        let users = &users_of[p.item_id.as_str()];
        generated_hits += users.iter().any(|u| in_top(u, &p.item_id)) as usize;
        control_hits += control
            .iter()
            .filter(|u| !users.contains(*u))
            .any(|u| in_top(u, &p.item_id)) as usize;
    }
    println!("new items in the top 20 of one of their generated users: {generated_hits}/50; of 10 other users: {control_hits}/50");
    assert!(generated_hits >= 40, "{generated_hits}/50");
    assert!(
        control_hits * 3 <= generated_hits,
        "{control_hits} vs {generated_hits}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_model_pauses_the_input_and_a_reload_switches_versions_without_loss() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    // A copy of the shipped checkpoints, so that the test can publish a "new" one.
    let models = dir.path().join("models");
    for m in ["reviews", "behavior"] {
        let from = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(m);
        std::fs::create_dir_all(models.join(m)).unwrap();
        for f in std::fs::read_dir(&from).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), models.join(m).join(f.file_name())).unwrap();
        }
    }
    let topics = Topics::new("gen-slow");
    topics.create().await;
    let topology = topics.write_topology_with(
        dir.path(),
        Some(&format!(
            "behavior_source = \"gan\"\nreviews_model = \"{}\"\nbehavior_model = \"{}\"\nreviews_per_product = 1\nusers_per_product = 3\nmax_batch = 2\nqueue_capacity = 4\n[generation.gates]\ndiscriminator_samples = 64",
            models.join("reviews").display(),
            models.join("behavior").display()
        )),
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let mut stage = spawn_stage_slowed(&topology, &addr, 150);

    // Accepted products straight onto the stage's input, with one that does not decode.
    let json = Codec::new(Format::Json, std::sync::Arc::new(SchemaRegistry::builtin()));
    // Of the review model's domain, so that every product gets reviews of one version or the other.
    let products = clothing_products(60, 0);
    let encode = |p: &ProductEvent| {
        (
            topics.accepted.clone(),
            p.item_id.clone().into_bytes(),
            json.encode_to_vec(EventType::Product, p).unwrap(),
        )
    };
    let mut first: Vec<_> = products[..30].iter().map(encode).collect();
    first.insert(
        10,
        (
            topics.accepted.clone(),
            b"bad".to_vec(),
            b"not json".to_vec(),
        ),
    );
    publish(&first);

    // Backpressure: the partitions are paused while the queue is full, and the queue never holds
    // more than the channel's bound (twice the capacity).
    let (mut paused, mut max_depth) = (false, 0.0f64);
    wait_until(
        "the stage to get through the first 31 records",
        Duration::from_secs(120),
        || {
            paused |= metric(&addr, "warmstart_generation_paused") == 1.0;
            max_depth = max_depth.max(metric(&addr, "warmstart_generation_queue_depth"));
            (metric(&addr, "warmstart_generation_products_total") >= 31.0).then_some(())
        },
    );
    assert!(paused, "a slow model must pause the input");
    assert!(max_depth <= 8.0, "queue depth {max_depth}");

    // A new checkpoint version, loaded without a restart.
    let card_path = models.join("reviews/card.json");
    let mut card: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&card_path).unwrap()).unwrap();
    let old = card["version"].as_str().unwrap().to_owned();
    let new_version = format!("{old}-retrained");
    card["version"] = new_version.clone().into();
    std::fs::write(&card_path, card.to_string()).unwrap();
    let (status, body) = http_request(&addr, "POST", "/admin/reload");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&new_version), "{body}");
    publish(&products[30..].iter().map(encode).collect::<Vec<_>>());
    assert!(
        wait_for_group(
            &format!("{}-generation", topics.group),
            &topics.accepted,
            Duration::from_secs(120)
        ),
        "every product handled and committed"
    );
    assert_eq!(metric(&addr, "warmstart_generation_reloads_total"), 1.0);
    sigterm_and_wait(&mut stage);

    let reviews: Vec<SyntheticReview> = parse(&topics.synthetic_reviews);
    let behavior: Vec<SyntheticBehavior> = parse(&topics.synthetic_behavior);
    let expected: HashSet<&str> = products.iter().map(|p| p.item_id.as_str()).collect();
    let got: HashSet<&str> = behavior.iter().map(|b| b.item_id.as_str()).collect();
    assert_eq!(got, expected, "no product lost");
    let version_of: HashMap<&str, &str> = reviews
        .iter()
        .map(|r| (r.item_id.as_str(), r.model_version.as_str()))
        .collect();
    // The gates may drop a product's review, so not every product has one; but each side must
    // have some, or the version checks below would pass on nothing.
    let versions = |ps: &[ProductEvent]| -> Vec<&str> {
        ps.iter()
            .filter_map(|p| version_of.get(p.item_id.as_str()).copied())
            .collect()
    };
    let (before, after) = (versions(&products[..30]), versions(&products[30..]));
    assert!(
        before.len() >= 10 && after.len() >= 10,
        "reviews for {} of the 30 products before the reload and {} of the 30 after",
        before.len(),
        after.len()
    );
    assert!(
        before.iter().all(|v| *v == old),
        "queued before the reload: {before:?}"
    );
    assert!(
        after.iter().all(|v| *v == new_version),
        "published after the reload: {after:?}"
    );
    let dead: Vec<DeadLetter> = parse(&topics.dlq);
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].stage.as_str(), dead[0].reason_code.as_str()),
        ("generate", "malformed_json")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn products_still_cold_get_top_up_rounds_until_real_interactions_arrive() {
    require_broker();
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("gen-topup");
    topics.create().await;
    let interval_ms = 4000;
    let topology = topics.write_topology_with(
        dir.path(),
        Some(&format!(
            "behavior_source = \"gan\"\nreviews_per_product = 1\nusers_per_product = 2\nmax_wait_ms = 5\n[generation.gates]\ndiscriminator_samples = 64\n[generation.top_up]\nmin_real_interactions = 2\ninterval_ms = {interval_ms}\nmax_rounds = 2"
        )),
    );
    let addr = format!("127.0.0.1:{}", free_port());
    let _stage = spawn_stage(&topology, &addr);
    let json = Codec::new(Format::Json, std::sync::Arc::new(SchemaRegistry::builtin()));
    let stream = beauty::load(
        &warmstart::data::data_dir().join("beauty-5core"),
        Some(3000),
    )
    .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let products: Vec<ProductEvent> = stream
        .iter()
        .filter_map(|e| match e {
            StreamEvent::Product(p) => Some(ProductEvent {
                ts: now,
                ..p.clone()
            }),
            _ => None,
        })
        .take(4)
        .collect();
    let [warming, cold, also_cold] = [0, 1, 2].map(|k| products[k].item_id.clone());
    let accepted = |ps: &[ProductEvent]| -> Vec<(String, Vec<u8>, Vec<u8>)> {
        ps.iter()
            .map(|p| {
                (
                    topics.accepted.clone(),
                    p.item_id.clone().into_bytes(),
                    json.encode_to_vec(EventType::Product, p).unwrap(),
                )
            })
            .collect()
    };
    publish(&accepted(&products[..3]));
    let first = wait_for_metric(
        &addr,
        "warmstart_generation_products_total",
        3.0,
        Duration::from_secs(120),
    );
    assert_eq!(first, 3.0, "the first round of each product");

    // Real interactions on the enriched topic: two for `warming` (enough), one for `cold` (not
    // enough), and a synthetic one for `also_cold` (never counts).
    let real = |item: &str, n: usize, origin: Origin| EnrichedEvent {
        event_id: format!("real-{item}-{n}"),
        user_id: format!("shopper-{n}"),
        item_id: item.to_owned(),
        kind: BehaviorKind::View,
        ts: now,
        weight: 1.0,
        origin,
        synthetic: origin == Origin::Synthetic,
        model_version: None,
        rating: None,
        review_text: None,
    };
    let events = [
        real(&warming, 1, Origin::Real),
        real(&warming, 2, Origin::Real),
        real(&cold, 1, Origin::Real),
        real(&also_cold, 1, Origin::Synthetic),
    ];
    publish(
        &events
            .iter()
            .map(|e| {
                (
                    topics.enriched.clone(),
                    e.user_id.clone().into_bytes(),
                    json.encode_to_vec(EventType::Enriched, e).unwrap(),
                )
            })
            .collect::<Vec<_>>(),
    );

    // Two more rounds each for the two cold products, then nothing more.
    let top_ups = "warmstart_generation_products_total{outcome=\"top_up\"}";
    assert_eq!(
        wait_for_metric(&addr, top_ups, 4.0, Duration::from_secs(60)),
        4.0
    );
    // A round after the last would come due `interval_ms` after it. A sentinel product published
    // now comes due for its first top-up later than that, and due rounds are submitted in the
    // order they came due: once the sentinel's round is out, such a round would be out too.
    let sentinel = products[3].item_id.clone();
    publish(&accepted(&products[3..]));
    let is_sentinel_top_up = |item: &str, id: &str| item == sentinel && id.contains("-top");
    wait_until(
        "the sentinel product's first top-up round",
        Duration::from_secs(60),
        || {
            let out = metric(&addr, top_ups) >= 5.0
                && (parse::<SyntheticBehavior>(&topics.synthetic_behavior)
                    .iter()
                    .any(|b| is_sentinel_top_up(&b.item_id, &b.event_id))
                    || parse::<SyntheticReview>(&topics.synthetic_reviews)
                        .iter()
                        .any(|r| is_sentinel_top_up(&r.item_id, &r.event_id)));
            out.then_some(())
        },
    );
    assert_eq!(
        metric(&addr, top_ups),
        5.0,
        "no round after the last (the fifth is the sentinel's)"
    );
    assert_eq!(
        metric(&addr, "warmstart_generation_cold_total{event=\"warmed\"}"),
        1.0
    );
    assert_eq!(
        metric(
            &addr,
            "warmstart_generation_cold_total{event=\"exhausted\"}"
        ),
        2.0
    );
    assert_eq!(
        metric(&addr, "warmstart_generation_cold_products"),
        1.0,
        "only the sentinel, with a round to go, is still tracked"
    );

    // On the topics: one round for the warmed product, three for the others (distinct batch
    // seeds), every event id distinct, and each round's behaviour later than the first's.
    let behavior: Vec<SyntheticBehavior> = parse(&topics.synthetic_behavior);
    let mut rounds: HashMap<&str, BTreeSet<i64>> = HashMap::new();
    for b in &behavior {
        rounds.entry(&b.item_id).or_default().insert(b.seed);
    }
    let count = |item: &str| rounds.get(item).map_or(0, |s| s.len());
    assert_eq!(
        (count(&warming), count(&cold), count(&also_cold)),
        (1, 3, 3),
        "rounds per product"
    );
    let ids: HashSet<&str> = behavior.iter().map(|b| b.event_id.as_str()).collect();
    assert_eq!(ids.len(), behavior.len(), "top-up event ids are new ids");
    let reviews: Vec<SyntheticReview> = parse(&topics.synthetic_reviews);
    let review_ids: HashSet<&str> = reviews.iter().map(|r| r.event_id.as_str()).collect();
    assert_eq!(review_ids.len(), reviews.len());
    let first_ts = |item: &str| {
        behavior
            .iter()
            .filter(|b| b.item_id == item)
            .map(|b| b.ts)
            .min()
            .unwrap()
    };
    let top_up_ts = behavior
        .iter()
        .filter(|b| b.item_id == cold && b.event_id.contains("-top"))
        .map(|b| b.ts)
        .min()
        .unwrap();
    assert!(
        top_up_ts >= first_ts(&cold) + interval_ms as i64 - 1000,
        "a round's behaviour happens at its round"
    );
    // The stage's own input is committed; top-up rounds need no input record.
    assert!(wait_for_group(
        &format!("{}-generation", topics.group),
        &topics.accepted,
        Duration::from_secs(30)
    ));
}

/// What a `read_committed` reader finds on the stage's outputs after a run with kills.
#[derive(Debug, Default)]
struct Committed {
    /// Products with at least one synthetic record.
    products: usize,
    /// Products with more reviews, or more synthetic users, than one round gives.
    over_generated: usize,
    /// Event ids (reviews, behaviour, synthetic enriched events) found more than once.
    doubled_ids: usize,
    /// Dead letters, and those written more than once.
    dead_letters: usize,
    doubled_dead_letters: usize,
}

fn committed(topics: &Topics, reviews_per_product: usize, users_per_product: usize) -> Committed {
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut reviews: HashMap<String, usize> = HashMap::new();
    let mut users: HashMap<String, HashSet<String>> = HashMap::new();
    for p in read_committed(&topics.synthetic_reviews) {
        let r: SyntheticReview = serde_json::from_slice(&p).unwrap();
        *ids.entry(r.event_id).or_default() += 1;
        *reviews.entry(r.item_id).or_default() += 1;
    }
    for p in read_committed(&topics.synthetic_behavior) {
        let b: SyntheticBehavior = serde_json::from_slice(&p).unwrap();
        *ids.entry(b.event_id).or_default() += 1;
        users.entry(b.item_id).or_default().insert(b.user_id);
    }
    for p in read_committed(&topics.enriched) {
        let e: EnrichedEvent = serde_json::from_slice(&p).unwrap();
        *ids.entry(format!("enriched {}", e.event_id)).or_default() += 1;
    }
    let mut dead: HashMap<(i32, i64), u32> = HashMap::new();
    for p in read_committed(&topics.dlq) {
        let d: DeadLetter = serde_json::from_slice(&p).unwrap();
        *dead
            .entry((d.source_partition, d.source_offset))
            .or_default() += 1;
    }
    let items: HashSet<&String> = reviews.keys().chain(users.keys()).collect();
    Committed {
        products: items.len(),
        // A product generated twice has twice the reviews, or (with other users drawn) more users.
        over_generated: items
            .iter()
            .filter(|i| {
                reviews.get(**i).copied().unwrap_or(0) > reviews_per_product
                    || users.get(**i).map_or(0, HashSet::len) > users_per_product
            })
            .count(),
        doubled_ids: ids.values().filter(|&&n| n > 1).count(),
        dead_letters: dead.len(),
        doubled_dead_letters: dead.values().filter(|&&n| n > 1).count(),
    }
}

/// The stage alone, SIGKILLed at 5 random points while it generates for 300 new products (and
/// dead-letters 20 bad records), restarted each time with the same transactional id and member
/// id; then what `read_committed` readers see.
async fn generate_with_kills(delivery: &str, seed: u64) -> (Committed, Vec<f64>) {
    use rand::{Rng, SeedableRng};
    const PRODUCTS: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let topics = Topics::new("gen-kill");
    topics.create().await;
    let base = std::fs::read_to_string(topics.write_topology_with(
        dir.path(),
        Some("behavior_source = \"gan\"\nreviews_per_product = 2\nusers_per_product = 3\nmax_batch = 8\nmax_wait_ms = 5\n[generation.gates]\ndiscriminator_samples = 64"),
    ))
    .unwrap();
    let text = base
        .replace(
            "[runtime]\ncommit_interval_ms = 200\n",
            &format!("[runtime]\ndelivery = \"{delivery}\"\ncommit_interval_ms = 100\n"),
        )
        .replace(
            "[kafka.consumer]\n",
            &format!(
                "[kafka.consumer]\n\"group.instance.id\" = \"{}-stage\"\n",
                topics.group
            ),
        );
    assert!(text.contains(delivery) && text.contains("group.instance.id"));
    let topology = dir.path().join("gen-kill.toml");
    std::fs::write(&topology, text).unwrap();

    let json = Codec::new(Format::Json, std::sync::Arc::new(SchemaRegistry::builtin()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut records: Vec<(String, Vec<u8>, Vec<u8>)> =
        beauty::load(&warmstart::data::data_dir().join("beauty-5core"), None)
            .unwrap()
            .into_iter()
            .filter_map(|e| match e {
                StreamEvent::Product(p) => Some(ProductEvent { ts: now, ..p }),
                _ => None,
            })
            .take(PRODUCTS / 2)
            // Half of the review model's domain, so that reviews are generated too.
            .chain(clothing_products(PRODUCTS / 2, now))
            .map(|p| {
                let payload = json.encode_to_vec(EventType::Product, &p).unwrap();
                (topics.accepted.clone(), p.item_id.into_bytes(), payload)
            })
            .collect();
    assert_eq!(records.len(), PRODUCTS);
    for i in 0..20 {
        records.insert(
            i * 15,
            (
                topics.accepted.clone(),
                format!("bad-{i}").into_bytes(),
                b"{\"item_id\": ".to_vec(),
            ),
        );
    }
    publish(&records);

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut killed_after = Vec::new();
    while killed_after.len() < 5 {
        let addr = format!("127.0.0.1:{}", free_port());
        let mut stage = spawn_stage(&topology, &addr);
        let at = rng.random_range(10.0..50.0);
        let incarnation = killed_after.len() + 1;
        let done = wait_until(
            &format!("incarnation {incarnation} to finish {at:.0} products"),
            Duration::from_secs(120),
            || {
                assert!(
                    stage.try_wait().unwrap().is_none(),
                    "incarnation {incarnation} exited by itself"
                );
                let done = metric(&addr, "warmstart_generation_products_total");
                (done >= at).then_some(done)
            },
        );
        sigkill(&mut stage);
        killed_after.push(done);
    }
    let mut last = spawn_stage(&topology, "");
    assert!(
        wait_for_group(
            &format!("{}-generation", topics.group),
            &topics.accepted,
            Duration::from_secs(240)
        ),
        "the last incarnation did not finish the products"
    );
    assert!(sigterm_and_wait(&mut last).success());
    (committed(&topics, 2, 3), killed_after)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkills_during_generation_leave_each_products_records_exactly_once() {
    require_broker();
    let (eos, kills) = generate_with_kills("exactly_once", 447).await;
    eprintln!("exactly_once: killed after {kills:?} products: {eos:?}");
    assert_eq!(eos.products, 300, "every product has its synthetic records");
    assert_eq!(eos.over_generated, 0, "a product generated twice");
    assert_eq!(eos.doubled_ids, 0, "a record committed twice");
    assert_eq!((eos.dead_letters, eos.doubled_dead_letters), (20, 0));

    // The same kills at least once: the records between the last commit and a kill come again.
    let (alo, kills) = generate_with_kills("at_least_once", 447).await;
    eprintln!("at_least_once: killed after {kills:?} products: {alo:?}");
    assert_eq!(alo.products, 300, "nothing lost at least once either");
    assert!(
        alo.doubled_ids + alo.over_generated > 0,
        "the control run repeated nothing: the kills did not test anything"
    );
}
