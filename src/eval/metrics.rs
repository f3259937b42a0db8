//! Top-K ranking metrics with the definitions of the cold-start papers (GAR, ALDI): for one user,
//! `ranked` is the model's top-K list and `relevant` the user's held-out items.
//!
//! - Precision@K = hits / K
//! - Recall@K = hits / |relevant|
//! - NDCG@K = DCG / IDCG with binary gains, DCG = sum over hits of 1 / log2(rank + 2) (rank from 0),
//!   IDCG the same for min(|relevant|, K) hits at the top.

use std::collections::HashSet;

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct TopK {
    pub precision: f64,
    pub recall: f64,
    pub ndcg: f64,
}

pub fn top_k(ranked: &[u32], relevant: &HashSet<u32>, k: usize) -> TopK {
    if relevant.is_empty() || k == 0 {
        return TopK::default();
    }
    let mut hits = 0usize;
    let mut dcg = 0.0;
    for (rank, item) in ranked.iter().take(k).enumerate() {
        if relevant.contains(item) {
            hits += 1;
            dcg += 1.0 / ((rank + 2) as f64).log2();
        }
    }
    let idcg: f64 = (0..relevant.len().min(k))
        .map(|r| 1.0 / ((r + 2) as f64).log2())
        .sum();
    TopK {
        precision: hits as f64 / k as f64,
        recall: hits as f64 / relevant.len() as f64,
        ndcg: dcg / idcg,
    }
}

/// Hit rate and NDCG for one held-out item (leave-one-out): HR = 1 when it is in the top K,
/// NDCG = 1 / log2(rank + 2).
pub fn hit_ndcg(ranked: &[u32], target: u32, k: usize) -> (f64, f64) {
    match ranked.iter().take(k).position(|&i| i == target) {
        Some(rank) => (1.0, 1.0 / ((rank + 2) as f64).log2()),
        None => (0.0, 0.0),
    }
}

/// Mean of per-user results.
pub fn mean(results: &[TopK]) -> TopK {
    let n = results.len().max(1) as f64;
    TopK {
        precision: results.iter().map(|r| r.precision).sum::<f64>() / n,
        recall: results.iter().map(|r| r.recall).sum::<f64>() / n,
        ndcg: results.iter().map(|r| r.ndcg).sum::<f64>() / n,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn hand_computed_fixture() {
        // Hits at ranks 0 and 2 of 4; 3 relevant items.
        let relevant: HashSet<u32> = [7, 9, 11].into();
        let m = top_k(&[7, 1, 9, 2], &relevant, 4);
        close(m.precision, 0.5);
        close(m.recall, 2.0 / 3.0);
        let dcg = 1.0 + 1.0 / 4f64.log2(); // 1/log2(2) + 1/log2(4)
        let idcg = 1.0 + 1.0 / 3f64.log2() + 1.0 / 4f64.log2();
        close(m.ndcg, dcg / idcg);
    }

    #[test]
    fn perfect_and_empty_rankings() {
        let relevant: HashSet<u32> = [1, 2].into();
        close(top_k(&[1, 2, 3], &relevant, 3).ndcg, 1.0);
        assert_eq!(top_k(&[3, 4], &relevant, 2), TopK::default());
        assert_eq!(top_k(&[1], &HashSet::new(), 20), TopK::default());
    }

    #[test]
    fn leave_one_out() {
        assert_eq!(hit_ndcg(&[5, 6, 7], 5, 10), (1.0, 1.0));
        let (hr, ndcg) = hit_ndcg(&[5, 6, 7], 7, 10);
        close(hr, 1.0);
        close(ndcg, 0.5); // 1 / log2(4)
        assert_eq!(hit_ndcg(&[5, 6, 7], 7, 2), (0.0, 0.0));
    }
}
