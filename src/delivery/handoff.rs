//! Records consumed and handed to worker threads but not processed yet.
//!
//! With `runtime.workers` above 1, the consumer's position runs ahead of processing. Two things
//! must not: an exactly-once transaction's offsets (the consumer's positions), and a revocation's
//! commit. Both first wait here until every record taken from the consumer has been processed
//! and its outputs handed to the producer; the workers are never blocked by the wait, so it ends
//! as soon as their queues are empty.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

#[derive(Debug, Default)]
pub struct Handoff {
    outstanding: AtomicUsize,
}

impl Handoff {
    /// `n` records were handed to workers.
    pub fn handed(&self, n: usize) {
        self.outstanding.fetch_add(n, Ordering::AcqRel);
    }

    /// A worker finished one record (its outputs are with the producer).
    pub fn done(&self) {
        self.outstanding.fetch_sub(1, Ordering::AcqRel);
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.load(Ordering::Acquire)
    }

    /// Waits until nothing is outstanding; `false` if `timeout` passed first.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(20);
        while self.outstanding() > 0 {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn waits_until_every_handed_record_is_done() {
        let h = Arc::new(Handoff::default());
        h.handed(3);
        assert!(!h.wait_idle(Duration::from_millis(5)), "3 outstanding");
        let worker = {
            let h = h.clone();
            std::thread::spawn(move || {
                for _ in 0..3 {
                    std::thread::sleep(Duration::from_millis(2));
                    h.done();
                }
            })
        };
        assert!(h.wait_idle(Duration::from_secs(10)));
        assert_eq!(h.outstanding(), 0);
        worker.join().unwrap();
    }
}
