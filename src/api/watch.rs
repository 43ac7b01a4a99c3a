//! The `WatchMailTips` stream, pull-based: it evaluates only when it is polled, and hyper
//! polls a response body only when the HTTP/2 stream has send capacity, so a client that does
//! not read holds no evaluated response on the server, only this small state. The first answer
//! is evaluated when the call is admitted (authorized and charged like a `GetMailTips`, so a
//! refusal is the call's status), every later one once the refresh interval has passed since
//! the previous answer was taken. Each later evaluation is admitted by the same load shedding
//! as a `GetMailTips` call, only while it runs.
//!
//! The stream ends with `UNAVAILABLE` when the server stops (clients reconnect to another
//! instance) and with `DEADLINE_EXCEEDED` when the caller's `grpc-timeout` passes.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytestring::ByteString;
use futures_util::StreamExt;
use tokio::time::Instant;
use tokio_stream::Stream;
use tonic::Status;

use crate::api::admission::Gate;
use crate::api::admit::WatchSlot;
use crate::api::answer::Answer;
use crate::api::caller::CallerKey;
use crate::api::shutdown::Shutdown;
use crate::directory::Directory;
use crate::domain::Draft;
use crate::service::MailTips;

pub(crate) type WatchStream = Pin<Box<dyn Stream<Item = Result<Answer, Status>> + Send>>;

/// What one open stream holds.
pub(crate) struct Watch<D> {
    pub(crate) tips: Arc<MailTips<D>>,
    pub(crate) draft: Draft,
    pub(crate) interval: Duration,
    pub(crate) shutdown: Shutdown,
    /// The caller's deadline, if it sent one.
    pub(crate) deadline: Option<Instant>,
    /// Each evaluation is admitted like a `GetMailTips` call, under the caller's key and with
    /// the draft's weight, while it runs (never while the stream waits or its client does not
    /// read, so idle streams hold nothing of the evaluation budget).
    pub(crate) evaluating: Arc<Gate>,
    pub(crate) caller: CallerKey,
    pub(crate) weight: u64,
    /// The stream's slot under the open-stream caps and its draft's recipients under the
    /// watched-recipient caps, held until the stream ends.
    pub(crate) _slot: WatchSlot,
    /// Counts the stream in `mailtips_watch_streams_open` while it lives.
    pub(crate) _open: crate::telemetry::WatchStreamGuard,
}

enum Step {
    /// Boxed: an answer is some 250 bytes of vectors and draft fields.
    Answer(Box<Answer>),
    End(Status),
}

impl<D: Directory> Watch<D> {
    /// The stream of answers: `first` (evaluated when the call was admitted) at once, then
    /// one per refresh interval, each evaluated only when the client can take it.
    pub(crate) fn into_stream(self, first: Answer) -> WatchStream {
        let rest = futures_util::stream::unfold(Some(self), |state| async move {
            let w = state?;
            match w.next().await {
                Step::Answer(response) => Some((Ok(*response), Some(w))),
                // The state (and with it the stream's slot) goes at once.
                Step::End(status) => Some((Err(status), None)),
            }
        });
        Box::pin(futures_util::stream::once(async move { Ok(first) }).chain(rest))
    }

    /// The draft's recipients' addresses as the request gave them, for each answer.
    pub(crate) fn addresses(&self) -> impl Iterator<Item = ByteString> + '_ {
        self.draft
            .recipients
            .iter()
            .map(|r| ByteString::from(r.raw()))
    }

    async fn next(&self) -> Step {
        let answer = async {
            tokio::time::sleep(self.interval).await;
            // Refused under load: the stream ends with RESOURCE_EXHAUSTED and its RetryInfo,
            // and the client reconnects when told to.
            let _permit = self.evaluating.try_acquire(&self.caller, self.weight)?;
            Ok(Answer::new(
                self.tips.evaluate(&self.draft).await,
                self.addresses(),
            ))
        };
        let deadline = async {
            match self.deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = self.shutdown.stopping() => Step::End(Status::unavailable(
                "the server is stopping; reconnect to carry on watching",
            )),
            () = deadline => Step::End(Status::deadline_exceeded(
                "the caller's deadline (grpc-timeout) passed",
            )),
            response = answer => match response {
                Ok(response) => Step::Answer(Box::new(response)),
                Err(refused) => Step::End(refused),
            },
        }
    }
}
