//! The pipeline's work on worker threads (`runtime.workers` above 1).
//!
//! The consuming task takes records from the consumer and hands them, in batches, to the worker
//! that owns their partition: a partition always goes to the same worker, so its records are
//! processed and their outputs sent in offset order, which is what the ack tracker's commit rule
//! needs. Decoding, the stages and encoding then run on the workers, in parallel across
//! partitions, while the consuming task keeps fetching and serves the producer's delivery
//! reports.
//!
//! The consumer's position runs ahead of processing; the [`Handoff`] count is what lets a
//! transaction commit or a revocation wait until every record taken so far is processed. Each
//! worker owns its stage chain, so stage state (the dedup window) is per worker: a duplicate on
//! the same partition, which is where a retrying producer puts it, is always seen by the worker
//! that saw the original.

use super::runner::{consume_error, ready, PipelineError, Summary};
use super::worker::Worker;
use crate::delivery::handoff::Handoff;
use crate::delivery::schemas::Resolver;
use crate::delivery::{now_ms, Runtime};
use futures::FutureExt;
use rdkafka::message::{Message, OwnedMessage};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Records in one hand-over to a worker, at most.
const BATCH: usize = 128;
/// Batches queued per worker before the consuming task waits.
const QUEUE: usize = 32;

type Batch = Vec<OwnedMessage>;

pub struct Workers {
    queues: Vec<mpsc::Sender<Batch>>,
    threads: Vec<std::thread::JoinHandle<(Summary, Result<(), PipelineError>)>>,
    handoff: Arc<Handoff>,
    clock: Arc<AtomicI64>,
    /// The first worker failure, for the consuming task to stop on.
    failure: Arc<Mutex<Option<String>>>,
}

impl Workers {
    pub fn spawn(
        n: usize,
        mut make: impl FnMut() -> Worker,
        handoff: Arc<Handoff>,
    ) -> Result<Workers, PipelineError> {
        let clock = Arc::new(AtomicI64::new(now_ms()));
        let failure = Arc::new(Mutex::new(None));
        let mut queues = Vec::with_capacity(n);
        let mut threads = Vec::with_capacity(n);
        for i in 0..n {
            let (tx, rx) = mpsc::channel::<Batch>(QUEUE);
            let worker = make();
            let (handoff, clock, failure) = (handoff.clone(), clock.clone(), failure.clone());
            let thread = std::thread::Builder::new()
                .name(format!("pipeline-worker-{i}"))
                .spawn(move || work(worker, rx, &handoff, &clock, &failure))
                .map_err(|e| PipelineError::Worker(e.to_string()))?;
            queues.push(tx);
            threads.push(thread);
        }
        Ok(Workers {
            queues,
            threads,
            handoff,
            clock,
            failure,
        })
    }

    /// Feeds the workers until `shutdown` resolves or something fails.
    pub async fn feed(
        &self,
        rt: &mut Runtime,
        resolver: Option<&Resolver>,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> Result<(), PipelineError> {
        let mut commit_tick = rt.commit_interval();
        let mut poll_tick = rt.poll_interval();
        let mut batches: Vec<Batch> = (0..self.queues.len()).map(|_| Vec::new()).collect();
        loop {
            tokio::select! {
                biased;
                _ = &mut *shutdown => {
                    tracing::info!("pipeline draining");
                    return Ok(());
                }
                _ = commit_tick.tick() => {
                    if let Some(f) = self.failure.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                        return Err(PipelineError::Worker(f));
                    }
                    rt.commit()?;
                    self.clock.store(now_ms(), Ordering::Relaxed);
                }
                _ = poll_tick.tick() => rt.poll(),
                msg = rt.consumer().recv() => match msg {
                    Ok(m) => {
                        rt.touch();
                        let mut stopped = !ready(rt, resolver, &m, shutdown).await;
                        if !stopped {
                            self.route(m.detach(), &mut batches);
                        }
                        for _ in 0..BATCH * self.queues.len() {
                            if stopped {
                                break;
                            }
                            match rt.consumer().recv().now_or_never() {
                                Some(Ok(m)) => {
                                    if ready(rt, resolver, &m, shutdown).await {
                                        self.route(m.detach(), &mut batches);
                                    } else {
                                        stopped = true;
                                    }
                                }
                                Some(Err(e)) => consume_error(rt, e),
                                None => break,
                            }
                        }
                        if stopped {
                            // What was taken before the record that waited is processed; the
                            // shutdown has fired, so a full queue is not waited for.
                            self.hand_over(&mut batches, rt, shutdown).await;
                            return Ok(());
                        }
                        if !self.hand_over(&mut batches, rt, shutdown).await {
                            tracing::info!("pipeline draining (shutdown while the workers were full)");
                            return Ok(());
                        }
                        rt.poll();
                        if !rt.wait_for_room(shutdown).await {
                            tracing::info!("pipeline draining (shutdown while waiting for acknowledgements)");
                            return Ok(());
                        }
                    }
                    Err(e) => consume_error(rt, e),
                }
            }
        }
    }

    fn route(&self, m: OwnedMessage, batches: &mut [Batch]) {
        // Partition numbers spread over the workers; the topic's hash keeps two input topics'
        // partition 0 from always landing on the same worker.
        let topic = m
            .topic()
            .bytes()
            .fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(b as usize));
        let i = topic.wrapping_add(m.partition().max(0) as usize) % batches.len();
        batches[i].push(m);
    }

    /// Sends every non-empty batch to its worker, waiting (and serving delivery reports) while a
    /// worker's queue is full. `false` if `shutdown` fired meanwhile.
    async fn hand_over(
        &self,
        batches: &mut [Batch],
        rt: &Runtime,
        shutdown: &mut (impl Future<Output = ()> + Unpin),
    ) -> bool {
        for (queue, batch) in self.queues.iter().zip(batches.iter_mut()) {
            if batch.is_empty() {
                continue;
            }
            let b = std::mem::take(batch);
            self.handoff.handed(b.len());
            let mut pending = Some(b);
            while let Some(b) = pending.take() {
                match queue.try_send(b) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(b)) => {
                        rt.poll();
                        tokio::select! {
                            _ = &mut *shutdown => {
                                // Not handed over: not outstanding either.
                                for _ in 0..b.len() { self.handoff.done(); }
                                return false;
                            }
                            _ = tokio::time::sleep(Duration::from_micros(200)) => pending = Some(b),
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(b)) => {
                        // The worker stopped on a failure, already recorded.
                        for _ in 0..b.len() {
                            self.handoff.done();
                        }
                    }
                }
            }
        }
        true
    }

    /// Closes the queues and waits for the workers to finish what they hold.
    pub async fn join(self) -> (Summary, Result<(), PipelineError>) {
        drop(self.queues);
        let threads = self.threads;
        let joined = tokio::task::spawn_blocking(move || {
            threads.into_iter().map(|t| t.join()).collect::<Vec<_>>()
        })
        .await;
        let mut summary = Summary::default();
        let mut result = Ok(());
        match joined {
            Ok(all) => {
                for r in all {
                    match r {
                        Ok((s, r)) => {
                            summary.merge(&s);
                            if result.is_ok() {
                                result = r;
                            }
                        }
                        Err(_) => result = Err(PipelineError::Worker("a worker panicked".into())),
                    }
                }
            }
            Err(e) => result = Err(PipelineError::Worker(e.to_string())),
        }
        (summary, result)
    }
}

/// A worker thread: its batches in order, until its queue closes. After a failure it keeps
/// counting what it is handed as done (so that no commit waits for it) without processing it:
/// the failure has already stopped every commit.
fn work(
    mut worker: Worker,
    mut rx: mpsc::Receiver<Batch>,
    handoff: &Handoff,
    clock: &AtomicI64,
    failure: &Mutex<Option<String>>,
) -> (Summary, Result<(), PipelineError>) {
    let mut result = Ok(());
    while let Some(batch) = rx.blocking_recv() {
        worker.now_ms = clock.load(Ordering::Relaxed);
        for m in &batch {
            if result.is_ok() {
                if let Err(e) = worker.handle(m) {
                    tracing::error!(error = %e, "pipeline worker stopped");
                    failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .get_or_insert_with(|| e.to_string());
                    result = Err(e);
                }
            }
            handoff.done();
        }
    }
    (worker.summary, result)
}
