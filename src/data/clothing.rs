//! Women's E-Commerce Clothing Reviews (CC0; see `data/README.md`): the review generator's main
//! corpus. Each record with a review text is one example: the text, its rating, and the product's
//! division, department and class (the generator's conditions). Records without text are counted
//! and skipped.
//!
//! Splits are by product (`Clothing ID`), never by review: held-out reviews are of products the
//! generator never saw, which is the cold-start situation it is for, and a product's reviews
//! cannot leak their phrasing across the split.

use super::csv_gz::CsvGz;
use super::DataError;
use std::path::Path;

pub const FILE: &str = "reviews.csv.gz";

#[derive(Debug, Clone, PartialEq)]
pub struct Review {
    pub product: String,
    pub title: String,
    pub text: String,
    pub rating: u8,
    pub division: String,
    pub department: String,
    pub class: String,
}

#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub reviews: Vec<Review>,
    pub without_text: usize,
}

pub fn load(dir: &Path) -> Result<Corpus, DataError> {
    let file = CsvGz::open(dir.join(FILE))?;
    let (mut reader, cols) = file.reader([
        "Clothing ID",
        "Title",
        "Review Text",
        "Rating",
        "Division Name",
        "Department Name",
        "Class Name",
    ])?;
    let mut corpus = Corpus::default();
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| file.error(e))? {
        let f = |k: usize| record.get(cols[k]).unwrap_or("").trim().to_owned();
        let body = f(2);
        if body.is_empty() {
            corpus.without_text += 1;
            continue;
        }
        let rating = match f(3).parse::<u8>() {
            Ok(r @ 1..=5) => r,
            _ => return Err(file.bad(&record, format!("rating {:?} is not 1-5", f(3)))),
        };
        corpus.reviews.push(Review {
            product: f(0),
            title: f(1),
            text: body,
            rating,
            division: f(4),
            department: f(5),
            class: f(6),
        });
    }
    Ok(corpus)
}

/// Which split a product falls in: 80% train, 10% validation, 10% test, by a stable hash of its
/// id (FNV-1a), so the split does not depend on file order or on a random generator.
pub fn split_of(product: &str) -> Split {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in product.as_bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    match h % 10 {
        0 => Split::Validation,
        1 => Split::Test,
        _ => Split::Train,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
    Test,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_the_shipped_corpus_with_its_counts() {
        let c = load(&super::super::data_dir().join("clothing-reviews")).unwrap();
        // data/README.md: 23,486 reviews, 22,641 with text.
        assert_eq!(c.reviews.len() + c.without_text, 23_486);
        assert_eq!(c.reviews.len(), 22_641);
        assert!(c.reviews.iter().all(|r| (1..=5).contains(&r.rating)));
        let train = c
            .reviews
            .iter()
            .filter(|r| split_of(&r.product) == Split::Train)
            .count();
        let share = train as f64 / c.reviews.len() as f64;
        assert!((0.6..0.95).contains(&share), "{share}");
    }
}
