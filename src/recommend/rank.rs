//! Top-K selection over a score vector, with exclusions and a candidate filter.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

struct Scored(f32, u32);
impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Scored {}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Higher score first; ties by lower index, for determinism.
        self.0.total_cmp(&other.0).then(other.1.cmp(&self.1))
    }
}

/// The indices of the `k` highest scores among items where `candidate(i)` holds and `excluded`
/// (sorted) does not contain `i`, best first.
pub fn top_k(
    scores: &[f32],
    k: usize,
    candidate: impl Fn(u32) -> bool,
    excluded: &[u32],
) -> Vec<u32> {
    let mut heap: BinaryHeap<Reverse<Scored>> = BinaryHeap::with_capacity(k + 1);
    for (i, &s) in scores.iter().enumerate() {
        let i = i as u32;
        if !candidate(i) || excluded.binary_search(&i).is_ok() {
            continue;
        }
        if heap.len() < k {
            heap.push(Reverse(Scored(s, i)));
        } else if let Some(Reverse(min)) = heap.peek() {
            if Scored(s, i) > *min {
                heap.pop();
                heap.push(Reverse(Scored(s, i)));
            }
        }
    }
    let mut out: Vec<Scored> = heap.into_iter().map(|Reverse(s)| s).collect();
    out.sort_by(|a, b| b.cmp(a));
    out.into_iter().map(|s| s.1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_best_allowed_items_in_order() {
        let scores = [0.1, 0.9, 0.5, 0.7, 0.3];
        assert_eq!(top_k(&scores, 2, |_| true, &[]), vec![1, 3]);
        assert_eq!(top_k(&scores, 2, |_| true, &[1]), vec![3, 2]);
        assert_eq!(top_k(&scores, 3, |i| i % 2 == 0, &[]), vec![2, 4, 0]);
        assert_eq!(
            top_k(&[1.0, 1.0, 1.0], 2, |_| true, &[]),
            vec![0, 1],
            "ties by index"
        );
    }
}
