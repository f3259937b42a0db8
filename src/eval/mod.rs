//! Offline evaluation with the published protocols, so that the numbers compare with papers.
//!
//! - [`augmented`]: the cold-start table's GAN-augmented row (synthetic behaviour for cold items).
//! - [`coldstart`]: the GAR / ALDI cold-start protocol (cold, warm and hybrid item settings).
//! - [`transfer`]: content-KNN plus the content neighbours' co-occurrence (a cold-start reference).
//! - [`sequential`]: next-item leave-one-out with full ranking (S3-Rec / ICLRec protocol).
//! - [`prequential`]: predict-then-update over the last 10% of the stream (eALS protocol).
//! - [`weighted`]: a factorised model plus the content match, weighted on the validation split.
//! - [`metrics`]: Precision, Recall, NDCG at K; HR and NDCG for leave-one-out.

pub mod augmented;
pub mod coldstart;
pub mod metrics;
pub mod prequential;
pub mod sequential;
pub mod table;
pub mod transfer;
pub mod weighted;
