//! A recipient's tip as `MailTip` bytes, written from the domain's [`Tip`]: its data borrowed
//! field by field ([`data_fields`]) where prost would need the protobuf struct, and so each
//! tip moved into it. The message is the one `grpc::tip_to_pb` builds; a unit test holds the
//! two equal for every shape.

use prost::bytes::BufMut;
use prost::encoding::{self, WireType, encoded_len_varint, key_len};

use super::{put_key, put_varint, tag};
use crate::api::grpc::{receipt_policy, restriction_reason, size_limit_source, timestamp};
use crate::api::pb;
use crate::domain::{InvalidReason, Tip, TipData};

/// A length-delimited field's key, length and bytes: its encoded length.
pub(super) fn delimited_len(tag: u32, len: usize) -> usize {
    key_len(tag) + encoded_len_varint(len as u64) + len
}

fn put_delimited(tag: u32, bytes: &[u8], buf: &mut impl BufMut) {
    put_key(tag, WireType::LengthDelimited, buf);
    put_varint(bytes.len() as u64, buf);
    buf.put_slice(bytes);
}

/// One field of a tip's data message, borrowed from the domain's tip.
enum Field<'a> {
    /// `string`: left out when empty, as proto3 does.
    Text(u32, &'a str),
    /// One element of a `repeated string`: always written.
    Each(u32, &'a str),
    /// `bool`, `uint32`, `uint64` or an enum: a varint, left out when zero.
    Varint(u32, u64),
    /// `google.protobuf.Timestamp`: a message, written when present.
    Time(u32, prost_types::Timestamp),
}

impl Field<'_> {
    fn encoded_len(&self) -> usize {
        match self {
            Self::Text(_, "") => 0,
            Self::Text(tag, s) | Self::Each(tag, s) => delimited_len(*tag, s.len()),
            Self::Varint(_, 0) => 0,
            Self::Varint(tag, v) => key_len(*tag) + encoded_len_varint(*v),
            Self::Time(tag, t) => encoding::message::encoded_len(*tag, t),
        }
    }

    fn encode(&self, buf: &mut impl BufMut) {
        match self {
            Self::Text(_, "") => {}
            Self::Text(tag, s) | Self::Each(tag, s) => put_delimited(*tag, s.as_bytes(), buf),
            Self::Varint(_, 0) => {}
            Self::Varint(tag, v) => {
                put_key(*tag, WireType::Varint, buf);
                put_varint(*v, buf);
            }
            Self::Time(tag, t) => encoding::message::encode(*tag, t, buf),
        }
    }
}

/// The `MailTip.data` field number of `data`'s message (`None` for a tip without data), after
/// giving each of the message's fields, in field order, to `field`: the same message as
/// `grpc::tip_to_pb` builds, borrowed instead of moved.
fn data_fields(data: &TipData, field: &mut impl FnMut(Field<'_>)) -> Option<u32> {
    use Field::{Each, Text, Time, Varint};
    let tag = match data {
        TipData::Invalid { address, reason } => {
            let code = match reason {
                InvalidReason::NotFound => pb::InvalidReason::NotFound,
                InvalidReason::Malformed(_) => pb::InvalidReason::MalformedAddress,
            };
            field(Text(1, address));
            field(Varint(2, code as u64));
            if let InvalidReason::Malformed(e) = reason {
                // Rare (a typing mistake); its text is formatted when it is written.
                field(Text(3, &e.to_string()));
            }
            10
        }
        TipData::MailboxFull {
            quota_bytes,
            usage_bytes,
        } => {
            field(Varint(1, *quota_bytes));
            field(Varint(2, *usage_bytes));
            11
        }
        TipData::AutoReply {
            preview,
            message,
            truncated,
            window_end,
            external_reply,
        } => {
            field(Text(1, preview));
            field(Text(2, message));
            field(Varint(3, u64::from(*truncated)));
            if let Some(end) = window_end {
                field(Time(4, timestamp(*end)));
            }
            field(Varint(5, u64::from(*external_reply)));
            12
        }
        TipData::Custom { language } => {
            field(Text(1, language));
            13
        }
        TipData::Restricted {
            reason,
            recipient_external,
            group_has_external_members,
        } => {
            field(Varint(1, restriction_reason(*reason) as u64));
            field(Varint(2, u64::from(*recipient_external)));
            field(Varint(3, u64::from(*group_has_external_members)));
            14
        }
        TipData::External {
            is_group,
            external_members,
            total_members,
        } => {
            field(Varint(1, u64::from(*is_group)));
            field(Varint(2, u64::from(*external_members)));
            field(Varint(3, u64::from(*total_members)));
            15
        }
        TipData::LargeAudience { members, threshold } => {
            field(Varint(1, u64::from(*members)));
            field(Varint(2, u64::from(*threshold)));
            16
        }
        TipData::Moderated { moderators } => {
            for m in moderators {
                field(Each(1, m));
            }
            17
        }
        TipData::ReplyAllOnBcc => return None,
        TipData::TooLarge {
            source,
            limit_bytes,
            message_bytes,
        } => {
            field(Varint(1, size_limit_source(*source) as u64));
            field(Varint(2, *limit_bytes));
            field(Varint(3, *message_bytes));
            18
        }
        TipData::WholeAudience {
            people,
            from_groups,
            upper_bound,
            threshold,
        } => {
            field(Varint(1, u64::from(*people)));
            field(Varint(2, u64::from(*from_groups)));
            field(Varint(3, u64::from(*upper_bound)));
            field(Varint(4, u64::from(*threshold)));
            19
        }
        TipData::RecipientsVisible {
            visible,
            threshold,
            outside_domains,
        } => {
            field(Varint(1, u64::from(*visible)));
            field(Varint(2, u64::from(*threshold)));
            for d in outside_domains {
                field(Each(3, d));
            }
            20
        }
        TipData::ReadReceipt {
            policy,
            ignored,
            no_receipt_from,
        } => {
            field(Varint(1, receipt_policy(*policy) as u64));
            field(Varint(2, u64::from(*ignored)));
            for a in no_receipt_from {
                field(Each(3, a));
            }
            21
        }
        TipData::SentOnBehalf {
            send_as,
            on_behalf_of,
            shown_as,
        } => {
            field(Text(1, send_as));
            field(Text(2, on_behalf_of));
            field(Text(3, shown_as));
            22
        }
        TipData::ForwardedExternally => 23,
    };
    Some(tag)
}

/// A recipient tip's encoded lengths, computed once.
#[derive(Debug, Clone, Copy)]
pub(super) struct TipLens {
    /// The `MailTip`'s (without its key and length prefix).
    len: usize,
    /// Its data message's field number (`None` without data) and length.
    data: Option<(u32, usize)>,
}

impl TipLens {
    pub(super) fn of(tip: &Tip) -> Self {
        let mut data = 0;
        let data_tag = data_fields(&tip.data, &mut |f| data += f.encoded_len());
        let mut len = key_len(tag::KIND) + encoded_len_varint(tip.kind() as u64);
        if !tip.text.is_empty() {
            len += delimited_len(tag::TEXT, tip.text.len());
        }
        if let Some(t) = data_tag {
            len += delimited_len(t, data);
        }
        Self {
            len,
            data: data_tag.map(|t| (t, data)),
        }
    }

    /// The tip's encoded length as a field of its row, key and length prefix included.
    pub(super) fn as_field(self) -> usize {
        delimited_len(tag::TIPS, self.len)
    }
}

/// `tip` as `RecipientTips.tips` holds it.
pub(super) fn encode_tip(tip: &Tip, lens: TipLens, buf: &mut impl BufMut) {
    put_key(tag::TIPS, WireType::LengthDelimited, buf);
    put_varint(lens.len as u64, buf);
    put_key(tag::KIND, WireType::Varint, buf);
    put_varint(tip.kind() as u64, buf);
    if !tip.text.is_empty() {
        put_delimited(tag::TEXT, tip.text.as_bytes(), buf);
    }
    if let Some((t, len)) = lens.data {
        put_key(t, WireType::LengthDelimited, buf);
        put_varint(len as u64, buf);
        data_fields(&tip.data, &mut |f| f.encode(buf));
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::super::Answer;
    use super::super::tests::reference;
    use crate::domain::{
        Evaluation, InvalidReason, RecipientResult, Scope, Tip, TipData, TipKind, TipSet,
    };

    /// Every shape a tip's data takes, with values at the edges prost treats apart (empty
    /// strings and lists, zeros, a present and an absent time, large varints).
    fn every_shape() -> Vec<TipData> {
        use crate::domain::address::AddressError;
        use crate::domain::{ReceiptPolicy, RestrictionReason, SizeLimitSource};
        let end =
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_700_000_000_123);
        vec![
            TipData::Invalid {
                address: "gone@contoso.com".into(),
                reason: InvalidReason::NotFound,
            },
            TipData::Invalid {
                address: bytestring::ByteString::new(),
                reason: InvalidReason::Malformed(AddressError::MissingAt),
            },
            TipData::Invalid {
                address: "x@y".into(),
                reason: InvalidReason::Malformed(AddressError::BadDomainLabel("-a".into())),
            },
            TipData::MailboxFull {
                quota_bytes: 0,
                usage_bytes: u64::MAX,
            },
            TipData::AutoReply {
                preview: "away".into(),
                message: "away until Monday".into(),
                truncated: true,
                window_end: Some(end),
                external_reply: false,
            },
            TipData::AutoReply {
                preview: bytestring::ByteString::new(),
                message: bytestring::ByteString::new(),
                truncated: false,
                window_end: None,
                external_reply: true,
            },
            TipData::AutoReply {
                preview: "p".into(),
                message: "m".into(),
                truncated: false,
                window_end: Some(std::time::SystemTime::UNIX_EPOCH),
                external_reply: false,
            },
            TipData::Custom {
                language: String::new(),
            },
            TipData::Custom {
                language: "ja".into(),
            },
            TipData::Restricted {
                reason: RestrictionReason::NotInAcceptList,
                recipient_external: false,
                group_has_external_members: true,
            },
            TipData::Restricted {
                reason: RestrictionReason::RequiresAuthenticatedSender,
                recipient_external: true,
                group_has_external_members: false,
            },
            TipData::External {
                is_group: false,
                external_members: 0,
                total_members: 0,
            },
            TipData::External {
                is_group: true,
                external_members: 300,
                total_members: u32::MAX,
            },
            TipData::LargeAudience {
                members: 26,
                threshold: 25,
            },
            TipData::Moderated {
                moderators: Vec::new(),
            },
            TipData::Moderated {
                moderators: vec![String::new(), "boss@contoso.com".into()],
            },
            TipData::ReplyAllOnBcc,
            TipData::TooLarge {
                source: SizeLimitSource::Recipient,
                limit_bytes: 10 << 20,
                message_bytes: 12 << 20,
            },
            TipData::TooLarge {
                source: SizeLimitSource::Organization,
                limit_bytes: 0,
                message_bytes: 0,
            },
            TipData::WholeAudience {
                people: 1000,
                from_groups: 990,
                upper_bound: true,
                threshold: 100,
            },
            TipData::RecipientsVisible {
                visible: 30,
                threshold: 20,
                outside_domains: vec!["a.example".into(), "b.example".into()],
            },
            TipData::ReadReceipt {
                policy: ReceiptPolicy::None,
                ignored: true,
                no_receipt_from: Vec::new(),
            },
            TipData::ReadReceipt {
                policy: ReceiptPolicy::All,
                ignored: false,
                no_receipt_from: vec!["team@contoso.com".into()],
            },
            TipData::SentOnBehalf {
                send_as: "a@contoso.com".into(),
                on_behalf_of: String::new(),
                shown_as: "b".into(),
            },
            TipData::ForwardedExternally,
        ]
    }

    #[test]
    fn every_shape_of_tip_encodes_as_prost_encodes_it() {
        let shapes = every_shape();
        let tip = |data: TipData, text: &str| Tip {
            text: text.into(),
            data,
        };
        // One recipient per shape with a text, one without; and one with them all, in a row
        // whose tips reach a two-byte length.
        let mut recipients: Vec<RecipientResult> = shapes
            .iter()
            .flat_map(|d| [tip(d.clone(), "a tip’s text"), tip(d.clone(), "")])
            .map(|t| RecipientResult {
                scope: Scope::Internal,
                resolved: Some(crate::domain::EntryKind::Mailbox),
                display_name: "Name".into(),
                tips: smallvec::smallvec![t],
                pending: TipSet::EMPTY,
            })
            .collect();
        recipients.push(RecipientResult {
            scope: Scope::External,
            resolved: None,
            display_name: Default::default(),
            tips: shapes
                .iter()
                .map(|d| tip(d.clone(), &"long ".repeat(40)))
                .collect(),
            pending: [TipKind::AutoReply, TipKind::ForwardedExternally]
                .into_iter()
                .collect(),
        });
        let addresses: Vec<String> = (0..recipients.len())
            .map(|i| format!("r{i}@contoso.com"))
            .collect();
        let e = Evaluation {
            recipients,
            draft_tips: shapes.into_iter().map(|d| tip(d, "draft")).collect(),
            draft_pending: TipSet::EMPTY,
            skipped: TipSet::EMPTY,
            evaluated_at: std::time::SystemTime::UNIX_EPOCH,
            refresh_after: std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(7200),
        };
        let answer = Answer::new(e.clone(), addresses.iter().map(|a| a.as_str().into()));
        let bytes = answer.encode_to_vec();
        assert_eq!(bytes.len(), answer.encoded_len());
        assert_eq!(bytes, reference(&e, &addresses));
    }
}
