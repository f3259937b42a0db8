//! The pipeline: a chain of [`Stage`]s between the Kafka source and the Kafka sinks.
//!
//! Stages know nothing of Kafka: they turn one [`Record`] into zero or more records, or reject it
//! with a [`Rejection`]. The [`runner`] owns the consume-transform-produce loop, routes what comes
//! out of the last stage to the output topics and rejections to the dead-letter topic, and commits
//! an input offset only once everything produced from it is acknowledged, or, with
//! `runtime.delivery = "exactly_once"`, commits outputs and offsets in one transaction (both in
//! `delivery`).
//! Later stages (generation) plug in by implementing [`Stage`], without touching the Kafka code.

mod chain;
mod parallel;
mod record;
pub mod runner;
pub mod stages;
mod worker;

pub use chain::Chain;
pub use record::{InputCtx, Record};

use crate::reject::Rejection;

/// One step of the pipeline.
pub trait Stage: Send {
    /// Short name, used in metrics labels and dead letters.
    fn name(&self) -> &'static str;

    /// Turns `record` into zero or more records appended to `out`, or rejects it.
    fn process(
        &mut self,
        record: Record,
        ctx: &InputCtx<'_>,
        out: &mut Vec<Record>,
    ) -> Result<(), Rejection>;
}
