//! Tracks which input offsets are safe to commit.
//!
//! An input record at offset `o` may be committed (as `o + 1`) only once every output produced from
//! it (enriched event, product, dead letter) is acknowledged by the broker, and so is every record
//! before it on the same partition. Outputs are acknowledged out of order across partitions and
//! topics, so each partition keeps a queue of its unfinished offsets in consumption order; the
//! committable offset is the oldest unfinished one, or one past the last processed.
//!
//! A partition revoked while some of its outputs were still unacknowledged (the broker was away,
//! so the flush on revocation timed out) keeps those outputs as *stale*: their acknowledgements
//! may still arrive, and when the partition comes back to this consumer, a record consumed again
//! is finished only once its stale outputs are too. The dedup stage may drop the record the second
//! time, so its first outputs may be the only ones it has.
//!
//! The delivery callback runs on the producer's thread, the consumer loop on a tokio worker, and
//! the rebalance callback inside the consumer's poll: one mutex, held for a few operations.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// An input partition, interned to a small integer so that it fits the producer's opaque.
pub type Slot = u32;

const OFFSET_BITS: u32 = 40;
const OFFSET_MASK: usize = (1 << OFFSET_BITS) - 1;

/// Packs (slot, offset) into the delivery opaque: no allocation per produced record.
/// Offsets up to 2^40 (a trillion records a partition) and 2^24 partitions fit in 64 bits.
pub fn pack(slot: Slot, offset: i64) -> usize {
    ((slot as usize) << OFFSET_BITS) | (offset as usize & OFFSET_MASK)
}

pub fn unpack(token: usize) -> (Slot, i64) {
    ((token >> OFFSET_BITS) as Slot, (token & OFFSET_MASK) as i64)
}

#[derive(Default)]
struct PartitionState {
    /// (offset, outputs still unacknowledged), in consumption order.
    pending: VecDeque<(i64, u32)>,
    /// One past the highest offset processed.
    next: Option<i64>,
    /// The offset last committed, so that unchanged partitions are not committed again.
    committed: Option<i64>,
}

impl PartitionState {
    fn committable(&self) -> Option<i64> {
        match self.pending.front() {
            Some(&(offset, _)) => Some(offset),
            None => self.next,
        }
    }
}

#[derive(Default)]
pub struct AckTracker {
    inner: Mutex<Inner>,
    in_flight: AtomicUsize,
}

#[derive(Default)]
struct Inner {
    slots: HashMap<(String, i32), Slot>,
    names: Vec<(String, i32)>,
    partitions: HashMap<Slot, PartitionState>,
    failure: Option<String>,
    /// Revocations so far, and the last one of each slot: see [`AckTracker::still_owned`].
    revocations: u64,
    revoked_at: HashMap<Slot, u64>,
    /// Outputs of forgotten partitions still unacknowledged, by slot and input offset.
    stale: HashMap<Slot, HashMap<i64, u32>>,
}

impl AckTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn slot(&self, topic: &str, partition: i32) -> Slot {
        let mut inner = self.inner.lock().unwrap();
        if let Some(&s) = inner.slots.get(&(topic.to_owned(), partition)) {
            return s;
        }
        let s = inner.names.len() as Slot;
        inner.names.push((topic.to_owned(), partition));
        inner.slots.insert((topic.to_owned(), partition), s);
        s
    }

    /// Records that `offset` was processed into `outputs` records now being produced.
    pub fn processed(&self, slot: Slot, offset: i64, outputs: u32) {
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        // Consumed again after a revocation: the outputs sent the first time count as well.
        let stale = inner
            .stale
            .get_mut(&slot)
            .and_then(|s| s.remove(&offset))
            .unwrap_or(0);
        let outputs = outputs + stale;
        let state = inner.partitions.entry(slot).or_default();
        if outputs > 0 {
            state.pending.push_back((offset, outputs));
            self.in_flight
                .fetch_add(outputs as usize, Ordering::Relaxed);
        }
        state.next = Some(state.next.map_or(offset + 1, |n| n.max(offset + 1)));
    }

    /// One output of (slot, offset) was acknowledged by the broker.
    pub fn acked(&self, slot: Slot, offset: i64) {
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        let state = inner.partitions.get_mut(&slot);
        let found = state.and_then(|state| {
            let i = state
                .pending
                .binary_search_by_key(&offset, |&(o, _)| o)
                .ok()?;
            Some((state, i))
        });
        let Some((state, i)) = found else {
            // An output sent before its partition was revoked, its record not consumed again.
            if let Some(outputs) = inner.stale.get_mut(&slot) {
                if let Some(n) = outputs.get_mut(&offset) {
                    *n -= 1;
                    if *n == 0 {
                        outputs.remove(&offset);
                    }
                }
                if outputs.is_empty() {
                    inner.stale.remove(&slot);
                }
            }
            return;
        };
        // A stray acknowledgement (one more than the record's outputs) must not take a count
        // below zero: it would block the partition's commits for good.
        if let Some(left) = state.pending[i].1.checked_sub(1) {
            state.pending[i].1 = left;
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
        while matches!(state.pending.front(), Some(&(_, 0))) {
            state.pending.pop_front();
        }
    }

    /// An output could not be delivered: nothing from its partition may be committed past it,
    /// and the runner stops so that a restart reprocesses it.
    pub fn failed(&self, slot: Slot, offset: i64, error: String) {
        let mut inner = self.inner.lock().unwrap();
        let name = inner.names.get(slot as usize).cloned().unwrap_or_default();
        inner.failure.get_or_insert_with(|| {
            format!(
                "delivery of output of {}/{} offset {offset} failed: {error}",
                name.0, name.1
            )
        });
    }

    pub fn failure(&self) -> Option<String> {
        self.inner.lock().unwrap().failure.clone()
    }

    /// Outputs sent and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Offsets that can be committed and were not yet, as (topic, partition, offset). When a
    /// delivery failed, nothing is returned: the failed record's offset is not known to be safe.
    /// `only` restricts the answer to some partitions (a revocation) and then also returns
    /// offsets already handed out, since an asynchronous commit of them may not have landed.
    pub fn take_committable(&self, only: Option<&[(String, i32)]>) -> Vec<(String, i32, i64)> {
        let mut inner = self.inner.lock().unwrap();
        if inner.failure.is_some() {
            return Vec::new();
        }
        let Inner {
            names,
            partitions,
            slots,
            ..
        } = &mut *inner;
        let mut out = Vec::new();
        let wanted: Option<Vec<Slot>> = only.map(|tp| {
            tp.iter()
                .filter_map(|(t, p)| slots.get(&(t.clone(), *p)).copied())
                .collect()
        });
        for (slot, state) in partitions.iter_mut() {
            if let Some(w) = &wanted {
                if !w.contains(slot) {
                    continue;
                }
            }
            if let Some(offset) = state.committable() {
                if state.committed != Some(offset) || wanted.is_some() {
                    state.committed = Some(offset);
                    let (t, p) = &names[*slot as usize];
                    out.push((t.clone(), *p, offset));
                }
            }
        }
        out
    }

    /// A commit of these offsets failed: hand them out again with the next commit.
    pub fn commit_failed(&self, offsets: &[(String, i32, i64)]) {
        let mut inner = self.inner.lock().unwrap();
        let Inner {
            slots, partitions, ..
        } = &mut *inner;
        for (t, p, o) in offsets {
            if let Some(state) = slots
                .get(&(t.clone(), *p))
                .and_then(|s| partitions.get_mut(s))
            {
                if state.committed == Some(*o) {
                    state.committed = None;
                }
            }
        }
    }

    /// The revocation epoch: a stage that finishes records later than it consumes them notes it
    /// with each record, to ask [`AckTracker::still_owned`] before producing its outputs.
    pub fn epoch(&self) -> u64 {
        self.inner.lock().unwrap().revocations
    }

    /// Whether a record of `slot` consumed in `epoch` is still this consumer's to finish: not if
    /// its partition was revoked since (even if assigned again: the new owner, or this consumer
    /// anew, consumes it again from the committed offset, and its outputs would then be doubled).
    pub fn still_owned(&self, slot: Slot, epoch: u64) -> bool {
        let inner = self.inner.lock().unwrap();
        inner.revoked_at.get(&slot).is_none_or(|&at| at <= epoch)
    }

    /// Forgets revoked partitions: another consumer owns them now. Their unacknowledged outputs
    /// (if the flush on revocation timed out) become stale, see the module docs.
    pub fn forget(&self, partitions: &[(String, i32)]) {
        let mut guard = self.inner.lock().unwrap();
        let inner = &mut *guard;
        inner.revocations += 1;
        let epoch = inner.revocations;
        for tp in partitions {
            if let Some(slot) = inner.slots.get(tp).copied() {
                inner.revoked_at.insert(slot, epoch);
                if let Some(state) = inner.partitions.remove(&slot) {
                    let pending: u32 = state.pending.iter().map(|&(_, n)| n).sum();
                    self.in_flight
                        .fetch_sub(pending as usize, Ordering::Relaxed);
                    let stale = inner.stale.entry(slot).or_default();
                    for (offset, n) in state.pending.into_iter().filter(|&(_, n)| n > 0) {
                        *stale.entry(offset).or_default() += n;
                    }
                    if stale.is_empty() {
                        inner.stale.remove(&slot);
                    }
                }
            }
        }
    }

    /// Outputs of forgotten partitions still unacknowledged.
    pub fn stale(&self) -> usize {
        let inner = self.inner.lock().unwrap();
        inner
            .stale
            .values()
            .flat_map(|s| s.values())
            .map(|&n| n as usize)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pack_round_trips() {
        for (s, o) in [(0, 0), (1, 12345), (77, (1 << 40) - 1)] {
            assert_eq!(unpack(pack(s, o)), (s, o));
        }
    }

    #[test]
    fn commits_only_up_to_the_oldest_unacknowledged_offset() {
        let t = AckTracker::new();
        let s = t.slot("in", 0);
        t.processed(s, 10, 1);
        t.processed(s, 11, 2);
        t.processed(s, 12, 0); // a dropped duplicate: nothing to wait for
        assert_eq!(t.take_committable(None), vec![("in".into(), 0, 10)]);
        t.acked(s, 11);
        t.acked(s, 11);
        assert!(t.take_committable(None).is_empty(), "10 is still pending");
        t.acked(s, 10);
        assert_eq!(t.take_committable(None), vec![("in".into(), 0, 13)]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_failed_delivery_blocks_every_commit() {
        let t = AckTracker::new();
        let s = t.slot("in", 0);
        t.processed(s, 0, 1);
        t.failed(s, 0, "broker gone".into());
        t.processed(s, 1, 0);
        assert!(t.take_committable(None).is_empty());
        assert!(t.failure().unwrap().contains("in/0 offset 0"));
    }

    #[test]
    fn revocation_commits_and_forgets_only_its_partitions() {
        let t = AckTracker::new();
        let a = t.slot("in", 0);
        let b = t.slot("in", 1);
        t.processed(a, 5, 0);
        t.processed(b, 7, 1);
        let revoked = vec![("in".to_string(), 0)];
        assert_eq!(
            t.take_committable(Some(&revoked)),
            vec![("in".into(), 0, 6)]
        );
        t.forget(&revoked);
        t.forget(&[("in".to_string(), 1)]);
        assert_eq!(t.in_flight(), 0);
        t.acked(b, 7); // late ack of a forgotten partition is ignored
    }

    #[test]
    fn a_record_consumed_before_its_partition_was_revoked_is_no_longer_owned() {
        let t = AckTracker::new();
        let a = t.slot("in", 0);
        let b = t.slot("in", 1);
        let before = t.epoch();
        assert!(t.still_owned(a, before));
        t.forget(&[("in".to_string(), 0)]);
        assert!(!t.still_owned(a, before), "revoked since it was consumed");
        assert!(t.still_owned(b, before), "another partition is unaffected");
        assert!(t.still_owned(a, t.epoch()), "consumed after the revocation");
        t.forget(&[("in".to_string(), 1)]);
        assert!(t.still_owned(a, t.epoch() - 1));
    }

    #[test]
    fn late_acks_never_underflow_and_failed_commits_are_retried() {
        let t = AckTracker::new();
        let s = t.slot("in", 0);
        t.processed(s, 3, 1);
        t.acked(s, 3);
        t.processed(s, 4, 1);
        t.acked(s, 3); // a stray, duplicated acknowledgement
        assert_eq!(t.in_flight(), 1);
        let first = t.take_committable(None);
        assert_eq!(first, vec![("in".into(), 0, 4)]);
        assert!(t.take_committable(None).is_empty());
        t.commit_failed(&first);
        assert_eq!(
            t.take_committable(None),
            first,
            "a failed commit is handed out again"
        );
        let revoked = vec![("in".to_string(), 0)];
        assert_eq!(
            t.take_committable(Some(&revoked)),
            first,
            "revocation always recommits"
        );
    }

    #[test]
    fn outputs_still_unacknowledged_at_revocation_finish_the_record_consumed_again() {
        let t = AckTracker::new();
        let s = t.slot("in", 0);
        t.processed(s, 0, 1);
        t.processed(s, 1, 1);
        t.acked(s, 0);
        let revoked = vec![("in".to_string(), 0)];
        // The flush timed out: only the acknowledged prefix is committable.
        assert_eq!(
            t.take_committable(Some(&revoked)),
            vec![("in".into(), 0, 1)]
        );
        t.forget(&revoked);
        assert_eq!((t.in_flight(), t.stale()), (0, 1));
        // Assigned again: offset 1 is consumed again, and the dedup stage drops it (no outputs).
        t.processed(s, 1, 0);
        assert_eq!(t.stale(), 0);
        assert_eq!(
            t.take_committable(None),
            vec![("in".into(), 0, 1)],
            "offset 1 waits for its first output"
        );
        t.acked(s, 1);
        assert_eq!(t.take_committable(None), vec![("in".into(), 0, 2)]);
        assert_eq!(t.in_flight(), 0);
    }

    #[test]
    fn a_stale_output_acknowledged_before_its_record_comes_back_is_forgotten() {
        let t = AckTracker::new();
        let s = t.slot("in", 0);
        t.processed(s, 4, 2);
        t.forget(&[("in".to_string(), 0)]);
        t.acked(s, 4);
        t.acked(s, 4);
        assert_eq!(t.stale(), 0);
        t.processed(s, 4, 1);
        t.acked(s, 4);
        assert_eq!(t.take_committable(None), vec![("in".into(), 0, 5)]);
    }
}
