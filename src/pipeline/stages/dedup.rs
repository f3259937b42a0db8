//! Drops exact duplicates (same event_id) within a bounded window of recent ids.
//!
//! Producers that retry without idempotence, and replays after a crash upstream, deliver the same
//! event twice; the recommender would count it twice. The window is a ring of 64-bit hashes, so
//! memory is fixed (16 bytes an id plus the set) whatever the stream's length. A hash collision
//! would drop one distinct event in about 2^64 / window; accepted.

use crate::pipeline::{InputCtx, Record, Stage};
use crate::reject::Rejection;
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashSet, VecDeque};
use std::hash::{Hash, Hasher};

pub struct Dedup {
    window: usize,
    seen: HashSet<u64>,
    order: VecDeque<u64>,
    dropped: u64,
}

impl Dedup {
    pub fn new(window: usize) -> Self {
        let cap = window.min(1 << 20);
        Dedup {
            window,
            seen: HashSet::with_capacity(cap),
            order: VecDeque::with_capacity(cap),
            dropped: 0,
        }
    }

    /// Duplicates dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// True the first time `id` is seen within the window.
    fn first_sight(&mut self, id: &str) -> bool {
        let mut h = DefaultHasher::new();
        id.hash(&mut h);
        let h = h.finish();
        if !self.seen.insert(h) {
            return false;
        }
        self.order.push_back(h);
        if self.order.len() > self.window {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        true
    }
}

impl Stage for Dedup {
    fn name(&self) -> &'static str {
        "dedup"
    }

    fn process(
        &mut self,
        record: Record,
        _ctx: &InputCtx<'_>,
        out: &mut Vec<Record>,
    ) -> Result<(), Rejection> {
        if let Record::Behavior(e) = &record {
            if !self.first_sight(&e.event_id) {
                self.dropped += 1;
                return Ok(());
            }
        }
        out.push(record);
        Ok(())
    }
}
