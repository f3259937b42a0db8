//! `warmstart eval stream`: the streaming warm-start evaluation. It asks the question this
//! project exists for: does a product launched into a running shop reach its real first shoppers
//! sooner with synthetic data than without? It is measured against the shoppers who really came,
//! never against the synthetic users (who were written for the product, so reaching them proves
//! nothing).
//!
//! Protocol, on any catalogue, in process, with no broker:
//! - the interactions in time order; the last `window` share of them (by count; ties at the cut
//!   go into the window) is the evaluation window, the rest the warm-up;
//! - an item is **new** when its first interaction falls in the window. Everything known before
//!   the window (warm items' products, warm-up interactions in `fit_epochs` passes) trains the
//!   online recommender first, as a running shop's model would be; every generator learns only
//!   from what came before the event it serves, so nothing leaks from the future;
//! - in the window, events are replayed in order. A new item's product event is applied just
//!   before its first interaction, and the variant's generation runs then, as in production;
//! - before each real interaction is applied, its user's top 20 (the service's `recommend`,
//!   without what the user has) is checked for its item. For a new item's k-th real interaction
//!   (k = 1..`first_k`) the hit, NDCG@20 and full rank go to that k; every other interaction with
//!   an item new to its user counts as warm prequential, so harm to older items shows.
//!
//! Interactions are weighted as the pipeline's enrich stage weighs them (its default weights).

pub mod gan;
mod report;
pub use crate::recommend::transfer;

pub use report::{plot, render};

use crate::data::Catalog;
use crate::events::{BehaviorKind, EnrichedEvent, Origin, ProductEvent};
use crate::recommend::online::{Online, OnlineConfig};
use crate::recommend::splitmix::SplitMix64;
use crate::recommend::transfer::{Transfer, TransferConfig};
use crate::topology::Weights;
use gan::{GanError, GanGenerator};
use std::collections::HashMap;
use std::path::PathBuf;

pub const K: usize = 20;

/// What a new product gets at launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Nothing: the content match and the content tower carry the new item alone.
    None,
    /// Synthetic views by users drawn from the recent shoppers of its content neighbours.
    Transfer,
    /// Synthetic behaviour from the behaviour GAN, retrained on the warm-up.
    Gan,
    /// No synthetic behaviour; the words of the generation stage's synthetic reviews (from the
    /// review model whose domain covers the product, none otherwise) join the new item's content.
    Reviews,
}

impl Variant {
    /// The name `--variants` takes.
    pub fn name(self) -> &'static str {
        match self {
            Variant::None => "none",
            Variant::Transfer => "transfer",
            Variant::Gan => "gan",
            Variant::Reviews => "reviews",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Variant::None => "no synthesis (content match + content tower)",
            Variant::Transfer => "transfer generator (neighbours' recent shoppers)",
            Variant::Gan => "behaviour GAN (retrained on the warm-up)",
            Variant::Reviews => "synthetic reviews as item text (no behaviour)",
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamConfig {
    /// Share of the interactions (the latest) in the evaluation window.
    pub window: f64,
    /// Passes over the warm-up before the window.
    pub fit_epochs: usize,
    /// New items' real interactions measured one by one.
    pub first_k: usize,
    pub seed: u64,
    pub model: OnlineConfig,
    pub transfer: TransferConfig,
    /// Behaviour GAN epochs, and where its warm-up checkpoint is written.
    pub gan_epochs: usize,
    pub gan_dir: PathBuf,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            window: 0.3,
            fit_epochs: 10,
            first_k: 5,
            seed: 42,
            model: OnlineConfig::default(),
            transfer: TransferConfig::default(),
            gan_epochs: 10,
            gan_dir: PathBuf::from("out/stream-gan"),
        }
    }
}

/// Hits and NDCG@20 over a set of measured interactions; ranks where the user was known.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Measured {
    pub events: usize,
    pub hr20: f64,
    pub ndcg20: f64,
    /// Median full rank (1 = top), over the events whose user the model knew.
    pub median_rank: Option<usize>,
    #[serde(skip)]
    ranks: Vec<usize>,
}

impl Measured {
    fn add(&mut self, position: Option<usize>, rank: Option<usize>) {
        self.events += 1;
        if let Some(p) = position {
            self.hr20 += 1.0;
            self.ndcg20 += 1.0 / ((p + 2) as f64).log2();
        }
        self.ranks.extend(rank);
    }

    fn finish(&mut self) {
        let n = self.events.max(1) as f64;
        self.hr20 /= n;
        self.ndcg20 /= n;
        self.ranks.sort_unstable();
        self.median_rank = self.ranks.get(self.ranks.len() / 2).copied();
    }

    /// The union of unfinished measurements (their sums, before `finish` turns them into means).
    fn merge(all: &[Measured]) -> Measured {
        let mut m = Measured::default();
        for x in all {
            m.events += x.events;
            m.hr20 += x.hr20;
            m.ndcg20 += x.ndcg20;
            m.ranks.extend(&x.ranks);
        }
        m.finish();
        m
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    pub variant: Variant,
    pub label: String,
    /// The new items' k-th real interactions, k = 1..first_k.
    pub by_k: Vec<Measured>,
    /// All of the above together.
    pub first_k: Measured,
    /// Every other window interaction with an item new to its user.
    pub warm: Measured,
    pub synthetic_events: usize,
    /// Of the new items' first real interactions, the share whose user was among the item's
    /// synthetic users: how well the generator guessed who would come (not a hit rate: a
    /// generated user still has to get the item in the top 20).
    pub generated_recall: f64,
    pub wall_s: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct StreamReport {
    pub catalog: String,
    pub protocol: String,
    pub config: StreamConfig,
    pub warmup_events: usize,
    pub window_events: usize,
    pub new_items: usize,
    pub rows: Vec<Row>,
}

/// The warm-up / window cut: the index of the first window interaction.
fn cut(catalog: &Catalog, window: f64) -> usize {
    let all = catalog.interactions();
    let n = all.len();
    let first = ((n as f64) * (1.0 - window.clamp(0.0, 1.0))).floor() as usize;
    // Ties at the cut go into the window, so "new" is decided by time alone.
    let ts = all.get(first).map_or(i64::MAX, |b| b.ts);
    all.partition_point(|b| b.ts < ts)
}

/// The validation catalogue: everything before the evaluation window, on which the same protocol
/// (the same window share of it) chooses settings without looking at the window itself.
pub fn validation(catalog: &Catalog, window: f64) -> Catalog {
    let at = cut(catalog, window);
    Catalog::from_stream(
        &format!(
            "{} (validation: before the evaluation window)",
            catalog.name
        ),
        catalog.stream_prefix(Some(at)),
    )
}

pub fn run(
    catalog: &Catalog,
    config: &StreamConfig,
    variants: &[Variant],
    progress: bool,
) -> Result<StreamReport, GanError> {
    let at = cut(catalog, config.window);
    let cut_ts = catalog.interactions().get(at).map_or(i64::MAX, |b| b.ts);
    let new_items = catalog.items().iter().filter(|p| p.ts >= cut_ts).count();
    let mut gan = None;
    if variants.contains(&Variant::Gan) {
        gan = Some(GanGenerator::train(
            catalog,
            at,
            &config.gan_dir,
            config.gan_epochs,
            config.transfer.users,
            config.seed,
            progress,
        )?);
    }
    let mut writer = None;
    if variants.contains(&Variant::Reviews) {
        writer = Some(ReviewWriter::load()?);
    }
    let rows = variants
        .iter()
        .map(|&v| {
            run_variant(
                catalog,
                config,
                v,
                at,
                cut_ts,
                gan.as_mut(),
                writer.as_mut(),
                progress,
            )
        })
        .collect();
    Ok(StreamReport {
        catalog: catalog.name.clone(),
        protocol: format!(
            "stream warm-start: last {:.0}% of interactions replayed in time order after {} passes over the rest; new items first seen in the window; HR/NDCG@{K} of each real interaction before it is applied",
            config.window * 100.0,
            config.fit_epochs
        ),
        config: config.clone(),
        warmup_events: at,
        window_events: catalog.interactions().len() - at,
        new_items,
        rows,
    })
}

fn synthetic(
    user: String,
    p: &ProductEvent,
    n: usize,
    (kind, ts): (BehaviorKind, i64),
    weights: &Weights,
    version: &str,
) -> EnrichedEvent {
    EnrichedEvent {
        event_id: format!("synthetic-{}-{n}", p.item_id),
        user_id: user,
        item_id: p.item_id.clone(),
        kind,
        ts,
        weight: weights.of(kind),
        origin: Origin::Synthetic,
        synthetic: true,
        model_version: Some(version.into()),
        rating: None,
        review_text: None,
    }
}

/// The generation stage's review models (the shipped ones, their gates included), writing a new
/// item's synthetic reviews at launch, as the stage would.
struct ReviewWriter {
    engine: crate::generate::Engine,
}

impl ReviewWriter {
    fn load() -> Result<ReviewWriter, GanError> {
        use crate::generate::{Engine, GenerationConfig};
        let config = GenerationConfig {
            users_per_product: 0,
            device: crate::topology::generation::DeviceChoice::Cpu,
            ..Default::default()
        };
        let engine = Engine::load(&config, None).map_err(GanError::Reviews)?;
        Ok(ReviewWriter { engine })
    }

    /// The product with its synthetic reviews' text appended to its title (the content features
    /// read titles), and how many reviews it got.
    fn with_reviews(&mut self, p: &ProductEvent) -> (ProductEvent, usize) {
        use crate::generate::Model;
        let g = self.engine.generate(std::slice::from_ref(p)).remove(0);
        let mut title = p.title.clone();
        for r in &g.reviews {
            title.push(' ');
            title.push_str(&r.text);
        }
        (ProductEvent { title, ..p.clone() }, g.reviews.len())
    }
}

#[allow(clippy::too_many_arguments)]
fn run_variant(
    catalog: &Catalog,
    config: &StreamConfig,
    variant: Variant,
    at: usize,
    cut_ts: i64,
    mut gan: Option<&mut GanGenerator>,
    mut writer: Option<&mut ReviewWriter>,
    progress: bool,
) -> Row {
    let started = std::time::Instant::now();
    let weights = Weights::default();
    let all = catalog.interactions();
    let products: HashMap<&str, &ProductEvent> = catalog
        .items()
        .iter()
        .map(|p| (p.item_id.as_str(), p))
        .collect();
    let mut model = Online::new(config.model.clone());
    let mut transfer = Transfer::new(config.transfer.clone());
    for p in catalog.items().iter().filter(|p| p.ts < cut_ts) {
        model.apply_product(p);
        transfer.product(p);
    }
    let bar = crate::observe::progress::bar(
        progress,
        (config.fit_epochs * at + all.len() - at) as u64,
        "{msg} {bar:30} {pos}/{len}",
    );
    bar.set_message(variant.label());
    for _ in 0..config.fit_epochs {
        for b in &all[..at] {
            model.apply(&EnrichedEvent::real(b.clone(), weights.of(b.kind)));
            bar.inc(1);
        }
    }
    for b in &all[..at] {
        transfer.interaction(&b.user_id, &b.item_id, b.ts);
    }
    let mut rng = SplitMix64::new(config.seed);
    let mut real_seen: HashMap<&str, usize> = HashMap::new();
    let mut by_k = vec![Measured::default(); config.first_k];
    let mut warm = Measured::default();
    let mut synthetic_events = 0;
    let mut generated: HashMap<&str, Vec<String>> = HashMap::new();
    let version = match (variant, gan.as_deref()) {
        (Variant::Gan, Some(g)) => g.version.clone(),
        _ => "transfer-generator".to_owned(),
    };
    let mut guessed = 0usize;
    for b in &all[at..] {
        let p = products.get(b.item_id.as_str()).copied();
        let is_new = p.is_some_and(|p| p.ts >= cut_ts);
        let count = real_seen.entry(b.item_id.as_str()).or_default();
        if is_new && *count == 0 {
            let p = p.expect("new items have products");
            match (variant, writer.as_deref_mut()) {
                (Variant::Reviews, Some(w)) => {
                    let (with, n) = w.with_reviews(p);
                    model.apply_product(&with);
                    synthetic_events += n;
                }
                _ => {
                    model.apply_product(p);
                }
            }
            transfer.product(p);
            let events: Vec<(String, BehaviorKind, i64)> = match (variant, gan.as_deref_mut()) {
                (Variant::Transfer, _) => transfer
                    .shoppers_for(p, &mut rng)
                    .into_iter()
                    .map(|u| (u, BehaviorKind::View, p.ts))
                    .collect(),
                (Variant::Gan, Some(g)) => g.events_for(p),
                _ => Vec::new(),
            };
            let mut users: Vec<String> = Vec::new();
            for (n, (u, kind, ts)) in events.into_iter().enumerate() {
                model.apply(&synthetic(u.clone(), p, n, (kind, ts), &weights, &version));
                synthetic_events += 1;
                if !users.contains(&u) {
                    users.push(u);
                }
            }
            generated.insert(p.item_id.as_str(), users);
        }
        if !model.has(&b.user_id, &b.item_id) {
            let k = *count;
            let top = model.recommend(&b.user_id, K);
            let position = top.iter().position(|(i, _)| *i == b.item_id);
            if is_new && k < config.first_k {
                by_k[k].add(position, model.rank_of(&b.user_id, &b.item_id));
                if generated
                    .get(b.item_id.as_str())
                    .is_some_and(|g| g.contains(&b.user_id))
                {
                    guessed += 1;
                }
            } else {
                warm.add(position, None);
            }
        }
        *count += 1;
        model.apply(&EnrichedEvent::real(b.clone(), weights.of(b.kind)));
        transfer.interaction(&b.user_id, &b.item_id, b.ts);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let first_k = Measured::merge(&by_k);
    let generated_recall = guessed as f64 / first_k.events.max(1) as f64;
    by_k.iter_mut().for_each(Measured::finish);
    warm.finish();
    Row {
        variant,
        label: variant.label().to_owned(),
        by_k,
        first_k,
        warm,
        synthetic_events,
        generated_recall,
        wall_s: started.elapsed().as_secs_f64(),
    }
}
