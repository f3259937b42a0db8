//! Results in consumption order.
//!
//! An input offset may be committed only after everything before it on its partition is done
//! (`delivery::ack`), so the stage hands records to the producer in the order it consumed them.
//! Most records are done at once (an old product skipped, a dead letter); new products are done
//! when their generation comes back. This buffer keeps every record in arrival order and releases
//! them from the front as they finish, so the quick ones never wait in the inference queue; the
//! caller bounds its length (backpressure).

use std::collections::VecDeque;

pub struct InOrder<P, R> {
    /// Sequence number of the front entry.
    head: u64,
    entries: VecDeque<(P, Option<R>)>,
}

impl<P, R> Default for InOrder<P, R> {
    fn default() -> Self {
        InOrder {
            head: 0,
            entries: VecDeque::new(),
        }
    }
}

impl<P, R> InOrder<P, R> {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A record whose result comes later; returns its sequence number for [`InOrder::complete`].
    pub fn push_waiting(&mut self, pending: P) -> u64 {
        self.entries.push_back((pending, None));
        self.head + self.entries.len() as u64 - 1
    }

    /// A record that is done already.
    pub fn push_ready(&mut self, pending: P, result: R) {
        self.entries.push_back((pending, Some(result)));
    }

    /// The result of record `seq`. Unknown or already released numbers are ignored.
    pub fn complete(&mut self, seq: u64, result: R) {
        if let Some(e) = seq
            .checked_sub(self.head)
            .and_then(|i| self.entries.get_mut(i as usize))
        {
            e.1 = Some(result);
        }
    }

    /// The front record, if it is done.
    pub fn pop_ready(&mut self) -> Option<(P, R)> {
        if !matches!(self.entries.front(), Some((_, Some(_)))) {
            return None;
        }
        let (p, r) = self.entries.pop_front()?;
        self.head += 1;
        Some((p, r?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_leave_in_arrival_order_as_soon_as_everything_before_them_is_done() {
        let mut q: InOrder<&str, u32> = InOrder::default();
        q.push_ready("a", 1);
        let b = q.push_waiting("b");
        q.push_ready("c", 3);
        let d = q.push_waiting("d");
        assert_eq!(q.pop_ready(), Some(("a", 1)));
        assert_eq!(q.pop_ready(), None, "b is not done, c waits behind it");
        q.complete(d, 4);
        assert_eq!(q.pop_ready(), None);
        q.complete(b, 2);
        let out: Vec<_> = std::iter::from_fn(|| q.pop_ready()).collect();
        assert_eq!(out, [("b", 2), ("c", 3), ("d", 4)]);
        assert!(q.is_empty());
        q.complete(b, 9); // released already: ignored
        let e = q.push_waiting("e");
        assert_eq!(e, 4, "sequence numbers keep counting");
    }
}
