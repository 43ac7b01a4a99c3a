//! The gRPC edge's conversions: validates requests into domain drafts, turns evaluations and
//! settings into protobuf, and maps every validation error to a `tonic::Status` in one place.
//! Nothing below this module knows tonic; `api::handler` serves the calls with them.

use std::time::SystemTime;

use tonic::Status;
use tonic_types::{ErrorDetails, StatusExt};

use bytestring::ByteString;

use crate::api::pb;
use crate::api::request::GetMailTipsRequest;
use crate::config::Config;
use crate::domain::address::{AddressRules, MAX_ADDRESS_BYTES};
use crate::domain::{
    Draft, DraftRecipient, EntryKind, Field, InvalidReason, Locale, Policy, ReceiptPolicy,
    ReplyAll, RestrictionReason, Scope, SizeLimitSource, Tip, TipData, TipKind, TipSet,
};

/// A request field that failed validation: becomes `INVALID_ARGUMENT` with a BadRequest
/// detail naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub description: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, description: impl Into<String>) -> Self {
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
    req: GetMailTipsRequest,
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
        // A client must say which field: every recipient sees To and Cc.
        let field = match pb::RecipientField::try_from(r.field) {
            Ok(pb::RecipientField::To) => Field::To,
            Ok(pb::RecipientField::Cc) => Field::Cc,
            Ok(pb::RecipientField::Bcc) => Field::Bcc,
            _ => {
                return Err(FieldError::new(
                    format!("recipients[{i}].field"),
                    "must be TO, CC or BCC",
                ));
            }
        };
        if r.address.len() > 4 * MAX_ADDRESS_BYTES {
            // Far beyond any address: refuse rather than echo kilobytes back.
            return Err(FieldError::new(
                format!("recipients[{i}].address"),
                format!("longer than {} bytes", 4 * MAX_ADDRESS_BYTES),
            ));
        }
        // A string field: the request decoder leaves its UTF-8 check to here, to name it.
        let raw = ByteString::try_from(r.address)
            .map_err(|_| FieldError::new(format!("recipients[{i}].address"), "is not UTF-8"))?;
        recipients.push(DraftRecipient::new(raw, field, limits.addresses));
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
        read_receipt_requested: req.read_receipt_requested,
    })
}

pub(crate) fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    prost_types::Timestamp::from(t)
}

pub(crate) fn kinds(set: TipSet) -> Vec<i32> {
    set.iter().map(|k| k as i32).collect()
}

pub(crate) fn tip_to_pb(t: Tip) -> pb::MailTip {
    use pb::mail_tip::Data;
    let kind = t.kind() as i32;
    let data = match t.data {
        TipData::Invalid { address, reason } => {
            let (reason, detail) = match reason {
                InvalidReason::NotFound => (pb::InvalidReason::NotFound, String::new()),
                InvalidReason::Malformed(e) => (pb::InvalidReason::MalformedAddress, e.to_string()),
            };
            Some(Data::InvalidRecipient(pb::InvalidRecipientData {
                address: address.to_string(),
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
            preview: preview.to_string(),
            message: message.to_string(),
            truncated,
            window_end: window_end.map(timestamp),
            external_reply,
        })),
        TipData::Custom { language } => Some(Data::Custom(pb::CustomTipData { language })),
        TipData::Restricted {
            reason,
            recipient_external,
            group_has_external_members,
        } => Some(Data::Restricted(pb::RestrictedRecipientData {
            reason: restriction_reason(reason) as i32,
            recipient_external,
            group_has_external_members,
        })),
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
        } => Some(Data::MessageTooLarge(pb::MessageTooLargeData {
            source: size_limit_source(source) as i32,
            limit_bytes,
            message_size_bytes: message_bytes,
        })),
        TipData::WholeAudience {
            people,
            from_groups,
            upper_bound,
            threshold,
        } => Some(Data::WholeAudience(pb::WholeAudienceData {
            people,
            from_groups,
            upper_bound,
            threshold,
        })),
        TipData::RecipientsVisible {
            visible,
            threshold,
            outside_domains,
        } => Some(Data::RecipientsVisible(pb::RecipientsVisibleData {
            visible_count: visible,
            threshold,
            outside_domains,
        })),
        TipData::ReadReceipt {
            policy,
            ignored,
            no_receipt_from,
        } => Some(Data::ReadReceipt(pb::ReadReceiptData {
            policy: receipt_policy(policy) as i32,
            ignored,
            no_receipt_from,
        })),
        TipData::SentOnBehalf {
            send_as,
            on_behalf_of,
            shown_as,
        } => Some(Data::SentOnBehalf(pb::SentOnBehalfData {
            send_as,
            on_behalf_of,
            shown_as,
        })),
        TipData::ForwardedExternally => {
            Some(Data::ForwardedExternally(pb::ForwardedExternallyData {}))
        }
    };
    pb::MailTip {
        kind,
        text: t.text.to_string(),
        data,
    }
}

pub(crate) fn restriction_reason(r: RestrictionReason) -> pb::RestrictionReason {
    match r {
        RestrictionReason::NotInAcceptList => pb::RestrictionReason::NotInAcceptList,
        RestrictionReason::InRejectList => pb::RestrictionReason::InRejectList,
        RestrictionReason::RequiresAuthenticatedSender => {
            pb::RestrictionReason::RequiresAuthenticatedSender
        }
    }
}

pub(crate) fn size_limit_source(s: SizeLimitSource) -> pb::SizeLimitSource {
    match s {
        SizeLimitSource::Sender => pb::SizeLimitSource::Sender,
        SizeLimitSource::Recipient => pb::SizeLimitSource::Recipient,
        SizeLimitSource::Organization => pb::SizeLimitSource::Organization,
    }
}

pub(crate) fn receipt_policy(p: ReceiptPolicy) -> pb::ReadReceiptPolicy {
    match p {
        ReceiptPolicy::None => pb::ReadReceiptPolicy::None,
        ReceiptPolicy::InternalAndAllowlist => pb::ReadReceiptPolicy::InternalAndAllowlist,
        ReceiptPolicy::All => pb::ReadReceiptPolicy::All,
    }
}

pub(crate) fn scope_to_pb(s: Scope) -> i32 {
    let scope = match s {
        Scope::Unknown => pb::RecipientScope::Unspecified,
        Scope::Internal => pb::RecipientScope::Internal,
        Scope::External => pb::RecipientScope::External,
        Scope::RemoteInternal => pb::RecipientScope::RemoteInternal,
    };
    scope as i32
}

pub(crate) fn resolved_to_pb(kind: Option<EntryKind>) -> i32 {
    let resolved = match kind {
        None => pb::ResolvedKind::Unknown,
        Some(EntryKind::Mailbox) => pb::ResolvedKind::Mailbox,
        Some(EntryKind::Group) => pb::ResolvedKind::Group,
        Some(EntryKind::Contact) => pb::ResolvedKind::Contact,
    };
    resolved as i32
}

/// Converts an evaluation to the protobuf response; `addresses` are the draft's recipients'
/// addresses as the request gave them (`DraftRecipient::raw`), in order, one per result.
/// The server sends [`crate::api::answer::Answer`] instead, whose bytes the tests compare
/// with this response's.
#[cfg(test)]
pub(crate) fn response_from_evaluation(
    e: crate::domain::Evaluation,
    addresses: impl IntoIterator<Item = impl Into<String>>,
) -> pb::GetMailTipsResponse {
    let mut addresses = addresses.into_iter();
    let recipients: Vec<pb::RecipientTips> = e
        .recipients
        .into_iter()
        .map(|r| pb::RecipientTips {
            address: addresses.next().map(Into::into).unwrap_or_default(),
            tips: r.tips.into_iter().map(tip_to_pb).collect(),
            pending: kinds(r.pending),
            scope: scope_to_pb(r.scope),
            resolved_as: resolved_to_pb(r.resolved),
            display_name: r.display_name.into(),
        })
        .collect();
    debug_assert!(addresses.next().is_none(), "one address per result");
    pb::GetMailTipsResponse {
        recipients,
        draft_tips: e.draft_tips.into_iter().map(tip_to_pb).collect(),
        per_mailbox_tips_skipped: !e.skipped.is_empty(),
        evaluated_at: Some(timestamp(e.evaluated_at)),
        refresh_after: Some(timestamp(e.refresh_after)),
        skipped_tip_kinds: kinds(e.skipped),
        draft_pending: kinds(e.draft_pending),
    }
}

/// What `GetServiceConfiguration` answers for `config`, whose policy is `policy`, and the
/// limits requests are validated against.
pub(crate) fn edge_settings(
    policy: &Policy,
    config: &Config,
) -> (RequestLimits, pb::ServiceConfiguration) {
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
        whole_audience_threshold: policy.whole_audience_threshold,
        visible_recipients_threshold: policy.visible_recipients_threshold,
        read_receipt_policy: receipt_policy(policy.read_receipts) as i32,
        per_user_outbound_gateways: policy.per_user_outbound_gateways,
    };
    let limits = RequestLimits {
        max_recipients: org.max_recipients_per_request.get() as usize,
        addresses: policy.addresses,
    };
    (limits, configuration)
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

    fn req(recipients: &[&str]) -> GetMailTipsRequest {
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
        .into()
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
        // The request decoder leaves an address's UTF-8 check to here, which names it.
        let mut r = req(&["b@contoso.com", "c@contoso.com"]);
        r.recipients[1].address = bytes::Bytes::from_static(b"c\xff@contoso.com");
        let e = draft_from_request(r, limits()).unwrap_err();
        assert_eq!(e.field, "recipients[1].address");
        assert_eq!(e.description, "is not UTF-8");
    }

    #[test]
    fn malformed_recipient_is_not_a_request_error() {
        let d = draft_from_request(req(&["not-an-address", "b@contoso.com"]), limits()).unwrap();
        assert!(d.recipients[0].address().is_err());
        assert!(d.recipients[1].address().is_ok());
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
