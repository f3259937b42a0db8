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

impl ProductEvent {
    /// A product with only an id and a title (time 0, no other content): for tests and tools.
    pub fn titled(item_id: &str, title: &str) -> ProductEvent {
        ProductEvent {
            item_id: item_id.into(),
            ts: 0,
            title: title.into(),
            category: vec![],
            brand: None,
            price: None,
            description: None,
            attributes: BTreeMap::new(),
        }
    }
}
