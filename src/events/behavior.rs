use serde::{Deserialize, Serialize};

/// What a user did with an item. Ordered by the strength of the signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BehaviorKind {
    View,
    Cart,
    Purchase,
    Review,
}

impl BehaviorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BehaviorKind::View => "view",
            BehaviorKind::Cart => "cart",
            BehaviorKind::Purchase => "purchase",
            BehaviorKind::Review => "review",
        }
    }
}

/// One real user interaction (`schemas/behavior_event.avsc`).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
pub struct BehaviorEvent {
    pub event_id: String,
    pub user_id: String,
    pub item_id: String,
    pub kind: BehaviorKind,
    /// Milliseconds since the Unix epoch.
    pub ts: i64,
    #[serde(default)]
    pub session_id: Option<String>,
    #[serde(default)]
    pub rating: Option<i32>,
    #[serde(default)]
    pub review_text: Option<String>,
}
