//! The `GetMailTips` answer on the wire, encoded straight from the evaluation.
//!
//! The generated server (build.rs) sends an [`Answer`] where the protobuf says
//! `GetMailTipsResponse`. Its bytes are those `GetMailTipsResponse` bytes, field for field and
//! in prost's order (a property test compares them with prost's encoding of the converted
//! response, `grpc::response_from_evaluation`, and a unit test does so for every shape of a
//! tip), so clients decode it as one. What it saves is the protobuf structs: a recipient's
//! row and tips are written from the evaluation's own results, without moving a tip or
//! copying a display name, and each length is computed once. The draft's own tips (a few)
//! keep their protobuf form.

use bytestring::ByteString;
use prost::bytes::{Buf, BufMut};
use prost::encoding::{self, DecodeContext, WireType, encode_varint};

use crate::api::grpc::{kinds, resolved_to_pb, scope_to_pb, tip_to_pb};
use crate::api::pb;
use crate::domain::{Evaluation, RecipientResult, TipSet};

mod tip;

use tip::{TipLens, delimited_len, encode_tip};

/// A `GetMailTipsResponse` made from an evaluation, for encoding only (the server never
/// decodes one; decoding skips every field).
#[derive(Debug, Default)]
pub struct Answer {
    /// The recipients' results, in request order, as the rules gave them.
    results: Vec<RecipientResult>,
    /// Each result's address as the request gave it.
    addresses: Vec<ByteString>,
    /// Each row's encoded length (without its key and length prefix).
    row_lens: Vec<usize>,
    /// Each recipient tip's encoded lengths, in order.
    tip_lens: Vec<TipLens>,
    /// The fields after `recipients` (field 1), whose own `recipients` is empty: encoded after
    /// the rows, which is prost's field order.
    rest: pb::GetMailTipsResponse,
}

/// The field numbers of `RecipientTips` and `MailTip`.
mod tag {
    pub const ADDRESS: u32 = 1;
    pub const TIPS: u32 = 2;
    pub const PENDING: u32 = 3;
    pub const SCOPE: u32 = 4;
    pub const RESOLVED_AS: u32 = 5;
    pub const DISPLAY_NAME: u32 = 6;
    /// `GetMailTipsResponse.recipients`.
    pub const RECIPIENTS: u32 = 1;
    /// `MailTip.kind` and `MailTip.text`.
    pub const KIND: u32 = 1;
    pub const TEXT: u32 = 2;
}

/// A varint as prost writes it, with its one-byte case (every key here, and most lengths and
/// values) inline: prost's `encode_varint` is a loop behind a call, some six calls a row.
#[inline(always)]
pub(super) fn put_varint(value: u64, buf: &mut impl BufMut) {
    match u8::try_from(value) {
        Ok(byte) if byte < 0x80 => buf.put_u8(byte),
        _ => encode_varint(value, buf),
    }
}

/// A field's key, as prost's `encode_key` writes it.
#[inline(always)]
pub(super) fn put_key(tag: u32, wire_type: WireType, buf: &mut impl BufMut) {
    put_varint(u64::from(tag << 3 | wire_type as u32), buf);
}

/// An `int32` field, as prost's `encoding::int32::encode` writes it (a negative value takes
/// ten bytes).
#[inline(always)]
fn put_int32(tag: u32, value: i32, buf: &mut impl BufMut) {
    put_key(tag, WireType::Varint, buf);
    put_varint(value as u64, buf);
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
        let addresses: Vec<ByteString> = addresses.into_iter().collect();
        debug_assert_eq!(
            addresses.len(),
            e.recipients.len(),
            "one address per result"
        );
        let mut tip_lens = Vec::with_capacity(e.recipients.iter().map(|r| r.tips.len()).sum());
        let row_lens = e
            .recipients
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let first = tip_lens.len();
                tip_lens.extend(r.tips.iter().map(TipLens::of));
                let address = addresses.get(i).map_or(0, |a| a.len());
                row_len(r, address, &tip_lens[first..])
            })
            .collect();
        Self {
            results: e.recipients,
            addresses,
            row_lens,
            tip_lens,
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

/// A `RecipientTips` row's encoded length, each field as prost's derived code has it: a
/// default scalar or empty string is left out, repeated kinds are packed.
fn row_len(r: &RecipientResult, address: usize, tips: &[TipLens]) -> usize {
    let mut len = tips.iter().map(|t| t.as_field()).sum::<usize>();
    if address != 0 {
        len += delimited_len(tag::ADDRESS, address);
    }
    if !r.pending.is_empty() {
        let (pending, n) = packed(r.pending);
        len += encoding::int32::encoded_len_packed(tag::PENDING, &pending[..n]);
    }
    let (scope, resolved_as) = (scope_to_pb(r.scope), resolved_to_pb(r.resolved));
    if scope != 0 {
        len += encoding::int32::encoded_len(tag::SCOPE, &scope);
    }
    if resolved_as != 0 {
        len += encoding::int32::encoded_len(tag::RESOLVED_AS, &resolved_as);
    }
    if !r.display_name.is_empty() {
        len += delimited_len(tag::DISPLAY_NAME, r.display_name.len());
    }
    len
}

/// A row in prost's field order: its key and length and the address's key and length
/// gathered, the address, the tips, then the small fields gathered, and the name.
fn encode_row(
    r: &RecipientResult,
    address: &[u8],
    len: usize,
    tips: &[TipLens],
    buf: &mut impl BufMut,
) {
    let mut head = Small::new();
    head.put(|b| {
        put_key(tag::RECIPIENTS, WireType::LengthDelimited, b);
        put_varint(len as u64, b);
        if !address.is_empty() {
            put_key(tag::ADDRESS, WireType::LengthDelimited, b);
            put_varint(address.len() as u64, b);
        }
    });
    buf.put_slice(head.as_slice());
    buf.put_slice(address);
    for (tip, lens) in r.tips.iter().zip(tips) {
        encode_tip(tip, *lens, buf);
    }
    let (scope, resolved_as) = (scope_to_pb(r.scope), resolved_to_pb(r.resolved));
    let mut tail = Small::new();
    tail.put(|b| {
        if !r.pending.is_empty() {
            let (pending, n) = packed(r.pending);
            encoding::int32::encode_packed(tag::PENDING, &pending[..n], b);
        }
        if scope != 0 {
            put_int32(tag::SCOPE, scope, b);
        }
        if resolved_as != 0 {
            put_int32(tag::RESOLVED_AS, resolved_as, b);
        }
        if !r.display_name.is_empty() {
            put_key(tag::DISPLAY_NAME, WireType::LengthDelimited, b);
            put_varint(r.display_name.len() as u64, b);
        }
    });
    buf.put_slice(tail.as_slice());
    buf.put_slice(r.display_name.as_bytes());
}

impl prost::Message for Answer {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        let mut first = 0;
        for (i, (r, len)) in self.results.iter().zip(&self.row_lens).enumerate() {
            let tips = &self.tip_lens[first..first + r.tips.len()];
            first += r.tips.len();
            let address = self.addresses.get(i).map_or(&b""[..], |a| a.as_bytes());
            encode_row(r, address, *len, tips, buf);
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
        self.row_lens
            .iter()
            .map(|len| delimited_len(tag::RECIPIENTS, *len))
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
    pub(super) fn reference(e: &Evaluation, addresses: &[String]) -> Vec<u8> {
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
            resolution: std::borrow::Cow::Owned(Lookup::Found(std::sync::Arc::new(known))),
            metrics: None,
        };
        let not_found = RecipientFacts {
            resolution: std::borrow::Cow::Owned(Lookup::NotFound),
            metrics: None,
        };
        let unknown = RecipientFacts {
            resolution: std::borrow::Cow::Owned(Lookup::Unknown),
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
