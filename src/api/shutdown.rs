//! The server's stop signal, shared by what must react to it: `run` triggers it when its
//! shutdown future resolves (SIGTERM, SIGINT, or a test's signal), and every open
//! `WatchMailTips` stream ends with `UNAVAILABLE` when it fires so that clients reconnect
//! to another instance while in-flight unary calls finish.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::api::pb::mail_tips_service_server::SERVICE_NAME;

/// A one-way stop signal; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
}

impl Shutdown {
    pub(crate) fn new() -> Self {
        Self {
            tx: Arc::new(watch::Sender::new(false)),
        }
    }

    /// Fires the signal (again is harmless).
    pub(crate) fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Waits for `signal`, then at once reports `NOT_SERVING` on `grpc.health.v1` (the whole
    /// server and the mail tips service, so load balancers drain this instance) and fires the
    /// stop signal. Hand the result to the server as its shutdown future: it stops accepting
    /// connections and lets in-flight calls finish.
    pub(crate) async fn on(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
        health: HealthReporter,
    ) {
        signal.await;
        for service in ["", SERVICE_NAME] {
            health
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        }
        self.trigger();
    }

    /// Runs `serve` to its end, or until `grace` has passed since the stop signal fired,
    /// whichever comes first: a client that neither finishes nor goes away cannot hold the
    /// process up. Connections still open then are dropped with the runtime.
    pub(crate) async fn within_grace<E>(
        &self,
        serve: impl Future<Output = Result<(), E>>,
        grace: Duration,
    ) -> Result<(), E> {
        let over = async {
            self.stopping().await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            result = serve => {
                tracing::info!("stopped: every connection closed");
                result
            }
            () = over => {
                tracing::warn!(
                    grace = %humantime::format_duration(grace),
                    "stopped: the shutdown grace period ran out with connections still open"
                );
                Ok(())
            }
        }
    }

    /// Resolves once the signal has fired (at once if it already has).
    pub(crate) async fn stopping(&self) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while this waits.
        let _ = rx.wait_for(|stopped| *stopped).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waiters_before_and_after_the_trigger_resolve() {
        let s = Shutdown::new();
        let early = tokio::spawn({
            let s = s.clone();
            async move { s.stopping().await }
        });
        tokio::task::yield_now().await;
        assert!(!early.is_finished());
        s.trigger();
        early.await.unwrap();
        s.stopping().await;
    }
}
