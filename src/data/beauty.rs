//! Amazon Beauty 5-core (see `data/README.md`) as a catalogue: the default of every evaluation,
//! trainer, replay and the demo.

use super::catalog::{Builder, Catalog};
use super::{DataError, StreamEvent};
use crate::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use flate2::read::GzDecoder;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

struct Item {
    title: String,
    attributes: String,
}

/// Real brand and category names (the anonymised ids in readable form), by ASIN.
#[derive(Default)]
struct Names {
    brand: HashMap<String, String>,
    categories: HashMap<String, Vec<String>>,
}

fn plain_lines(path: &Path) -> Result<Vec<String>, DataError> {
    let file = std::fs::File::open(path).map_err(io(path))?;
    BufReader::new(GzDecoder::new(file))
        .lines()
        .collect::<Result<_, _>>()
        .map_err(io(path))
}

const KG_FILES: [&str; 5] = [
    "product.txt.gz",
    "brand.txt.gz",
    "brand_p_b.txt.gz",
    "category.txt.gz",
    "category_p_c.txt.gz",
];

/// `kg/` (the PGPR knowledge-graph release, see `data/README.md`): line *i* of each `*_p_*`
/// file belongs to the product on line *i* of `product.txt.gz`; indices are line numbers of the
/// name files. Absent folder: no names (the catalogue then has only the anonymised ids).
fn load_names(dir: &Path) -> Result<Names, DataError> {
    if !dir.join("product.txt.gz").exists() {
        return Ok(Names::default());
    }
    let read = |name: &str| plain_lines(&dir.join(name));
    let (products, brands, brand_of) = (
        read("product.txt.gz")?,
        read("brand.txt.gz")?,
        read("brand_p_b.txt.gz")?,
    );
    let (categories, categories_of) = (read("category.txt.gz")?, read("category_p_c.txt.gz")?);
    let bad = |file: &str, line: usize, reason: String| DataError::Format {
        path: dir.join(file),
        line: line + 1,
        reason,
    };
    if brand_of.len() != products.len() || categories_of.len() != products.len() {
        return Err(bad(
            "brand_p_b.txt.gz",
            0,
            format!(
                "{} brand and {} category lines for {} products",
                brand_of.len(),
                categories_of.len(),
                products.len()
            ),
        ));
    }
    let name = |names: &[String], file: &str, line: usize, id: &str| {
        id.parse::<usize>()
            .ok()
            .and_then(|i| names.get(i).cloned())
            .ok_or_else(|| {
                bad(
                    file,
                    line,
                    format!("`{id}` is not an index of its name file"),
                )
            })
    };
    let mut out = Names::default();
    for (line, asin) in products.iter().enumerate() {
        let b = brand_of[line].trim();
        if !b.is_empty() {
            let brand = name(&brands, "brand_p_b.txt.gz", line, b)?;
            out.brand.insert(asin.clone(), brand);
        }
        let cats = categories_of[line]
            .split_whitespace()
            .map(|c| name(&categories, "category_p_c.txt.gz", line, c))
            .collect::<Result<Vec<_>, _>>()?;
        out.categories.insert(asin.clone(), cats);
    }
    Ok(out)
}

fn lines(path: &Path) -> Result<impl Iterator<Item = (usize, std::io::Result<String>)>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    Ok(BufReader::new(GzDecoder::new(file))
        .lines()
        .enumerate()
        .skip(1))
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DataError + '_ {
    move |source| DataError::Io {
        path: path.to_owned(),
        source,
    }
}

fn load_items(path: &Path) -> Result<HashMap<String, Item>, DataError> {
    let mut items = HashMap::new();
    for (i, line) in lines(path)? {
        let line = line.map_err(io(path))?;
        let mut f = line.split('\t');
        let (_, Some(asin), title, attrs) = (f.next(), f.next(), f.next(), f.next()) else {
            return Err(DataError::Format {
                path: path.to_owned(),
                line: i + 1,
                reason: "fewer than 2 columns".into(),
            });
        };
        items.insert(
            asin.to_owned(),
            Item {
                title: title.unwrap_or("").to_owned(),
                attributes: attrs.unwrap_or("").to_owned(),
            },
        );
    }
    Ok(items)
}

/// The catalogue: items from `items.tsv.gz` (title, the anonymised `attribute_ids`) with their
/// real brand and category names from `kg/` where it is there (category `Beauty` otherwise),
/// interactions as reviews without rating. Users and items are numbered in the
/// file's order (S3-Rec's ids), so this catalogue and its S3-Rec form get the same splits; same-day
/// reviews are ordered by (user index as text, position), the order the stream has always had.
pub fn catalog(dir: &Path) -> Result<Catalog, DataError> {
    let items_path = dir.join("items.tsv.gz");
    let items = load_items(&items_path)?;
    let names = load_names(&dir.join("kg"))?;
    let path: PathBuf = dir.join("interactions.tsv.gz");
    let mut b = Builder::new("Amazon Beauty 5-core");
    b.file(&path);
    b.file(&items_path);
    if !names.brand.is_empty() {
        for f in KG_FILES {
            b.file(&dir.join("kg").join(f));
        }
    }
    let mut ties: Vec<(String, u32)> = Vec::new();
    for (i, line) in lines(&path)? {
        let line = line.map_err(io(&path))?;
        let f: Vec<&str> = line.split('\t').collect();
        let bad = |reason: &str| DataError::Format {
            path: path.clone(),
            line: i + 1,
            reason: reason.into(),
        };
        if f.len() != 6 {
            return Err(bad("expected 6 columns"));
        }
        let ts: i64 = f[4].parse().map_err(|_| bad("unix_ts is not a number"))?;
        let seq: u32 = f[5].parse().map_err(|_| bad("seq_pos is not a number"))?;
        let (user_idx, reviewer, asin) = (f[0], f[1], f[3]);
        if !b.has_item(asin) {
            let item = items.get(asin);
            let mut attributes = BTreeMap::new();
            if let Some(item) = item.filter(|i| !i.attributes.is_empty()) {
                attributes.insert("attribute_ids".to_owned(), item.attributes.clone());
            }
            b.item(ProductEvent {
                item_id: asin.to_owned(),
                ts: 0,
                title: item
                    .map(|i| i.title.clone())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| asin.to_owned()),
                category: names
                    .categories
                    .get(asin)
                    .filter(|c| !c.is_empty())
                    .cloned()
                    .unwrap_or_else(|| vec!["Beauty".to_owned()]),
                brand: names.brand.get(asin).cloned(),
                price: None,
                description: None,
                attributes,
            });
        }
        if b.interaction(BehaviorEvent {
            event_id: format!("beauty-{user_idx}-{seq}"),
            user_id: reviewer.to_owned(),
            item_id: asin.to_owned(),
            kind: BehaviorKind::Review,
            ts: ts * 1000,
            session_id: None,
            rating: None,
            review_text: None,
        }) {
            ties.push((user_idx.to_owned(), seq));
        }
    }
    Ok(b.finish_with(|a, b| ties[a].cmp(&ties[b])))
}

/// The first `limit` interactions in time order (all with `None`), with product events.
pub fn load(dir: &Path, limit: Option<usize>) -> Result<Vec<StreamEvent>, DataError> {
    Ok(catalog(dir)?.stream_prefix(limit))
}
