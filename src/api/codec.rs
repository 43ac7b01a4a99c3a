//! The protobuf codec of the generated service and client code: prost's, except that a
//! request body that is not a valid message is the caller's fault and is answered
//! `INVALID_ARGUMENT` (prost's codec says `INTERNAL`, as if the server had failed). It also
//! decodes from the message taken whole as one `Bytes`, receives a draft into a buffer large
//! enough not to be copied, and grows the send buffer once per message; these only save work
//! (see [`RequestDecoder`] and [`MessageEncoder`]).

use std::any::TypeId;
use std::marker::PhantomData;

use prost::bytes::Buf as _;
use tonic::Status;
use tonic::codec::{BufferSettings, DecodeBuf, Decoder, EncodeBuf, Encoder};

use crate::api::request::GetMailTipsRequest;

/// `tonic_prost::ProstCodec`'s counterpart with caller-fault decode errors (named in
/// `build.rs`).
#[derive(Debug, Clone)]
pub struct ProtoCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for ProtoCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> tonic::codec::Codec for ProtoCodec<T, U>
where
    T: prost::Message + Send + 'static,
    U: prost::Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = MessageEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        MessageEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(PhantomData)
    }
}

/// prost's encoding, into a buffer grown once to the message's length: a large answer (200
/// recipients are some 20 kB) otherwise grew it step by step as it was written, each step a
/// copy of what was already there.
#[derive(Debug)]
pub struct MessageEncoder<T>(PhantomData<T>);

/// The send buffer tonic allocates for each response before its first message: small, as
/// [`MessageEncoder::encode`] grows it to the message's length at once. With tonic's 8 KiB, a
/// larger message (a 200-recipient answer is about 20 kB) had those 8 KiB copied when the buffer
/// grew, and a smaller one kept them: a watch stream holds its buffer while it is open, and a
/// message held for a client that does not read holds its buffer.
const SEND_BUFFER_START_BYTES: usize = 64;

/// How much a stream buffers before it yields: tonic's default, which it does not export.
const YIELD_THRESHOLD_BYTES: usize = 32 * 1024;

impl<T: prost::Message> Encoder for MessageEncoder<T> {
    type Item = T;
    type Error = Status;

    fn encode(&mut self, item: T, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        buf.reserve(item.encoded_len());
        item.encode_raw(buf);
        Ok(())
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::new(SEND_BUFFER_START_BYTES, YIELD_THRESHOLD_BYTES)
    }
}

/// prost's decoding, from the message taken whole as one [`Bytes`](prost::bytes::Bytes); a bad
/// request message becomes `INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct RequestDecoder<U>(PhantomData<U>);

/// The receive buffer tonic allocates for each draft's body (`GetMailTips`, `WatchMailTips`).
/// Once the first frame of a message is in, tonic reserves the message's whole length again on
/// top of what it holds, so a buffer smaller than twice the message is reallocated and copied
/// for every call: with tonic's 8 KiB, every draft over 4 kB (200 recipients are some 6.5 kB).
/// 16 KiB takes drafts of up to about 250 recipients without a copy. A draft's decoder exists
/// only once admission has weighed and admitted the call (`api::admit`), and its buffer lives
/// only as long as the call: a watch keeps its draft detached from it
/// ([`crate::domain::Draft::detached`]). Every other message keeps tonic's buffer.
const RECEIVE_BUFFER_START_BYTES: usize = 16 * 1024;

/// Whether `U` is a request (decoded by the server) rather than a response (decoded by a
/// client, where a bad message is the server's fault and stays `INTERNAL`). Every request
/// message of `mailtips.v1` is named `…Request`; a unit test holds the API to it.
fn is_request<U>() -> bool {
    std::any::type_name::<U>().ends_with("Request")
}

impl<U: prost::Message + Default + 'static> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        // The message's bytes are split off tonic's buffer once, as a `Bytes`. A field that
        // keeps a slice of them (a request's addresses, `api::request`) is then one reference
        // count more, where a split of the buffer itself is several steps of bookkeeping.
        let message = buf.copy_to_bytes(buf.remaining());
        U::decode(message).map(Some).map_err(|e| {
            if is_request::<U>() {
                Status::invalid_argument(format!(
                    "the request body is not a valid protobuf message: {e}"
                ))
            } else {
                // A client decoding a response: the server's fault, as prost's codec says.
                Status::internal(e.to_string())
            }
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        if TypeId::of::<U>() == TypeId::of::<GetMailTipsRequest>() {
            BufferSettings::new(RECEIVE_BUFFER_START_BYTES, YIELD_THRESHOLD_BYTES)
        } else {
            BufferSettings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::pb;

    #[test]
    fn requests_and_responses_are_told_apart_by_name() {
        assert!(is_request::<pb::GetMailTipsRequest>());
        assert!(is_request::<pb::GetServiceConfigurationRequest>());
        assert!(!is_request::<pb::GetMailTipsResponse>());
        assert!(!is_request::<pb::ServiceConfiguration>());
        // The server's draft gets the larger receive buffer; every other message tonic's.
        let size = |settings: BufferSettings| format!("{settings:?}");
        let draft = RequestDecoder::<GetMailTipsRequest>(PhantomData).buffer_settings();
        assert!(size(draft).contains(&format!("buffer_size: {RECEIVE_BUFFER_START_BYTES},")));
        for other in [
            RequestDecoder::<pb::GetServiceConfigurationRequest>(PhantomData).buffer_settings(),
            RequestDecoder::<pb::GetMailTipsResponse>(PhantomData).buffer_settings(),
        ] {
            assert_eq!(size(other), size(BufferSettings::default()));
        }
        // Every method's input is a `…Request`, so every server-side decode is covered.
        let set = <prost_types::FileDescriptorSet as prost::Message>::decode(
            crate::api::server::FILE_DESCRIPTOR_SET,
        )
        .unwrap();
        for file in &set.file {
            for service in &file.service {
                for method in &service.method {
                    let input = method.input_type();
                    assert!(input.ends_with("Request"), "{input}");
                }
            }
        }
    }
}
