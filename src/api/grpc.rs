//! The gRPC edge: validates requests into domain drafts, turns evaluations into protobuf, and
//! maps every error to a `tonic::Status` in one place. Nothing below this module knows tonic.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tonic::{Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::api::admission::{Gate, GateKind, Permit};
use crate::api::caller::Caller;
use crate::api::deadline::Deadline;
use crate::api::pb;
use crate::api::shutdown::Shutdown;
use crate::api::watch::{Watch, WatchStream};
use crate::config::Config;
use crate::directory::Directory;
use crate::domain::address::{AddressRules, MAX_ADDRESS_BYTES};
use crate::domain::{
    Draft, DraftRecipient, EntryKind, Evaluation, InvalidReason, Locale, ReplyAll,
    RestrictionReason, Scope, SizeLimitSource, Tip, TipData, TipKind, TipSet,
};
use crate::service::MailTips;

/// A request field that failed validation: becomes `INVALID_ARGUMENT` with a BadRequest
/// detail naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub description: String,
}

impl FieldError {
    fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            description: description.into(),
        }
    }
}

impl From<FieldError> for Status {
    fn from(e: FieldError) -> Self {
        Status::with_error_details(
            tonic::Code::InvalidArgument,
            format!("{}: {}", e.field, e.description),
            ErrorDetails::with_bad_request_violation(e.field, e.description),
        )
    }
}

/// Limits the edge enforces before anything reaches the directory.
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    pub max_recipients: usize,
    pub addresses: AddressRules,
}

/// Validates a request into a [`Draft`].
///
/// # Errors
/// [`FieldError`] naming the first bad field.
pub fn draft_from_request(
    req: pb::GetMailTipsRequest,
    limits: RequestLimits,
) -> Result<Draft, FieldError> {
    let sender = limits
        .addresses
        .parse(&req.sender)
        .map_err(|e| FieldError::new("sender", e.to_string()))?;
    if req.recipients.len() > limits.max_recipients {
        return Err(FieldError::new(
            "recipients",
            format!(
                "{} recipients is more than the maximum of {} per request",
                req.recipients.len(),
                limits.max_recipients
            ),
        ));
    }
    let mut recipients = Vec::with_capacity(req.recipients.len());
    for (i, r) in req.recipients.into_iter().enumerate() {
        // The rules do not read the field, but a client must still say which one it is.
        if !matches!(
            pb::RecipientField::try_from(r.field),
            Ok(pb::RecipientField::To | pb::RecipientField::Cc | pb::RecipientField::Bcc)
        ) {
            return Err(FieldError::new(
                format!("recipients[{i}].field"),
                "must be TO, CC or BCC",
            ));
        }
        if r.address.len() > 4 * MAX_ADDRESS_BYTES {
            // Far beyond any address: refuse rather than echo kilobytes back.
            return Err(FieldError::new(
                format!("recipients[{i}].address"),
                format!("longer than {} bytes", 4 * MAX_ADDRESS_BYTES),
            ));
        }
        let address = limits.addresses.parse(&r.address);
        recipients.push(DraftRecipient {
            raw: r.address,
            address,
        });
    }
    let reply_all = match req.reply_all {
        None => None,
        Some(ctx) => {
            let n = ctx.original_to.len() + ctx.original_cc.len();
            if n > limits.max_recipients {
                return Err(FieldError::new(
                    "reply_all",
                    format!(
                        "{n} original recipients is more than the maximum of {}",
                        limits.max_recipients
                    ),
                ));
            }
            let mut original = Vec::with_capacity(n);
            for (name, list) in [
                ("original_to", &ctx.original_to),
                ("original_cc", &ctx.original_cc),
            ] {
                for (i, a) in list.iter().enumerate() {
                    if a.len() > MAX_ADDRESS_BYTES {
                        return Err(FieldError::new(
                            format!("reply_all.{name}[{i}]"),
                            format!("longer than {MAX_ADDRESS_BYTES} bytes"),
                        ));
                    }
                    // Addresses that do not parse can never match the sender; they are not an error.
                    if let Ok(a) = limits.addresses.parse(a) {
                        original.push(a);
                    }
                }
            }
            Some(ReplyAll { original })
        }
    };
    let wanted = if req.tip_kinds.is_empty() {
        TipSet::ALL
    } else {
        let mut set = TipSet::EMPTY;
        for (i, k) in req.tip_kinds.iter().enumerate() {
            let kind = TipKind::from_i32(*k).ok_or_else(|| {
                FieldError::new(format!("tip_kinds[{i}]"), format!("{k} is not a tip kind"))
            })?;
            set.insert(kind);
        }
        set
    };
    let locale = Locale::parse(&req.locale).map_err(|e| FieldError::new("locale", e))?;
    Ok(Draft {
        sender,
        recipients,
        message_size: req.message_size_bytes,
        reply_all,
        wanted,
        locale,
    })
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

fn kinds(set: TipSet) -> Vec<i32> {
    set.iter().map(|k| k as i32).collect()
}

fn tip_to_pb(t: Tip) -> pb::MailTip {
    use pb::mail_tip::Data;
    let kind = t.kind() as i32;
    let data = match t.data {
        TipData::Invalid { address, reason } => {
            let (reason, detail) = match reason {
                InvalidReason::NotFound => (pb::InvalidReason::NotFound, String::new()),
                InvalidReason::Malformed(e) => (pb::InvalidReason::MalformedAddress, e.to_string()),
            };
            Some(Data::InvalidRecipient(pb::InvalidRecipientData {
                address,
                reason: reason as i32,
                detail,
            }))
        }
        TipData::MailboxFull {
            quota_bytes,
            usage_bytes,
        } => Some(Data::MailboxFull(pb::MailboxFullData {
            quota_bytes,
            usage_bytes,
        })),
        TipData::AutoReply {
            preview,
            message,
            truncated,
            window_end,
            external_reply,
        } => Some(Data::AutoReply(pb::AutoReplyData {
            preview,
            message,
            truncated,
            window_end: window_end.map(timestamp),
            external_reply,
        })),
        TipData::Custom { language } => Some(Data::Custom(pb::CustomTipData { language })),
        TipData::Restricted {
            reason,
            recipient_external,
            group_has_external_members,
        } => {
            let reason = match reason {
                RestrictionReason::NotInAcceptList => pb::RestrictionReason::NotInAcceptList,
                RestrictionReason::InRejectList => pb::RestrictionReason::InRejectList,
                RestrictionReason::RequiresAuthenticatedSender => {
                    pb::RestrictionReason::RequiresAuthenticatedSender
                }
            };
            Some(Data::Restricted(pb::RestrictedRecipientData {
                reason: reason as i32,
                recipient_external,
                group_has_external_members,
            }))
        }
        TipData::External {
            is_group,
            external_members,
            total_members,
        } => Some(Data::External(pb::ExternalRecipientData {
            is_group,
            external_member_count: external_members,
            total_member_count: total_members,
        })),
        TipData::LargeAudience { members, threshold } => {
            Some(Data::LargeAudience(pb::LargeAudienceData {
                member_count: members,
                threshold,
            }))
        }
        TipData::Moderated { moderators } => {
            Some(Data::Moderated(pb::ModeratedRecipientData { moderators }))
        }
        TipData::ReplyAllOnBcc => None,
        TipData::TooLarge {
            source,
            limit_bytes,
            message_bytes,
        } => {
            let source = match source {
                SizeLimitSource::Sender => pb::SizeLimitSource::Sender,
                SizeLimitSource::Recipient => pb::SizeLimitSource::Recipient,
                SizeLimitSource::Organization => pb::SizeLimitSource::Organization,
            };
            Some(Data::MessageTooLarge(pb::MessageTooLargeData {
                source: source as i32,
                limit_bytes,
                message_size_bytes: message_bytes,
            }))
        }
    };
    pb::MailTip {
        kind,
        text: t.text,
        data,
    }
}

/// Converts an evaluation to the wire response.
pub fn response_from_evaluation(e: Evaluation) -> pb::GetMailTipsResponse {
    pb::GetMailTipsResponse {
        recipients: e
            .recipients
            .into_iter()
            .map(|r| pb::RecipientTips {
                address: r.address,
                tips: r.tips.into_iter().map(tip_to_pb).collect(),
                pending: kinds(r.pending),
                scope: match r.scope {
                    Scope::Unknown => pb::RecipientScope::Unspecified,
                    Scope::Internal => pb::RecipientScope::Internal,
                    Scope::External => pb::RecipientScope::External,
                    Scope::RemoteInternal => pb::RecipientScope::RemoteInternal,
                } as i32,
                resolved_as: match r.resolved {
                    None => pb::ResolvedKind::Unknown,
                    Some(EntryKind::Mailbox) => pb::ResolvedKind::Mailbox,
                    Some(EntryKind::Group) => pb::ResolvedKind::Group,
                    Some(EntryKind::Contact) => pb::ResolvedKind::Contact,
                } as i32,
                display_name: r.display_name,
            })
            .collect(),
        draft_tips: e.draft_tips.into_iter().map(tip_to_pb).collect(),
        per_mailbox_tips_skipped: !e.skipped.is_empty(),
        evaluated_at: Some(timestamp(e.evaluated_at)),
        refresh_after: Some(timestamp(e.refresh_after)),
        skipped_tip_kinds: kinds(e.skipped),
        draft_pending: kinds(e.draft_pending),
    }
}

/// The `MailTipsService` implementation.
pub(crate) struct GrpcService<D> {
    tips: Arc<MailTips<D>>,
    limits: RequestLimits,
    configuration: pb::ServiceConfiguration,
    /// Recipients in evaluation, in total and per caller.
    evaluating: Arc<Gate>,
    /// Open `WatchMailTips` streams, in total and per caller.
    watching: Arc<Gate>,
    /// Recipients held by open `WatchMailTips` streams, in total and per caller.
    watched: Arc<Gate>,
    shutdown: Shutdown,
}

/// What a draft weighs under the limits: its recipients, and one for the sender.
fn weight(request: &Request<pb::GetMailTipsRequest>) -> u64 {
    request.get_ref().recipients.len() as u64 + 1
}

/// How long a caller refused for load is told to wait: evaluations take milliseconds, so
/// capacity comes back soon, but a client retrying at once would only add to the load.
const RETRY_EVALUATION: Duration = Duration::from_secs(1);
/// Streams are held for minutes to hours: a refused watcher waits longer.
const RETRY_WATCH: Duration = Duration::from_secs(30);

impl<D: Directory> GrpcService<D> {
    pub fn new(tips: Arc<MailTips<D>>, config: &Config, shutdown: Shutdown) -> Self {
        let l = &config.server.limits;
        let evaluating = Gate::new(
            GateKind {
                what: "recipients in evaluation",
                key: "max_evaluating_recipients",
                retry_after: RETRY_EVALUATION,
            },
            l.max_evaluating_recipients.get(),
            l.max_evaluating_recipients_per_caller.get(),
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
        let policy = tips.policy();
        let org = &config.org;
        let configuration = pb::ServiceConfiguration {
            mail_tips_enabled: org.mail_tips_enabled,
            enabled_tip_kinds: kinds(policy.enabled),
            max_recipients_per_request: org.max_recipients_per_request.get(),
            max_message_size_bytes: org.max_message_size.map_or(0, |b| b.0),
            large_audience_threshold: org.large_audience_threshold,
            show_external_recipient_counts: policy.enabled.contains(TipKind::ExternalRecipient),
            internal_domains: org
                .internal_domains
                .iter()
                .map(|d| pb::DomainRule {
                    domain: d.domain.clone(),
                    include_subdomains: d.include_subdomains,
                })
                .collect(),
            remote_domains: org
                .remote_domains
                .iter()
                .map(|d| pb::RemoteDomain {
                    domain: Some(pb::DomainRule {
                        domain: d.domain.clone(),
                        include_subdomains: d.include_subdomains,
                    }),
                    internal: d.internal,
                })
                .collect(),
            refresh_interval: prost_types::Duration::try_from(org.refresh_interval).ok(),
            per_mailbox_evaluation_cap: org.per_mailbox_evaluation_cap,
            group_metrics_enabled: org.group_metrics_enabled,
            mailbox_tips_enabled: org.mailbox_tips_enabled,
        };
        let limits = RequestLimits {
            max_recipients: org.max_recipients_per_request.get() as usize,
            addresses: policy.addresses,
        };
        Self {
            tips,
            limits,
            configuration,
            evaluating,
            watching,
            watched,
            shutdown,
        }
    }

    /// Admits the evaluation of `request`'s draft for its caller, weighed by its recipients
    /// (plus one for the sender): a 1,000-recipient draft holds what 1,000 one-recipient drafts
    /// would.
    fn admit(&self, request: &Request<pb::GetMailTipsRequest>) -> Result<Permit, Status> {
        self.evaluating
            .try_acquire(&Caller::of(request).key(), weight(request))
    }
}

#[tonic::async_trait]
impl<D: Directory> pb::mail_tips_service_server::MailTipsService for GrpcService<D> {
    async fn get_mail_tips(
        &self,
        request: Request<pb::GetMailTipsRequest>,
    ) -> Result<Response<pb::GetMailTipsResponse>, Status> {
        let _permit = self.admit(&request)?;
        // Evaluating from memory never awaits: without this yield a call would hold its
        // permit only while it runs, and calls queued on the runtime behind it would not count.
        // Admitted first, then queued: the gate sees every call that waits for a worker.
        tokio::task::yield_now().await;
        let draft = draft_from_request(request.into_inner(), self.limits)?;
        // Dropped with the permit when the caller's deadline passes (api::deadline).
        let evaluation = self.tips.evaluate(&draft).await;
        Ok(Response::new(response_from_evaluation(evaluation)))
    }

    type WatchMailTipsStream = WatchStream;

    async fn watch_mail_tips(
        &self,
        request: Request<pb::GetMailTipsRequest>,
    ) -> Result<Response<Self::WatchMailTipsStream>, Status> {
        let caller = Caller::of(&request).key();
        let weight = weight(&request);
        let slot = (
            self.watching.try_acquire(&caller, 1)?,
            self.watched.try_acquire(&caller, weight)?,
        );
        // Refused at once when the first evaluation would be; it runs on the first poll.
        drop(self.evaluating.try_acquire(&caller, weight)?);
        let deadline = request.extensions().get::<Deadline>().map(|d| d.0);
        let draft = draft_from_request(request.into_inner(), self.limits)?;
        let watch = Watch {
            interval: self.tips.policy().refresh_interval,
            tips: self.tips.clone(),
            draft,
            shutdown: self.shutdown.clone(),
            deadline,
            evaluating: self.evaluating.clone(),
            caller,
            weight,
            _slot: slot,
        };
        Ok(Response::new(watch.into_stream()))
    }

    async fn get_service_configuration(
        &self,
        request: Request<pb::GetServiceConfigurationRequest>,
    ) -> Result<Response<pb::ServiceConfiguration>, Status> {
        Locale::parse(&request.get_ref().locale).map_err(|e| FieldError::new("locale", e))?;
        Ok(Response::new(self.configuration.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> RequestLimits {
        RequestLimits {
            max_recipients: 3,
            addresses: AddressRules::default(),
        }
    }

    fn req(recipients: &[&str]) -> pb::GetMailTipsRequest {
        pb::GetMailTipsRequest {
            sender: "a@contoso.com".into(),
            recipients: recipients
                .iter()
                .map(|a| pb::Recipient {
                    address: (*a).into(),
                    field: pb::RecipientField::To as i32,
                })
                .collect(),
            ..Default::default()
        }
    }

    #[test]
    fn names_the_bad_field() {
        let mut r = req(&["b@contoso.com"]);
        r.sender = "nope".into();
        assert_eq!(draft_from_request(r, limits()).unwrap_err().field, "sender");
        let mut r = req(&["b@contoso.com", "c@contoso.com"]);
        r.recipients[1].field = 0;
        assert_eq!(
            draft_from_request(r, limits()).unwrap_err().field,
            "recipients[1].field"
        );
        let mut r = req(&["b@contoso.com"]);
        r.recipients[0].field = 99;
        assert_eq!(
            draft_from_request(r, limits()).unwrap_err().field,
            "recipients[0].field"
        );
        let r = req(&["a@x.com", "b@x.com", "c@x.com", "d@x.com"]);
        assert_eq!(
            draft_from_request(r, limits()).unwrap_err().field,
            "recipients"
        );
        let mut r = req(&[]);
        r.tip_kinds = vec![3, 0];
        assert_eq!(
            draft_from_request(r, limits()).unwrap_err().field,
            "tip_kinds[1]"
        );
        let mut r = req(&[]);
        r.locale = "日本語".into();
        assert_eq!(draft_from_request(r, limits()).unwrap_err().field, "locale");
        let mut r = req(&[]);
        r.reply_all = Some(pb::ReplyAllContext {
            original_to: vec!["x".repeat(400)],
            original_cc: vec![],
        });
        assert_eq!(
            draft_from_request(r, limits()).unwrap_err().field,
            "reply_all.original_to[0]"
        );
    }

    #[test]
    fn malformed_recipient_is_not_a_request_error() {
        let d = draft_from_request(req(&["not-an-address", "b@contoso.com"]), limits()).unwrap();
        assert!(d.recipients[0].address.is_err());
        assert!(d.recipients[1].address.is_ok());
    }

    #[test]
    fn status_carries_bad_request_detail() {
        let status: Status = FieldError::new("sender", "missing '@'").into();
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        let details = status.get_error_details();
        let v = &details.bad_request().unwrap().field_violations[0];
        assert_eq!(v.field, "sender");
        assert_eq!(v.description, "missing '@'");
    }
}
