//! The command line's arguments (clap). Each command's flags override the topology fields they
//! name; [`super::overrides`] applies them, then validates.

use crate::observe::logging::LogFormat;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "warmstart",
    version,
    about = "Warms up cold-start recommendation with synthetic data, on Kafka"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        env = "WARMSTART_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a pipeline topology against a Kafka cluster until SIGINT/SIGTERM.
    Run {
        #[command(flatten)]
        service: ServiceFlags,
        /// Overrides kafka.group_id.
        #[arg(long)]
        group_id: Option<String>,
    },
    /// Only the generation stage of a topology (its `[generation]` section), e.g. on a GPU
    /// machine while the pipeline runs elsewhere. `warmstart run` starts it too when configured.
    Generate {
        #[command(flatten)]
        service: ServiceFlags,
    },
    /// Generation throughput on this machine's device: batch size 1 against dynamic batching,
    /// on new products from Amazon Beauty (the models are the committed checkpoints).
    BenchGeneration(BenchArgs),
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
        #[arg(long, default_value_t = 50_000)]
        events: usize,
        /// New products launched after the history (with a `[generation]` section).
        #[arg(long, default_value_t = 20)]
        new_products: usize,
    },
    /// Check that libtorch loads and computes, on CUDA when present.
    TorchCheck,
    /// Read a catalogue and print what it holds: users, items, interactions, time span, the
    /// content fields found and the rows skipped. A bad file fails naming the file, the line and
    /// the field. Every command that reads a catalogue prints the same summary first.
    Catalog(CatalogArgs),
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
        /// Overrides recommender.group_id (default `warmstart-recommender`).
        #[arg(long)]
        group_id: Option<String>,
        /// Overrides recommender.listen (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Overrides recommender.snapshot: keep the model and its input offsets in this file
        /// (restored at start, written every snapshot interval and at shutdown). Without one the
        /// group's committed offsets are used.
        #[arg(long)]
        snapshot: Option<PathBuf>,
        /// Overrides recommender.snapshot_interval_s (default 30).
        #[arg(long)]
        snapshot_interval_s: Option<u64>,
    },
    /// Publish a shipped real data set onto Kafka as a timestamped stream of behaviour events,
    /// each item's product event at its first appearance.
    Replay {
        /// A shipped data set (default: beauty, unless --catalog is given).
        #[arg(long, value_enum, conflicts_with = "catalog")]
        dataset: Option<Dataset>,
        #[command(flatten)]
        catalog: CatalogArgs,
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
pub enum Dataset {
    Beauty,
    Instruments,
    Taobao,
    GiftCards,
}

#[derive(Subcommand)]
pub enum TrainCommand {
    /// The cold-start behaviour GAN (Amazon Beauty by default; kinds and gaps from the
    /// catalogue when it has views, carts and purchases, else from Taobao).
    Behavior {
        #[command(flatten)]
        catalog: CatalogArgs,
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
        /// `clothing` (the main corpus), `instruments` (Musical Instruments 5-core) or `beauty`
        /// (All Beauty 5-core, the beauty domain).
        #[arg(long, default_value = "clothing")]
        corpus: crate::text::corpus::ReviewCorpus,
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
pub enum EvalCommand {
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
    /// Next-item leave-one-out with full ranking (Amazon Beauty by default): HR and NDCG at 10
    /// and 20.
    Sequential {
        #[command(flatten)]
        catalog: CatalogArgs,
        #[arg(long, default_value_t = 10)]
        epochs: usize,
    },
    /// Predict-then-update over the last 10% of a catalogue in time order (Amazon Beauty by
    /// default): HR and NDCG at 10.
    Prequential {
        #[command(flatten)]
        catalog: CatalogArgs,
        #[arg(long, default_value_t = 10)]
        epochs: usize,
    },
    /// The streaming warm-start evaluation: a catalogue's real timeline replayed through the
    /// online recommender; do new products reach their real first shoppers' top 20 sooner with
    /// synthetic data? (Amazon Beauty by default.)
    Stream {
        /// A shipped data set (default: beauty, unless --catalog is given).
        #[arg(long, value_enum, conflicts_with = "catalog")]
        dataset: Option<Dataset>,
        #[command(flatten)]
        catalog: CatalogArgs,
        /// Share of the latest interactions in the evaluation window.
        #[arg(long, default_value_t = 0.3)]
        window: f64,
        /// Passes over the warm-up before the window.
        #[arg(long, default_value_t = 10)]
        epochs: usize,
        /// Variants, each a row (comma-separated).
        #[arg(
            long,
            value_enum,
            value_delimiter = ',',
            default_value = "none,transfer"
        )]
        variants: Vec<crate::warmup::Variant>,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Evaluate on the validation period instead: the interactions before the window, cut
        /// the same way (for choosing settings without looking at the window).
        #[arg(long)]
        validation: bool,
        /// Transfer generator: synthetic shoppers per new product.
        #[arg(long, default_value_t = crate::warmup::transfer::TransferConfig::default().users)]
        transfer_users: usize,
        /// Transfer generator: content neighbours whose shoppers are drawn from.
        #[arg(long, default_value_t = crate::warmup::transfer::TransferConfig::default().neighbours)]
        transfer_neighbours: usize,
        /// Transfer generator: further neighbours while the nearest have fewer shoppers than
        /// `--transfer-users`, up to this many.
        #[arg(long, default_value_t = crate::warmup::transfer::TransferConfig::default().max_neighbours)]
        transfer_max_neighbours: usize,
        /// Transfer generator: recent distinct shoppers kept per item.
        #[arg(long, default_value_t = crate::warmup::transfer::TransferConfig::default().recent)]
        transfer_recent: usize,
        /// Transfer generator: weigh shared content features by inverse document frequency.
        #[arg(long)]
        transfer_idf: bool,
        /// Transfer generator: at most this many new products per user per hour of event time
        /// (0: no cap).
        #[arg(long, default_value_t = crate::warmup::transfer::TransferConfig::default().max_per_user)]
        transfer_max_per_user: u32,
        /// Weight of a synthetic interaction relative to a real one (the recommender's
        /// `synthetic_weight`).
        #[arg(long, default_value_t = crate::recommend::online::OnlineConfig::default().synthetic_weight)]
        synthetic_weight: f32,
        /// Distinct words of its real reviews an item's content may gain (the recommender's
        /// `review_tokens`; 0: review text is not read). Only catalogues with review text.
        #[arg(long, default_value_t = crate::recommend::online::OnlineConfig::default().review_tokens)]
        review_tokens: usize,
        /// Also write the report as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Where to draw the warm-up curve.
        #[arg(long, default_value = "out/stream-warm-up.png")]
        plot: PathBuf,
    },
    /// The GAR/ALDI cold-start protocol (Amazon Beauty by default): cold, warm and hybrid
    /// P/R/NDCG@20.
    Coldstart {
        #[command(flatten)]
        catalog: CatalogArgs,
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
        /// Add the rows of the transfer generator's synthetic behaviour (the generation stage's
        /// default generator) for the cold items.
        #[arg(long)]
        transfer: bool,
        /// Also write the table as JSON here.
        #[arg(long)]
        json: Option<PathBuf>,
    },
}

/// `--catalog DIR`, the same on every command that reads a catalogue.
#[derive(clap::Args, Clone, Default)]
pub struct CatalogArgs {
    /// A catalogue folder: `interactions.tsv[.gz]` + `items.tsv[.gz]` (see the README), or the
    /// S3-Rec format (`<name>.txt` + `<name>_item2attributes.json`). Default: the vendored
    /// Amazon Beauty 5-core.
    #[arg(long, value_name = "DIR")]
    pub catalog: Option<PathBuf>,
    /// The folder's format, instead of detecting it from the files.
    #[arg(long, value_enum, requires = "catalog")]
    pub catalog_format: Option<crate::data::catalog::CatalogFormat>,
}

/// `warmstart bench-generation`.
#[derive(clap::Args)]
pub struct BenchArgs {
    /// Products per measurement.
    #[arg(long, default_value_t = 256)]
    pub products: usize,
    /// `auto`, `cpu` or `cuda`.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// libtorch threads on the CPU.
    #[arg(long, default_value_t = 1)]
    pub cpu_threads: i32,
    /// max_batch of the dynamic-batching run.
    #[arg(long, default_value_t = 64)]
    pub max_batch: usize,
    /// Batch sizes of the batch-latency table.
    #[arg(long, value_delimiter = ',', default_value = "1,16,32,64")]
    pub batch_sizes: Vec<usize>,
    /// Also write the results as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The flags `run` and `generate` share.
#[derive(clap::Args)]
pub struct ServiceFlags {
    #[arg(long, default_value = "topologies/default.toml")]
    pub topology: PathBuf,
    /// Overrides kafka.bootstrap_servers.
    #[arg(long, env = "WARMSTART_BOOTSTRAP_SERVERS")]
    pub bootstrap_servers: Option<String>,
    /// Overrides http.listen (empty: no HTTP server).
    #[arg(long)]
    pub http_listen: Option<String>,
    /// Overrides runtime.transactional_id (exactly-once: one per instance, stable across its
    /// restarts; the generation stage appends `-generate`).
    #[arg(long, env = "WARMSTART_TRANSACTIONAL_ID")]
    pub transactional_id: Option<String>,
}
