//! The protobuf codec of the generated service and client code: prost's, except that a
//! request body that is not a valid message is the caller's fault and is answered
//! `INVALID_ARGUMENT` (prost's codec says `INTERNAL`, as if the server had failed).

use std::marker::PhantomData;

use tonic::Status;
use tonic::codec::{BufferSettings, DecodeBuf, Decoder};
use tonic_prost::{ProstCodec, ProstDecoder, ProstEncoder};

/// `tonic_prost::ProstCodec` with caller-fault decode errors (named in `build.rs`).
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
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstCodec::<T, U>::raw_encoder(BufferSettings::default())
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(ProstCodec::<T, U>::raw_decoder(BufferSettings::default()))
    }
}

/// prost's decoder; a bad request message becomes `INVALID_ARGUMENT`.
#[derive(Debug)]
pub struct RequestDecoder<U>(ProstDecoder<U>);

/// Whether `U` is a request (decoded by the server) rather than a response (decoded by a
/// client, where a bad message is the server's fault and stays `INTERNAL`). Every request
/// message of `mailtips.v1` is named `…Request`; a unit test holds the API to it.
fn is_request<U>() -> bool {
    std::any::type_name::<U>().ends_with("Request")
}

impl<U: prost::Message + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        self.0.decode(buf).map_err(|e| {
            if is_request::<U>() && e.code() == tonic::Code::Internal {
                Status::invalid_argument(format!(
                    "the request body is not a valid protobuf message: {}",
                    e.message()
                ))
            } else {
                e
            }
        })
    }

    fn buffer_settings(&self) -> BufferSettings {
        self.0.buffer_settings()
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
