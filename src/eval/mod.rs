//! Offline evaluation with the published protocols, so that the numbers compare with papers.
//!
//! - [`coldstart`]: the GAR / ALDI cold-start protocol (cold, warm and hybrid item settings).
//! - [`metrics`]: Precision, Recall, NDCG at K; HR and NDCG for leave-one-out.

pub mod coldstart;
pub mod metrics;
pub mod rank;
