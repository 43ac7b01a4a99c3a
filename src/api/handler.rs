//! The `MailTipsService` calls: each admitted by load shedding (`api::admission`), its draft
//! validated (`api::grpc`), authorized and charged to the caller's budget (`api::access`),
//! then evaluated by the service; `WatchMailTips` streams are capped and pull-based
//! (`api::watch`). What the edge takes from the config is swapped whole on reload.

use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tonic::{Request, Response, Status};

use crate::api::access::Access;
use crate::api::admission::{Gate, GateKind};
use crate::api::admit::{AdmitLayer, Admitted, HEAVY, WatchSlot};
use crate::api::answer::Answer;
use crate::api::caller::Caller;
use crate::api::deadline::Deadline;
use crate::api::grpc::{FieldError, RequestLimits, draft_from_request, edge_settings};
use crate::api::heavy;
use crate::api::pb;
use crate::api::request::GetMailTipsRequest;
use crate::api::shutdown::Shutdown;
use crate::api::watch::{Watch, WatchStream};
use crate::config::Config;
use crate::directory::Directory;
use crate::domain::{Draft, DraftRecipient, Evaluation, Locale, Policy};
use crate::service::MailTips;

/// The `MailTipsService` implementation.
pub(crate) struct GrpcService<D> {
    tips: Arc<MailTips<D>>,
    access: Arc<Access>,
    edge: Arc<ArcSwap<Edge>>,
    /// Recipients in evaluation, in total and per caller.
    evaluating: Arc<Gate>,
    /// Open `WatchMailTips` streams, in total and per caller.
    watching: Arc<Gate>,
    /// Recipients held by open `WatchMailTips` streams, in total and per caller.
    watched: Arc<Gate>,
    shutdown: Shutdown,
}

/// What the edge derives from the config: the request limits and the advertised
/// configuration, swapped whole by a config reload (`api::reload`).
pub(crate) struct Edge {
    limits: RequestLimits,
    configuration: pb::ServiceConfiguration,
}

impl Edge {
    /// The edge for `config`, whose policy is `policy`.
    pub(crate) fn new(policy: &Policy, config: &Config) -> Self {
        let (limits, configuration) = edge_settings(policy, config);
        Self {
            limits,
            configuration,
        }
    }
}

/// What a draft weighs under the limits: its recipients, and one for the sender (a
/// 1,000-recipient draft holds what 1,000 one-recipient drafts would).
fn weight(request: &Request<GetMailTipsRequest>) -> u64 {
    request.get_ref().recipients.len() as u64 + 1
}

/// How long a caller refused for load is told to wait: evaluations take milliseconds, so
/// capacity comes back soon, but a client retrying at once would only add to the load.
const RETRY_EVALUATION: Duration = Duration::from_secs(1);
/// Streams are held for minutes to hours: a refused watcher waits longer.
const RETRY_WATCH: Duration = Duration::from_secs(30);

impl<D: Directory> GrpcService<D> {
    pub fn new(
        tips: Arc<MailTips<D>>,
        access: Arc<Access>,
        config: &Config,
        shutdown: Shutdown,
    ) -> Self {
        let l = &config.server.limits;
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        let evaluating = Gate::with_lanes(
            GateKind {
                what: "recipients in evaluation",
                key: "max_evaluating_recipients",
                retry_after: RETRY_EVALUATION,
            },
            l.max_evaluating_recipients.get(),
            l.max_evaluating_recipients_per_caller.get(),
            Some(l.running_recipients_per_caller(cores)),
        );
        let watching = Gate::new(
            GateKind {
                what: "open WatchMailTips streams",
                key: "max_watch_streams",
                retry_after: RETRY_WATCH,
            },
            l.max_watch_streams.get(),
            l.max_watch_streams_per_caller.get(),
        );
        let watched = Gate::new(
            GateKind {
                what: "recipients in open WatchMailTips streams",
                key: "max_watched_recipients",
                retry_after: RETRY_WATCH,
            },
            l.max_watched_recipients.get(),
            l.max_watched_recipients_per_caller.get(),
        );
        let edge = Arc::new(ArcSwap::from_pointee(Edge::new(&tips.policy(), config)));
        Self {
            tips,
            access,
            edge,
            evaluating,
            watching,
            watched,
            shutdown,
        }
    }

    /// The gates, for admission before decoding (`api::admit`).
    pub(crate) fn admit_layer(&self) -> AdmitLayer {
        AdmitLayer {
            evaluating: self.evaluating.clone(),
            watching: self.watching.clone(),
            watched: self.watched.clone(),
        }
    }

    /// Evaluates `draft` for `caller` (authorized and charged by `api::access`): a heavy draft
    /// (more than [`HEAVY`] recipients) on the heavy runtime, at a lower CPU priority than the
    /// request workers (`api::heavy`), any other on this worker. Hands the draft back.
    async fn evaluate(&self, caller: &Caller, draft: Draft) -> Result<(Evaluation, Draft), Status> {
        if draft.recipients.len() <= HEAVY {
            let evaluation = self.access.evaluate(&self.tips, caller, &draft).await?;
            return Ok((evaluation, draft));
        }
        let (tips, access, caller) = (self.tips.clone(), self.access.clone(), caller.clone());
        heavy::run(async move {
            let evaluation = access.evaluate(&tips, &caller, &draft).await?;
            Ok((evaluation, draft))
        })
        .await
        .unwrap_or_else(|| Err(Status::internal("the evaluation failed")))
    }

    /// The handle a config reload swaps.
    pub(crate) fn edge(&self) -> Arc<ArcSwap<Edge>> {
        self.edge.clone()
    }
}

#[tonic::async_trait]
impl<D: Directory> pb::mail_tips_service_server::MailTipsService for GrpcService<D> {
    async fn get_mail_tips(
        &self,
        mut request: Request<GetMailTipsRequest>,
    ) -> Result<Response<Answer>, Status> {
        let caller = Caller::of(&request);
        // Admitted before decoding (api::admit) when the request could be weighed from its
        // bytes: its caller's later calls wait their turn admitted, where the gate sees them.
        let _permit = match request.extensions_mut().remove::<Admitted>() {
            Some(admitted) => admitted,
            None => {
                let permit = self
                    .evaluating
                    .try_acquire(&caller.key(), weight(&request))?;
                // Evaluating from memory never awaits: without this yield a call would hold
                // its permit only while it runs, and calls queued on the runtime behind it
                // would not count. Admitted first, then queued: the gate sees every call that
                // waits for a worker.
                tokio::task::yield_now().await;
                Admitted::new(permit)
            }
        };
        let draft = draft_from_request(request.into_inner(), self.edge.load().limits)?;
        // Dropped with the permit when the caller's deadline passes (api::deadline).
        let (evaluation, draft) = self.evaluate(&caller, draft).await?;
        Ok(Response::new(Answer::new(
            evaluation,
            draft.recipients.into_iter().map(DraftRecipient::into_raw),
        )))
    }

    type WatchMailTipsStream = WatchStream;

    async fn watch_mail_tips(
        &self,
        mut request: Request<GetMailTipsRequest>,
    ) -> Result<Response<Self::WatchMailTipsStream>, Status> {
        let caller = Caller::of(&request);
        let key = caller.key();
        let weight = weight(&request);
        // Taken before decoding when the request could be weighed from its bytes (api::admit).
        let slot = match request.extensions_mut().remove::<WatchSlot>() {
            Some(slot) => slot,
            None => WatchSlot::new(
                self.watching.try_acquire(&key, 1)?,
                self.watched.try_acquire(&key, weight)?,
            ),
        };
        let deadline = request.extensions().get::<Deadline>().map(|d| d.0);
        // Kept for the stream's life: apart from the request body its addresses were sliced from.
        let draft = draft_from_request(request.into_inner(), self.edge.load().limits)?.detached();
        // The first answer is admitted, charged and authorized as a GetMailTips, so a refusal
        // is the call's status; refreshes are admitted one by one and not charged.
        let (first, draft) = {
            let _permit = self.evaluating.try_acquire(&key, weight)?;
            self.evaluate(&caller, draft).await?
        };
        let watch = Watch {
            interval: self.tips.policy().refresh_interval,
            tips: self.tips.clone(),
            draft,
            shutdown: self.shutdown.clone(),
            deadline,
            evaluating: self.evaluating.clone(),
            caller: key,
            weight,
            _slot: slot,
            _open: crate::telemetry::get().watch_stream(),
        };
        let first = Answer::new(first, watch.addresses());
        Ok(Response::new(watch.into_stream(first)))
    }

    async fn get_service_configuration(
        &self,
        request: Request<pb::GetServiceConfigurationRequest>,
    ) -> Result<Response<pb::ServiceConfiguration>, Status> {
        Locale::parse(&request.get_ref().locale).map_err(|e| FieldError::new("locale", e))?;
        Ok(Response::new(self.edge.load().configuration.clone()))
    }
}
