//! Dynamic micro-batching: wait for one request, then take more until the batch is full or the
//! first one has waited `max_wait`, whichever comes first.
//!
//! One forward pass over 32 products costs little more than over one (the models are small and
//! the work is per-step kernel launches and matrix products), so batching multiplies throughput;
//! the bounded wait caps what it adds to a lone request's latency.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The next batch from `rx`: at least one message, at most `max`, ending early after a message
/// for which `barrier` is true (a reload must not wait for a full batch). `None` once every
/// sender is gone and nothing is left.
pub fn collect<M>(
    rx: &Receiver<M>,
    max: usize,
    max_wait: Duration,
    barrier: impl Fn(&M) -> bool,
) -> Option<Vec<M>> {
    let first = rx.recv().ok()?;
    let deadline = Instant::now() + max_wait;
    let mut batch = Vec::with_capacity(max);
    let stop = barrier(&first);
    batch.push(first);
    while !stop && batch.len() < max {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(m) => {
                let stop = barrier(&m);
                batch.push(m);
                if stop {
                    break;
                }
            }
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::sync_channel;

    #[test]
    fn a_full_batch_leaves_without_waiting_and_the_rest_waits_at_most_max_wait() {
        let (tx, rx) = sync_channel(100);
        for i in 0..10 {
            tx.send(i).unwrap();
        }
        let wait = Duration::from_secs(30);
        assert_eq!(collect(&rx, 4, wait, |_| false).unwrap(), [0, 1, 2, 3]);
        assert_eq!(collect(&rx, 4, wait, |_| false).unwrap(), [4, 5, 6, 7]);
        let started = Instant::now();
        let partial = collect(&rx, 4, Duration::from_millis(50), |_| false).unwrap();
        assert_eq!(partial, [8, 9]);
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(tx);
        assert_eq!(collect(&rx, 4, wait, |_| false), None);
    }

    #[test]
    fn a_barrier_ends_the_batch() {
        let (tx, rx) = sync_channel(100);
        for i in [1, 2, -1, 3] {
            tx.send(i).unwrap();
        }
        let wait = Duration::from_secs(30);
        assert_eq!(collect(&rx, 10, wait, |&m| m < 0).unwrap(), [1, 2, -1]);
        assert_eq!(collect(&rx, 1, wait, |&m| m < 0).unwrap(), [3]);
    }
}
