//! The committed review generators (`models/reviews` on the clothing reviews, and
//! `models/reviews-instruments` on Musical Instruments) evaluated on held-out products, small: the
//! checkpoint loads, the metrics are in range, and temperature trades quality for diversity the
//! way it must (a broken sampler or metric would flatten or invert that).

use warmstart::text::eval_reviews::{evaluate, plot_curves, Report, TEMPERATURES};

#[test]
fn the_committed_generator_writes_reviews_whose_diversity_grows_with_temperature() {
    let r = check("models/reviews");
    // 2,589 held-out clothing reviews (the products of the test split).
    assert!(r.test_reviews > 2000, "{}", r.test_reviews);
}

#[test]
fn the_instruments_generator_is_judged_on_held_out_instruments_reviews() {
    let r = check("models/reviews-instruments");
    // Its own corpus's test split (980 of 10,254 reviews), not the clothing one.
    assert!((500..2000).contains(&r.test_reviews), "{}", r.test_reviews);
}

fn check(model: &str) -> Report {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(model);
    let plot = tempfile::tempdir().unwrap().keep().join("qd.png");
    let r = evaluate(&dir, 60, 7, false).unwrap();
    assert_eq!(r.points.len(), TEMPERATURES.len());
    assert!(r.test_nll > 1.0 && r.test_nll < 6.0, "NLL {}", r.test_nll);
    // The rating judge beats chance (0.2) on real reviews.
    assert!(
        r.rating_classifier_on_real > 0.3,
        "{}",
        r.rating_classifier_on_real
    );
    for p in &r.points {
        for v in p.bleu.iter().chain(&p.self_bleu) {
            assert!((0.0..=1.0).contains(v), "{p:?}");
        }
        assert!((0.0..=1.0).contains(&p.copied_8_words));
        assert!(p.mean_words > 5.0, "{p:?}");
        for v in [p.rating_agreement, p.rating_within_one, p.real_vs_synthetic] {
            assert!((0.0..=1.0).contains(&v), "{p:?}");
        }
        assert!(p.rating_within_one >= p.rating_agreement);
    }
    let (cold, hot) = (&r.points[0], &r.points[TEMPERATURES.len() - 1]);
    assert!(hot.distinct2 > cold.distinct2, "{cold:?} {hot:?}");
    assert!(hot.self_bleu[2] < cold.self_bleu[2], "{cold:?} {hot:?}");
    assert!(hot.bleu[2] < cold.bleu[2], "{cold:?} {hot:?}");
    plot_curves(&plot, std::slice::from_ref(&r)).unwrap();
    assert!(std::fs::metadata(&plot).unwrap().len() > 1000);
    r
}
