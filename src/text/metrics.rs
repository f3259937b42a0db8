//! Text-generation metrics with the protocols papers use, so numbers compare:
//!
//! - BLEU-n as in Texygen (Zhu et al., SIGIR 2018): each generated text is scored with sentence
//!   BLEU against the whole reference set (clipped counts: the maximum count of an n-gram in any
//!   one reference; brevity penalty from the closest reference length), uniform weights over
//!   1..n-grams, smoothing method 1 of Chen & Cherry (2014) as in NLTK (a zero match count becomes
//!   epsilon = 0.1); the score is the mean over generated texts.
//! - Self-BLEU-n (diversity; lower is more diverse): each generated text against all the others.
//! - distinct-n (Li et al., 2016): distinct n-grams / all n-grams over the generated set.
//! - Copied runs: whether a text contains any `n`-token run of a training text (memorisation).
//!
//! Texts are token sequences (words for BLEU, as the references are written).

use std::collections::{HashMap, HashSet};

type Gram<'a> = &'a [String];

fn counts<'a>(tokens: &'a [String], n: usize) -> HashMap<Gram<'a>, usize> {
    let mut c = HashMap::new();
    if tokens.len() >= n {
        for g in tokens.windows(n) {
            *c.entry(g).or_insert(0) += 1;
        }
    }
    c
}

/// A reference set prepared for BLEU: per order, each n-gram's largest count in one reference,
/// and the sorted reference lengths.
pub struct References<'a> {
    max_counts: Vec<HashMap<Gram<'a>, usize>>,
    lengths: Vec<usize>,
}

impl<'a> References<'a> {
    pub fn new(refs: &'a [Vec<String>], max_n: usize) -> Self {
        let mut max_counts = vec![HashMap::new(); max_n];
        for r in refs {
            for (n, slot) in max_counts.iter_mut().enumerate() {
                for (g, c) in counts(r, n + 1) {
                    let m = slot.entry(g).or_insert(0);
                    *m = (*m).max(c);
                }
            }
        }
        let mut lengths: Vec<usize> = refs.iter().map(Vec::len).collect();
        lengths.sort_unstable();
        References {
            max_counts,
            lengths,
        }
    }

    /// The reference length closest to `len` (the shorter one on a tie), as NLTK picks it.
    fn closest(&self, len: usize) -> usize {
        let i = self.lengths.partition_point(|&l| l < len);
        let above = self.lengths.get(i).copied();
        let below = i.checked_sub(1).map(|j| self.lengths[j]);
        match (below, above) {
            (Some(b), Some(a)) if len - b <= a - len => b,
            (_, Some(a)) => a,
            (Some(b), None) => b,
            (None, None) => 0,
        }
    }

    /// Sentence BLEU-`n` of `hyp`, smoothing method 1.
    pub fn sentence_bleu(&self, hyp: &[String], n: usize) -> f64 {
        if hyp.is_empty() {
            return 0.0;
        }
        let mut log_sum = 0.0;
        for order in 1..=n {
            let total = hyp.len().saturating_sub(order - 1);
            if total == 0 {
                // NLTK: no n-grams of this order at all makes the score 0.
                return 0.0;
            }
            let matched: usize = counts(hyp, order)
                .into_iter()
                .map(|(g, c)| c.min(*self.max_counts[order - 1].get(g).unwrap_or(&0)))
                .sum();
            let p = if matched == 0 {
                0.1 / total as f64
            } else {
                matched as f64 / total as f64
            };
            log_sum += p.ln() / n as f64;
        }
        let (c, r) = (hyp.len() as f64, self.closest(hyp.len()) as f64);
        let bp = if c >= r { 1.0 } else { (1.0 - r / c).exp() };
        bp * log_sum.exp()
    }
}

/// Mean sentence BLEU-`n` of `hyps` against `refs`.
pub fn bleu(hyps: &[Vec<String>], refs: &[Vec<String>], n: usize) -> f64 {
    let r = References::new(refs, n);
    hyps.iter().map(|h| r.sentence_bleu(h, n)).sum::<f64>() / hyps.len().max(1) as f64
}

/// Mean BLEU-`n` of each text against all the others.
pub fn self_bleu(texts: &[Vec<String>], n: usize) -> f64 {
    self_bleu_orders(texts, &[n])[0]
}

/// Self-BLEU for several orders at once (one reference set per text, not per order).
pub fn self_bleu_orders(texts: &[Vec<String>], orders: &[usize]) -> Vec<f64> {
    let max_n = orders.iter().copied().max().unwrap_or(1);
    let mut sums = vec![0.0; orders.len()];
    if texts.len() < 2 {
        return sums;
    }
    for i in 0..texts.len() {
        let others: Vec<Vec<String>> = texts
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, t)| t.clone())
            .collect();
        let refs = References::new(&others, max_n);
        for (s, &n) in sums.iter_mut().zip(orders) {
            *s += refs.sentence_bleu(&texts[i], n);
        }
    }
    sums.iter().map(|s| s / texts.len() as f64).collect()
}

/// Lower-cased words and punctuation marks, the tokens BLEU is computed on.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphanumeric() || c == '\'' {
            word.push(c);
        } else {
            if !word.is_empty() {
                out.push(std::mem::take(&mut word));
            }
            if !c.is_whitespace() {
                out.push(c.to_string());
            }
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

/// Distinct n-grams over all n-grams of the set.
pub fn distinct(texts: &[Vec<String>], n: usize) -> f64 {
    let mut all = 0usize;
    let mut seen: HashSet<&[String]> = HashSet::new();
    for t in texts {
        if t.len() >= n {
            for g in t.windows(n) {
                all += 1;
                seen.insert(g);
            }
        }
    }
    seen.len() as f64 / all.max(1) as f64
}

/// Every `n`-token run of a training corpus, hashed, to test generated texts for copies.
pub struct RunIndex {
    n: usize,
    runs: HashSet<u64>,
}

fn hash_run<T: std::hash::Hash>(run: &[T]) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    BuildHasherDefault::<DefaultHasher>::default().hash_one(run)
}

impl RunIndex {
    pub fn new<T: std::hash::Hash>(corpus: &[Vec<T>], n: usize) -> Self {
        let mut runs = HashSet::new();
        for t in corpus {
            if t.len() >= n {
                runs.extend(t.windows(n).map(hash_run));
            }
        }
        RunIndex { n, runs }
    }

    /// Whether `text` contains any `n`-token run of the corpus.
    pub fn copies<T: std::hash::Hash>(&self, text: &[T]) -> bool {
        text.len() >= self.n
            && text
                .windows(self.n)
                .any(|w| self.runs.contains(&hash_run(w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn bleu_matches_hand_computed_values() {
        // Identical texts: every precision is 1, no brevity penalty.
        let refs = vec![t("the cat sat on the mat")];
        assert!((bleu(&[t("the cat sat on the mat")], &refs, 4) - 1.0).abs() < 1e-12);
        // hyp "the cat sat": p1 = 3/3, p2 = 2/2; closest ref length 6 > 3: BP = exp(1 - 6/3).
        let want = (1.0f64 - 2.0).exp();
        assert!((bleu(&[t("the cat sat")], &refs, 2) - want).abs() < 1e-12);
        // Clipping: "the the the" has p1 = min(3, 2)/3 (two "the" in the ref), p2 = 0 -> 0.1/2,
        // BP = exp(1 - 6/3).
        let want = (1.0f64 - 2.0).exp() * ((2.0f64 / 3.0).ln() / 2.0 + (0.05f64).ln() / 2.0).exp();
        assert!((bleu(&[t("the the the")], &refs, 2) - want).abs() < 1e-12);
        // The closest reference length is used: with a 3-token reference there is no penalty.
        let refs = vec![t("the cat sat on the mat"), t("a dog ran")];
        assert!((bleu(&[t("the cat sat")], &refs, 2) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn self_bleu_and_distinct_measure_repetition() {
        let same = vec![t("a b c d"), t("a b c d"), t("a b c d")];
        let varied = vec![t("a b c d"), t("e f g h"), t("i j k l")];
        assert!((self_bleu(&same, 2) - 1.0).abs() < 1e-12);
        assert!(self_bleu(&varied, 2) < 0.1);
        assert!((distinct(&same, 1) - 4.0 / 12.0).abs() < 1e-12);
        assert!((distinct(&varied, 2) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn words_split_punctuation_and_lower_case() {
        assert_eq!(
            words("Love it!! Fits, true-to-size; don't"),
            ["love", "it", "!", "!", "fits", ",", "true", "-", "to", "-", "size", ";", "don't"]
        );
    }

    #[test]
    fn copied_runs_are_found_only_at_full_length() {
        let corpus = vec![t("one two three four five six seven eight nine")];
        let index = RunIndex::new(&corpus, 8);
        assert!(index.copies(&t("x two three four five six seven eight nine y")));
        assert!(!index.copies(&t("two three four five six seven eight x nine")));
        assert!(!index.copies(&t("two three")));
    }
}
