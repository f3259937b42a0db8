//! The online recommender's state: the hybrid model plus the bookkeeping that turns a stream of
//! events into recommendations — string ids, what each user has already, item popularity and
//! freshness, and the weight of synthetic interactions.
//!
//! A query scores every item as `p_u . v_i + b_i + content_weight * cos(profile_u, x_i)`: the
//! hybrid model plus the content match of `recommend::content`, whose weight the cold-start
//! evaluation chooses on its validation split.
//!
//! Every event is one model update (no retraining). Synthetic interactions count with a weight
//! that halves every `synthetic_half_life` real interactions of their item, so a new product is
//! recommendable from its synthetic cold-start behaviour, and real evidence takes over as it comes.
//! Item vectors are cached for queries and refreshed for the items each step touches, and for all
//! items every `refresh_every` events (the shared content tower moves every item a little).

use super::bpr::{dot, BprConfig};
use super::content::{ContentMatch, Profile};
use super::features::{bucket, hashed, named_features, tokens};
use super::hybrid::{Hybrid, ItemVector};
use super::splitmix::SplitMix64;
use crate::events::{EnrichedEvent, Origin, ProductEvent};
use crate::recommend::rank;
use std::collections::HashMap;

/// Missing fields take their defaults, unknown ones are refused: this is the topology's
/// `[recommender.model]` as well as what a snapshot stores.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OnlineConfig {
    pub bpr: BprConfig,
    /// Weight of a synthetic interaction relative to a real one of the same kind.
    pub synthetic_weight: f32,
    /// Real interactions of an item after which its synthetic weight has halved.
    pub synthetic_half_life: f32,
    /// Per-event decay of popularity counts, so that popularity follows the recent stream.
    pub popularity_decay: f32,
    pub refresh_every: u64,
    pub seed: u64,
    /// Weight of the content match (cosine of an item's content with the user's history) added
    /// to the factor score; chosen on the cold-start validation split (`warmstart eval coldstart`).
    #[serde(default = "default_content_weight")]
    pub content_weight: f32,
    /// How item vectors combine own embeddings and content; Fallback won the cold-start table.
    #[serde(default)]
    pub item_vector: ItemVector,
    /// Whether a synthetic interaction also moves its user's vector (and the negative item's).
    /// Off: it moves only its item, which lifted hybrid NDCG@20 in the cold-start table where
    /// moving everything lowered it. Snapshots from before the choice read as off.
    #[serde(default)]
    pub synthetic_moves_users: bool,
    /// Distinct words of its real reviews' text an item's content may gain, on top of its
    /// product's (0: review text is not read). Off by default: see `add_text`.
    #[serde(default)]
    pub review_tokens: usize,
}

fn default_content_weight() -> f32 {
    // The weight chosen on validation for this model class (online MF, Fallback item vectors)
    // by `warmstart eval coldstart`.
    16.0
}

impl Default for OnlineConfig {
    fn default() -> Self {
        OnlineConfig {
            bpr: BprConfig::default(),
            synthetic_weight: 0.5,
            synthetic_half_life: 5.0,
            popularity_decay: 1e-5,
            refresh_every: 10_000,
            seed: 42,
            content_weight: default_content_weight(),
            item_vector: ItemVector::Fallback,
            synthetic_moves_users: false,
            review_tokens: 0,
        }
    }
}

/// What applying one event did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Applied {
    pub weight: f32,
    pub new_user: bool,
    pub new_item: bool,
}

thread_local! {
    /// Each serving thread's scratch profile (128 KiB, allocated once per thread).
    static PROFILE: std::cell::RefCell<Profile> = std::cell::RefCell::new(Profile::default());
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Online {
    config: OnlineConfig,
    model: Hybrid,
    users: HashMap<String, u32>,
    user_ids: Vec<String>,
    items: HashMap<String, u32>,
    item_ids: Vec<String>,
    /// Items each user really interacted with, sorted: excluded from their recommendations.
    seen: Vec<Vec<u32>>,
    /// Items each user has synthetic interactions with, sorted: they train the model and count
    /// in the user's content profile like a real item until real evidence about the item arrives
    /// (then less and less, see `synthetic_decay`), but they are not excluded from
    /// recommendations: the user never saw the item, and recommending it to plausible users is
    /// the point of generating them. (Counting them at the update weight, 0.5, put a new item in
    /// the top 20 of one of its 10 generated users for 11 of 50 Beauty cold items; at 1, 25.)
    #[serde(default)]
    synthetic: Vec<Vec<u32>>,
    popularity: Vec<f32>,
    popularity_scale: f32,
    real_count: Vec<u32>,
    first_seen: Vec<i64>,
    /// e_i + tower(x_i) per item, for queries.
    vectors: Vec<f32>,
    #[serde(default)]
    content: ContentMatch,
    all_items: Vec<u32>,
    /// Review words each item's content has gained (bounded by `review_tokens`).
    #[serde(default)]
    text_tokens: Vec<u32>,
    events: u64,
    newest_ts: i64,
    rng: SplitMix64,
}

impl Online {
    pub fn new(config: OnlineConfig) -> Self {
        let mut rng = SplitMix64::new(config.seed);
        let mut model = Hybrid::new(config.bpr.clone());
        model.mode = config.item_vector;
        model.init_tower(&mut rng);
        Online {
            model,
            users: HashMap::new(),
            user_ids: Vec::new(),
            items: HashMap::new(),
            item_ids: Vec::new(),
            seen: Vec::new(),
            synthetic: Vec::new(),
            popularity: Vec::new(),
            popularity_scale: 1.0,
            real_count: Vec::new(),
            first_seen: Vec::new(),
            vectors: Vec::new(),
            content: ContentMatch::default(),
            all_items: Vec::new(),
            text_tokens: Vec::new(),
            events: 0,
            newest_ts: 0,
            rng,
            config,
        }
    }

    pub fn users(&self) -> usize {
        self.user_ids.len()
    }

    pub fn items(&self) -> usize {
        self.item_ids.len()
    }

    /// Whether `user` already interacted with `item`.
    /// Whether `user` has any real history here.
    pub fn knows(&self, user: &str) -> bool {
        self.users
            .get(user)
            .is_some_and(|&u| !self.seen[u as usize].is_empty())
    }

    pub fn has(&self, user: &str, item: &str) -> bool {
        match (self.users.get(user), self.items.get(item)) {
            (Some(&u), Some(&i)) => self.seen[u as usize].binary_search(&i).is_ok(),
            _ => false,
        }
    }

    /// Timestamp of the newest applied event (for the freshness metric).
    pub fn newest_ts(&self) -> i64 {
        self.newest_ts
    }

    fn refresh_vector(&mut self, i: usize) {
        let dim = self.config.bpr.dim;
        let mut v = vec![0.0; dim];
        self.model.item_vector(i, &mut v);
        self.vectors[i * dim..(i + 1) * dim].copy_from_slice(&v);
    }

    fn refresh_all(&mut self) {
        for i in 0..self.items() {
            self.refresh_vector(i);
        }
    }

    fn add_item(&mut self, id: &str, features: Vec<String>, ts: i64) -> u32 {
        let x = hashed(&features);
        self.content.add_item(&x);
        let i = self.model.add_item(x);
        self.items.insert(id.to_owned(), i as u32);
        self.item_ids.push(id.to_owned());
        self.popularity.push(0.0);
        self.real_count.push(0);
        self.first_seen.push(ts);
        self.vectors
            .extend(std::iter::repeat_n(0.0, self.config.bpr.dim));
        self.all_items.push(i as u32);
        self.text_tokens.push(0);
        self.refresh_vector(i);
        i as u32
    }

    /// Words of a real review of `item` join its content (as title words do), until it has
    /// gained `review_tokens` of them; returns how many joined. The item's content match and its
    /// content tower input both change; what its own embedding learnt stays.
    ///
    /// `apply` calls it for a real event that carries review text. Measured with `warmstart eval
    /// stream --review-tokens` on the two catalogues here with review text (docs/benchmarks.md):
    /// all of a review's words lifted warm items 8-9% on Musical Instruments, whose products have
    /// no text of their own, and cost them 1.5-10% on Gift Cards, whose products have titles. So it
    /// is off by default, a setting for catalogues whose products say little.
    pub fn add_text(&mut self, item: &str, text: &str) -> usize {
        let Some(&i) = self.items.get(item) else {
            return 0;
        };
        let i = i as usize;
        let room = self
            .config
            .review_tokens
            .saturating_sub(self.text_tokens[i] as usize);
        if room == 0 {
            return 0;
        }
        let have = self.content.buckets_of(i);
        let mut new: Vec<u32> = Vec::new();
        for t in tokens(text) {
            let b = bucket(&format!("tok:{t}"));
            if have.binary_search(&b).is_err() && !new.contains(&b) {
                new.push(b);
                if new.len() == room {
                    break;
                }
            }
        }
        new.sort_unstable();
        let added = self.content.extend_item(i, &new);
        if added > 0 {
            self.text_tokens[i] += added as u32;
            let all = self.content.buckets_of(i);
            let w = 1.0 / (all.len() as f32).sqrt();
            self.model
                .set_features(i, all.iter().map(|&b| (b, w)).collect());
            self.refresh_vector(i);
        }
        added
    }

    /// A new product: it gets a vector from its content at once, so `/similar` and
    /// recommendations can serve it before any interaction. A known item keeps its state.
    pub fn apply_product(&mut self, p: &ProductEvent) -> bool {
        if self.items.contains_key(&p.item_id) {
            return false;
        }
        self.add_item(&p.item_id, named_features(p), p.ts);
        self.newest_ts = self.newest_ts.max(p.ts);
        true
    }

    fn user(&mut self, id: &str) -> (u32, bool) {
        if let Some(&u) = self.users.get(id) {
            return (u, false);
        }
        let u = self.user_ids.len() as u32;
        self.users.insert(id.to_owned(), u);
        self.user_ids.push(id.to_owned());
        self.seen.push(Vec::new());
        self.synthetic.push(Vec::new());
        self.model.ensure_users(self.user_ids.len(), &mut self.rng);
        (u, true)
    }

    /// Brings state restored from an older snapshot up to this build's layout: snapshots from
    /// before synthetic histories were kept have none for their users.
    pub(crate) fn after_restore(&mut self) {
        self.synthetic.resize(self.seen.len(), Vec::new());
        self.text_tokens.resize(self.item_ids.len(), 0);
    }

    /// How much synthetic evidence about item `i` still counts: 1 before any real interaction,
    /// halving every `synthetic_half_life` real interactions of the item (0 when synthetic
    /// events are switched off with `synthetic_weight = 0`).
    fn synthetic_decay(&self, i: u32) -> f32 {
        if self.config.synthetic_weight <= 0.0 {
            return 0.0;
        }
        let halvings = self.real_count[i as usize] as f32 / self.config.synthetic_half_life;
        0.5f32.powf(halvings)
    }

    /// The weight of a synthetic interaction with item `i` in a model update, relative to a real
    /// one of the same kind.
    fn synthetic_weight(&self, i: u32) -> f32 {
        self.config.synthetic_weight * self.synthetic_decay(i)
    }

    /// One interaction, one model update.
    pub fn apply(&mut self, e: &EnrichedEvent) -> Applied {
        let (u, new_user) = self.user(&e.user_id);
        let (i, new_item) = match self.items.get(&e.item_id) {
            Some(&i) => (i, false),
            None => (self.add_item(&e.item_id, Vec::new(), e.ts), true),
        };
        let weight = match e.origin {
            Origin::Real => {
                self.real_count[i as usize] += 1;
                e.weight as f32
            }
            Origin::Synthetic => e.weight as f32 * self.synthetic_weight(i),
        };
        // Popularity with exponential forgetting, kept as count * scale to avoid touching
        // every item per event.
        self.popularity_scale *= 1.0 + self.config.popularity_decay;
        self.popularity[i as usize] += weight * self.popularity_scale;
        if self.popularity_scale > 1e6 {
            let s = self.popularity_scale;
            self.popularity.iter_mut().for_each(|p| *p /= s);
            self.popularity_scale = 1.0;
        }
        let history = match e.origin {
            Origin::Real => &mut self.seen,
            Origin::Synthetic => &mut self.synthetic,
        };
        let history = &mut history[u as usize];
        if let Err(pos) = history.binary_search(&i) {
            history.insert(pos, i);
        }
        if self.items() > 1 && weight > 0.0 {
            let (u, i) = (u as usize, i as usize);
            let seen = std::mem::take(&mut self.seen[u]);
            let is_seen = |j| seen.binary_search(&j).is_ok();
            let item_only = e.origin == Origin::Synthetic && !self.config.synthetic_moves_users;
            let rng = &mut self.rng;
            self.model
                .observe(u, i, weight, &self.all_items, is_seen, rng, item_only);
            self.seen[u] = seen;
            self.refresh_vector(i);
        }
        if let (Origin::Real, Some(text)) = (e.origin, e.review_text.as_deref()) {
            self.add_text(&e.item_id, text);
        }
        self.events += 1;
        if self.events.is_multiple_of(self.config.refresh_every) {
            self.refresh_all();
        }
        self.newest_ts = self.newest_ts.max(e.ts);
        Applied {
            weight,
            new_user,
            new_item,
        }
    }

    /// Top `k` items for `user`, without those the user already has. Unknown users and users
    /// without history get popular items interleaved with the freshest ones, never an error.
    pub fn recommend(&self, user: &str, k: usize) -> Vec<(String, f32)> {
        let Some(&u) = self.users.get(user) else {
            return self.popular_and_fresh(k);
        };
        let scores = self.scores(u);
        rank::top_k(&scores, k, |_| true, &self.seen[u as usize])
            .into_iter()
            .map(|i| (self.item_ids[i as usize].clone(), scores[i as usize]))
            .collect()
    }

    /// The 1-based rank of `item` in `user`'s full ranking (the user's own items left out), as
    /// `recommend` would order it; `None` for an unknown user or item, or an item the user has.
    pub fn rank_of(&self, user: &str, item: &str) -> Option<usize> {
        let (&u, &i) = (self.users.get(user)?, self.items.get(item)?);
        let seen = &self.seen[u as usize];
        if seen.binary_search(&i).is_ok() {
            return None;
        }
        let scores = self.scores(u);
        let s = scores[i as usize];
        // Ties rank before the item when their index is lower, as in `rank::top_k`.
        let ahead = scores
            .iter()
            .enumerate()
            .filter(|&(j, &x)| {
                (x > s || (x == s && j < i as usize)) && seen.binary_search(&(j as u32)).is_err()
            })
            .count();
        Some(ahead + 1)
    }

    /// The factor score plus the content match of every item for user index `u`.
    fn scores(&self, u: u32) -> Vec<f32> {
        let dim = self.config.bpr.dim;
        let uv = self.model.users.row(u as usize);
        let mut scores: Vec<f32> = self
            .vectors
            .chunks_exact(dim)
            .zip(&self.model.item_bias)
            .map(|(v, b)| dot(uv, v) + b)
            .collect();
        let seen = &self.seen[u as usize];
        let synthetic = &self.synthetic[u as usize];
        PROFILE.with_borrow_mut(|profile| {
            let history = seen
                .iter()
                .map(|&i| (i, 1.0))
                .chain(synthetic.iter().map(|&i| (i, self.synthetic_decay(i))));
            self.content.weighted_profile(history, profile);
            self.content
                .add_scores(profile, self.config.content_weight, &mut scores);
        });
        scores
    }

    /// Items whose vectors are closest (cosine) to `item`'s; `None` for an unknown item.
    pub fn similar(&self, item: &str, k: usize) -> Option<Vec<(String, f32)>> {
        let &i = self.items.get(item)?;
        let dim = self.config.bpr.dim;
        let v = &self.vectors[i as usize * dim..(i as usize + 1) * dim];
        let norm = |x: &[f32]| dot(x, x).sqrt().max(1e-9);
        let nv = norm(v);
        let scores: Vec<f32> = (0..self.items())
            .map(|j| {
                let w = &self.vectors[j * dim..(j + 1) * dim];
                dot(v, w) / (nv * norm(w))
            })
            .collect();
        Some(
            rank::top_k(&scores, k, |j| j != i, &[])
                .into_iter()
                .map(|j| (self.item_ids[j as usize].clone(), scores[j as usize]))
                .collect(),
        )
    }

    fn popular_and_fresh(&self, k: usize) -> Vec<(String, f32)> {
        let popular = rank::top_k(&self.popularity, k, |_| true, &[]);
        let fresh_scores: Vec<f32> = self.first_seen.iter().map(|&t| t as f32).collect();
        let fresh = rank::top_k(&fresh_scores, k, |_| true, &[]);
        let mut out: Vec<(String, f32)> = Vec::with_capacity(k);
        let mut taken = std::collections::HashSet::new();
        for (p, f) in popular
            .iter()
            .map(Some)
            .chain(std::iter::repeat(None))
            .zip(fresh.iter().map(Some).chain(std::iter::repeat(None)))
            .take(k)
        {
            for i in [p, f].into_iter().flatten() {
                if out.len() < k && taken.insert(*i) {
                    out.push((
                        self.item_ids[*i as usize].clone(),
                        self.popularity[*i as usize] / self.popularity_scale,
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::BehaviorKind;
    use std::collections::BTreeMap;

    fn product(id: &str, title: &str, ts: i64) -> ProductEvent {
        ProductEvent {
            item_id: id.into(),
            ts,
            title: title.into(),
            category: vec!["Beauty".into()],
            brand: None,
            price: None,
            description: None,
            attributes: BTreeMap::new(),
        }
    }

    fn event(user: &str, item: &str, origin: Origin) -> EnrichedEvent {
        EnrichedEvent {
            event_id: format!("{user}-{item}"),
            user_id: user.into(),
            item_id: item.into(),
            kind: BehaviorKind::Purchase,
            ts: 10,
            weight: 4.0,
            origin,
            synthetic: origin == Origin::Synthetic,
            model_version: None,
            rating: None,
            review_text: None,
        }
    }

    #[test]
    fn unknown_users_get_popular_and_fresh_items() {
        let mut m = Online::new(OnlineConfig::default());
        assert!(
            m.recommend("nobody", 5).is_empty(),
            "an empty model answers, with nothing"
        );
        for (i, t) in ["a", "b", "c"].iter().enumerate() {
            m.apply_product(&product(t, &format!("item {t}"), i as i64));
        }
        for u in 0..5 {
            m.apply(&event(&format!("u{u}"), "a", Origin::Real));
        }
        let recs: Vec<String> = m.recommend("nobody", 2).into_iter().map(|r| r.0).collect();
        assert_eq!(recs, vec!["a", "c"], "most popular, then freshest");
    }

    #[test]
    fn real_review_words_join_an_items_content_up_to_the_cap_and_synthetic_ones_never() {
        let review = |user: &str, item: &str, origin: Origin, text: &str| EnrichedEvent {
            kind: BehaviorKind::Review,
            review_text: Some(text.into()),
            ..event(user, item, origin)
        };
        let run = |review_tokens: usize| {
            let mut m = Online::new(OnlineConfig {
                review_tokens,
                ..OnlineConfig::default()
            });
            for t in ["strings", "cable", "tuner", "capo"] {
                m.apply_product(&product(t, "", 0));
            }
            // The tuner's buyer reviewed it with words the capo gains from its own review.
            m.apply(&review(
                "u",
                "tuner",
                Origin::Real,
                "clip on chromatic tuner",
            ));
            m.apply(&review(
                "v",
                "capo",
                Origin::Synthetic,
                "clip chromatic tuner",
            ));
            assert_eq!(
                m.text_tokens[3], 0,
                "synthetic text never reaches the content"
            );
            m.apply(&review(
                "w",
                "capo",
                Origin::Real,
                "a clip on capo, no chromatic tuner",
            ));
            m
        };
        let (on, off) = (run(3), run(0));
        assert_eq!(on.text_tokens[3], 3, "capped at review_tokens");
        assert_eq!(off.text_tokens[3], 0, "0: review text is not read");
        // Same updates and random draws in both: only the content match differs.
        let score = |m: &Online, item: &str| {
            let all = m.recommend("u", 10);
            all.into_iter().find(|(i, _)| i == item).unwrap().1
        };
        // The factor parts are the same in both; the lead over the cable (which shares only
        // the category with the tuner) is the content match's doing.
        let lead = |m: &Online| score(m, "capo") - score(m, "cable");
        assert!(
            lead(&on) > lead(&off) + 1.0,
            "the shared words match: {} vs {}",
            lead(&on),
            lead(&off)
        );
    }

    #[test]
    fn recommendations_exclude_what_the_user_has() {
        let mut m = Online::new(OnlineConfig::default());
        for t in ["a", "b", "c", "d"] {
            m.apply_product(&product(t, t, 0));
        }
        m.apply(&event("u", "a", Origin::Real));
        m.apply(&event("u", "b", Origin::Real));
        let recs: Vec<String> = m.recommend("u", 10).into_iter().map(|r| r.0).collect();
        assert_eq!(recs.len(), 2);
        assert!(!recs.contains(&"a".to_string()) && !recs.contains(&"b".to_string()));
    }

    #[test]
    fn a_new_product_is_similar_to_items_sharing_its_content_before_any_interaction() {
        let mut m = Online::new(OnlineConfig::default());
        m.apply_product(&product("polish-1", "OPI red nail polish lacquer", 0));
        m.apply_product(&product("shampoo", "argan oil shampoo for dry hair", 0));
        m.apply_product(&product("polish-2", "OPI pink nail polish lacquer", 1));
        let sim = m.similar("polish-2", 2).unwrap();
        assert_eq!(sim[0].0, "polish-1", "{sim:?}");
        assert!(m.similar("unknown", 2).is_none());
    }

    #[test]
    fn synthetic_weight_decays_as_real_interactions_arrive() {
        let mut m = Online::new(OnlineConfig::default());
        m.apply_product(&product("new", "new thing", 0));
        m.apply_product(&product("other", "other thing", 0));
        let first = m.apply(&event("s1", "new", Origin::Synthetic)).weight;
        assert!(
            (first - 2.0).abs() < 1e-6,
            "4.0 * 0.5, no real evidence yet: {first}"
        );
        for u in 0..5 {
            m.apply(&event(&format!("r{u}"), "new", Origin::Real));
        }
        let later = m.apply(&event("s2", "new", Origin::Synthetic)).weight;
        assert!(
            (later - 1.0).abs() < 1e-5,
            "halved after 5 real interactions: {later}"
        );
    }

    #[test]
    fn a_synthetic_interaction_makes_the_item_recommendable_to_its_user_without_excluding_it() {
        let mut m = Online::new(OnlineConfig::default());
        for (t, title) in [
            ("lipstick", "matte red lipstick"),
            ("gloss", "pink lip gloss shine"),
            ("mascara", "black volume mascara"),
            ("serum", "vitamin c face serum"),
            ("cream", "night face cream"),
        ] {
            m.apply_product(&product(t, title, 0));
        }
        m.apply(&event("u", "lipstick", Origin::Real));
        m.apply_product(&product("new-serum", "retinol face serum", 1));
        let rank = |m: &Online| {
            m.recommend("u", 10)
                .iter()
                .position(|r| r.0 == "new-serum")
                .unwrap()
        };
        let before = rank(&m);
        let user_vector = |m: &Online| m.model.users.row(m.users["u"] as usize).to_vec();
        let user_before = user_vector(&m);
        // The same model, configured to move users too.
        let mut moving: Online = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        moving.after_restore();
        moving.config.synthetic_moves_users = true;
        m.apply(&event("u", "new-serum", Origin::Synthetic));
        moving.apply(&event("u", "new-serum", Origin::Synthetic));
        assert_eq!(user_vector(&m), user_before, "only the item learns");
        assert_ne!(user_vector(&moving), user_before, "unless configured to");
        assert!(
            !m.has("u", "new-serum"),
            "a synthetic interaction is not consumption"
        );
        assert_eq!(
            rank(&m),
            0,
            "ranked first after its synthetic interaction (was {before})"
        );
    }
}
