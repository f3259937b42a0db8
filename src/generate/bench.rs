//! `warmstart bench-generation` (and `cargo bench --bench generation`): what the generation stage
//! produces per second on this machine's device, one product per forward pass against dynamic
//! micro-batching, on new products of Amazon Beauty, with the committed models.
//!
//! Two measurements:
//! - the batch-latency table: [`Engine`] called directly on batches of fixed sizes (the model's
//!   own cost: sampling, gates, regeneration);
//! - the stage's throughput through the inference thread, saturated (every product queued at
//!   once), with `max_batch = 1` and with dynamic batching (`max_batch` 64 by default,
//!   `max_wait = 5 ms`):
//!   their ratio is the figure of merit of batching.

use super::config::{DeviceChoice, GenerationConfig};
use super::engine::{Engine, Generated, Model, Versions};
use super::metrics::GenerationMetrics;
use super::worker::{self, BatchConfig, Job};
use super::GenerateError;
use crate::data::{beauty, StreamEvent};
use crate::events::ProductEvent;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize)]
pub struct BatchPoint {
    pub batch: usize,
    pub batches: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub products_per_s: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Throughput {
    pub max_batch: usize,
    pub products: usize,
    pub seconds: f64,
    pub products_per_s: f64,
    pub reviews_per_s: f64,
    pub sequences_per_s: f64,
    pub rejected_reviews: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub device: String,
    pub cpu_threads: i32,
    pub versions: Versions,
    pub reviews_per_product: usize,
    pub users_per_product: usize,
    pub batch_latency: Vec<BatchPoint>,
    pub unbatched: Throughput,
    pub batched: Throughput,
    pub ratio: f64,
}

/// The engine shared between the measurements, so that it is loaded (and its gates fitted) once.
struct Shared(Arc<Mutex<Engine>>);

impl Model for Shared {
    fn generate(&mut self, products: &[ProductEvent]) -> Vec<Generated> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .generate(products)
    }
    fn versions(&self) -> Versions {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).versions()
    }
    fn device(&self) -> tch::Device {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).device()
    }
}

/// The newest `n` products of Amazon Beauty (their first appearance in time order), standing in
/// for new products.
pub fn new_products(n: usize) -> Result<Vec<ProductEvent>, GenerateError> {
    let stream = beauty::load(&crate::data::data_dir().join("beauty-5core"), None)?;
    let products: Vec<ProductEvent> = stream
        .into_iter()
        .filter_map(|e| match e {
            StreamEvent::Product(p) => Some(p),
            StreamEvent::Behavior(_) => None,
        })
        .collect();
    Ok(products[products.len().saturating_sub(n)..].to_vec())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn through_worker(
    engine: &Arc<Mutex<Engine>>,
    products: &[ProductEvent],
    max_batch: usize,
) -> Result<Throughput, GenerateError> {
    let (done_tx, mut done_rx) = tokio::sync::mpsc::unbounded_channel();
    let shared = engine.clone();
    let handle = worker::spawn(
        Box::new(move || Ok(Box::new(Shared(shared.clone())) as Box<dyn Model>)),
        BatchConfig {
            max_batch,
            max_wait: Duration::from_millis(5),
            capacity: products.len().max(max_batch),
            delay: Duration::ZERO,
        },
        GenerationMetrics::new(&prometheus::Registry::new()),
        done_tx,
    )?;
    let started = Instant::now();
    for p in products {
        handle
            .submit(Job {
                product: p.clone(),
                ticket: (),
                arrived: Instant::now(),
            })
            .map_err(|e| GenerateError::Thread(e.to_string()))?;
    }
    let (mut reviews, mut sequences, mut rejected) = (0usize, 0usize, 0u64);
    for _ in products {
        let d = done_rx
            .blocking_recv()
            .ok_or_else(|| GenerateError::Thread("the inference thread stopped".into()))?;
        reviews += d.generated.reviews.len();
        let mut users: Vec<&str> = d
            .generated
            .behavior
            .iter()
            .map(|b| b.user_id.as_str())
            .collect();
        users.dedup();
        sequences += users.len();
        rejected += d
            .generated
            .rejected
            .iter()
            .filter(|((kind, _), _)| *kind == "review")
            .map(|(_, n)| *n as u64)
            .sum::<u64>();
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(Throughput {
        max_batch,
        products: products.len(),
        seconds,
        products_per_s: products.len() as f64 / seconds,
        reviews_per_s: reviews as f64 / seconds,
        sequences_per_s: sequences as f64 / seconds,
        rejected_reviews: rejected,
    })
}

/// Runs both measurements on `n` products (batch size 1 on at most 64 of them: it is slow, and a
/// rate needs no more).
pub fn run(
    n: usize,
    device: &str,
    cpu_threads: i32,
    batch_sizes: &[usize],
    max_batch: usize,
) -> Result<Report, GenerateError> {
    let config = GenerationConfig {
        device: match device {
            "cpu" => DeviceChoice::Cpu,
            "cuda" => DeviceChoice::Cuda,
            _ => DeviceChoice::Auto,
        },
        cpu_threads,
        // What it measures is the models on a device; the transfer generator is a lookup.
        behavior_source: crate::topology::generation::BehaviorSource::Gan,
        ..Default::default()
    };
    let products = new_products(n.max(1))?;
    eprintln!("loading the models and fitting the gates ...");
    let engine = Engine::load(&config, None)?;
    let device = crate::torch::device_name(engine.device());
    let versions = engine.versions();
    let engine = Arc::new(Mutex::new(engine));

    let mut batch_latency = Vec::new();
    for &b in batch_sizes {
        let b = b.max(1);
        let take = if b == 1 {
            products.len().min(64)
        } else {
            products.len()
        };
        let mut times = Vec::new();
        let started = Instant::now();
        for chunk in products[..take].chunks(b) {
            let t = Instant::now();
            engine
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .generate(chunk);
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        let secs = started.elapsed().as_secs_f64();
        times.sort_by(f64::total_cmp);
        eprintln!("batch {b}: {} batches in {secs:.1} s", times.len());
        batch_latency.push(BatchPoint {
            batch: b,
            batches: times.len(),
            p50_ms: percentile(&times, 0.5),
            p99_ms: percentile(&times, 0.99),
            products_per_s: take as f64 / secs,
        });
    }
    let unbatched = through_worker(&engine, &products[..products.len().min(64)], 1)?;
    let batched = through_worker(&engine, &products, max_batch.max(1))?;
    Ok(Report {
        device,
        cpu_threads: config.cpu_threads,
        versions,
        reviews_per_product: config.reviews_per_product,
        users_per_product: config.users_per_product,
        ratio: batched.products_per_s / unbatched.products_per_s,
        batch_latency,
        unbatched,
        batched,
    })
}

pub fn render(r: &Report) -> String {
    let mut s = format!(
        "generation on {} ({} reviews and {} users per product; models {} / {})\n\n",
        r.device,
        r.reviews_per_product,
        r.users_per_product,
        r.versions.reviews,
        r.versions.behavior
    );
    s += &format!(
        "{:>6} {:>8} {:>10} {:>10} {:>12}\n",
        "batch", "batches", "p50 ms", "p99 ms", "products/s"
    );
    for p in &r.batch_latency {
        s += &format!(
            "{:>6} {:>8} {:>10.1} {:>10.1} {:>12.1}\n",
            p.batch, p.batches, p.p50_ms, p.p99_ms, p.products_per_s
        );
    }
    s += "\nthrough the inference thread, saturated:\n";
    for t in [&r.unbatched, &r.batched] {
        s += &format!(
            "  max_batch {:>3}: {:>4} products in {:>6.1} s: {:>8.1} products/s, {:>8.1} reviews/s, {:>8.1} behaviour sequences/s ({} reviews rejected by the gates)\n",
            t.max_batch, t.products, t.seconds, t.products_per_s, t.reviews_per_s, t.sequences_per_s, t.rejected_reviews
        );
    }
    s += &format!("  dynamic batching / batch size 1: {:.1}x\n", r.ratio);
    s
}
