//! warmstart's own catalogue format: two tab-separated files with a header line, each plain or
//! gzipped (`.tsv` or `.tsv.gz`), documented in the README.
//!
//! - `interactions.tsv`: `user`, `item`, `ts` (milliseconds since the epoch), `kind` (`view`,
//!   `cart`, `purchase` or `review`) and/or `rating` (1 to 5; a rating alone means a review),
//!   and optionally `text` (the review's text).
//! - `items.tsv`: `item`, and optionally `title`, `brand`, `categories` (`|`-separated, root
//!   first), `description` and `attributes` (a JSON object of free attributes).
//!
//! Columns are found by name in the header, in any order. Text cells may carry `\t`, `\n` and
//! `\\` escapes. Every error names the file, the line and the field; blank lines and duplicate
//! rows are counted in the catalogue's report.

use super::{Builder, Catalog};
use crate::data::DataError;
use crate::events::{BehaviorEvent, BehaviorKind, ProductEvent};
use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};

pub const INTERACTIONS: &str = "interactions";
pub const ITEMS: &str = "items";

const INTERACTION_COLUMNS: [&str; 6] = ["user", "item", "ts", "kind", "rating", "text"];
const ITEM_COLUMNS: [&str; 6] = [
    "item",
    "title",
    "brand",
    "categories",
    "description",
    "attributes",
];

/// `dir/<stem>.tsv` or `dir/<stem>.tsv.gz`, whichever exists (an error if both or neither).
pub fn find(dir: &Path, stem: &str) -> Result<PathBuf, DataError> {
    let plain = dir.join(format!("{stem}.tsv"));
    let gz = dir.join(format!("{stem}.tsv.gz"));
    match (plain.is_file(), gz.is_file()) {
        (true, false) => Ok(plain),
        (false, true) => Ok(gz),
        (true, true) => Err(DataError::NotACatalog {
            dir: dir.to_owned(),
            reason: format!("both {stem}.tsv and {stem}.tsv.gz exist; keep one"),
        }),
        (false, false) => Err(DataError::NotACatalog {
            dir: dir.to_owned(),
            reason: format!("no {stem}.tsv or {stem}.tsv.gz"),
        }),
    }
}

/// The lines of a plain or gzipped (by its `.gz` name) text file.
pub(crate) fn text_lines(
    path: &Path,
) -> Result<impl Iterator<Item = Result<String, DataError>>, DataError> {
    let file = std::fs::File::open(path).map_err(|source| DataError::Io {
        path: path.to_owned(),
        source,
    })?;
    let reader: Box<dyn BufRead> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(std::io::BufReader::new(flate2::read::MultiGzDecoder::new(
            file,
        )))
    } else {
        Box::new(std::io::BufReader::new(file))
    };
    let path = path.to_owned();
    Ok(reader.lines().map(move |l| {
        l.map_err(|source| DataError::Io {
            path: path.clone(),
            source,
        })
    }))
}

/// A header's columns by name; unknown or repeated names and missing required ones are errors.
struct Header {
    names: Vec<String>,
    required: Vec<String>,
}

impl Header {
    fn parse(
        path: &Path,
        line: Option<String>,
        known: &[&str],
        required: &[&str],
    ) -> Result<Header, DataError> {
        let bad = |reason: String| DataError::Format {
            path: path.to_owned(),
            line: 1,
            reason,
        };
        let line = line.ok_or_else(|| bad("empty file: expected a header line".into()))?;
        let names: Vec<String> = line
            .trim_end_matches('\r')
            .split('\t')
            .map(|n| n.trim().to_lowercase())
            .collect();
        for (i, n) in names.iter().enumerate() {
            if !known.contains(&n.as_str()) {
                return Err(bad(format!(
                    "unknown column `{n}` (the columns are {})",
                    known.join(", ")
                )));
            }
            if names[..i].contains(n) {
                return Err(bad(format!("column `{n}` appears twice")));
            }
        }
        for r in required {
            if !names.iter().any(|n| n == r) {
                return Err(bad(format!(
                    "no `{r}` column (the header has {})",
                    names.join(", ")
                )));
            }
        }
        Ok(Header {
            names,
            required: required.iter().map(|r| r.to_string()).collect(),
        })
    }

    fn has(&self, name: &str) -> bool {
        self.names.iter().any(|n| n == name)
    }

    /// The row's cells by column name. A row may leave out trailing optional columns (they
    /// read as empty); one that leaves out a required column names it, one with more cells than
    /// the header says so.
    fn row<'a>(
        &self,
        path: &Path,
        line_no: usize,
        line: &'a str,
    ) -> Result<BTreeMap<&str, &'a str>, DataError> {
        let mut cells: Vec<&str> = line.split('\t').collect();
        let missing_required = self.names[cells.len().min(self.names.len())..]
            .iter()
            .find(|n| self.required.contains(n));
        if cells.len() < self.names.len() && missing_required.is_none() {
            cells.resize(self.names.len(), "");
        }
        if let Some(field) = missing_required {
            return Err(DataError::Field {
                path: path.to_owned(),
                line: line_no,
                field: field.clone(),
                reason: format!(
                    "missing: the row has {} fields, the header {}",
                    cells.len(),
                    self.names.len()
                ),
            });
        }
        if cells.len() > self.names.len() {
            return Err(DataError::Format {
                path: path.to_owned(),
                line: line_no,
                reason: format!(
                    "{} fields, but the header has {} (a tab inside a value? write it as \\t)",
                    cells.len(),
                    self.names.len()
                ),
            });
        }
        Ok(self.names.iter().map(String::as_str).zip(cells).collect())
    }
}

/// `\t`, `\n`, `\r` and `\\` escapes undone; any other backslash is kept as written.
fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

fn field_error(path: &Path, line: usize, field: &str, reason: String) -> DataError {
    DataError::Field {
        path: path.to_owned(),
        line,
        field: field.to_owned(),
        reason,
    }
}

/// A JSON object of free attributes as string values: strings as they are, numbers and booleans
/// written out, arrays of those joined with spaces (the `attribute_ids` convention), nulls
/// left out. Nested objects are an error.
pub(crate) fn attributes(json: &str) -> Result<BTreeMap<String, String>, String> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|e| format!("not JSON: {e}"))?;
    let serde_json::Value::Object(map) = value else {
        return Err("expected a JSON object".into());
    };
    let scalar = |v: &serde_json::Value| -> Option<String> {
        match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let mut out = BTreeMap::new();
    for (k, v) in map {
        let text = match &v {
            serde_json::Value::Null => continue,
            serde_json::Value::Array(a) => {
                let parts: Option<Vec<String>> = a.iter().map(scalar).collect();
                parts
                    .ok_or_else(|| format!("`{k}`: an array may hold only strings and numbers"))?
                    .join(" ")
            }
            other => {
                scalar(other).ok_or_else(|| format!("`{k}`: a value may not be a nested object"))?
            }
        };
        out.insert(k, text);
    }
    Ok(out)
}

/// Calls `f` with each row after the header (its 1-based line number and cells by column);
/// blank lines are counted in the report instead.
fn for_each_row(
    path: &Path,
    header: &Header,
    lines: impl Iterator<Item = Result<String, DataError>>,
    b: &mut Builder,
    mut f: impl FnMut(&mut Builder, usize, &BTreeMap<&str, &str>) -> Result<(), DataError>,
) -> Result<(), DataError> {
    for (i, line) in lines.enumerate() {
        let (line, no) = (line?, i + 2);
        if line.trim().is_empty() {
            b.empty_row();
            continue;
        }
        let row = header.row(path, no, line.trim_end_matches('\r'))?;
        f(b, no, &row)?;
    }
    Ok(())
}

fn read_items(path: &Path, b: &mut Builder) -> Result<(), DataError> {
    b.file(path);
    let mut lines = text_lines(path)?;
    let header = Header::parse(path, lines.next().transpose()?, &ITEM_COLUMNS, &["item"])?;
    for_each_row(path, &header, lines, b, |b, no, row| {
        let id = row["item"].trim();
        if id.is_empty() {
            return Err(field_error(path, no, "item", "empty item id".into()));
        }
        let text = |c: &str| {
            row.get(c)
                .map(|v| unescape(v.trim()))
                .filter(|v| !v.is_empty())
        };
        let attributes = match text("attributes") {
            Some(json) => {
                attributes(&json).map_err(|reason| field_error(path, no, "attributes", reason))?
            }
            None => BTreeMap::new(),
        };
        b.item(ProductEvent {
            item_id: id.to_owned(),
            ts: 0,
            title: text("title").unwrap_or_default(),
            category: text("categories")
                .map(|c| {
                    c.split('|')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            brand: text("brand"),
            price: None,
            description: text("description"),
            attributes,
        });
        Ok(())
    })
}

fn kind(v: &str) -> Option<BehaviorKind> {
    Some(match v {
        "view" => BehaviorKind::View,
        "cart" => BehaviorKind::Cart,
        "purchase" => BehaviorKind::Purchase,
        "review" => BehaviorKind::Review,
        _ => return None,
    })
}

fn read_interactions(
    path: &Path,
    items_path: &Path,
    prefix: &str,
    b: &mut Builder,
) -> Result<(), DataError> {
    b.file(path);
    let mut lines = text_lines(path)?;
    let header = Header::parse(
        path,
        lines.next().transpose()?,
        &INTERACTION_COLUMNS,
        &["user", "item", "ts"],
    )?;
    if !header.has("kind") && !header.has("rating") {
        return Err(DataError::Format {
            path: path.to_owned(),
            line: 1,
            reason: "no `kind` or `rating` column (one of them says what each row is)".into(),
        });
    }
    for_each_row(path, &header, lines, b, |b, no, row| {
        let bad = |field: &str, reason: String| field_error(path, no, field, reason);
        let user = row["user"].trim();
        if user.is_empty() {
            return Err(bad("user", "empty user id".into()));
        }
        let item = row["item"].trim();
        if item.is_empty() {
            return Err(bad("item", "empty item id".into()));
        }
        if !b.has_item(item) {
            return Err(bad(
                "item",
                format!("`{item}` has no row in {}", items_path.display()),
            ));
        }
        let ts_text = row["ts"].trim();
        let ts: i64 = ts_text
            .parse()
            .ok()
            .filter(|t| *t >= 0)
            .ok_or_else(|| {
                bad(
                    "ts",
                    format!("`{ts_text}` is not a time: a whole, non-negative number of milliseconds since 1970"),
                )
            })?;
        let rating = match row
            .get("rating")
            .map(|r| r.trim())
            .filter(|r| !r.is_empty())
        {
            None => None,
            Some(r) => Some(
                r.parse::<f64>()
                    .ok()
                    .and_then(crate::data::assemble::rating)
                    .ok_or_else(|| {
                        bad("rating", format!("`{r}` is not a whole rating from 1 to 5"))
                    })?,
            ),
        };
        let kind = match row.get("kind").map(|k| k.trim()).filter(|k| !k.is_empty()) {
            Some(k) => kind(&k.to_lowercase()).ok_or_else(|| {
                bad(
                    "kind",
                    format!("unknown kind `{k}` (view, cart, purchase or review)"),
                )
            })?,
            None if rating.is_some() => BehaviorKind::Review,
            None => return Err(bad("kind", "empty, and the row has no rating".into())),
        };
        if rating.is_some() && kind != BehaviorKind::Review {
            return Err(bad(
                "rating",
                format!(
                    "a rating on a `{}` row (only reviews have one)",
                    kind.as_str()
                ),
            ));
        }
        let review_text = row
            .get("text")
            .map(|t| unescape(t.trim()))
            .filter(|t| !t.is_empty());
        b.interaction(BehaviorEvent {
            event_id: format!("{prefix}-{no}"),
            user_id: user.to_owned(),
            item_id: item.to_owned(),
            kind,
            ts,
            session_id: None,
            rating,
            review_text,
        });
        Ok(())
    })
}

/// Reads `dir/items.tsv[.gz]` then `dir/interactions.tsv[.gz]`. Event ids are
/// `<folder name>-<line>` of the interactions file.
pub fn load(dir: &Path) -> Result<Catalog, DataError> {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "catalog".into());
    let items = find(dir, ITEMS)?;
    let interactions = find(dir, INTERACTIONS)?;
    let mut b = Builder::new(&name);
    read_items(&items, &mut b)?;
    read_interactions(&interactions, &items, &name, &mut b)?;
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone() {
        assert_eq!(unescape(r"a\tb\nc\\d\x"), "a\tb\nc\\d\\x");
    }

    #[test]
    fn attributes_become_strings() {
        let a = attributes(
            r#"{"attribute_ids": [3, 1], "vegan": true, "size": "50 ml", "gone": null}"#,
        )
        .unwrap();
        assert_eq!(a["attribute_ids"], "3 1");
        assert_eq!(a["vegan"], "true");
        assert_eq!(a["size"], "50 ml");
        assert!(!a.contains_key("gone"));
        assert!(attributes(r#"{"x": {"y": 1}}"#)
            .unwrap_err()
            .contains("`x`"));
        assert!(attributes("[1]").is_err());
    }
}
