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

/// True when `s` is already trimmed with single spaces only: the common case, kept allocation-free.
fn is_canonical(s: &str) -> bool {
    let b = s.as_bytes();
    let mut prev_space = true; // rejects a leading space
    for &c in b {
        let space = c.is_ascii_whitespace();
        if space && (prev_space || c != b' ') {
            return false;
        }
        prev_space = space;
    }
    !prev_space || b.is_empty()
}

fn collapse_whitespace(s: &str) -> String {
    if is_canonical(s) && s.is_ascii() {
        return s.to_owned();
    }
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn clean_opt(v: &mut Option<String>) {
    if let Some(s) = v {
        if is_canonical(s) && s.is_ascii() {
            if s.is_empty() {
                *v = None;
            }
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_is_recognised() {
        for s in ["", "a", "a b", "Rose water, 200 ml"] {
            assert!(is_canonical(s), "{s:?}");
            assert_eq!(collapse_whitespace(s), s);
        }
        for (s, want) in [
            (" a", "a"),
            ("a ", "a"),
            ("a  b", "a b"),
            ("a\tb", "a b"),
            ("a\u{a0}b", "a b"),
        ] {
            assert_eq!(collapse_whitespace(s), want, "{s:?}");
        }
        let mut v = Some("   ".to_string());
        clean_opt(&mut v);
        assert_eq!(v, None);
    }
}
