//! warmstart: a Kafka pipeline that warms up cold-start recommendation with synthetic data.
//!
//! The folders read as the architecture, from the bottom up; each module imports only modules
//! of the layers below it (`tests/layering.rs` fails on anything else):
//!
//! 0. `events` (the data model), `reject` (why a record is refused), `observe` (logs, metrics,
//!    the health endpoints), `plot`, `torch` (the libtorch runtime), `shutdown` (signals and the
//!    one shutdown request every service waits on);
//! 1. `codec` (bytes <-> events), `optim` (the optimizer and resume file);
//! 2. `data` (catalogues: the abstraction, its file formats, the shipped real data sets);
//! 3. `recommend` (the recommendation models: MF, content, tower, the online model, fitting on
//!    the cold-start split), `artifact` (checkpoints and model cards);
//! 4. `topology` (the config of every service);
//! 5. `kafka` (client configs, topics, the embedded mock cluster), `text` (review models);
//! 6. `delivery` (the delivery protocol: ack tracking, transactions, rebalances, typed errors),
//!    `gan` (the behaviour generator);
//! 7. `eval` (offline evaluations with published protocols, above every model);
//! 8. `pipeline` (the stage chain), `recommender` (the online recommender service), `replay`;
//! 9. `generate` (the generation stage);
//! 10. `demo`, `warmup` (the streaming warm-start evaluation); 11. `cli` (the command line;
//!     `main.rs` only calls it).
//!
//! The model code (`recommend`, `text`, `gan`, `artifact`, `optim`, `torch`) never imports Kafka.

pub mod artifact;
pub mod cli;
pub mod codec;
pub mod data;
pub mod delivery;
pub mod demo;
pub mod eval;
pub mod events;
pub mod gan;
pub mod generate;
pub mod kafka;
pub mod observe;
pub mod optim;
pub mod pipeline;
pub mod plot;
pub mod recommend;
pub mod recommender;
pub mod reject;
pub mod replay;
pub mod shutdown;
pub mod text;
pub mod topology;
pub mod torch;
pub mod warmup;
