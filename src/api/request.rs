//! The `GetMailTips` request as the server decodes it: prost's message, except that each
//! recipient's address is a slice of the received body ([`Bytes`]) instead of a `String` of
//! its own, and the recipients' vector is sized once from the body's length. A 200-recipient
//! draft so costs no allocation and no copy per address: the address moves on into the draft
//! and, as given, into the answer.
//!
//! build.rs names [`GetMailTipsRequest`] for `.mailtips.v1.GetMailTipsRequest` in the server's
//! pass; clients and tools keep prost's `pb::GetMailTipsRequest`. The wire format is the same,
//! and a property test (`api::fuzz`) holds the two decoders equal on mutated bodies.
//!
//! The body's buffer is tonic's, one per call, so an address keeps at most its own call's
//! request alive, and only while the call runs. What outlives the call keeps copies instead:
//! a watch's draft ([`crate::domain::Draft::detached`]) and the directory cache's keys
//! ([`crate::domain::address::Address::detached`]).

use bytes::{Buf, BufMut, Bytes};
use prost::DecodeError;
use prost::encoding::{self, DecodeContext, WireType};

use crate::api::pb;

/// `mailtips.v1.GetMailTipsRequest`, decoded by the server (field for field as
/// `pb::GetMailTipsRequest`; see the `.proto` for each field's meaning).
#[derive(Clone, PartialEq, Default, Debug)]
pub struct GetMailTipsRequest {
    pub sender: String,
    pub recipients: Vec<Recipient>,
    pub message_size_bytes: u64,
    pub reply_all: Option<pb::ReplyAllContext>,
    pub tip_kinds: Vec<i32>,
    pub locale: String,
    pub read_receipt_requested: bool,
}

/// `mailtips.v1.Recipient`, its address a slice of the request's body. The address's bytes are
/// not checked for UTF-8 here but by `api::grpc::draft_from_request`, which names the field
/// (prost would refuse the whole body).
#[derive(Clone, PartialEq, Default, Debug)]
pub struct Recipient {
    pub address: Bytes,
    pub field: i32,
}

/// The most recipients reserved for up front, whatever the body's length suggests: a bound on
/// what a request that lies about its count can make the server reserve before it is refused.
const MAX_RESERVED: usize = 1024;

impl prost::Message for GetMailTipsRequest {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.sender.is_empty() {
            encoding::string::encode(1, &self.sender, buf);
        }
        encoding::message::encode_repeated(2, &self.recipients, buf);
        if self.message_size_bytes != 0 {
            encoding::uint64::encode(3, &self.message_size_bytes, buf);
        }
        if let Some(reply_all) = &self.reply_all {
            encoding::message::encode(4, reply_all, buf);
        }
        encoding::int32::encode_packed(5, &self.tip_kinds, buf);
        if !self.locale.is_empty() {
            encoding::string::encode(6, &self.locale, buf);
        }
        if self.read_receipt_requested {
            encoding::bool::encode(7, &self.read_receipt_requested, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let pushed = |field| in_field("GetMailTipsRequest", field);
        match tag {
            1 => encoding::string::merge(wire_type, &mut self.sender, buf, ctx)
                .map_err(pushed("sender")),
            2 => {
                if self.recipients.capacity() == 0 {
                    // A recipient takes about 30 bytes (a twenty-odd-byte address, six of
                    // framing): a guess, past which the vector still grows.
                    let hint = buf.remaining() / 24 + 1;
                    self.recipients.reserve(hint.min(MAX_RESERVED));
                }
                encoding::message::merge_repeated(wire_type, &mut self.recipients, buf, ctx)
                    .map_err(pushed("recipients"))
            }
            3 => encoding::uint64::merge(wire_type, &mut self.message_size_bytes, buf, ctx)
                .map_err(pushed("message_size_bytes")),
            4 => encoding::message::merge(
                wire_type,
                self.reply_all.get_or_insert_with(Default::default),
                buf,
                ctx,
            )
            .map_err(pushed("reply_all")),
            5 => encoding::int32::merge_repeated(wire_type, &mut self.tip_kinds, buf, ctx)
                .map_err(pushed("tip_kinds")),
            6 => encoding::string::merge(wire_type, &mut self.locale, buf, ctx)
                .map_err(pushed("locale")),
            7 => encoding::bool::merge(wire_type, &mut self.read_receipt_requested, buf, ctx)
                .map_err(pushed("read_receipt_requested")),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        (if self.sender.is_empty() {
            0
        } else {
            encoding::string::encoded_len(1, &self.sender)
        }) + encoding::message::encoded_len_repeated(2, &self.recipients)
            + (if self.message_size_bytes == 0 {
                0
            } else {
                encoding::uint64::encoded_len(3, &self.message_size_bytes)
            })
            + self
                .reply_all
                .as_ref()
                .map_or(0, |r| encoding::message::encoded_len(4, r))
            + encoding::int32::encoded_len_packed(5, &self.tip_kinds)
            + (if self.locale.is_empty() {
                0
            } else {
                encoding::string::encoded_len(6, &self.locale)
            })
            + (if self.read_receipt_requested {
                encoding::bool::encoded_len(7, &self.read_receipt_requested)
            } else {
                0
            })
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

impl prost::Message for Recipient {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        if !self.address.is_empty() {
            encoding::bytes::encode(1, &self.address, buf);
        }
        if self.field != 0 {
            encoding::int32::encode(2, &self.field, buf);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        let pushed = |field| in_field("Recipient", field);
        match tag {
            1 => encoding::bytes::merge(wire_type, &mut self.address, buf, ctx)
                .map_err(pushed("address")),
            2 => encoding::int32::merge(wire_type, &mut self.field, buf, ctx)
                .map_err(pushed("field")),
            _ => encoding::skip_field(wire_type, tag, buf, ctx),
        }
    }

    fn encoded_len(&self) -> usize {
        (if self.address.is_empty() {
            0
        } else {
            encoding::bytes::encoded_len(1, &self.address)
        }) + (if self.field == 0 {
            0
        } else {
            encoding::int32::encoded_len(2, &self.field)
        })
    }

    fn clear(&mut self) {
        *self = Self::default();
    }
}

/// Names `message.field` in a decode error's path, as prost's derived code does.
fn in_field(message: &'static str, field: &'static str) -> impl FnOnce(DecodeError) -> DecodeError {
    move |mut e| {
        e.push(message, field);
        e
    }
}

/// The client's message, as the server would decode it: for tests and benches that build
/// requests in code. Each address moves, without a copy.
impl From<pb::GetMailTipsRequest> for GetMailTipsRequest {
    fn from(r: pb::GetMailTipsRequest) -> Self {
        Self {
            sender: r.sender,
            recipients: r
                .recipients
                .into_iter()
                .map(|p| Recipient {
                    address: Bytes::from(p.address.into_bytes().into_boxed_slice()),
                    field: p.field,
                })
                .collect(),
            message_size_bytes: r.message_size_bytes,
            reply_all: r.reply_all,
            tip_kinds: r.tip_kinds,
            locale: r.locale,
            read_receipt_requested: r.read_receipt_requested,
        }
    }
}
