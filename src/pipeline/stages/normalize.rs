//! Canonical forms, so that later stages and the recommender see one spelling of each thing:
//! ids and text trimmed, runs of whitespace in free text collapsed, empty optionals made absent,
//! category paths without empty segments.

use crate::pipeline::{InputCtx, Record, Stage};
use crate::reject::Rejection;

pub struct Normalize;

fn trim_in_place(s: &mut String) {
    let trimmed = s.trim();
    if trimmed.len() != s.len() {
        *s = trimmed.to_owned();
    }
}

fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clean_opt(v: &mut Option<String>) {
    if let Some(s) = v {
        let c = collapse_whitespace(s);
        *v = if c.is_empty() { None } else { Some(c) };
    }
}

impl Stage for Normalize {
    fn name(&self) -> &'static str {
        "normalize"
    }

    fn process(
        &mut self,
        record: Record,
        _ctx: &InputCtx<'_>,
        out: &mut Vec<Record>,
    ) -> Result<(), Rejection> {
        let record = match record {
            Record::Behavior(mut e) => {
                trim_in_place(&mut e.event_id);
                trim_in_place(&mut e.user_id);
                trim_in_place(&mut e.item_id);
                clean_opt(&mut e.session_id);
                clean_opt(&mut e.review_text);
                Record::Behavior(e)
            }
            Record::Product(mut p) => {
                trim_in_place(&mut p.item_id);
                p.title = collapse_whitespace(&p.title);
                p.category = p
                    .category
                    .iter()
                    .map(|c| collapse_whitespace(c))
                    .filter(|c| !c.is_empty())
                    .collect();
                clean_opt(&mut p.brand);
                clean_opt(&mut p.description);
                p.attributes = std::mem::take(&mut p.attributes)
                    .into_iter()
                    .map(|(k, v)| (k.trim().to_lowercase(), collapse_whitespace(&v)))
                    .filter(|(k, _)| !k.is_empty())
                    .collect();
                Record::Product(p)
            }
            other => other,
        };
        out.push(record);
        Ok(())
    }
}
