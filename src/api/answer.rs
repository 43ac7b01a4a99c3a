//! The `GetMailTips` answer on the wire, encoded straight from the evaluation.
//!
//! The generated server (build.rs) sends an [`Answer`] where the protobuf says
//! `GetMailTipsResponse`. Its bytes are those `GetMailTipsResponse` bytes, field for field and
//! in prost's order (a property test compares them with prost's encoding of the converted
//! response, `grpc::response_from_evaluation`), so clients decode it as one. What it saves is
//! the per-recipient protobuf struct: no `String` copy of each display name, no vector of
//! pending kinds, no nested length computed again at every level, and less to free. Tips keep
//! their protobuf form (`MailTip`): they are few, and their data has fifteen shapes.

use bytestring::ByteString;
use compact_str::CompactString;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType, encode_key, encode_varint, key_len};

use crate::api::grpc::{kinds, resolved_to_pb, scope_to_pb, tip_to_pb};
use crate::api::pb;
use crate::domain::{Evaluation, TipSet};

/// A `GetMailTipsResponse` made from an evaluation, for encoding only (the server never
/// decodes one; decoding skips every field).
#[derive(Debug, Default)]
pub struct Answer {
    recipients: Vec<Row>,
    /// Every recipient's tips, in order; a row holds its range.
    tips: Vec<pb::MailTip>,
    /// The fields after `recipients` (field 1), whose own `recipients` is empty: encoded after
    /// the rows, which is prost's field order.
    rest: pb::GetMailTipsResponse,
}

/// One `RecipientTips`, with its encoded length computed once.
#[derive(Debug)]
struct Row {
    address: ByteString,
    display_name: CompactString,
    tips: std::ops::Range<usize>,
    pending: TipSet,
    scope: i32,
    resolved_as: i32,
    /// The length of the encoded message (without its key and length prefix).
    len: usize,
}

/// The `RecipientTips` field numbers.
mod tag {
    pub const ADDRESS: u32 = 1;
    pub const TIPS: u32 = 2;
    pub const PENDING: u32 = 3;
    pub const SCOPE: u32 = 4;
    pub const RESOLVED_AS: u32 = 5;
    pub const DISPLAY_NAME: u32 = 6;
    /// `GetMailTipsResponse.recipients`.
    pub const RECIPIENTS: u32 = 1;
}

/// A tip set as the packed `repeated TipKind` it is on the wire.
fn packed(set: TipSet) -> ([i32; 16], usize) {
    let mut out = [0; 16];
    let mut n = 0;
    for k in set.iter() {
        out[n] = k as i32;
        n += 1;
    }
    (out, n)
}

/// A few fields' keys and varints, gathered on the stack and written to the buffer in one
/// piece: a row's fields are a dozen small writes, each a capacity check of the buffer.
/// Written with prost's own functions, so the bytes are prost's.
struct Small {
    bytes: [u8; Self::CAPACITY],
    len: usize,
}

impl Small {
    /// Room for what a row gathers: two keys with varint lengths (at most 22 bytes), or the
    /// packed pending kinds (at most 18), two int32 fields (at most 22) and a key with a
    /// varint length (at most 11).
    const CAPACITY: usize = 80;

    fn new() -> Self {
        Self {
            bytes: [0; Self::CAPACITY],
            len: 0,
        }
    }

    /// Runs `write` on the free part; `BufMut` for a slice panics past its end, which the
    /// capacity above rules out.
    fn put(&mut self, write: impl FnOnce(&mut &mut [u8])) {
        let mut free = &mut self.bytes[self.len..];
        let before = free.len();
        write(&mut free);
        self.len += before - free.len();
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl Answer {
    /// The answer for `e`; `addresses` are the draft's recipients' addresses as the request
    /// gave them, in order, one per result (moved, not copied).
    pub fn new(e: Evaluation, addresses: impl IntoIterator<Item = ByteString>) -> Self {
        let mut addresses = addresses.into_iter();
        let mut tips = Vec::with_capacity(e.recipients.iter().map(|r| r.tips.len()).sum());
        let recipients = e
            .recipients
            .into_iter()
            .map(|r| {
                let start = tips.len();
                tips.extend(r.tips.into_iter().map(tip_to_pb));
                let mut row = Row {
                    address: addresses.next().unwrap_or_default(),
                    display_name: r.display_name,
                    tips: start..tips.len(),
                    pending: r.pending,
                    scope: scope_to_pb(r.scope),
                    resolved_as: resolved_to_pb(r.resolved),
                    len: 0,
                };
                row.len = row.body_len(&tips);
                row
            })
            .collect();
        debug_assert!(addresses.next().is_none(), "one address per result");
        Self {
            recipients,
            tips,
            rest: pb::GetMailTipsResponse {
                recipients: Vec::new(),
                draft_tips: e.draft_tips.into_iter().map(tip_to_pb).collect(),
                per_mailbox_tips_skipped: !e.skipped.is_empty(),
                evaluated_at: Some(e.evaluated_at.into()),
                refresh_after: Some(e.refresh_after.into()),
                skipped_tip_kinds: kinds(e.skipped),
                draft_pending: kinds(e.draft_pending),
            },
        }
    }
}

impl Row {
    /// Each field as prost's derived code has it: a default scalar or empty string is left
    /// out, repeated kinds are packed.
    fn body_len(&self, tips: &[pb::MailTip]) -> usize {
        let mut len = encoding::message::encoded_len_repeated(tag::TIPS, &tips[self.tips.clone()]);
        if !self.pending.is_empty() {
            let (pending, n) = packed(self.pending);
            len += encoding::int32::encoded_len_packed(tag::PENDING, &pending[..n]);
        }
        if !self.address.is_empty() {
            let n = self.address.len();
            len += key_len(tag::ADDRESS) + encoding::encoded_len_varint(n as u64) + n;
        }
        if self.scope != 0 {
            len += encoding::int32::encoded_len(tag::SCOPE, &self.scope);
        }
        if self.resolved_as != 0 {
            len += encoding::int32::encoded_len(tag::RESOLVED_AS, &self.resolved_as);
        }
        if !self.display_name.is_empty() {
            let n = self.display_name.len();
            len += key_len(tag::DISPLAY_NAME) + encoding::encoded_len_varint(n as u64) + n;
        }
        len
    }

    /// The row in prost's field order: its key and length and the address's key and length
    /// gathered, the address, the tips, then the small fields gathered, and the name.
    fn encode(&self, tips: &[pb::MailTip], buf: &mut impl BufMut) {
        let mut head = Small::new();
        head.put(|b| {
            encode_key(tag::RECIPIENTS, WireType::LengthDelimited, b);
            encode_varint(self.len as u64, b);
            if !self.address.is_empty() {
                encode_key(tag::ADDRESS, WireType::LengthDelimited, b);
                encode_varint(self.address.len() as u64, b);
            }
        });
        buf.put_slice(head.as_slice());
        // Copied from the slice: prost's encoder for `Bytes` clones the handle first.
        buf.put_slice(self.address.as_bytes());
        for tip in &tips[self.tips.clone()] {
            encoding::message::encode(tag::TIPS, tip, buf);
        }
        let mut tail = Small::new();
        tail.put(|b| {
            if !self.pending.is_empty() {
                let (pending, n) = packed(self.pending);
                encoding::int32::encode_packed(tag::PENDING, &pending[..n], b);
            }
            if self.scope != 0 {
                encoding::int32::encode(tag::SCOPE, &self.scope, b);
            }
            if self.resolved_as != 0 {
                encoding::int32::encode(tag::RESOLVED_AS, &self.resolved_as, b);
            }
            if !self.display_name.is_empty() {
                encode_key(tag::DISPLAY_NAME, WireType::LengthDelimited, b);
                encode_varint(self.display_name.len() as u64, b);
            }
        });
        buf.put_slice(tail.as_slice());
        buf.put_slice(self.display_name.as_bytes());
    }
}

impl prost::Message for Answer {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        for row in &self.recipients {
            row.encode(&self.tips, buf);
        }
        self.rest.encode_raw(buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        // Never decoded: clients decode `pb::GetMailTipsResponse`.
        encoding::skip_field(wire_type, tag, buf, ctx)
    }

    fn encoded_len(&self) -> usize {
        self.recipients
            .iter()
            .map(|r| key_len(tag::RECIPIENTS) + encoding::encoded_len_varint(r.len as u64) + r.len)
            .sum::<usize>()
            + self.rest.encoded_len()
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;
    use crate::api::grpc::response_from_evaluation;
    use crate::domain::rules::fixtures::{draft, policy, sender_entry};
    use crate::domain::rules::{self, RecipientFacts};
    use crate::domain::{Entry, EntryKind, Lookup, Scope, TipKind};

    /// The bytes prost writes for the same evaluation, converted to protobuf.
    fn reference(e: &Evaluation, addresses: &[String]) -> Vec<u8> {
        response_from_evaluation(e.clone(), addresses.iter().cloned()).encode_to_vec()
    }

    #[test]
    fn encodes_as_prost_encodes_the_converted_response() {
        let addresses: Vec<String> = [
            "Known@Contoso.com",
            "gone@contoso.com",
            "x@example.net",
            "later@contoso.com",
            "not an address",
            "",
        ]
        .map(String::from)
        .to_vec();
        let refs: Vec<&str> = addresses.iter().map(String::as_str).collect();
        let d = draft("me@contoso.com", &refs);
        let mut known = Entry::new(
            "known@contoso.com",
            EntryKind::Mailbox,
            crate::domain::address::Address::parse("known@contoso.com").unwrap(),
        );
        known.display_name = "Known Person, with a name longer than inline".into();
        let found = RecipientFacts {
            resolution: Lookup::Found(std::sync::Arc::new(known)),
            metrics: None,
        };
        let not_found = RecipientFacts {
            resolution: Lookup::NotFound,
            metrics: None,
        };
        let unknown = RecipientFacts {
            resolution: Lookup::Unknown,
            metrics: None,
        };
        let facts = [
            found,
            not_found.clone(),
            not_found.clone(),
            unknown.clone(),
            unknown,
            not_found,
        ];
        let e = rules::evaluate(
            &policy(),
            &d,
            &sender_entry("me@contoso.com"),
            &facts,
            std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30),
        );
        // What the answer covers: tips, pending kinds, every scope, a display name.
        assert!(e.recipients.iter().any(|r| !r.tips.is_empty()));
        assert!(e.recipients.iter().any(|r| !r.pending.is_empty()));
        assert!(e.recipients.iter().any(|r| r.scope == Scope::External));
        assert!(e.recipients.iter().any(|r| !r.display_name.is_empty()));
        assert!(
            e.recipients
                .iter()
                .flat_map(|r| &r.tips)
                .any(|t| t.kind() == TipKind::InvalidInternalRecipient)
        );
        let answer = Answer::new(e.clone(), addresses.iter().map(|a| a.as_str().into()));
        let bytes = answer.encode_to_vec();
        assert_eq!(bytes.len(), answer.encoded_len());
        assert_eq!(bytes, reference(&e, &addresses));
        // And clients read it as the response it is.
        let decoded = pb::GetMailTipsResponse::decode(bytes.as_slice()).unwrap();
        assert_eq!(decoded.recipients.len(), addresses.len());
        assert_eq!(decoded.recipients[0].address, "Known@Contoso.com");
    }

    #[test]
    fn an_empty_draft_is_the_draft_fields_alone() {
        let e = rules::evaluate(
            &policy(),
            &draft("me@contoso.com", &[]),
            &sender_entry("me@contoso.com"),
            &[],
            std::time::SystemTime::UNIX_EPOCH,
        );
        let answer = Answer::new(e.clone(), Vec::new());
        assert_eq!(answer.encode_to_vec(), reference(&e, &[]));
    }
}
