//! Drops exact duplicates (same event_id) within a bounded window of recent ids.
//!
//! Producers that retry without idempotence, and replays after a crash upstream, deliver the same
//! event twice; the recommender would count it twice. The window is a ring of 64-bit hashes, so
//! memory is fixed (16 bytes an id plus the set) whatever the stream's length. The ids are hashed
//! once with 64-bit FNV-1a and the set stores that hash as is; a collision would drop one
//! distinct event in about 2^64 / window, which is accepted.

use crate::pipeline::{InputCtx, Record, Stage};
use crate::reject::Rejection;
use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

/// The set's keys are already hashes: pass them through instead of hashing them again.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = fnv1a(bytes);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

pub struct Dedup {
    window: usize,
    seen: HashSet<u64, BuildHasherDefault<Prehashed>>,
    order: VecDeque<u64>,
    dropped: u64,
}

impl Dedup {
    pub fn new(window: usize) -> Self {
        // Sized once so that a full window never reallocates: the ring holds window + 1 ids for
        // a moment, and the set stays at most half full, where hashbrown clears the tombstones
        // of removed ids in place instead of growing to twice the size (a one-time RSS step of
        // 18 MiB per million-id window in the soak test before). Past 2^20 ids the set and ring
        // grow as they fill, rather than reserving a huge window up front.
        let ids = window.min(1 << 20) + 1;
        Dedup {
            window,
            seen: HashSet::with_capacity_and_hasher(2 * ids, Default::default()),
            order: VecDeque::with_capacity(ids),
            dropped: 0,
        }
    }

    /// Duplicates dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// True the first time `id` is seen within the window.
    fn first_sight(&mut self, id: &str) -> bool {
        let h = fnv1a(id.as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_exactly_the_window() {
        let mut d = Dedup::new(2);
        assert!(d.first_sight("a"));
        assert!(!d.first_sight("a"));
        assert!(d.first_sight("b"));
        assert!(d.first_sight("c")); // "a" leaves the window
        assert!(d.first_sight("a"));
        assert!(!d.first_sight("c"));
        assert_eq!(d.order.len(), 2);
        assert_eq!(d.seen.len(), 2);
    }

    #[test]
    fn a_full_window_never_reallocates() {
        let mut d = Dedup::new(1000);
        let (set, ring) = (d.seen.capacity(), d.order.capacity());
        for i in 0..20_000 {
            assert!(d.first_sight(&format!("event-{i}")));
        }
        assert_eq!(d.seen.len(), 1000);
        assert_eq!(
            (d.seen.capacity(), d.order.capacity()),
            (set, ring),
            "the window's memory is reserved once"
        );
    }
}
