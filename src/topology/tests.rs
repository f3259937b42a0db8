use super::*;

const DEFAULT: &str = include_str!("../../topologies/default.toml");

fn err(text: &str) -> String {
    Topology::parse(text)
        .expect_err("must be rejected")
        .to_string()
}

#[test]
fn the_shipped_default_is_valid() {
    let t = Topology::parse(DEFAULT).unwrap();
    assert_eq!(t.inputs.len(), 3);
    assert_eq!(t.stages.len(), 4);
    assert_eq!(t.stages[0].type_name(), "decode");
}

#[test]
fn unknown_fields_are_named() {
    let e = err(&DEFAULT.replace("window = 1000000", "windw = 1000000"));
    assert!(e.contains("windw"), "{e}");
}

#[test]
fn wrong_types_are_named() {
    let e = err(&DEFAULT.replace("max_in_flight = 200000", "max_in_flight = \"many\""));
    assert!(e.contains("max_in_flight"), "{e}");
}

#[test]
fn semantic_errors_name_the_field() {
    let cases = [
        ("window = 1000000", "window = 0", "stages[2].window"),
        ("view = 1.0", "view = -1.0", "stages[3].weights.view"),
        (
            "topic = \"warmstart.dlq\"",
            "topic = \"bad topic!\"",
            "outputs.dead_letter.topic",
        ),
        (
            "topic = \"warmstart.enriched\"",
            "topic = \"warmstart.behavior\"",
            "outputs.enriched.topic",
        ),
        (
            "listen = \"127.0.0.1:9464\"",
            "listen = \"nowhere\"",
            "http.listen",
        ),
        ("id = 101", "id = 3", "schemas[0].id"),
        (
            "commit_interval_ms = 1000",
            "commit_interval_ms = 0",
            "runtime.commit_interval_ms",
        ),
        (
            "commit_interval_ms = 1000",
            "commit_interval_ms = 1000\ntransactional_id = \" \"",
            "runtime.transactional_id",
        ),
    ];
    for (from, to, field) in cases {
        assert!(DEFAULT.contains(from), "fixture lost `{from}`");
        let e = err(&DEFAULT.replacen(from, to, 1));
        assert!(e.contains(&format!("`{field}`")), "{to}: {e}");
    }
}

#[test]
fn delivery_is_at_least_once_unless_exactly_once_is_asked_for() {
    use crate::topology::Delivery;
    let t = Topology::parse(DEFAULT).unwrap();
    assert_eq!(t.runtime.delivery, Delivery::AtLeastOnce);
    let eos = DEFAULT.replacen(
        "commit_interval_ms = 1000",
        "commit_interval_ms = 1000\ndelivery = \"exactly_once\"\ntransactional_id = \"pipeline-7\"",
        1,
    );
    let t = Topology::parse(&eos).unwrap();
    assert_eq!(t.runtime.delivery, Delivery::ExactlyOnce);
    assert_eq!(t.runtime.transactional_id("g"), "pipeline-7");
    let t = Topology::parse(&DEFAULT.replacen(
        "commit_interval_ms = 1000",
        "commit_interval_ms = 1000\ndelivery = \"exactly_once\"",
        1,
    ))
    .unwrap();
    let id = t.runtime.transactional_id("g");
    assert!(id.starts_with("g-") && id.len() > 2, "{id}");
    let e = err(&DEFAULT.replacen(
        "commit_interval_ms = 1000",
        "commit_interval_ms = 1000\ndelivery = \"twice\"",
        1,
    ));
    assert!(e.contains("delivery"), "{e}");
}

#[test]
fn decode_must_come_first_and_enrich_must_exist() {
    let t = DEFAULT.replacen("type = \"decode\"", "type = \"normalize\"", 1);
    assert!(err(&t).contains("stages[0].type"));
    let no_enrich = DEFAULT.replace("type = \"enrich\"", "type = \"normalize\"");
    let e = err(&no_enrich);
    assert!(e.contains("enrich"), "{e}");
}

#[test]
fn inputs_only_take_behavior_or_products() {
    let e = err(&DEFAULT.replacen("type = \"product\"", "type = \"enriched\"", 1));
    assert!(e.contains("inputs.products.type"), "{e}");
}

const GENERATION: &str = include_str!("../../topologies/generation.toml");

#[test]
fn the_generation_stage_validates_its_fields_and_needs_its_outputs() {
    let t = Topology::parse(GENERATION).unwrap();
    let g = t.generation.as_ref().unwrap();
    assert_eq!((g.max_batch, g.queue_capacity), (64, 256));
    assert_eq!(g.top_up.as_ref().map(|t| t.min_real_interactions), Some(5));
    let cases = [
        ("max_batch = 64", "max_batch = 0", "generation.max_batch"),
        ("queue_capacity = 256", "queue_capacity = 8", "generation.queue_capacity"),
        ("max_rating_gap = 2", "max_rating_gap = 9", "generation.gates.max_rating_gap"),
        ("user_max_new_items = 2", "user_max_new_items = 0", "generation.user_max_new_items"),
        ("interval_ms = 600000", "interval_ms = 1", "generation.top_up.interval_ms"),
        ("max_rounds = 3", "max_rounds = 0", "generation.top_up.max_rounds"),
        (
            "[outputs.synthetic_reviews]\ntopic = \"warmstart.synthetic.reviews\"\nformat = \"json\"\n",
            "",
            "outputs.synthetic_reviews",
        ),
    ];
    for (from, to, field) in cases {
        assert!(GENERATION.contains(from), "fixture lost `{from}`");
        let e = err(&GENERATION.replacen(from, to, 1));
        assert!(e.contains(&format!("`{field}`")), "{to}: {e}");
    }
    let e = err(&GENERATION.replacen("device = \"auto\"", "device = \"tpu\"", 1));
    assert!(e.contains("device"), "{e}");
    let nothing = GENERATION
        .replacen("reviews_per_product = 3", "reviews_per_product = 0", 1)
        .replacen("users_per_product = 10", "users_per_product = 0", 1);
    assert!(err(&nothing).contains("`generation.users_per_product`"));
}

#[test]
fn a_stage_that_writes_one_kind_needs_only_that_kind_of_topic() {
    let reviews_only = Topology::parse(include_str!("../../topologies/reviews-only.toml")).unwrap();
    assert!(reviews_only.outputs.synthetic_behavior.is_none());
    let behavior_only =
        Topology::parse(include_str!("../../topologies/behavior-only.toml")).unwrap();
    assert!(behavior_only.outputs.synthetic_reviews.is_none());
    // Asking the behaviour-only topology for reviews needs their topic.
    let e = err(
        &include_str!("../../topologies/behavior-only.toml").replacen(
            "reviews_per_product = 0",
            "reviews_per_product = 2",
            1,
        ),
    );
    assert!(e.contains("`outputs.synthetic_reviews`"), "{e}");
}

#[test]
fn the_recommender_section_has_defaults_and_names_its_fields() {
    let t = Topology::parse(DEFAULT).unwrap();
    assert_eq!(t.recommender.group_id, "warmstart-recommender");
    assert_eq!(t.recommender.listen, "127.0.0.1:8080");
    assert_eq!(t.recommender.model.content_weight, 16.0);
    let with = |section: &str| format!("{DEFAULT}\n[recommender]\n{section}\n");
    let t = Topology::parse(&with(
        "group_id = \"rec\"\nsnapshot_interval_s = 5\n[recommender.model]\ncontent_weight = 4.0\n[recommender.model.bpr]\ndim = 32",
    ))
    .unwrap();
    assert_eq!(
        (
            t.recommender.group_id.as_str(),
            t.recommender.snapshot_interval_s
        ),
        ("rec", 5)
    );
    assert_eq!(t.recommender.model.bpr.dim, 32);
    assert_eq!(
        t.recommender.model.bpr.learning_rate, 0.05,
        "defaults fill the rest"
    );
    for (section, field) in [
        ("listen = \"nowhere\"", "recommender.listen"),
        ("group_id = \" \"", "recommender.group_id"),
        ("snapshot_interval_s = 0", "recommender.snapshot_interval_s"),
        ("commit_interval_ms = 1", "recommender.commit_interval_ms"),
        (
            "[recommender.model.bpr]\ndim = 0",
            "recommender.model.bpr.dim",
        ),
        (
            "[recommender.model]\ncontent_weight = -1.0",
            "recommender.model.content_weight",
        ),
        (
            "[recommender.model]\npopularity_decay = 1.0",
            "recommender.model.popularity_decay",
        ),
    ] {
        let e = err(&with(section));
        assert!(e.contains(field), "{section}: {e}");
    }
    let e = err(&with("[recommender.model]\ncontent_wieght = 1.0"));
    assert!(e.contains("content_wieght"), "{e}");
}

#[test]
fn workers_are_bounded_and_zero_means_one_per_core() {
    let t = Topology::parse(DEFAULT).unwrap();
    assert_eq!(t.runtime.workers, 0);
    assert!(t.runtime.worker_threads() >= 1);
    let e = err(&DEFAULT.replace(
        "max_in_flight = 200000",
        "max_in_flight = 200000\nworkers = 65",
    ));
    assert!(e.contains("runtime.workers"), "{e}");
}

const REGISTRY: &str = include_str!("../../topologies/registry.toml");

#[test]
fn a_registry_topology_takes_its_schemas_from_the_registry_and_names_bad_fields() {
    let t = Topology::parse(REGISTRY).unwrap();
    let r = t.schema_registry.as_ref().unwrap();
    assert!(r.url.ends_with("/apis/ccompat/v7"));
    assert_eq!((r.timeout_ms, r.cache_capacity), (5000, 1000));
    let with_schemas =
        format!("{REGISTRY}\n[[schemas]]\nid = 101\ntype = \"behavior\"\nfile = \"x.avsc\"\n");
    let e = err(&with_schemas);
    assert!(
        e.contains("schemas") && e.contains("come from the registry"),
        "{e}"
    );
    let e = err(&REGISTRY.replace("url = \"http://registry:8080", "url = \"registry:8080"));
    assert!(e.contains("schema_registry.url"), "{e}");
    let e = err(&REGISTRY.replace("# password = \"...\"", "password = \"p\""));
    assert!(e.contains("schema_registry.password"), "{e}");
    let e = err(&REGISTRY.replace("# ca_location", "nonsense = 1\n# ca_location"));
    assert!(e.contains("nonsense"), "{e}");
}
