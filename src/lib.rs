//! warmstart: a Kafka pipeline that warms up cold-start recommendation with synthetic data.
//!
//! The folders read as the architecture: `events` (the data model), `codec` (bytes <-> events),
//! `topology` (the pipeline config), `pipeline` (stages and the consume-transform-produce loop),
//! `kafka` (clients, topics, the embedded mock cluster), `observe` (logs, metrics, HTTP), `data`
//! (the shipped real data sets), `recommend` (the online recommender: models, state, HTTP service),
//! `eval` (offline evaluations with published protocols), `torch` (the libtorch runtime), `optim`
//! (the optimizer and resume file that let training continue exactly).

pub mod codec;
pub mod data;
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
pub mod reject;
pub mod text;
pub mod topology;
pub mod torch;
