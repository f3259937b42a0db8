//! The `warmstart` command line: the binary edge, where errors become `anyhow` reports.

use anyhow::Context;
use clap::{Parser, Subcommand};
use std::path::{Path, PathBuf};
use warmstart::observe::{self, logging::LogFormat, Metrics};
use warmstart::pipeline::runner::Pipeline;
use warmstart::topology::Topology;

#[derive(Parser)]
#[command(
    name = "warmstart",
    version,
    about = "Warms up cold-start recommendation with synthetic data, on Kafka"
)]
struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        env = "WARMSTART_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline topology against a Kafka cluster until SIGINT/SIGTERM.
    Run {
        #[arg(long, default_value = "topologies/default.toml")]
        topology: PathBuf,
        /// Overrides kafka.bootstrap_servers.
        #[arg(long, env = "WARMSTART_BOOTSTRAP_SERVERS")]
        bootstrap_servers: Option<String>,
        /// Overrides kafka.group_id.
        #[arg(long)]
        group_id: Option<String>,
        /// Overrides http.listen (empty: no HTTP server).
        #[arg(long)]
        http_listen: Option<String>,
        /// Overrides runtime.transactional_id (exactly-once: one per instance, stable across its
        /// restarts).
        #[arg(long, env = "WARMSTART_TRANSACTIONAL_ID")]
        transactional_id: Option<String>,
    },
    /// Only the generation stage of a topology (its `[generation]` section), e.g. on a GPU
    /// machine while the pipeline runs elsewhere. `warmstart run` starts it too when configured.
    Generate {
        #[arg(long, default_value = "topologies/default.toml")]
        topology: PathBuf,
        #[arg(long, env = "WARMSTART_BOOTSTRAP_SERVERS")]
        bootstrap_servers: Option<String>,
        /// Overrides http.listen (empty: no HTTP server).
        #[arg(long)]
        http_listen: Option<String>,
        /// Overrides runtime.transactional_id (exactly-once: one per instance, stable across its
        /// restarts; the stage appends `-generate`).
        #[arg(long, env = "WARMSTART_TRANSACTIONAL_ID")]
        transactional_id: Option<String>,
    },
    /// Generation throughput on this machine's device: batch size 1 against dynamic batching,
    /// on new products from Amazon Beauty (the models are the committed checkpoints).
    BenchGeneration {
        /// Products per measurement.
        #[arg(long, default_value_t = 256)]
        products: usize,
        /// `auto`, `cpu` or `cuda`.
        #[arg(long, default_value = "auto")]
        device: String,
        /// libtorch threads on the CPU.
        #[arg(long, default_value_t = 1)]
        cpu_threads: i32,
        /// max_batch of the dynamic-batching run.
        #[arg(long, default_value_t = 64)]
        max_batch: usize,
        /// Batch sizes of the batch-latency table.
        #[arg(long, value_delimiter = ',', default_value = "1,16,32,64")]
        batch_sizes: Vec<usize>,
        /// Also write the results as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Check a topology file without running it.
    Validate {
        #[arg(long, default_value = "topologies/default.toml")]
        topology: PathBuf,
    },
    /// The pipeline on the embedded mock Kafka cluster, fed with real Amazon Beauty events; with
    /// a `[generation]` section (the default topology has one), new products after them get
    /// synthetic reviews and behaviour, and the online recommender learns from both.
    Demo {
        #[arg(long, default_value = "topologies/generation.toml")]
        topology: PathBuf,
        /// How many real interactions to replay.
        #[arg(long, default_value_t = 5000)]
        events: usize,
        /// New products launched after the history (with a `[generation]` section).
        #[arg(long, default_value_t = 20)]
        new_products: usize,
    },
    /// Check that libtorch loads and computes, on CUDA when present.
    TorchCheck,
    /// Offline evaluation with the published protocols.
    #[command(subcommand)]
    Eval(EvalCommand),
    /// Train a generator on the shipped real data and write its checkpoint folder.
    #[command(subcommand)]
    Train(TrainCommand),
    /// The online recommender: learns from the topology's enriched and product topics, event by
    /// event, and serves top-K over HTTP.
    Recommender {
        #[arg(long, default_value = "topologies/default.toml")]
        topology: PathBuf,
        #[arg(long, env = "WARMSTART_BOOTSTRAP_SERVERS")]
        bootstrap_servers: Option<String>,
        #[arg(long, default_value = "warmstart-recommender")]
        group_id: String,
        /// Loopback by default.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Keep the model and its input offsets in this file (restored at start, written every
        /// --snapshot-interval-s and at shutdown). Without it the group's committed offsets are used.
        #[arg(long)]
        snapshot: Option<PathBuf>,
        #[arg(long, default_value_t = 30)]
        snapshot_interval_s: u64,
    },
    /// Publish a shipped real data set onto Kafka as a timestamped stream of behaviour events,
    /// each item's product event at its first appearance.
    Replay {
        #[arg(long, value_enum)]
        dataset: Dataset,
        #[arg(long, default_value = "topologies/default.toml")]
        topology: PathBuf,
        #[arg(long, env = "WARMSTART_BOOTSTRAP_SERVERS")]
        bootstrap_servers: Option<String>,
        /// Multiple of real time (60: one recorded minute per second); omit for as fast as possible.
        #[arg(long)]
        speed: Option<f64>,
        /// Only the first N behaviour events.
        #[arg(long)]
        limit: Option<usize>,
        /// Fraction of items counted as new for the cold-start split.
        #[arg(long, default_value_t = 0.2)]
        new_item_fraction: f64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Dataset {
    Beauty,
    Instruments,
    Taobao,
    GiftCards,
}

#[derive(Subcommand)]
enum TrainCommand {
    /// The cold-start behaviour GAN (Amazon Beauty; kinds and gaps from Taobao).
    Behavior {
        #[arg(long, default_value = "models/behavior")]
        out: PathBuf,
        /// GAN epochs (added to the checkpoint's with --resume).
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        /// Epochs of the recommender MF whose vectors the GAN learns.
        #[arg(long, default_value_t = 40)]
        mf_epochs: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Continue training in --out: exactly from its resume.safetensors when there, else from
        /// the f16 weights with fresh optimizer moments (a warning says so).
        #[arg(long)]
        resume: bool,
    },
    /// The adversarial stage of the review generator, starting from an MLE checkpoint.
    ReviewsGan {
        #[arg(long, default_value = "models/reviews")]
        from: PathBuf,
        #[arg(long, default_value = "models/reviews-gan")]
        out: PathBuf,
        /// Adversarial steps (added to the checkpoint's with --resume).
        #[arg(long, default_value_t = 300)]
        steps: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Continue the adversarial training in --out (--from is not read).
        #[arg(long)]
        resume: bool,
    },
    /// The conditional review generator: BPE vocabulary and MLE training.
    Reviews {
        #[arg(long, default_value = "models/reviews")]
        out: PathBuf,
        /// `clothing` (the main corpus) or `instruments` (Musical Instruments 5-core).
        #[arg(long, default_value = "clothing")]
        corpus: warmstart::text::corpus::ReviewCorpus,
        #[arg(long, default_value_t = 8)]
        epochs: usize,
        #[arg(long, default_value_t = 256)]
        hidden: i64,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Continue training in --out (same tokenizer and conditions): exactly from its
        /// resume.safetensors when there, else from the f16 weights with fresh optimizer moments.
        #[arg(long)]
        resume: bool,
    },
}

#[derive(Subcommand)]
enum EvalCommand {
    /// The review generator on held-out products: BLEU, Self-BLEU, distinct-n, NLL, copies,
    /// over sampling temperatures, with the quality-diversity curve as a PNG.
    Reviews {
        /// Checkpoint folders to compare (repeat the flag).
        #[arg(long, default_values = ["models/reviews", "models/reviews-gan"])]
        dir: Vec<PathBuf>,
        /// Generated reviews per temperature.
        #[arg(long, default_value_t = 300)]
        samples: usize,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Also write the reports as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Where to draw the quality-diversity curves.
        #[arg(long, default_value = "out/reviews-quality-diversity.png")]
        plot: PathBuf,
    },
    /// Next-item leave-one-out with full ranking on Amazon Beauty: HR and NDCG at 10 and 20.
    Sequential {
        #[arg(long, default_value_t = 10)]
        epochs: usize,
    },
    /// Predict-then-update over the last 10% of Amazon Beauty in time order: HR and NDCG at 10.
    Prequential {
        #[arg(long, default_value_t = 10)]
        epochs: usize,
    },
    /// The GAR/ALDI cold-start protocol on Amazon Beauty: cold, warm and hybrid P/R/NDCG@20.
    Coldstart {
        #[arg(long, default_value_t = 40)]
        epochs: usize,
        #[arg(long, default_value_t = 64)]
        dim: usize,
        #[arg(long, default_value_t = 0.05)]
        learning_rate: f32,
        #[arg(long, default_value_t = 0.002)]
        regularization: f32,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Probability that a training step treats an item as cold (hybrid model).
        #[arg(long, default_value_t = 0.5)]
        item_dropout: f32,
        /// Epochs of the behaviour GAN for the augmented row (0: no such row; experimental).
        #[arg(long, default_value_t = 0)]
        gan_epochs: usize,
        /// Also write the table as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

fn load(path: &Path) -> anyhow::Result<Topology> {
    Topology::load(path).with_context(|| format!("invalid topology {}", path.display()))
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for SIGTERM; SIGINT only");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Runs the pipeline (when `pipeline`) and the generation stage (when configured) until SIGINT
/// or SIGTERM; SIGHUP reloads the generation models.
async fn run_topology(t: Topology, pipeline: bool) -> anyhow::Result<()> {
    use warmstart::generate::launch;
    let metrics = Metrics::new(&device_label());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let generation = match t.generation {
        Some(_) => Some(launch::spawn(
            t.clone(),
            metrics.clone(),
            stopped(stop_rx.clone()),
        )?),
        None => None,
    };
    let reloader = generation.as_ref().map(|g| g.0.clone());
    if let Some(r) = reloader.clone() {
        reload_on_sighup(r);
    }
    if !t.http.listen.is_empty() {
        let (addr, _) = observe::http::serve(&t.http.listen, metrics.clone(), reloader)
            .await
            .with_context(|| format!("cannot listen on {}", t.http.listen))?;
        tracing::info!(%addr, "serving /metrics, /healthz, /readyz");
    }
    if pipeline {
        let summary = Pipeline::new(t, metrics)?.run(stopped(stop_rx)).await?;
        println!(
            "consumed {} records: {} outputs, {} dead letters, {} duplicates dropped",
            summary.records_in, summary.outputs, summary.dead_letters, summary.filtered
        );
    }
    if let Some((_, task)) = generation {
        let s = task.await.context("generation task")??;
        println!(
            "generation: {} products, {} synthetic reviews, {} synthetic behaviour events, {} dead letters",
            s.products, s.reviews, s.behavior, s.dead_letters
        );
    }
    Ok(())
}

#[cfg(unix)]
fn reload_on_sighup(reloader: warmstart::generate::service::Reloader) {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        tracing::warn!("cannot listen for SIGHUP; reload through POST /admin/reload");
        return;
    };
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            match reloader.reload().await {
                Ok(v) => {
                    tracing::info!(reviews = %v.reviews, behavior = %v.behavior, "SIGHUP: models reloaded")
                }
                Err(e) => {
                    tracing::error!(error = %e, "SIGHUP: reload failed; the previous models keep serving")
                }
            }
        }
    });
}

#[cfg(not(unix))]
fn reload_on_sighup(_: warmstart::generate::service::Reloader) {}

fn device_label() -> String {
    warmstart::torch::device_name(warmstart::torch::device())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    observe::logging::init(cli.log_format);
    match cli.command {
        Command::Validate { topology } => {
            let t = load(&topology)?;
            warmstart::pipeline::runner::build_registry(&t).context("schemas")?;
            println!(
                "{}: ok ({} inputs, {} stages)",
                topology.display(),
                t.inputs.len(),
                t.stages.len()
            );
        }
        Command::Run {
            topology,
            bootstrap_servers,
            group_id,
            http_listen,
            transactional_id,
        } => {
            let mut t = load(&topology)?;
            if let Some(b) = bootstrap_servers {
                t.kafka.bootstrap_servers = b;
            }
            if let Some(g) = group_id {
                t.kafka.group_id = g;
            }
            if transactional_id.is_some() {
                t.runtime.transactional_id = transactional_id;
            }
            if let Some(l) = http_listen {
                t.http.listen = l;
            }
            t.validate()?;
            run_topology(t, true).await?;
        }
        Command::Generate {
            topology,
            bootstrap_servers,
            http_listen,
            transactional_id,
        } => {
            let mut t = load(&topology)?;
            if let Some(b) = bootstrap_servers {
                t.kafka.bootstrap_servers = b;
            }
            if transactional_id.is_some() {
                t.runtime.transactional_id = transactional_id;
            }
            if let Some(l) = http_listen {
                t.http.listen = l;
            }
            t.validate()?;
            anyhow::ensure!(
                t.generation.is_some(),
                "{} has no [generation] section",
                topology.display()
            );
            run_topology(t, false).await?;
        }
        Command::BenchGeneration {
            products,
            device,
            cpu_threads,
            max_batch,
            batch_sizes,
            json,
        } => {
            let report = tokio::task::spawn_blocking(move || {
                warmstart::generate::bench::run(
                    products,
                    &device,
                    cpu_threads,
                    &batch_sizes,
                    max_batch,
                )
            })
            .await??;
            println!("{}", warmstart::generate::bench::render(&report));
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&report)?)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        Command::Demo {
            topology,
            events,
            new_products,
        } => {
            let t = load(&topology)?;
            let metrics = Metrics::new(&device_label());
            println!("warmstart demo: running on the EMBEDDED MOCK Kafka cluster (librdkafka's in-process mock),");
            println!("not a real broker; see README for the real one (scripts/kafka start).");
            let r = warmstart::demo::run(t, events, new_products, metrics).await?;
            print!("{}", warmstart::demo::render(&r));
        }
        Command::Train(TrainCommand::Behavior {
            out,
            epochs,
            mf_epochs,
            seed,
            resume,
        }) => {
            use warmstart::gan::train_behavior::{train, TrainBehavior};
            // One thread: small models train faster without libtorch's thread pool on 2 cores,
            // and a fixed thread count keeps runs bit-for-bit reproducible.
            tch::set_num_threads(1);
            let opts = TrainBehavior {
                out,
                gan: warmstart::gan::behavior::GanConfig {
                    epochs,
                    seed,
                    ..Default::default()
                },
                mf_epochs,
                resume,
            };
            let card = train(&opts, true)?;
            println!(
                "{} written to {}: user recall@200 on {} held-out cold items: generated {:.4}, content tower {:.4}",
                card.version,
                opts.out.display(),
                card.run.metrics["cold_items"],
                card.run.metrics["user_recall_at_200_generated"].as_f64().unwrap_or(0.0),
                card.run.metrics["user_recall_at_200_content_tower"].as_f64().unwrap_or(0.0),
            );
        }
        Command::Train(TrainCommand::Reviews {
            out,
            corpus,
            epochs,
            hidden,
            seed,
            resume,
        }) => {
            use warmstart::text::train_reviews::{train, TrainReviews};
            tch::set_num_threads(2);
            let opts = TrainReviews {
                out,
                epochs,
                hidden,
                seed,
                resume,
                corpus,
                ..Default::default()
            };
            let card = train(&opts, true)?;
            println!(
                "{} written to {}: validation NLL per piece {:.3}",
                card.version,
                opts.out.display(),
                card.run.metrics["validation_nll"]
                    .as_f64()
                    .unwrap_or(f64::NAN)
            );
        }
        Command::Eval(EvalCommand::Reviews {
            dir,
            samples,
            seed,
            json,
            plot,
        }) => {
            use warmstart::text::eval_reviews::{evaluate, plot_curves, render};
            if let Some(parent) = plot.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut reports = Vec::new();
            for d in &dir {
                let report = evaluate(d, samples, seed, true)?;
                println!("{}", render(&report));
                for p in report.points.iter().filter(|p| p.temperature == 1.0) {
                    for e in &p.examples {
                        println!("  {e}");
                    }
                }
                println!();
                reports.push(report);
            }
            plot_curves(&plot, &reports)?;
            println!("quality-diversity curves: {}", plot.display());
            if let Some(path) = json {
                std::fs::write(&path, serde_json::to_string_pretty(&reports)?)?;
            }
        }
        Command::Train(TrainCommand::ReviewsGan {
            from,
            out,
            steps,
            seed,
            resume,
        }) => {
            use warmstart::text::adversarial::{train, AdversarialConfig};
            tch::set_num_threads(2);
            let config = AdversarialConfig {
                from,
                out,
                steps,
                seed,
                resume,
                ..Default::default()
            };
            let card = train(&config, true)?;
            println!("{} written to {}", card.version, config.out.display());
        }
        Command::Eval(EvalCommand::Sequential { epochs }) => {
            let stream = warmstart::data::beauty::load(
                &warmstart::data::data_dir().join("beauty-5core"),
                None,
            )?;
            let r = warmstart::eval::sequential::evaluate(
                &stream,
                Default::default(),
                epochs,
                1.0,
                true,
            );
            println!("leave-one-out, full ranking, {} users: HR@10 {:.4}  NDCG@10 {:.4}  HR@20 {:.4}  NDCG@20 {:.4}", r.users, r.hr10, r.ndcg10, r.hr20, r.ndcg20);
            println!("(published on this set: ICLRec HR@10 0.0744 NDCG@10 0.0403 HR@20 0.1058 NDCG@20 0.0483)");
        }
        Command::Eval(EvalCommand::Prequential { epochs }) => {
            let stream = warmstart::data::beauty::load(
                &warmstart::data::data_dir().join("beauty-5core"),
                None,
            )?;
            let r = warmstart::eval::prequential::evaluate(
                &stream,
                Default::default(),
                0.9,
                epochs,
                1.0,
                true,
            );
            println!(
                "prequential over the last 10%, {} scored events: HR@10 {:.4}  NDCG@10 {:.4}",
                r.events, r.hr10, r.ndcg10
            );
        }
        Command::Eval(EvalCommand::Coldstart {
            epochs,
            dim,
            learning_rate,
            regularization,
            seed,
            item_dropout,
            gan_epochs,
            json,
        }) => {
            use warmstart::eval::coldstart::*;
            use warmstart::eval::weighted::{WithContent, BETA_GRID};
            let config = Config {
                seed,
                epochs,
                bpr: warmstart::recommend::bpr::BprConfig {
                    dim,
                    learning_rate,
                    regularization,
                    ..Default::default()
                },
                item_dropout,
                ..Default::default()
            };
            let dir = warmstart::data::data_dir().join("beauty-5core");
            let stream = warmstart::data::beauty::load(&dir, None)?;
            let split = Split::new(&stream, config.cold_fraction, config.seed);
            eprintln!(
                "Beauty 5-core: {} users, {} items ({} cold); train {}, warm test {}, cold test {}",
                split.n_users,
                split.n_items,
                split.cold.iter().filter(|c| **c).count(),
                split.train.len(),
                split.warm_test.len(),
                split.cold_test.len()
            );
            let mf = MfTower::fit(&split, &config, true);
            use warmstart::recommend::hybrid::ItemVector;
            let hybrid = HybridMf::fit(&split, &config, ItemVector::Additive, true);
            let online = HybridMf::fit(&split, &config, ItemVector::Fallback, true);
            let gan = (gan_epochs > 0).then(|| {
                let g = warmstart::eval::augmented::fit(
                    &split,
                    &config,
                    warmstart::gan::behavior::GanConfig {
                        epochs: gan_epochs,
                        ..Default::default()
                    },
                    true,
                );
                eprintln!(
                    "behaviour GAN: {} synthetic pairs ({} per cold item); losses by epoch {:?}",
                    g.synthetic_pairs, g.per_item, g.gan_curve
                );
                (g.generated, g.item_side, g.model)
            });
            let mut tuning = Vec::new();
            let mut with_content = Vec::new();
            let gan_rows = gan.as_ref().map(|g| [&g.0, &g.1, &g.2]);
            for base in [&mf, &hybrid, &online]
                .into_iter()
                .chain(gan_rows.into_iter().flatten())
            {
                let mut m = WithContent::new(&split, base.clone(), 0.0);
                for (beta, row) in m.tune(&split, &BETA_GRID) {
                    eprintln!(
                        "validation {:<34} beta {beta:>5}: hybrid NDCG@20 {:.4}",
                        m.name(),
                        row.hybrid.ndcg
                    );
                    tuning.push(
                        serde_json::json!({"model": m.name(), "beta": beta, "validation": row}),
                    );
                }
                with_content.push(m);
            }
            let mut transfer = warmstart::eval::transfer::NeighbourTransfer::fit(&split);
            for (lambda, row) in transfer.tune(&split, &warmstart::eval::transfer::LAMBDA_GRID) {
                eprintln!(
                    "validation {:<34} lambda {lambda:>5}: cold NDCG@20 {:.4}",
                    transfer.name(),
                    row.cold.ndcg
                );
                tuning.push(
                    serde_json::json!({"model": transfer.name(), "lambda": lambda, "validation": row}),
                );
            }
            let mut models: Vec<Box<dyn Scorer>> = vec![
                Box::new(Random { seed }),
                Box::new(Popularity::fit(&split)),
                Box::new(ContentKnn::fit(&split)),
                Box::new(transfer),
                Box::new(mf),
                Box::new(hybrid),
                Box::new(online),
            ];
            if let Some((generated, item_side, augmented)) = gan {
                models.push(Box::new(generated));
                models.push(Box::new(item_side));
                models.push(Box::new(augmented));
            }
            models.extend(
                with_content
                    .into_iter()
                    .map(|m| Box::new(m) as Box<dyn Scorer>),
            );
            let rows: Vec<Row> = models
                .iter()
                .map(|m| evaluate(&split, m.as_ref(), true))
                .collect();
            println!("{}", render(&rows));
            if let Some(path) = json {
                let doc = serde_json::json!({ "protocol": "GAR/ALDI cold-start, Amazon Beauty 5-core", "config": config, "rows": rows, "beta_tuning": tuning });
                std::fs::write(&path, serde_json::to_string_pretty(&doc)?)?;
            }
        }
        Command::Recommender {
            topology,
            bootstrap_servers,
            group_id,
            listen,
            snapshot,
            snapshot_interval_s,
        } => {
            use warmstart::recommend::{online::OnlineConfig, service};
            let mut t = load(&topology)?;
            if let Some(b) = bootstrap_servers {
                t.kafka.bootstrap_servers = b;
            }
            let state = service::state(OnlineConfig::default());
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            tracing::info!(addr = %listener.local_addr()?, "recommender serving /v1/recommendations, /v1/items/{{id}}/similar, /metrics");
            let app = service::router(state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            });
            let policy = snapshot.map(|path| service::SnapshotPolicy {
                path,
                interval: std::time::Duration::from_secs(snapshot_interval_s.max(1)),
            });
            service::consume(&t, &group_id, state, policy, shutdown_signal()).await?;
        }
        Command::Replay {
            dataset,
            topology,
            bootstrap_servers,
            speed,
            limit,
            new_item_fraction,
            seed,
        } => {
            use warmstart::data::{self, replay};
            let mut t = load(&topology)?;
            if let Some(b) = bootstrap_servers {
                t.kafka.bootstrap_servers = b;
            }
            let input = |ty: warmstart::events::EventType| {
                t.inputs
                    .values()
                    .find(|i| i.event_type == ty && i.format == warmstart::codec::Format::Json)
                    .map(|i| i.topic.clone())
                    .with_context(|| {
                        format!("the topology has no JSON input of type {}", ty.as_str())
                    })
            };
            let behavior_topic = input(warmstart::events::EventType::Behavior)?;
            let product_topic = input(warmstart::events::EventType::Product)?;
            let dir = data::data_dir();
            let stream = match dataset {
                Dataset::Beauty => data::beauty::load(&dir.join("beauty-5core"), limit)?,
                Dataset::Instruments => {
                    data::instruments::load(&dir.join("musical-instruments-5core"), limit)?
                }
                Dataset::Taobao => {
                    data::taobao::load(&dir.join("taobao-userbehavior-sample"), limit)?
                }
                Dataset::GiftCards => data::gift_cards::load(&dir.join("gift-cards-5core"), limit)?,
            };
            let opts = replay::ReplayOptions {
                speed,
                limit: None,
                new_item_fraction,
                seed,
            };
            let config = warmstart::kafka::common_config(&t.kafka);
            let summary =
                replay::replay(&stream, &behavior_topic, &product_topic, &config, &opts).await?;
            println!(
                "replayed {} behaviour events to {behavior_topic} and {} product events to {product_topic} in {:.1?}; {} items counted as new ({} of the behaviour events)",
                summary.behavior_events,
                summary.product_events,
                summary.elapsed,
                summary.new_items,
                summary.behavior_events_on_new_items
            );
        }
        Command::TorchCheck => {
            let device = warmstart::torch::device();
            warmstart::torch::self_check(device).context("libtorch self-check")?;
            println!(
                "libtorch ok on {} (cuda available: {})",
                device_label(),
                tch::Cuda::is_available()
            );
        }
    }
    Ok(())
}
