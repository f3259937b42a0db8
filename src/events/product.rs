use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A new product entering the catalogue (`schemas/product_event.avsc`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct ProductEvent {
    pub item_id: String,
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
    pub title: String,
    /// Category path, root first.
    pub category: Vec<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub price: Option<f64>,
    #[serde(default)]
    pub description: Option<String>,
    /// Free-form attributes; a BTreeMap so that encodings are deterministic.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}
