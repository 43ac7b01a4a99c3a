//! The `GetMailTips` request as the server decodes it: prost's message, except that each
//! recipient's address is a slice of the received body ([`Bytes`]) instead of a `String` of
//! its own, and the recipients' vector is sized once from the body's length. A 200-recipient
//! draft so costs no allocation and no copy per address: the address moves on into the draft
//! and, as given, into the answer. A recipient of the shape clients give it is read straight
//! from the bytes ([`Recipient`]'s `take_usual`); prost's decoding reads any other.
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
                if wire_type == WireType::LengthDelimited
                    && let Some(recipient) = Recipient::take_usual(buf)
                {
                    self.recipients.push(recipient);
                    return Ok(());
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

impl Recipient {
    /// The recipient at the front of `buf` (after its key), when it has the shape clients give
    /// it: a message shorter than 128 bytes holding the address, then the field (or nothing,
    /// for the default), each once and in field order. Read straight from the bytes it costs a
    /// fraction of prost's general decoding, which reads every other shape alike (`None`,
    /// `buf` untouched); a property test (`api::fuzz`) holds the two equal.
    fn take_usual(buf: &mut impl Buf) -> Option<Self> {
        // The message's length, the address's key and length (one byte each), the address,
        // and the field's key and value (one byte each) unless the field is left out.
        let &[len, ADDRESS_KEY, address_len, ref rest @ ..] = buf.chunk() else {
            return None;
        };
        if len >= 0x80 || address_len >= 0x80 {
            return None;
        }
        let (len, address_len) = (usize::from(len), usize::from(address_len));
        let field = match len.checked_sub(2 + address_len)? {
            0 => 0,
            2 => match rest.get(address_len..address_len + 2)? {
                &[FIELD_KEY, value] if value < 0x80 => i32::from(value),
                _ => return None,
            },
            _ => return None,
        };
        if rest.len() < len - 2 {
            return None;
        }
        buf.advance(3);
        let address = buf.copy_to_bytes(address_len);
        buf.advance(len - 2 - address_len);
        Some(Self { address, field })
    }
}

/// `Recipient.address`'s key (field 1, length-delimited) and `Recipient.field`'s (field 2,
/// varint), as single bytes.
const ADDRESS_KEY: u8 = 1 << 3 | 2;
const FIELD_KEY: u8 = 2 << 3;

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

#[cfg(test)]
pub(crate) mod tests {
    use prost::Message as _;

    use super::*;

    /// Whether prost refused a body for an address that is not UTF-8.
    pub(crate) fn is_address_utf8_error(e: &DecodeError) -> bool {
        let e = e.to_string();
        e.contains("Recipient.address: ") && e.ends_with("data is not UTF-8 encoded")
    }

    /// Ours and prost's generated decoder agree on `body`: the same request, or both refuse it.
    fn agree(body: &[u8]) {
        let ours = GetMailTipsRequest::decode(Bytes::copy_from_slice(body));
        let prosts = pb::GetMailTipsRequest::decode(body);
        match (ours, prosts) {
            (Ok(ours), Ok(prosts)) => {
                assert_eq!(ours, GetMailTipsRequest::from(prosts), "{body:?}")
            }
            (Err(_), Err(_)) => {}
            (ours, prosts) => panic!("{body:?}: ours {ours:?}, prost's {prosts:?}"),
        }
    }

    #[test]
    fn recipients_of_every_shape_decode_as_prost_decodes_them() {
        // The usual shape, at and past its bounds: a message of 127 bytes, then 128.
        let long = |n: usize| format!("{}@contoso.com", "a".repeat(n - 12));
        for (address, field) in [
            ("taro@contoso.com".to_owned(), 1),
            ("taro@contoso.com".to_owned(), 3),
            ("taro@contoso.com".to_owned(), 0),
            (String::new(), 2),
            (String::new(), 0),
            (long(123), 1),
            (long(124), 1),
            (long(125), 0),
            (long(126), 0),
            ("x@y".to_owned(), 200),
            ("x@y".to_owned(), -1),
        ] {
            let request = pb::GetMailTipsRequest {
                recipients: vec![
                    pb::Recipient { address, field },
                    pb::Recipient {
                        address: "hanako@contoso.com".into(),
                        field: 2,
                    },
                ],
                ..Default::default()
            };
            agree(&request.encode_to_vec());
        }
        // The usual shape takes the short way; another is left to prost, its bytes untouched.
        let usual = pb::Recipient {
            address: "taro@contoso.com".into(),
            field: 1,
        }
        .encode_length_delimited_to_vec();
        let taken = Recipient::take_usual(&mut &usual[..]).unwrap();
        assert_eq!(
            (&taken.address[..], taken.field),
            (&b"taro@contoso.com"[..], 1)
        );
        let mut field_first: &[u8] = b"\x05\x10\x01\x0a\x01a";
        assert!(Recipient::take_usual(&mut field_first).is_none());
        assert_eq!(field_first.len(), 6);
        // Shapes prost never writes but a body may hold.
        for body in [
            &b"\x12\x05\x10\x01\x0a\x01a"[..], // the field before the address
            b"\x12\x06\x0a\x01a\x0a\x01b",     // the address twice: the last one counts
            b"\x12\x05\x0a\x01a\x18\x01",      // an unknown field
            b"\x12\x05\x0a\x01a\x10\x00",      // the default field written out
            b"\x12\x04\x0a\x01a\x10",          // the field's value missing
            b"\x12\x05\x0a\x01a\x10\x80",      // the field's value cut short
            b"\x12\x09\x0a\x01a",              // a length past the end
            b"\x12\x03\x0a\x05a",              // an address past its message
            b"\x12\x00",                       // an empty recipient
        ] {
            agree(body);
        }
        // The one meant difference: an address's UTF-8 is checked after decoding, where the
        // error names the recipient, so prost refuses a body that ours reads. Here the bad
        // address is replaced by a later one, and validation never sees it.
        let body = b"\x12\x06\x0a\x01\xff\x0a\x01a";
        let ours = GetMailTipsRequest::decode(&body[..]).unwrap();
        assert_eq!(&ours.recipients[0].address[..], b"a");
        let prosts = pb::GetMailTipsRequest::decode(&body[..]).unwrap_err();
        assert!(is_address_utf8_error(&prosts), "{prosts}");
    }
}
