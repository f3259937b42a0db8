//! Shutdown in one place.
//!
//! Every long-running part (the pipeline, the generation stage, the recommender's consumer, the
//! demo's services) takes a [`Shutdown`] and drains when it fires. The command line fires it on
//! the first SIGINT or SIGTERM ([`on_signals`]); the demo and the tests fire it themselves
//! ([`channel`]). One watch channel, so that any number of parts can wait on the same request and
//! a part started after the request sees it at once.

use std::future::Future;
use tokio::sync::watch;

/// The side that asks for shutdown.
pub struct Trigger(watch::Sender<bool>);

/// The side that waits for it; cheap to clone, one per part.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// Resolves once shutdown is requested (at once if it already was). A dropped trigger counts
    /// as a request: nothing could ask any more.
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.0.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    }

    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }
}

/// A [`Shutdown`] fired by the first SIGINT or SIGTERM.
pub fn on_signals() -> Shutdown {
    let (trigger, shutdown) = channel();
    tokio::spawn(async move {
        signal().await;
        tracing::info!("shutdown requested");
        trigger.fire();
    });
    shutdown
}

async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; SIGINT only");
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Calls `on_hup` on every SIGHUP (the generation stage reloads its models), until `shutdown`.
pub fn on_hangup<F, Fut>(shutdown: &Shutdown, on_hup: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::warn!("cannot listen for SIGHUP; reload through POST /admin/reload");
            return;
        };
        let stop = shutdown.wait();
        tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    _ = &mut stop => break,
                    r = hup.recv() => match r {
                        Some(()) => on_hup().await,
                        None => break,
                    },
                }
            }
        });
    }
    #[cfg(not(unix))]
    let _ = (shutdown, on_hup);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_waiter_sees_one_request_even_if_it_waits_late() {
        let (trigger, shutdown) = channel();
        let early = shutdown.wait();
        assert!(!shutdown.is_requested());
        trigger.fire();
        early.await;
        // A part that starts waiting after the request returns at once.
        shutdown.clone().wait().await;
        assert!(shutdown.is_requested());
    }

    #[tokio::test]
    async fn a_dropped_trigger_counts_as_a_request() {
        let (trigger, shutdown) = channel();
        drop(trigger);
        tokio::time::timeout(std::time::Duration::from_secs(5), shutdown.wait())
            .await
            .expect("wait returns once nothing can fire");
    }
}
