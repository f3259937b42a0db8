//! The shape of a synthetic user's interaction with a new product: a view, then possibly a cart
//! and a purchase, with the probabilities and time gaps of real typed traffic (the Taobao
//! UserBehavior sample, the only shipped set with views, carts and purchases at second resolution).
//!
//! Fitted per (user, item) pair in time order: P(cart | view), P(purchase | cart),
//! P(purchase | view without cart), and the empirical deciles of the gaps view -> cart,
//! cart -> purchase and view -> purchase. Sampling draws a gap uniformly between two adjacent
//! deciles, which keeps the heavy tail of real gaps without storing every one.

use crate::data::StreamEvent;
use crate::events::BehaviorKind;
use rand::Rng;
use std::collections::HashMap;

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SequenceModel {
    pub p_cart_given_view: f64,
    pub p_purchase_given_cart: f64,
    pub p_purchase_given_view_only: f64,
    /// Deciles (0%, 10%, ..., 100%) of the gaps in milliseconds.
    pub view_to_cart_ms: Vec<i64>,
    pub cart_to_purchase_ms: Vec<i64>,
    pub view_to_purchase_ms: Vec<i64>,
    /// (user, item) pairs with a view that the probabilities were counted on.
    pub pairs: usize,
}

fn deciles(mut v: Vec<i64>) -> Vec<i64> {
    if v.is_empty() {
        return vec![0; 11];
    }
    v.sort_unstable();
    (0..=10).map(|k| v[(v.len() - 1) * k / 10]).collect()
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}

impl SequenceModel {
    pub fn fit(stream: &[StreamEvent]) -> Self {
        #[derive(Default)]
        struct Pair {
            view: Option<i64>,
            cart: Option<i64>,
            purchase: Option<i64>,
        }
        let mut pairs: HashMap<(&str, &str), Pair> = HashMap::new();
        for e in stream {
            let StreamEvent::Behavior(b) = e else {
                continue;
            };
            let p = pairs.entry((&b.user_id, &b.item_id)).or_default();
            let slot = match b.kind {
                BehaviorKind::View => &mut p.view,
                BehaviorKind::Cart => &mut p.cart,
                BehaviorKind::Purchase => &mut p.purchase,
                BehaviorKind::Review => continue,
            };
            slot.get_or_insert(b.ts);
        }
        let (mut viewed, mut carted, mut bought_after_cart, mut bought_view_only) = (0, 0, 0, 0);
        let (mut vc, mut cp, mut vp) = (Vec::new(), Vec::new(), Vec::new());
        for p in pairs.values() {
            let Some(v) = p.view else { continue };
            viewed += 1;
            match (p.cart.filter(|&c| c >= v), p.purchase.filter(|&b| b >= v)) {
                (Some(c), purchase) => {
                    carted += 1;
                    vc.push(c - v);
                    if let Some(b) = purchase.filter(|&b| b >= c) {
                        bought_after_cart += 1;
                        cp.push(b - c);
                    }
                }
                (None, Some(b)) => {
                    bought_view_only += 1;
                    vp.push(b - v);
                }
                (None, None) => {}
            }
        }
        SequenceModel {
            p_cart_given_view: ratio(carted, viewed),
            p_purchase_given_cart: ratio(bought_after_cart, carted),
            p_purchase_given_view_only: ratio(bought_view_only, viewed - carted),
            view_to_cart_ms: deciles(vc),
            cart_to_purchase_ms: deciles(cp),
            view_to_purchase_ms: deciles(vp),
            pairs: viewed,
        }
    }

    fn gap(deciles: &[i64], rng: &mut impl Rng) -> i64 {
        let k = rng.random_range(0..deciles.len() - 1);
        let (lo, hi) = (deciles[k], deciles[k + 1]);
        if hi > lo {
            rng.random_range(lo..=hi)
        } else {
            lo
        }
    }

    /// One synthetic user's interactions with an item, starting with a view at `start_ms`.
    pub fn sample(&self, start_ms: i64, rng: &mut impl Rng) -> Vec<(BehaviorKind, i64)> {
        let mut out = vec![(BehaviorKind::View, start_ms)];
        if rng.random_bool(self.p_cart_given_view.clamp(0.0, 1.0)) {
            let cart = start_ms + Self::gap(&self.view_to_cart_ms, rng);
            out.push((BehaviorKind::Cart, cart));
            if rng.random_bool(self.p_purchase_given_cart.clamp(0.0, 1.0)) {
                out.push((
                    BehaviorKind::Purchase,
                    cart + Self::gap(&self.cart_to_purchase_ms, rng),
                ));
            }
        } else if rng.random_bool(self.p_purchase_given_view_only.clamp(0.0, 1.0)) {
            out.push((
                BehaviorKind::Purchase,
                start_ms + Self::gap(&self.view_to_purchase_ms, rng),
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::BehaviorEvent;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn ev(user: &str, item: &str, kind: BehaviorKind, ts: i64) -> StreamEvent {
        StreamEvent::Behavior(BehaviorEvent {
            event_id: format!("{user}{item}{ts}"),
            user_id: user.into(),
            item_id: item.into(),
            kind,
            ts,
            rating: None,
            review_text: None,
            session_id: None,
        })
    }

    #[test]
    fn probabilities_and_gaps_are_counted_per_pair_and_samples_follow_them() {
        use BehaviorKind::*;
        let stream = vec![
            ev("a", "1", View, 0),
            ev("a", "1", Cart, 1000),
            ev("a", "1", Purchase, 3000),
            ev("b", "1", View, 0),
            ev("b", "1", Cart, 5000),
            ev("c", "1", View, 0),
            ev("d", "1", View, 0),
            ev("d", "1", Purchase, 7000),
            ev("e", "2", Cart, 10), // no view: not counted
        ];
        let m = SequenceModel::fit(&stream);
        assert_eq!(m.pairs, 4);
        assert_eq!(m.p_cart_given_view, 0.5);
        assert_eq!(m.p_purchase_given_cart, 0.5);
        assert_eq!(m.p_purchase_given_view_only, 0.5);
        assert_eq!(m.view_to_cart_ms[0], 1000);
        assert_eq!(m.view_to_cart_ms[10], 5000);
        let mut rng = StdRng::seed_from_u64(3);
        let (mut carts, n) = (0, 4000);
        for _ in 0..n {
            let s = m.sample(100, &mut rng);
            assert_eq!(s[0], (View, 100));
            assert!(s.windows(2).all(|w| w[0].1 <= w[1].1), "{s:?}");
            carts += s.iter().filter(|(k, _)| *k == Cart).count();
        }
        let share = carts as f64 / n as f64;
        assert!((share - 0.5).abs() < 0.05, "{share}");
    }
}
